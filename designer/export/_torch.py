"""PyTorch template pieces of :mod:`designer.export` (one per family, basis, transform, mechanism).

Each piece is ``string.Template`` text; ``$name`` placeholders receive only numbers written as
literals by :mod:`designer.export` (never text from the request). Every family piece defines
``NAMES``, ``predictor(*factors)``, ``balanced_factors(z)`` and ``initial_factors(scale,
generator, dtype)``; the frame below turns them into modules.
"""

HEADER = '''"""$title

Exported by `designer export` (implicit-bias-designer) for the design candidate below; the
parameterization, its initialisation (balanced_factors: the balanced point of a weight) and the training settings of its mechanism.

    parameterization: $param_json
    mechanism:        $mechanism_json
    claim:            this training induces the bias lambda R*(z) of the target $target_json,
                      lambda = $strength (the design's strength)

Use it on a layer you already have (the layer's current weight becomes the balanced factors):

    torch.nn.utils.parametrize.register_parametrization(layer, "weight", Parameterization())

or standalone: `model = DesignedWeight()` holds the factors, `model()` is the weight (predictor).
`optimizer(module, ...)` builds torch.optim.SGD with the settings of the mechanism.
"""

import math

import torch
from torch import nn

PREDICTOR_SHAPE = $predictor_shape
INIT_SCALE = $init_scale
#: factors no mechanism touches (free terms of a sum): no weight decay on them
FREE_NAMES = ()
'''

# -- families -------------------------------------------------------------------------------

HADAMARD = '''
# -- the parameterization: Hadamard product of depth D, z = B psi(u_1 * ... * u_D) --------------
NAMES = ("u",)
DEPTH = $depth
DIM = $dim
SHAPE = $shape  # of z (vectors: (DIM,))


def predictor(u):
    """z = B psi(u_1 * ... * u_D): the elementwise product of the D rows of u, then psi, then B."""
    return synthesis(transform(torch.prod(u, 0)))


def balanced_factors(z):
    """The least-norm factors with predictor z: |u_1| = ... = |u_D| = |c|^(1/D), c = psi^-1(B^-1 z)."""
    c = inverse_transform(analysis(z))
    root = c.abs() ** (1.0 / DEPTH)
    u = root.expand(DEPTH, *root.shape).clone()
    u[0] = torch.where(c < 0, -root, root)
    return (u,)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Every factor the constant `scale` except the last, which is 0: z starts at 0 and may take
    either sign (the initialisation of `designer validate`). A balanced start at z = 0 is a saddle
    point, and a balanced start elsewhere keeps each coordinate's sign; use balanced_factors(z)
    (or register_parametrization on a layer) to start balanced at a given weight."""
    u = torch.full((DEPTH, *SHAPE), float(scale), dtype=dtype)
    u[-1] = 0.0
    return (u,)
'''

INTERVAL_HADAMARD = '''
# -- the parameterization: depth-2 Hadamard product behind the interval dictionary ---------------
# z = sum_I (u_1,I u_2,I / c_I) 1_I over every interval I = [a, b] of 0..DIM-1,
# c_I = TV(1_I) + LAM |I| (TV 2 inside, 1 at one end, 0 for the whole range): weight decay gives
# the fused lasso sum |z_{i+1} - z_i| + LAM sum |z_i| exactly.
NAMES = ("u",)
DIM = $dim
LAM = $lam
SHAPE = (DIM,)
_A, _B = torch.triu_indices(DIM, DIM)  # the intervals, ordered by a then b
_COST = (_A > 0).double() + (_B < DIM - 1).double() + LAM * (_B - _A + 1).double()


def predictor(u):
    """sum_I (u_1,I u_2,I / c_I) 1_I (a difference array and a cumulative sum)."""
    y = u[0] * u[1] / _COST.to(u.dtype)
    diff = torch.zeros(DIM + 1, dtype=y.dtype).index_add(0, _A, y).index_add(0, _B + 1, -y)
    return torch.cumsum(diff, 0)[:DIM]


def _components(z):
    # weight of I as a component of {z > t}, t >= 0: max(0, min_I z - max(0, z_{a-1}, z_{b+1}))
    idx = torch.arange(DIM)
    table = torch.where(idx[None, :] >= idx[:, None], z[None, :], torch.full_like(z, math.inf)[None, :])
    inner = torch.cummin(table, 1).values[_A, _B]
    zero = torch.zeros_like(inner)
    left = torch.where(_A > 0, z[(_A - 1).clamp(min=0)], zero)
    right = torch.where(_B < DIM - 1, z[(_B + 1).clamp(max=DIM - 1)], zero)
    return torch.clamp(inner - torch.clamp(torch.maximum(left, right), min=0.0), min=0.0)


def balanced_factors(z):
    """The least-norm factors with predictor z: the layer-cake split of z into intervals
    (x_I = c_I y_I), u_1 = sign(x) sqrt|x|, u_2 = sqrt|x|."""
    x = _COST.to(z.dtype) * (_components(z) - _components(-z))
    root = x.abs().sqrt()
    return (torch.stack([torch.where(x < 0, -root, root), root]),)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """The first factor the constant `scale`, the second 0: z starts at 0 (see the Hadamard piece)."""
    u = torch.full((2, _A.numel()), float(scale), dtype=dtype)
    u[-1] = 0.0
    return (u,)
'''

GROUP_HADAMARD = '''
# -- the parameterization: one shared scale per group, z_i = s_g(i) v_i --------------------------
NAMES = ("s", "v")
DIM = $dim
GROUP_SIZE = $group_size
N_GROUPS = DIM // GROUP_SIZE


def predictor(s, v):
    """z_i = s_g v_i for the contiguous groups g of GROUP_SIZE coordinates."""
    return torch.repeat_interleave(s, GROUP_SIZE) * v


def balanced_factors(z):
    """The least-norm factors with predictor z: s_g = |z_g|^(1/2), v_g = z_g / s_g."""
    zg = z.reshape(N_GROUPS, GROUP_SIZE)
    s = torch.linalg.vector_norm(zg, dim=1).sqrt()
    safe = torch.where(s > 0, s, torch.ones_like(s))
    v = torch.where(s[:, None] > 0, zg / safe[:, None], torch.zeros_like(zg))
    return (s, v.reshape(-1))


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Scales s = `scale`, values v = 0: z starts at 0 (conserved imbalance s_g^2 - |v_g|^2)."""
    return (torch.full((N_GROUPS,), float(scale), dtype=dtype), torch.zeros(DIM, dtype=dtype))
'''

MATRIX_PRODUCT = '''
# -- the parameterization: matrix product M = W_1 W_2 ... W_D, inner dimension RANK ------------
DEPTH = $depth
ROWS, COLS, RANK = $rows, $cols, $rank
SHAPES = [(ROWS, RANK)] + [(RANK, RANK)] * (DEPTH - 2) + [(RANK, COLS)]
NAMES = $names


def predictor(*factors):
    """M = W_1 W_2 ... W_D."""
    out = factors[0]
    for w in factors[1:]:
        out = out @ w
    return out


def balanced_factors(z):
    """Balanced factors (W_k^T W_k = W_k+1 W_k+1^T) from the SVD M = U S V^T:
    W_1 = U S^(1/D), W_k = S^(1/D), W_D = S^(1/D) V^T (top RANK triplets, zero-padded)."""
    u, s, vt = torch.linalg.svd(z, full_matrices=False)
    k = min(RANK, s.shape[0])
    u, s, vt = u[:, :k], s[:k], vt[:k]
    if k < RANK:
        u = torch.cat([u, u.new_zeros(ROWS, RANK - k)], 1)
        s = torch.cat([s, s.new_zeros(RANK - k)])
        vt = torch.cat([vt, vt.new_zeros(RANK - k, COLS)], 0)
    root = s ** (1.0 / DEPTH)
    return (u * root, *[torch.diag(root)] * (DEPTH - 2), root[:, None] * vt)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Independent normal entries of standard deviation scale / sqrt(RANK) (as `designer validate`)."""
    std = float(scale) / math.sqrt(RANK)
    return tuple(std * torch.randn(shape, generator=generator, dtype=dtype) for shape in SHAPES)
'''

SCALAR_PRODUCT = '''
# -- the parameterization: z = u v for scalars -------------------------------------------------
NAMES = ("u", "v")


def predictor(u, v):
    """z = u v."""
    return u * v


def balanced_factors(z):
    """|u| = |v| = |z|^(1/2), the sign on u."""
    a = z.abs().sqrt()
    return (torch.where(z < 0, -a, a), a)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """u = `scale`, v = 0: z starts at 0 (conserved imbalance u^2 - v^2 = scale^2)."""
    return (torch.tensor(float(scale), dtype=dtype), torch.tensor(0.0, dtype=dtype))
'''

RELU_TWO_LAYER = '''
# -- the parameterization: two-layer bias-free ReLU network f(x) = sum_j v_j relu(<w_j, x>) -------
NAMES = ("W", "V")
HIDDEN, INPUTS, OUTPUTS = $hidden, $inputs, $outputs


def predictor(W, V):
    """Each unit's outer product z_j = v_j w_j^T (HIDDEN x OUTPUTS*INPUTS), the rescaling invariant."""
    return (V[:, :, None] * W[:, None, :]).reshape(HIDDEN, OUTPUTS * INPUTS)


def network(W, V, x):
    """The network's output for inputs x (batch x INPUTS) -> (batch x OUTPUTS)."""
    return torch.relu(x @ W.T) @ V


def balanced_factors(z):
    """Per unit |v_j| = |w_j| = (top singular value of z_j)^(1/2) (the lift takes v's sign pattern positive)."""
    mats = z.reshape(HIDDEN, OUTPUTS, INPUTS)
    u, s, vt = torch.linalg.svd(mats, full_matrices=False)
    root = s[:, 0].sqrt()
    return (root[:, None] * vt[:, 0, :], root[:, None] * u[:, :, 0])


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Independent normal entries of standard deviation `scale`."""
    return (float(scale) * torch.randn((HIDDEN, INPUTS), generator=generator, dtype=dtype),
            float(scale) * torch.randn((HIDDEN, OUTPUTS), generator=generator, dtype=dtype))
'''

ATTENTION_QK = '''
# -- the parameterization: attention scores x W_Q W_K^T x^T, symmetry "$symmetry" -----------------
NAMES = ("WQ", "WK")
D_EMB, D_HEAD = $d_emb, $d_head
PER_COLUMN = $per_column


def predictor(WQ, WK):
    """Per-column outer products W_Q[:, j] W_K[:, j]^T (columns) or M = W_Q W_K^T (gl)."""
    if PER_COLUMN:
        return torch.einsum("aj,bj->jab", WQ, WK)
    return WQ @ WK.T


def scores(WQ, WK, x):
    """Attention logits x W_Q W_K^T x^T / sqrt(D_HEAD) for x (seq x D_EMB)."""
    return (x @ WQ) @ (x @ WK).T / math.sqrt(D_HEAD)


def balanced_factors(z):
    """|W_Q[:, j]| = |W_K[:, j]| per column (columns) or W_Q = U S^(1/2), W_K = V S^(1/2) (gl)."""
    if PER_COLUMN:
        u, s, vt = torch.linalg.svd(z, full_matrices=False)
        root = s[:, 0].sqrt()
        return ((root[:, None] * u[:, :, 0]).T, (root[:, None] * vt[:, 0, :]).T)
    u, s, vt = torch.linalg.svd(z, full_matrices=False)
    root = s[:D_HEAD].sqrt()
    return (u[:, :D_HEAD] * root, vt[:D_HEAD].T * root)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Independent normal entries of standard deviation `scale`."""
    return tuple(float(scale) * torch.randn((D_EMB, D_HEAD), generator=generator, dtype=dtype) for _ in NAMES)
'''

# -- fixed bases B (x = B c) -------------------------------------------------------------------

BASIS_IDENTITY = '''

def synthesis(c):
    """B = I."""
    return c


def analysis(z):
    """B^-1 = I."""
    return z
'''

BASIS_CUMSUM = '''

def synthesis(c):
    """B: cumulative sum, x_i = sum_(j <= i) c_j (sparse c = piecewise-constant x)."""
    return torch.cumsum(c, 0)


def analysis(z):
    """B^-1: first differences."""
    return torch.diff(z, prepend=torch.zeros_like(z[:1]))
'''

BASIS_CUMSUM2D = '''

def synthesis(c):
    """B: 2-D cumulative sum, Z_ij = sum_(a <= i, b <= j) C_ab (sparse C = piecewise-constant blocks)."""
    return torch.cumsum(torch.cumsum(c, -2), -1)


def analysis(z):
    """B^-1: first differences along the rows, then along the columns."""
    rows = torch.diff(z, dim=-2, prepend=torch.zeros_like(z[..., :1, :]))
    return torch.diff(rows, dim=-1, prepend=torch.zeros_like(rows[..., :, :1]))
'''

BASIS_MATRIX = '''

#: The given matrix B and its inverse (float64; the inverse computed by the designer), acting on
#: the row-major flattened predictor.
_B = torch.tensor($values, dtype=torch.float64)
_B_INV = torch.tensor($inverse, dtype=torch.float64)


def _apply(a, x):
    return (a.to(x.dtype) @ x.reshape(-1)).reshape(x.shape)


def synthesis(c):
    """z = B c."""
    return _apply(_B, c)


def analysis(z):
    """c = B^-1 z."""
    return _apply(_B_INV, z)
'''

BASIS_COSINE = '''

def _dct_matrix(d):
    """The orthonormal DCT-II matrix C (float64); B = C^T."""
    n = torch.arange(d, dtype=torch.float64)
    c = math.sqrt(2.0 / d) * torch.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / d)
    c[0] = math.sqrt(1.0 / d)
    return c


_ANALYSIS = _dct_matrix(DIM)


def synthesis(c):
    """B = C^T (orthonormal inverse DCT)."""
    return _ANALYSIS.T.to(c.dtype) @ c


def analysis(z):
    """B^-1 = C (orthonormal DCT-II)."""
    return _ANALYSIS.to(z.dtype) @ z
'''

BASIS_HAAR = '''

def _haar_matrix(d):
    """The orthonormal Haar matrix H (float64, d a power of two); B = H^T."""
    h = torch.ones((1, 1), dtype=torch.float64)
    while h.shape[0] < d:
        n = h.shape[0]
        top = torch.kron(h, torch.tensor([1.0, 1.0], dtype=torch.float64))
        bottom = torch.kron(torch.eye(n, dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.float64))
        h = torch.cat([top, bottom]) / math.sqrt(2.0)
    return h


_ANALYSIS = _haar_matrix(DIM)


def synthesis(c):
    """B = H^T (Haar synthesis)."""
    return _ANALYSIS.T.to(c.dtype) @ c


def analysis(z):
    """B^-1 = H (Haar analysis)."""
    return _ANALYSIS.to(z.dtype) @ z
'''

# -- monotone transforms psi -------------------------------------------------------------------

TRANSFORM_IDENTITY = '''

def transform(x):
    """psi(x) = x."""
    return x


def inverse_transform(y):
    return y
'''

TRANSFORM_ASINH = '''
TRANSFORM_SCALE = $scale


def transform(x):
    """psi(x) = s asinh(x / s), s = TRANSFORM_SCALE: linear below s, logarithmic above."""
    return TRANSFORM_SCALE * torch.asinh(x / TRANSFORM_SCALE)


def inverse_transform(y):
    return TRANSFORM_SCALE * torch.sinh(y / TRANSFORM_SCALE)
'''

TRANSFORM_SIGNED_POWER = '''
TRANSFORM_EXPONENT = $exponent


def transform(x):
    """psi(x) = sign(x) |x|^p, p = TRANSFORM_EXPONENT."""
    return torch.sign(x) * x.abs() ** TRANSFORM_EXPONENT


def inverse_transform(y):
    return torch.sign(y) * y.abs() ** (1.0 / TRANSFORM_EXPONENT)
'''

# -- the modules (the same for every family) ---------------------------------------------------

TRANSFORM_TABLE = '''
# psi from a table: psi^-1 = G is the monotone cubic Hermite interpolant through (TABLE_Y, TABLE_X)
# with slopes G'(y_k) = TABLE_SLOPES, linear with slope TABLE_END_SLOPE beyond the last knot, odd
# for negative arguments; psi = G^-1 by safeguarded Newton steps, its derivative 1 / G'(psi(x)).
TABLE_Y = $knots_y
TABLE_X = $knots_x
TABLE_SLOPES = $slopes
TABLE_END_SLOPE = $end_slope
_NEWTON_STEPS = 10


def _table(dtype, device=None):
    return tuple(torch.tensor(v, dtype=dtype, device=device) for v in (TABLE_Y, TABLE_X, TABLE_SLOPES))


def _segment(knots, a):
    return torch.clamp(torch.searchsorted(knots, a.contiguous(), right=True) - 1, 0, knots.shape[0] - 2)


def _cubic(t, x0, x1, m0h, m1h):
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * x0 + (t3 - 2 * t2 + t) * m0h + (3 * t2 - 2 * t3) * x1 + (t3 - t2) * m1h


def _g_nonneg(a, slope=False):
    ys, xs, ms = _table(a.dtype, a.device)
    k = _segment(ys, a)
    y0, h = ys[k], ys[k + 1] - ys[k]
    t = (a - y0) / h
    m0h, m1h = ms[k] * h, ms[k + 1] * h
    if slope:  # G'(a)
        t2 = t * t
        inside = ((6 * t2 - 6 * t) * xs[k] + (3 * t2 - 4 * t + 1) * m0h + (6 * t - 6 * t2) * xs[k + 1] + (3 * t2 - 2 * t) * m1h) / h
        return torch.where(a > ys[-1], torch.full_like(a, TABLE_END_SLOPE), inside)
    inside = _cubic(t, xs[k], xs[k + 1], m0h, m1h)
    return torch.where(a > ys[-1], xs[-1] + TABLE_END_SLOPE * (a - ys[-1]), inside)


def _psi_nonneg(b):
    # the root t of the segment's cubic c(t) = b: Newton steps kept inside a bracket [lo, hi]
    # (bisection where Newton would leave it), started from the secant guess or, where the
    # segment starts flat (c ~ c2 t^2), from sqrt(b / c2) when that is closer
    ys, xs, ms = _table(b.dtype, b.device)
    k = _segment(xs, b)
    h = ys[k + 1] - ys[k]
    x0, x1, m0h, m1h = xs[k], xs[k + 1], ms[k] * h, ms[k + 1] * h
    c2 = 3.0 * (x1 - x0) - 2.0 * m0h - m1h
    c3 = 2.0 * (x0 - x1) + m0h + m1h
    cubic = lambda s: x0 + s * (m0h + s * (c2 + s * c3)) - b
    one = torch.ones_like(b)
    secant = torch.clamp((b - x0) / torch.where(x1 > x0, x1 - x0, one), 0.0, 1.0)
    flat = torch.clamp(torch.sqrt(torch.clamp(b - x0, min=0.0) / torch.where(c2 > 0, c2, one)), 0.0, 1.0)
    t = torch.where((c2 > 0) & (cubic(flat).abs() < cubic(secant).abs()), flat, secant)
    lo, hi = torch.zeros_like(b), one
    for _ in range(_NEWTON_STEPS):
        f = cubic(t)
        lo, hi = torch.where(f < 0, t, lo), torch.where(f > 0, t, hi)
        d = m0h + t * (2.0 * c2 + 3.0 * t * c3)
        step = t - f / torch.where(d > 0, d, one)
        t = torch.where(f == 0, t, torch.where((d > 0) & (step >= lo) & (step <= hi), step, 0.5 * (lo + hi)))
    return torch.where(b > xs[-1], ys[-1] + (b - xs[-1]) / TABLE_END_SLOPE, ys[k] + t * h)


class _Psi(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.sign(x) * _psi_nonneg(x.abs())
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad / _g_nonneg(y.abs(), slope=True)


def transform(x):
    """psi(x) = G^-1(x) (the table's monotone cubic, inverted by Newton steps)."""
    return _Psi.apply(x)


def inverse_transform(y):
    """G(y) = psi^-1(y)."""
    return torch.sign(y) * _g_nonneg(y.abs())
'''

MODULES = '''

# -- modules ----------------------------------------------------------------------------------
class Parameterization(nn.Module):
    """weight = predictor(*factors), for torch.nn.utils.parametrize.register_parametrization.

    On registration `right_inverse` turns the layer's current weight into its balanced factors
    (parametrizations.<name>.original0, original1, ...: the parameters to train). `shape` is the
    layer's weight shape (default: that of the registered weight), the predictor reshaped to it.
    """

    def __init__(self, shape=None):
        super().__init__()
        self.shape = None if shape is None else tuple(shape)

    def forward(self, *factors):
        z = predictor(*factors)
        return z if self.shape is None else z.reshape(self.shape)

    def right_inverse(self, weight):
        if self.shape is None:
            self.shape = tuple(weight.shape)
        return tuple(f.contiguous() for f in balanced_factors(weight.reshape(PREDICTOR_SHAPE)))


class DesignedWeight(nn.Module):
    """The factors as parameters; `forward()` returns the predictor (the weight, PREDICTOR_SHAPE).

    `DesignedWeight()` starts at `initial_factors(scale)`; `DesignedWeight.balanced(weight)` at
    the balanced factors of a given weight; `DesignedWeight(factors=...)` at given factors.
    """

    def __init__(self, factors=None, scale=INIT_SCALE, generator=None, dtype=torch.float32):
        super().__init__()
        if factors is None:
            factors = initial_factors(scale, generator, dtype)
        self.factors = nn.ParameterList([nn.Parameter(torch.as_tensor(f).clone()) for f in factors])

    @classmethod
    def balanced(cls, weight):
        return cls(factors=balanced_factors(torch.as_tensor(weight).reshape(PREDICTOR_SHAPE)))

    def named_factors(self):
        return dict(zip(NAMES, self.factors))

    def forward(self):
        return predictor(*self.factors)


def init_parametrized(module, name="weight", scale=INIT_SCALE, generator=None):
    """Set the factors registered on `module.<name>` to initial_factors(scale) (the designed start)
    instead of the balanced factors of the weight the layer had."""
    originals = [p for n, p in module.parametrizations[name].named_parameters(recurse=False) if n.startswith("original")]
    with torch.no_grad():
        for p, f in zip(originals, initial_factors(scale, generator, originals[0].dtype)):
            p.copy_(f)
    return module


def factor_parameters(module):
    """The parameters of `module` that are factors of this parameterization (standalone
    DesignedWeight modules and weights registered with Parameterization; free factors excepted),
    and all the others."""
    from torch.nn.utils import parametrize

    ids = set()
    for sub in module.modules():
        if isinstance(sub, DesignedWeight):
            ids.update(id(p) for name, p in zip(NAMES, sub.factors) if name not in FREE_NAMES)
        if parametrize.is_parametrized(sub):
            for plist in sub.parametrizations.values():
                if any(isinstance(p, Parameterization) for p in plist):
                    ids.update(id(p) for name, p in plist.named_parameters(recurse=False)
                               if name.startswith("original") and NAMES[int(name[len("original"):])] not in FREE_NAMES)
    factors = [p for p in module.parameters() if id(p) in ids]
    others = [p for p in module.parameters() if id(p) not in ids]
    return factors, others
'''

FREE = '''
# -- the parameterization: free parameters (no mechanism touches them) ------------------------
NAMES = ("c",)
FREE_SHAPE = $shape
FREE_CONSTANT = $constant  # True: z = c 1 (one number); False: z = c (every entry)


def predictor(c):
    """z = c 1 (a constant offset) or z = c, reshaped to FREE_SHAPE."""
    return c[0] * torch.ones(FREE_SHAPE, dtype=c.dtype) if FREE_CONSTANT else c.reshape(FREE_SHAPE)


def balanced_factors(z):
    """The least-squares coefficients (exact on the span)."""
    return (z.mean().reshape(1),) if FREE_CONSTANT else (z.reshape(-1),)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Zero (the scale is for factors a mechanism acts on)."""
    return (torch.zeros(1 if FREE_CONSTANT else math.prod(FREE_SHAPE), dtype=dtype),)
'''

LINEAR = '''
# -- the parameterization: a fixed linear map, z = B theta (no symmetry) -----------------------
NAMES = ("theta",)
DIM = $dim


def predictor(theta):
    """z = B theta."""
    return synthesis(theta)


def balanced_factors(z):
    """theta = B^-1 z (the only point of the fibre)."""
    return (analysis(z),)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Zero: z starts at 0."""
    return (torch.zeros(DIM, dtype=dtype),)
'''

SUM = '''
# -- the parameterization: a sum, z = sum_k w_k phi_k(theta_k) ---------------------------------
# The terms are defined above with the prefixes _t0_, _t1_, ...; the parameters of term k are
# named "k.<name>" in NAMES.
NAMES = $names
FREE_NAMES = $free_names
WEIGHTS = $weights
_TERMS = $terms
#: the term that takes all of a given weight in balanced_factors (it reaches every predictor)
BALANCE_TERM = $balance_term


def _split(factors):
    out, i = [], 0
    for names, *_ in _TERMS:
        out.append(tuple(factors[i:i + len(names)]))
        i += len(names)
    return out


def predictor(*factors):
    """z = sum_k w_k phi_k(theta_k)."""
    return sum(w * term[1](*f) for w, term, f in zip(WEIGHTS, _TERMS, _split(factors)))


def balanced_factors(z):
    """A point of the fibre over z: the balanced factors of z / w_k in the term BALANCE_TERM, the
    other terms at 0. (The least-norm split of z among the terms is an optimisation problem, which
    training solves: the mechanism's bias is the minimum over the splits.)"""
    out = []
    for k, (names, _, balanced, initial) in enumerate(_TERMS):
        if k == BALANCE_TERM:
            out += list(balanced(z / WEIGHTS[k]))
        else:
            out += [torch.zeros_like(f) for f in initial(INIT_SCALE, None, z.dtype)]
    return tuple(out)


def initial_factors(scale=INIT_SCALE, generator=None, dtype=torch.float32):
    """Every term at its own designed start (free terms at 0)."""
    return tuple(f for _, _, _, initial in _TERMS for f in initial(scale, generator, dtype))
'''

# -- mechanisms: the training settings ---------------------------------------------------------

WEIGHT_DECAY = '''

# -- training: weight decay -------------------------------------------------------------------
MECHANISM = "weight_decay"
#: lambda of (lambda/2)|w|^2 on the factors only (coupled: gradient + WEIGHT_DECAY * w, as
#: torch.optim.SGD's weight_decay); minimised over the factors it is lambda R*(z).
WEIGHT_DECAY = $weight_decay
#: the design does not fix a learning rate: choose a stable step (`designer validate` takes half the
#: edge of stability 2 / lambda_max at the initialisation).
LEARNING_RATE = None
TRAINING = {"mechanism": MECHANISM, "weight_decay": WEIGHT_DECAY, "applies_to": "the factors only",
            "strength": $strength}


def optimizer(module, lr):
    """torch.optim.SGD: weight decay WEIGHT_DECAY on the factors of this parameterization, none elsewhere."""
    factors, others = factor_parameters(module)
    groups = [{"params": factors, "weight_decay": WEIGHT_DECAY}]
    if others:
        groups.append({"params": others, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=lr)
'''

LABEL_NOISE = '''

# -- training: SGD with label noise -------------------------------------------------------------
MECHANISM = "label_noise"
#: the variance sigma^2 of the Gaussian noise added to the targets at every step, at LEARNING_RATE
#: (the bias is (eta sigma^2 / 4) x the trace of the Hessian on the zero-loss manifold).
LABEL_NOISE_VARIANCE = $variance
LEARNING_RATE = $learning_rate
TRAINING = {"mechanism": MECHANISM, "label_noise_variance": LABEL_NOISE_VARIANCE, "learning_rate": LEARNING_RATE,
            "relation": "eta sigma^2 / 4 = lambda / a", "strength": $strength}


def add_label_noise(y, generator=None):
    """Targets with fresh Gaussian noise of variance LABEL_NOISE_VARIANCE (call once per step)."""
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return y + math.sqrt(LABEL_NOISE_VARIANCE) * noise


def optimizer(module, lr=LEARNING_RATE):
    """torch.optim.SGD at the designed learning rate (no weight decay)."""
    return torch.optim.SGD(module.parameters(), lr=lr)
'''

GAUGE = '''

# -- training: SGD at a temperature (the paper's gauge mechanism) --------------------------------
MECHANISM = "gauge"
#: T = eta s^2 / (2 B): the learning rate over the batch size sets the temperature.
TEMPERATURE = $temperature
GRADIENT_NOISE_VARIANCE = $gradient_noise_variance
LEARNING_RATE_OVER_BATCH_SIZE = $ratio
TRAINING = {"mechanism": MECHANISM, "temperature": TEMPERATURE, "gradient_noise_variance": GRADIENT_NOISE_VARIANCE,
            "learning_rate_over_batch_size": LEARNING_RATE_OVER_BATCH_SIZE, "relation": "T = eta s^2 / (2 B)",
            "strength": $strength}


def learning_rate(batch_size):
    """The learning rate that gives TEMPERATURE at this minibatch size."""
    return LEARNING_RATE_OVER_BATCH_SIZE * batch_size


def optimizer(module, batch_size):
    """torch.optim.SGD at learning_rate(batch_size) (no weight decay); train with minibatches of batch_size."""
    return torch.optim.SGD(module.parameters(), lr=learning_rate(batch_size))
'''
