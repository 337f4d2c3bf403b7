"""JAX template pieces of :mod:`designer.export` (one per family, basis, transform, mechanism).

Same contract as :mod:`designer.export._torch`: ``$name`` placeholders receive only numbers written
as literals. Every family piece defines ``NAMES``, ``predictor(params)``, ``balanced(z)`` and
``init(key, scale, dtype)`` on a dict of arrays keyed by ``NAMES``.
"""

HEADER = '''"""$title

Exported by `designer export` (implicit-bias-designer) for the design candidate below; the
parameterization, its initialisation and the optax transformation of its mechanism.

    parameterization: $param_json
    mechanism:        $mechanism_json
    claim:            this training induces the bias lambda R*(z) of the target $target_json,
                      lambda = $strength (the design's strength)

Pure functions: `params = init(key)`, `z = predictor(params)`, `balanced(z)` (the least-norm
factors of a predictor), `optimizer(...)` (an optax transformation with the mechanism's settings).
"""

import math

import jax
import jax.numpy as jnp
import optax

PREDICTOR_SHAPE = $predictor_shape
INIT_SCALE = $init_scale
#: parameters no mechanism touches (free terms of a sum): no weight decay on them
FREE_NAMES = ()
'''

HADAMARD = '''
# -- the parameterization: Hadamard product of depth D, z = B psi(u_1 * ... * u_D) --------------
NAMES = ("u",)
DEPTH = $depth
DIM = $dim
SHAPE = $shape  # of z (vectors: (DIM,))


def predictor(params):
    """z = B psi(u_1 * ... * u_D): the elementwise product of the D rows of u, then psi, then B."""
    return synthesis(transform(jnp.prod(params["u"], axis=0)))


def balanced(z):
    """The least-norm factors with predictor z: |u_1| = ... = |u_D| = |c|^(1/D), c = psi^-1(B^-1 z)."""
    c = inverse_transform(analysis(z))
    root = jnp.abs(c) ** (1.0 / DEPTH)
    u = jnp.broadcast_to(root, (DEPTH, *SHAPE)).at[0].set(jnp.where(c < 0, -root, root))
    return {"u": u}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Every factor the constant `scale` except the last, which is 0: z starts at 0 and may take
    either sign (the initialisation of `designer validate`; `key` is not used)."""
    del key
    return {"u": jnp.full((DEPTH, *SHAPE), scale, dtype).at[-1].set(0.0)}
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


def _intervals():
    import numpy as np

    a, b = np.triu_indices(DIM)  # ordered by a then b
    cost = (a > 0).astype(float) + (b < DIM - 1).astype(float) + LAM * (b - a + 1.0)
    return a, b, cost


def predictor(params):
    """sum_I (u_1,I u_2,I / c_I) 1_I (a difference array and a cumulative sum)."""
    a, b, cost = _intervals()
    u = params["u"]
    y = u[0] * u[1] / jnp.asarray(cost, u.dtype)
    diff = jnp.zeros(DIM + 1, y.dtype).at[a].add(y).at[b + 1].add(-y)
    return jnp.cumsum(diff)[:DIM]


def _components(z, a, b):
    # weight of I as a component of {z > t}, t >= 0: max(0, min_I z - max(0, z_{a-1}, z_{b+1}))
    idx = jnp.arange(DIM)
    table = jnp.where(idx[None, :] >= idx[:, None], z[None, :], jnp.inf)
    inner = jax.lax.cummin(table, axis=1)[a, b]
    left = jnp.where(a > 0, z[jnp.maximum(a - 1, 0)], 0.0)
    right = jnp.where(b < DIM - 1, z[jnp.minimum(b + 1, DIM - 1)], 0.0)
    return jnp.maximum(0.0, inner - jnp.maximum(0.0, jnp.maximum(left, right)))


def balanced(z):
    """The least-norm factors with predictor z: the layer-cake split of z into intervals
    (x_I = c_I y_I), u_1 = sign(x) sqrt|x|, u_2 = sqrt|x|."""
    a, b, cost = _intervals()
    x = jnp.asarray(cost, z.dtype) * (_components(z, a, b) - _components(-z, a, b))
    root = jnp.sqrt(jnp.abs(x))
    return {"u": jnp.stack([jnp.where(x < 0, -root, root), root])}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """The first factor the constant `scale`, the second 0: z starts at 0 (`key` is not used)."""
    del key
    return {"u": jnp.full((2, DIM * (DIM + 1) // 2), scale, dtype).at[-1].set(0.0)}
'''

GROUP_HADAMARD = '''
# -- the parameterization: one shared scale per group, z_i = s_g(i) v_i --------------------------
NAMES = ("s", "v")
DIM = $dim
GROUP_SIZE = $group_size
N_GROUPS = DIM // GROUP_SIZE


def predictor(params):
    """z_i = s_g v_i for the contiguous groups g of GROUP_SIZE coordinates."""
    return jnp.repeat(params["s"], GROUP_SIZE) * params["v"]


def balanced(z):
    """The least-norm factors with predictor z: s_g = |z_g|^(1/2), v_g = z_g / s_g."""
    zg = z.reshape(N_GROUPS, GROUP_SIZE)
    s = jnp.sqrt(jnp.linalg.norm(zg, axis=1))
    safe = jnp.where(s > 0, s, 1.0)
    v = jnp.where(s[:, None] > 0, zg / safe[:, None], 0.0)
    return {"s": s, "v": v.reshape(-1)}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Scales s = `scale`, values v = 0: z starts at 0 (`key` is not used)."""
    del key
    return {"s": jnp.full((N_GROUPS,), scale, dtype), "v": jnp.zeros((DIM,), dtype)}
'''

MATRIX_PRODUCT = '''
# -- the parameterization: matrix product M = W_1 W_2 ... W_D, inner dimension RANK ------------
DEPTH = $depth
ROWS, COLS, RANK = $rows, $cols, $rank
SHAPES = [(ROWS, RANK)] + [(RANK, RANK)] * (DEPTH - 2) + [(RANK, COLS)]
NAMES = $names


def predictor(params):
    """M = W_1 W_2 ... W_D."""
    out = params["W1"]
    for name in NAMES[1:]:
        out = out @ params[name]
    return out


def balanced(z):
    """Balanced factors from the SVD M = U S V^T: W_1 = U S^(1/D), W_k = S^(1/D), W_D = S^(1/D) V^T."""
    u, s, vt = jnp.linalg.svd(z, full_matrices=False)
    k = min(RANK, s.shape[0])
    u = jnp.pad(u[:, :k], ((0, 0), (0, RANK - k)))
    s = jnp.pad(s[:k], (0, RANK - k))
    vt = jnp.pad(vt[:k], ((0, RANK - k), (0, 0)))
    root = s ** (1.0 / DEPTH)
    factors = [u * root] + [jnp.diag(root)] * (DEPTH - 2) + [root[:, None] * vt]
    return dict(zip(NAMES, factors))


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Independent normal entries of standard deviation scale / sqrt(RANK) (as `designer validate`)."""
    keys = jax.random.split(key, DEPTH)
    std = scale / math.sqrt(RANK)
    return {name: std * jax.random.normal(k, shape, dtype) for name, k, shape in zip(NAMES, keys, SHAPES)}
'''

SCALAR_PRODUCT = '''
# -- the parameterization: z = u v for scalars -------------------------------------------------
NAMES = ("u", "v")


def predictor(params):
    """z = u v."""
    return params["u"] * params["v"]


def balanced(z):
    """|u| = |v| = |z|^(1/2), the sign on u."""
    a = jnp.sqrt(jnp.abs(z))
    return {"u": jnp.where(z < 0, -a, a), "v": a}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """u = `scale`, v = 0: z starts at 0 (`key` is not used)."""
    del key
    return {"u": jnp.asarray(scale, dtype), "v": jnp.asarray(0.0, dtype)}
'''

RELU_TWO_LAYER = '''
# -- the parameterization: two-layer bias-free ReLU network f(x) = sum_j v_j relu(<w_j, x>) -------
NAMES = ("W", "V")
HIDDEN, INPUTS, OUTPUTS = $hidden, $inputs, $outputs


def predictor(params):
    """Each unit's outer product z_j = v_j w_j^T (HIDDEN x OUTPUTS*INPUTS), the rescaling invariant."""
    return (params["V"][:, :, None] * params["W"][:, None, :]).reshape(HIDDEN, OUTPUTS * INPUTS)


def network(params, x):
    """The network's output for inputs x (batch x INPUTS) -> (batch x OUTPUTS)."""
    return jax.nn.relu(x @ params["W"].T) @ params["V"]


def balanced(z):
    """Per unit |v_j| = |w_j| = (top singular value of z_j)^(1/2) (v's sign pattern positive)."""
    u, s, vt = jnp.linalg.svd(z.reshape(HIDDEN, OUTPUTS, INPUTS), full_matrices=False)
    root = jnp.sqrt(s[:, 0])
    return {"W": root[:, None] * vt[:, 0, :], "V": root[:, None] * u[:, :, 0]}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Independent normal entries of standard deviation `scale`."""
    kw, kv = jax.random.split(key)
    return {"W": scale * jax.random.normal(kw, (HIDDEN, INPUTS), dtype),
            "V": scale * jax.random.normal(kv, (HIDDEN, OUTPUTS), dtype)}
'''

ATTENTION_QK = '''
# -- the parameterization: attention scores x W_Q W_K^T x^T, symmetry "$symmetry" -----------------
NAMES = ("WQ", "WK")
D_EMB, D_HEAD = $d_emb, $d_head
PER_COLUMN = $per_column


def predictor(params):
    """Per-column outer products W_Q[:, j] W_K[:, j]^T (columns) or M = W_Q W_K^T (gl)."""
    if PER_COLUMN:
        return jnp.einsum("aj,bj->jab", params["WQ"], params["WK"])
    return params["WQ"] @ params["WK"].T


def scores(params, x):
    """Attention logits x W_Q W_K^T x^T / sqrt(D_HEAD) for x (seq x D_EMB)."""
    return (x @ params["WQ"]) @ (x @ params["WK"]).T / math.sqrt(D_HEAD)


def balanced(z):
    """|W_Q[:, j]| = |W_K[:, j]| per column (columns) or W_Q = U S^(1/2), W_K = V S^(1/2) (gl)."""
    u, s, vt = jnp.linalg.svd(z, full_matrices=False)
    if PER_COLUMN:
        root = jnp.sqrt(s[:, 0])
        return {"WQ": (root[:, None] * u[:, :, 0]).T, "WK": (root[:, None] * vt[:, 0, :]).T}
    root = jnp.sqrt(s[:D_HEAD])
    return {"WQ": u[:, :D_HEAD] * root, "WK": vt[:D_HEAD].T * root}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Independent normal entries of standard deviation `scale`."""
    kq, kk = jax.random.split(key)
    return {"WQ": scale * jax.random.normal(kq, (D_EMB, D_HEAD), dtype),
            "WK": scale * jax.random.normal(kk, (D_EMB, D_HEAD), dtype)}
'''

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
    return jnp.cumsum(c, axis=0)


def analysis(z):
    """B^-1: first differences."""
    return jnp.diff(z, prepend=jnp.zeros_like(z[:1]))
'''

BASIS_CUMSUM2D = '''

def synthesis(c):
    """B: 2-D cumulative sum, Z_ij = sum_(a <= i, b <= j) C_ab (sparse C = piecewise-constant blocks)."""
    return jnp.cumsum(jnp.cumsum(c, axis=-2), axis=-1)


def analysis(z):
    """B^-1: first differences along the rows, then along the columns."""
    rows = jnp.diff(z, axis=-2, prepend=jnp.zeros_like(z[..., :1, :]))
    return jnp.diff(rows, axis=-1, prepend=jnp.zeros_like(rows[..., :, :1]))
'''

BASIS_MATRIX = '''

#: The given matrix B and its inverse (float64 nested tuples; the inverse computed by the
#: designer), acting on the row-major flattened predictor.
_B = $values
_B_INV = $inverse


def _apply(a, x):
    return (jnp.asarray(a, x.dtype) @ x.reshape(-1)).reshape(x.shape)


def synthesis(c):
    """z = B c."""
    return _apply(_B, c)


def analysis(z):
    """c = B^-1 z."""
    return _apply(_B_INV, z)
'''

BASIS_COSINE = '''

def _dct_matrix(d):
    """The orthonormal DCT-II matrix C (numpy float64); B = C^T."""
    import numpy as np

    n = np.arange(d)
    c = np.sqrt(2.0 / d) * np.cos(np.pi * (n[None, :] + 0.5) * n[:, None] / d)
    c[0, :] = np.sqrt(1.0 / d)
    return c


_ANALYSIS = _dct_matrix(DIM)


def synthesis(c):
    """B = C^T (orthonormal inverse DCT)."""
    return jnp.asarray(_ANALYSIS.T, c.dtype) @ c


def analysis(z):
    """B^-1 = C (orthonormal DCT-II)."""
    return jnp.asarray(_ANALYSIS, z.dtype) @ z
'''

BASIS_HAAR = '''

def _haar_matrix(d):
    """The orthonormal Haar matrix H (numpy float64, d a power of two); B = H^T."""
    import numpy as np

    h = np.ones((1, 1))
    while h.shape[0] < d:
        n = h.shape[0]
        h = np.vstack([np.kron(h, [1.0, 1.0]), np.kron(np.eye(n), [1.0, -1.0])]) / np.sqrt(2.0)
    return h


_ANALYSIS = _haar_matrix(DIM)


def synthesis(c):
    """B = H^T (Haar synthesis)."""
    return jnp.asarray(_ANALYSIS.T, c.dtype) @ c


def analysis(z):
    """B^-1 = H (Haar analysis)."""
    return jnp.asarray(_ANALYSIS, z.dtype) @ z
'''

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
    return TRANSFORM_SCALE * jnp.arcsinh(x / TRANSFORM_SCALE)


def inverse_transform(y):
    return TRANSFORM_SCALE * jnp.sinh(y / TRANSFORM_SCALE)
'''

TRANSFORM_SIGNED_POWER = '''
TRANSFORM_EXPONENT = $exponent


def transform(x):
    """psi(x) = sign(x) |x|^p, p = TRANSFORM_EXPONENT."""
    return jnp.sign(x) * jnp.abs(x) ** TRANSFORM_EXPONENT


def inverse_transform(y):
    return jnp.sign(y) * jnp.abs(y) ** (1.0 / TRANSFORM_EXPONENT)
'''

TRANSFORM_TABLE = '''
# psi from a table: psi^-1 = G is the monotone cubic Hermite interpolant through (TABLE_Y, TABLE_X)
# with slopes G'(y_k) = TABLE_SLOPES, linear with slope TABLE_END_SLOPE beyond the last knot, odd
# for negative arguments; psi = G^-1 by safeguarded Newton steps, its derivative 1 / G'(psi(x)).
TABLE_Y = $knots_y
TABLE_X = $knots_x
TABLE_SLOPES = $slopes
TABLE_END_SLOPE = $end_slope
_NEWTON_STEPS = 10


def _table(dtype):
    return tuple(jnp.asarray(v, dtype) for v in (TABLE_Y, TABLE_X, TABLE_SLOPES))


def _segment(knots, a):
    return jnp.clip(jnp.searchsorted(knots, a, side="right") - 1, 0, knots.shape[0] - 2)


def _cubic(t, x0, x1, m0h, m1h):
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * x0 + (t3 - 2 * t2 + t) * m0h + (3 * t2 - 2 * t3) * x1 + (t3 - t2) * m1h


def _g_nonneg(a):
    ys, xs, ms = _table(a.dtype)
    k = _segment(ys, a)
    h = ys[k + 1] - ys[k]
    inside = _cubic((a - ys[k]) / h, xs[k], xs[k + 1], ms[k] * h, ms[k + 1] * h)
    return jnp.where(a > ys[-1], xs[-1] + TABLE_END_SLOPE * (a - ys[-1]), inside)


def _psi_nonneg(b):
    # the root t of the segment's cubic c(t) = b: Newton steps kept inside a bracket [lo, hi]
    # (bisection where Newton would leave it), started from the secant guess or, where the
    # segment starts flat (c ~ c2 t^2), from sqrt(b / c2) when that is closer
    ys, xs, ms = _table(b.dtype)
    k = _segment(xs, b)
    h = ys[k + 1] - ys[k]
    x0, x1, m0h, m1h = xs[k], xs[k + 1], ms[k] * h, ms[k + 1] * h
    c2 = 3.0 * (x1 - x0) - 2.0 * m0h - m1h
    c3 = 2.0 * (x0 - x1) + m0h + m1h
    cubic = lambda s: x0 + s * (m0h + s * (c2 + s * c3)) - b
    secant = jnp.clip((b - x0) / jnp.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    flat = jnp.clip(jnp.sqrt(jnp.maximum(b - x0, 0.0) / jnp.where(c2 > 0, c2, 1.0)), 0.0, 1.0)
    t = jnp.where((c2 > 0) & (jnp.abs(cubic(flat)) < jnp.abs(cubic(secant))), flat, secant)
    lo, hi = jnp.zeros_like(t), jnp.ones_like(t)
    for _ in range(_NEWTON_STEPS):
        f = cubic(t)
        lo, hi = jnp.where(f < 0, t, lo), jnp.where(f > 0, t, hi)
        d = m0h + t * (2.0 * c2 + 3.0 * t * c3)
        step = t - f / jnp.where(d > 0, d, 1.0)
        t = jnp.where(f == 0, t, jnp.where((d > 0) & (step >= lo) & (step <= hi), step, 0.5 * (lo + hi)))
    return jnp.where(b > xs[-1], ys[-1] + (b - xs[-1]) / TABLE_END_SLOPE, ys[k] + t * h)


def inverse_transform(y):
    """G(y) = psi^-1(y)."""
    return jnp.sign(y) * _g_nonneg(jnp.abs(y))


@jax.custom_jvp
def transform(x):
    """psi(x) = G^-1(x) (the table's monotone cubic, inverted by Newton steps)."""
    return jnp.sign(x) * _psi_nonneg(jnp.abs(x))


@transform.defjvp
def _transform_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = transform(x)
    slope = jax.jvp(inverse_transform, (y,), (jnp.ones_like(y),))[1]
    return y, dx / slope
'''

MODULES = ''

FREE = '''
# -- the parameterization: free parameters (no mechanism touches them) ------------------------
NAMES = ("c",)
FREE_SHAPE = $shape
FREE_CONSTANT = $constant  # True: z = c 1 (one number); False: z = c (every entry)


def predictor(params):
    """z = c 1 (a constant offset) or z = c, reshaped to FREE_SHAPE."""
    c = params["c"]
    return jnp.broadcast_to(c[0], FREE_SHAPE) if FREE_CONSTANT else c.reshape(FREE_SHAPE)


def balanced(z):
    """The least-squares coefficients (exact on the span)."""
    return {"c": jnp.mean(z).reshape(1) if FREE_CONSTANT else z.reshape(-1)}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Zero (the scale is for factors a mechanism acts on)."""
    del key, scale
    return {"c": jnp.zeros(1 if FREE_CONSTANT else math.prod(FREE_SHAPE), dtype)}
'''

LINEAR = '''
# -- the parameterization: a fixed linear map, z = B theta (no symmetry) -----------------------
NAMES = ("theta",)
DIM = $dim


def predictor(params):
    """z = B theta."""
    return synthesis(params["theta"])


def balanced(z):
    """theta = B^-1 z (the only point of the fibre)."""
    return {"theta": analysis(z)}


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Zero: z starts at 0."""
    del key, scale
    return {"theta": jnp.zeros(DIM, dtype)}
'''

SUM = '''
# -- the parameterization: a sum, z = sum_k w_k phi_k(theta_k) ---------------------------------
# The terms are defined above with the prefixes _t0_, _t1_, ...; the parameters of term k are
# the keys "k.<name>" of `params`.
NAMES = $names
FREE_NAMES = $free_names
WEIGHTS = $weights
_TERMS = $terms
#: the term that takes all of a given weight in `balanced` (it reaches every predictor)
BALANCE_TERM = $balance_term


def _part(params, k, names):
    return {n: params[f"{k}.{n}"] for n in names}


def predictor(params):
    """z = sum_k w_k phi_k(theta_k)."""
    return sum(w * term[1](_part(params, k, term[0])) for k, (w, term) in enumerate(zip(WEIGHTS, _TERMS)))


def balanced(z):
    """A point of the fibre over z: the balanced factors of z / w_k in the term BALANCE_TERM, the
    other terms at 0 (training finds the least-norm split: the mechanism's bias is its minimum)."""
    out = {}
    for k, (names, _, balanced_k, init_k) in enumerate(_TERMS):
        part = balanced_k(z / WEIGHTS[k]) if k == BALANCE_TERM else jax.tree_util.tree_map(
            jnp.zeros_like, init_k(jax.random.PRNGKey(0), INIT_SCALE, z.dtype))
        out.update({f"{k}.{n}": v for n, v in part.items()})
    return out


def init(key, scale=INIT_SCALE, dtype=jnp.float32):
    """Every term at its own designed start (free terms at 0)."""
    out = {}
    for k, (names, _, _, init_k) in enumerate(_TERMS):
        out.update({f"{k}.{n}": v for n, v in init_k(jax.random.fold_in(key, k), scale, dtype).items()})
    return out
'''

WEIGHT_DECAY = '''

# -- training: weight decay -------------------------------------------------------------------
MECHANISM = "weight_decay"
#: lambda of (lambda/2)|w|^2 on the factors (every leaf of `params`); minimised over the factors
#: it is lambda R*(z).
WEIGHT_DECAY = $weight_decay
#: the design does not fix a learning rate: choose a stable step (`designer validate` takes half the
#: edge of stability 2 / lambda_max at the initialisation).
LEARNING_RATE = None
TRAINING = {"mechanism": MECHANISM, "weight_decay": WEIGHT_DECAY, "applies_to": "the factors only",
            "strength": $strength}


def optimizer(learning_rate):
    """SGD with coupled weight decay: update = -learning_rate (gradient + WEIGHT_DECAY w), free parameters excepted."""
    mask = lambda params: {name: name not in FREE_NAMES for name in params}
    return optax.chain(optax.add_decayed_weights(WEIGHT_DECAY, mask=mask), optax.sgd(learning_rate))
'''

LABEL_NOISE = '''

# -- training: SGD with label noise -------------------------------------------------------------
MECHANISM = "label_noise"
#: the variance sigma^2 of the Gaussian noise added to the targets at every step, at LEARNING_RATE.
LABEL_NOISE_VARIANCE = $variance
LEARNING_RATE = $learning_rate
TRAINING = {"mechanism": MECHANISM, "label_noise_variance": LABEL_NOISE_VARIANCE, "learning_rate": LEARNING_RATE,
            "relation": "eta sigma^2 / 4 = lambda / a", "strength": $strength}


def add_label_noise(key, y):
    """Targets with fresh Gaussian noise of variance LABEL_NOISE_VARIANCE (a new key every step)."""
    return y + math.sqrt(LABEL_NOISE_VARIANCE) * jax.random.normal(key, y.shape, y.dtype)


def optimizer(learning_rate=LEARNING_RATE):
    """Plain SGD at the designed learning rate."""
    return optax.sgd(learning_rate)
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


def optimizer(batch_size):
    """Plain SGD at learning_rate(batch_size); train with minibatches of batch_size."""
    return optax.sgd(learning_rate(batch_size))
'''
