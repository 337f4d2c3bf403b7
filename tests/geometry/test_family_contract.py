"""Contract tests parametrised over the family registry (float64).

Every family in ``designer.families.FAMILIES`` must have a row in ``CASES``; a new family that
forgets its row fails ``test_every_family_has_a_row``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer import geometry
from designer.families import FAMILIES, build_family
from designer.mechanisms import Gauge

# family name -> list of (spec, predictor shape, analytic generators or None)
# Analytic generators: f(family, params) -> (n_blocks, n_generators, block_size) in block layout.


def _hadamard_gens(fam, params):
    u = params["u"].reshape(fam.depth, -1).T  # (d, D)
    d, D = u.shape
    eye = jnp.eye(D)
    rows = [u * (eye[a] - eye[a + 1]) for a in range(D - 1)]
    return jnp.stack(rows, axis=1)


def _rescale_gens(n_plus):
    def gens(fam, params):
        x = fam.to_blocks(params)
        sign = jnp.concatenate([jnp.ones(n_plus(fam)), -jnp.ones(x.shape[1] - n_plus(fam))])
        return (x * sign)[:, None, :]
    return gens


def _matrix_gens(fam, params):
    from designer.families._matrix import gl_basis

    basis, _ = gl_basis(fam.rank)
    ws = fam.factors(params)
    rows = []
    for k in range(fam.depth - 1):
        for x in basis:
            tangent = [jnp.zeros_like(w) for w in ws]
            tangent[k] = ws[k] @ x
            tangent[k + 1] = -x @ ws[k + 1]
            rows.append(jnp.concatenate([t.reshape(-1) for t in tangent]))
    return jnp.stack(rows)[None]


def _attention_gl_gens(fam, params):
    from designer.families._matrix import gl_basis

    basis, _ = gl_basis(fam.d_head)
    q, k = params["WQ"], params["WK"]
    rows = [jnp.concatenate([(q @ x).reshape(-1), (-k @ x.T).reshape(-1)]) for x in basis]
    return jnp.stack(rows)[None]


def _no_gens(fam, params):
    return jnp.zeros((fam.n_blocks, 0, fam.block_size))


def _sum_gens(*term_gens):
    """Generators of a sum: each term's generators on its own slice of the one block."""

    def gens(fam, params):
        rows, offset, total = [], 0, fam.block_size
        for term, part, analytic in zip(fam.terms, fam.split(params), term_gens):
            g = analytic(term, part)  # (n_blocks_k, m_k, block_size_k)
            nb, m, bs = g.shape
            for b in range(nb):
                for a in range(m):
                    row = jnp.zeros(total).at[offset + b * bs: offset + (b + 1) * bs].set(g[b, a])
                    rows.append(row)
            offset += nb * bs
        return jnp.stack(rows)[None] if rows else jnp.zeros((1, 0, total))

    return gens


CASES = {
    "scalar_product": [({"family": "scalar_product"}, (), _rescale_gens(lambda f: 1))],
    "hadamard": [
        ({"family": "hadamard", "depth": 2}, (7,), _hadamard_gens),
        ({"family": "hadamard", "depth": 4, "basis": "cosine"}, (6,), _hadamard_gens),
        ({"family": "hadamard", "depth": 3, "basis": "haar", "transform": {"kind": "asinh", "scale": 0.7}}, (8,), _hadamard_gens),
        ({"family": "hadamard", "depth": 2, "basis": "cumsum", "transform": {"kind": "signed_power", "exponent": 1.5}}, (5,), _hadamard_gens),
        ({"family": "hadamard", "depth": 2, "transform": {"kind": "table", "x": [0.0, 0.3, 1.0, 2.5, 6.0], "y": [0.0, 0.5, 1.2, 2.0, 3.0]}}, (6,), _hadamard_gens),
        ({"family": "hadamard", "depth": 3, "basis": {"kind": "matrix", "values": [[2.0, 1.0, 0.0], [0.0, 1.0, 0.5], [1.0, 0.0, 3.0]]}}, (3,), _hadamard_gens),
        ({"family": "hadamard", "depth": 2, "basis": "cumsum2d"}, (3, 4), _hadamard_gens),
    ],
    "group_hadamard": [({"family": "group_hadamard", "group_size": 3}, (9,), _rescale_gens(lambda f: 1))],
    "matrix_product": [
        ({"family": "matrix_product"}, (4, 3), _matrix_gens),
        ({"family": "matrix_product", "depth": 3, "rank": 2}, (4, 5), _matrix_gens),
        ({"family": "matrix_product", "transform": {"kind": "table", "x": [0.0, 0.3, 1.0, 2.5, 6.0], "y": [0.0, 0.5, 1.2, 2.0, 3.0]}}, (4, 3), _matrix_gens),
    ],
    "relu_two_layer": [
        ({"family": "relu_two_layer"}, (5, 3), _rescale_gens(lambda f: f.inputs)),
        ({"family": "relu_two_layer", "outputs": 2}, (4, 6), _rescale_gens(lambda f: f.inputs)),
    ],
    "attention_qk": [
        ({"family": "attention_qk", "symmetry": "columns"}, (3, 4, 4), _rescale_gens(lambda f: f.d_emb)),
        ({"family": "attention_qk", "symmetry": "gl", "d_head": 2}, (4, 4), _attention_gl_gens),
    ],
    "linear": [
        ({"family": "linear"}, (4,), _no_gens),
        ({"family": "linear", "basis": "cumsum2d"}, (2, 3), _no_gens),
    ],
    "interval_hadamard": [({"family": "interval_hadamard", "lambda": 0.7}, (4,), _hadamard_gens)],
    "free": [({"family": "free", "span": "all"}, (3,), _no_gens)],
    "sum": [
        ({"family": "sum", "terms": [{"family": "hadamard"}, {"family": "linear"}], "weights": [1.0, 0.5]}, (4,), _sum_gens(_hadamard_gens, _no_gens)),
        ({"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]}, (5,), _sum_gens(_no_gens, _hadamard_gens)),
        ({"family": "sum", "terms": [{"family": "matrix_product"}, {"family": "hadamard"}], "weights": [1.0, 2.0]}, (3, 2), _sum_gens(_matrix_gens, _hadamard_gens)),
    ],
}

ROWS = [(name, *row) for name, rows in CASES.items() for row in rows]
IDS = [f"{name}-{i}" for name, rows in CASES.items() for i in range(len(rows))]


def test_every_family_has_a_row():
    assert set(CASES) == set(FAMILIES)


def _random_point(fam, seed):
    params = fam.init_params(jax.random.PRNGKey(seed), scale=1.0, dtype=jnp.float64)
    return params, fam.predictor(params)


def _random_t(fam, seed, scale=0.4):
    return scale * jax.random.normal(jax.random.PRNGKey(seed), (fam.n_blocks, fam.n_generators), jnp.float64)


def _close(a, b, rtol):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.abs(b).max(initial=0.0))))


@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_predictor_invariant_along_generator_flows(name, spec, shape, analytic):
    fam = build_family(spec, shape)
    assert fam.predictor_shape == tuple(shape)
    params, z = _random_point(fam, 0)
    moved = jax.jit(geometry.act)(fam, params, _random_t(fam, 1))
    _close(fam.predictor(moved), z, 1e-10)

    # infinitesimally: every generator is tangent to the fibre (dz . xi_a = 0)
    @jax.jit
    def tangent_dz(fam, params):
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        gens = geometry.flat_generators(fam, params)
        return jax.vmap(lambda v: jax.jvp(lambda p: fam.predictor(unravel(p)), (flat,), (v,))[1])(gens)

    dz = tangent_dz(fam, params)
    assert float(jnp.max(jnp.abs(dz), initial=0.0)) < 1e-10 * max(1.0, float(jnp.max(jnp.abs(z))))


@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_sgd_predictor_is_the_predictor_with_its_gradient(name, spec, shape, analytic):
    """What the simulator differentiates (``sgd_predictor``, reverse mode) gives the predictor's
    values and its vector-Jacobian products."""
    fam = build_family(spec, shape)
    params, z = _random_point(fam, 2)
    g = jax.random.normal(jax.random.PRNGKey(3), z.shape, jnp.float64)
    z_sgd, pull_sgd = jax.vjp(fam.sgd_predictor, params)
    _close(z_sgd, z, 1e-13)
    (want,) = jax.vjp(fam.predictor, params)[1](g)
    (got,) = pull_sgd(g)
    for k in want:
        _close(got[k], want[k], 1e-12)


@pytest.mark.parametrize("route", ["stacked", "pullback"])
@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_block_decomposition_matches_whole_action(name, spec, shape, analytic, route, monkeypatch):
    # both ways of forming the block Gram, against the dense generators of the whole action
    # (``flat_generators`` differentiates the full exponential, not the identity shortcut)
    monkeypatch.setattr(geometry, "_PULLBACK_MIN_BLOCK", 0 if route == "pullback" else 10**9)
    fam = build_family(spec, shape)
    params, _ = _random_point(fam, 2)
    dense = jax.jit(geometry.flat_generators)(fam, params)
    g_dense = dense @ dense.T
    blocks = jax.jit(lambda f, p: geometry.gram(f, p))(fam, params)  # a new trace for each route
    m = fam.n_generators
    expected = jax.scipy.linalg.block_diag(*[blocks[b] for b in range(fam.n_blocks)])
    assert g_dense.shape == (fam.n_blocks * m, fam.n_blocks * m)
    _close(g_dense, expected, 1e-12)


@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_autodiff_generators_match_analytic(name, spec, shape, analytic):
    fam = build_family(spec, shape)
    params, _ = _random_point(fam, 3)
    _close(jax.jit(geometry.block_generators)(fam, params), analytic(fam, params), 1e-12)


@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_balanced_point_lies_on_fibre_and_satisfies_moment_map(name, spec, shape, analytic):
    fam = build_family(spec, shape)
    params, z = _random_point(fam, 4)
    w_star = fam.balanced_point(z)
    _close(fam.predictor(w_star), z, 1e-10)
    mu = jax.jit(geometry.moment_map)(fam, w_star)
    norm2 = float(geometry.squared_norm(w_star))
    assert float(jnp.max(jnp.abs(mu), initial=0.0)) < 1e-10 * norm2
    # the closed form is the least-norm point of the orbit
    assert norm2 <= float(geometry.squared_norm(params)) * (1 + 1e-12)


@pytest.mark.parametrize("name,spec,shape,analytic", ROWS, ids=IDS)
def test_numeric_balancing_reaches_closed_form(name, spec, shape, analytic):
    fam = build_family(spec, shape)
    _, z = _random_point(fam, 5)

    @jax.jit
    def run(fam, z, t):
        w_star = fam.balanced_point(z)
        start = geometry.act(fam, w_star, t)
        res = geometry.balance(fam, start)
        return {
            "start_norm2": geometry.squared_norm(start),
            "star_norm2": geometry.squared_norm(w_star),
            "res": res,
            "z_res": fam.predictor(res.params),
            "mu_res": jnp.max(jnp.abs(geometry.moment_map(fam, res.params))),
            "closed": 0.5 * geometry.log_det_gram(fam, w_star),
            "numeric": 0.5 * geometry.log_det_gram(fam, res.params),
            "gauge": Gauge(1.0).bias(fam, z),
        }

    if not any(fam.symmetric_mask):
        pytest.skip("no non-compact symmetry: nothing to balance")
    if not fam.fibre_is_orbit:  # no gauge bias; the engine's balancing inside the orbit still applies
        @jax.jit
        def run_in_orbit(fam, z, t):  # one compilation: the balanced point is a numeric fibre minimum here
            w_star = fam.balanced_point(z)
            return geometry.balance(fam, geometry.act(fam, w_star, t)), geometry.squared_norm(w_star)

        res, norm2 = run_in_orbit(fam, z, _random_t(fam, 6, scale=0.8))
        norm2 = float(norm2)
        assert bool(res.converged)
        assert abs(float(res.value) - norm2) < 1e-9 * norm2
        return
    out = run(fam, z, _random_t(fam, 6, scale=0.8))
    res, norm2 = out["res"], float(out["star_norm2"])
    assert float(out["start_norm2"]) > norm2 * (1 + 1e-3)
    assert bool(res.converged), f"not converged: |grad|={float(res.grad_norm):.3g} after {int(res.steps)} steps"
    _close(out["z_res"], z, 1e-9)
    assert abs(float(res.value) - norm2) < 1e-9 * norm2
    assert float(out["mu_res"]) < 1e-8 * norm2
    # the gauge bias does not depend on which balanced point (residual rotations) was reached
    closed, numeric = float(out["closed"]), float(out["numeric"])
    assert abs(closed - numeric) < 1e-7 * max(1.0, abs(closed))
    assert abs(float(out["gauge"]) - closed) < 1e-12 * max(1.0, abs(closed))


def test_numeric_balancing_reports_non_convergence():
    fam = build_family({"family": "hadamard", "depth": 3}, (4,))
    _, z = _random_point(fam, 7)
    start = geometry.act(fam, fam.balanced_point(z), _random_t(fam, 8, scale=3.0))
    res = geometry.balance(fam, start, max_steps=1)
    assert not bool(res.converged)
    assert int(res.steps) == 1
