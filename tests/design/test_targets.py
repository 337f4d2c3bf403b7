"""Contract test over the TARGETS registry: values against numpy closed forms, errors name the field;
the separable / spectral profiles against the values; per-target oracles (scipy, hand-computed points)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, special

from designer import bases
from designer.errors import DesignerInputError
from designer.targets import TARGETS, build_target, parse_target_spec

RNG = np.random.default_rng(7)
VEC = RNG.standard_normal(16) * 3.0
MAT = RNG.standard_normal((5, 4))
SV = np.linalg.svd(MAT, compute_uv=False)
TAB_POINTS = RNG.standard_normal((5, 16))
TAB_VALUES = np.arange(5.0) ** 2
IMG = RNG.standard_normal((5, 7))


def np_scad(t, lam, a):
    t = np.abs(t)
    return np.where(t <= lam, lam * t, np.where(t <= a * lam, (2 * a * lam * t - t**2 - lam**2) / (2 * (a - 1)), lam**2 * (a + 1) / 2))


def np_mcp(t, lam, gamma):
    t = np.abs(t)
    return np.where(t <= gamma * lam, lam * t - t**2 / (2 * gamma), gamma * lam**2 / 2)


def np_tv_2d(m):
    h, w = m.shape
    return (sum(abs(m[i + 1, j] - m[i, j]) for i in range(h - 1) for j in range(w))
            + sum(abs(m[i, j + 1] - m[i, j]) for i in range(h) for j in range(w - 1)))

#: kind -> (spec, shape, predictor, numpy reference value)
EXAMPLES = {
    "l1": ({"kind": "l1"}, (16,), VEC, np.sum(np.abs(VEC))),
    "lp": ({"kind": "lp", "p": 0.5}, (16,), VEC, np.sum(np.abs(VEC) ** 0.5)),
    "log_sum": ({"kind": "log_sum", "epsilon": 0.1}, (16,), VEC, np.sum(np.log(np.abs(VEC) + 0.1))),
    "group_l21": ({"kind": "group_l21", "sizes": [3, 5, 8]}, (16,), VEC,
                  np.linalg.norm(VEC[:3]) + np.linalg.norm(VEC[3:8]) + np.linalg.norm(VEC[8:])),
    "tv": ({"kind": "tv"}, (16,), VEC, np.sum(np.abs(np.diff(VEC)))),
    "basis_l1": ({"kind": "basis_l1", "basis": "haar"}, (16,), VEC, np.sum(np.abs(bases.analysis("haar", 16) @ VEC))),
    "nuclear": ({"kind": "nuclear"}, (5, 4), MAT, np.sum(SV)),
    "schatten": ({"kind": "schatten", "p": 0.7}, (5, 4), MAT, np.sum(SV ** 0.7)),
    "log_det": ({"kind": "log_det", "epsilon": 0.01}, (5, 4), MAT, np.sum(np.log(SV + 0.01))),
    "tabulated": ({"kind": "tabulated", "pairs": [{"z": list(p), "value": v} for p, v in zip(TAB_POINTS, TAB_VALUES)]},
                  (16,), TAB_POINTS[3], TAB_VALUES[3]),
    "elastic_net": ({"kind": "elastic_net", "l1_ratio": 0.3}, (16,), VEC,
                    0.3 * np.sum(np.abs(VEC)) + 0.35 * np.sum(VEC ** 2)),
    "huber": ({"kind": "huber", "delta": 2.5}, (16,), VEC, np.sum(special.huber(2.5, VEC))),
    "scad": ({"kind": "scad", "lambda": 1.5, "a": 3.0}, (16,), VEC, np.sum(np_scad(VEC, 1.5, 3.0))),
    "mcp": ({"kind": "mcp", "lambda": 1.5, "gamma": 2.5}, (16,), VEC, np.sum(np_mcp(VEC, 1.5, 2.5))),
    "fused_lasso": ({"kind": "fused_lasso", "lambda": 0.4}, (16,), VEC,
                    np.sum(np.abs(np.diff(VEC))) + 0.4 * np.sum(np.abs(VEC))),
    "tv_2d": ({"kind": "tv_2d"}, (5, 7), IMG, np_tv_2d(IMG)),
    "path_norm": ({"kind": "path_norm"}, (5, 4), MAT, sum(np.linalg.norm(row) for row in MAT)),
    # lambda sqrt(m n) <= 1: the L1 term alone is cheaper than any nuclear part, R* = lambda |M|_1
    "sparse_plus_low_rank": ({"kind": "sparse_plus_low_rank", "lambda": 0.2}, (5, 4), MAT, 0.2 * np.sum(np.abs(MAT))),
}
#: targets computed by an iterative solver: their relative accuracy (the solver's certified gap)
RTOL = {"sparse_plus_low_rank": 1e-9}


def test_every_target_has_an_example():
    assert set(EXAMPLES) == set(TARGETS)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_value_matches_numpy(kind):
    spec, shape, z, expected = EXAMPLES[kind]
    target = build_target(spec, shape)
    assert target.kind == kind
    value = float(target.value(jnp.asarray(z)))
    rtol = RTOL.get(kind, 1e-12)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=1e-12)
    # jit/vmap-compatible and a pytree (knobs are leaves, so a second knob value reuses the compile)
    batched = jax.jit(jax.vmap(target.value))(jnp.stack([jnp.asarray(z)] * 3))
    np.testing.assert_allclose(np.asarray(batched), expected, rtol=rtol)
    # JSON round trip of the spec
    assert parse_target_spec(parse_target_spec(spec).model_dump_json()) == parse_target_spec(spec)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_wrong_domain_names_shape(kind):
    spec, shape, _, _ = EXAMPLES[kind]
    if kind == "tabulated":
        pytest.skip("a tabulated target takes its domain from its points")
    wrong = (4, 4) if len(shape) == 1 else (16,)
    with pytest.raises(DesignerInputError) as err:
        build_target(spec, wrong)
    assert err.value.field == "shape"


@pytest.mark.parametrize(
    "spec, shape, field",
    [
        ({"kind": "nope"}, (8,), "target"),
        ({"kind": "lp", "p": 2.0}, (8,), "target.p"),
        ({"kind": "lp", "p": 0.0}, (8,), "target.p"),
        ({"kind": "lp", "q": 1.0}, (8,), "target.q"),
        ({"kind": "schatten", "p": 3.0}, (4, 4), "target.p"),
        ({"kind": "log_sum", "epsilon": -1.0}, (8,), "target.epsilon"),
        ({"kind": "group_l21", "group_size": 3}, (8,), "target.group_size"),
        ({"kind": "group_l21", "sizes": [3, 3]}, (8,), "target.sizes"),
        ({"kind": "group_l21"}, (8,), "target.group_size"),
        ({"kind": "basis_l1", "basis": "haar"}, (12,), "target.basis"),
        ({"kind": "basis_l1", "basis": "fourier"}, (8,), "target.basis"),
        ({"kind": "tabulated", "pairs": []}, (2,), "target.pairs"),
        ({"kind": "elastic_net", "l1_ratio": 1.5}, (8,), "target.l1_ratio"),
        ({"kind": "huber", "delta": 0.0}, (8,), "target.delta"),
        ({"kind": "scad", "a": 2.0}, (8,), "target.a"),
        ({"kind": "scad", "lambda": 0.0}, (8,), "target.lambda"),
        ({"kind": "mcp", "gamma": -1.0}, (8,), "target.gamma"),
        ({"kind": "mcp", "lambda": "x"}, (8,), "target.lambda"),
        ({"kind": "fused_lasso", "lambda": -0.1}, (8,), "target.lambda"),
        ({"kind": "fused_lasso"}, (1,), "shape"),
        ({"kind": "tv_2d"}, (1, 1), "shape"),
        ({"kind": "sparse_plus_low_rank", "lambda": 0.0}, (4, 4), "target.lambda"),
        ({"kind": "sparse_plus_low_rank", "iterations": 10**6}, (4, 4), "target.iterations"),
        ({"kind": "sparse_plus_low_rank", "tolerance": 0.5}, (4, 4), "target.tolerance"),
        ({"kind": "sparse_plus_low_rank"}, (65, 8), "shape"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}] * 2}, (2,), "target.pairs"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, float("nan")], "value": 2.0}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].z"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3], "value": float("inf")}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].value"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3, 4], "value": 2.0}, {"z": [0, 1], "value": 3.0}]}, (2,), "target.pairs[1].z"),
        ({"kind": "tabulated", "pairs": [{"z": [1, 2], "value": 1.0}, {"z": [1, 3], "value": 1.0}, {"z": [0, 1], "value": 1.0}]}, (2,), "target.pairs"),
    ],
)
def test_bad_target_names_the_field(spec, shape, field):
    with pytest.raises(DesignerInputError) as err:
        build_target(spec, shape)
    assert err.value.field == field, str(err.value)


# --------------------------------------------------------------------------------------------
# separable and spectral profiles: R*(z) = R*(0) + sum_i r(|z_i|), R*(M) = R*(0) + sum_i g(s_i)
# --------------------------------------------------------------------------------------------
#: extra knob values whose profiles are checked too (edge cases of the knobs)
PROFILE_EXTRA = [
    ({"kind": "elastic_net", "l1_ratio": 0.0}, (16,)),
    ({"kind": "elastic_net", "l1_ratio": 1.0}, (16,)),
    ({"kind": "lp", "p": 1.5}, (16,)),
    ({"kind": "lp", "p": 0.1}, (16,)),
    ({"kind": "schatten", "p": 2.0}, (5, 4)),
    ({"kind": "log_det", "epsilon": 1e-3}, (4, 6)),
    ({"kind": "scad"}, (16,)),
    ({"kind": "mcp", "gamma": 0.5}, (16,)),
]
PROFILE_CASES = [(EXAMPLES[k][0], EXAMPLES[k][1]) for k in sorted(TARGETS)] + PROFILE_EXTRA
#: the targets that declare a profile (elementwise) or a spectral profile
SEPARABLE = {"l1", "lp", "log_sum", "elastic_net", "huber", "scad", "mcp"}
SPECTRAL = {"nuclear", "schatten", "log_det"}
#: label noise has no exact design: int_0 dt / sqrt(r(t)) diverges
QUADRATIC_START = {"huber"}


def _case_id(case):
    return "-".join(f"{v}" for v in case[0].values())


def test_profile_declarations():
    for kind in TARGETS:
        spec, shape, _, _ = EXAMPLES[kind]
        t = build_target(spec, shape)
        assert (t.profile is not None) == (kind in SEPARABLE), kind
        assert (t.spectral_profile is not None) == (kind in SPECTRAL), kind
        if kind in SEPARABLE | SPECTRAL:
            assert t.quadratic_start is (kind in QUADRATIC_START), kind
        else:
            assert t.quadratic_start is None and t.profile_flat_from is None, kind


@pytest.mark.parametrize("case", PROFILE_CASES, ids=_case_id)
def test_profile_sums_to_value(case):
    spec, shape = case
    target = build_target(spec, shape)
    g = target.profile or target.spectral_profile
    if g is None:
        pytest.skip("not separable, not spectral")
    rng = np.random.default_rng(3)
    zs = np.stack([np.zeros(shape)] + [rng.standard_normal(shape) * scale for scale in (1e-3, 1.0, 30.0)])
    values = np.asarray(jax.jit(jax.vmap(target.value))(jnp.asarray(zs)))
    mags = np.abs(zs) if target.profile is not None else np.linalg.svd(zs, compute_uv=False)
    g = jax.jit(g)
    totals = np.asarray(g(jnp.asarray(mags))).reshape(len(zs), -1).sum(axis=1)
    np.testing.assert_allclose(values[0] + totals, values, rtol=1e-12, atol=1e-12)
    # r(0) = 0, non-decreasing; strictly increasing before profile_flat_from, constant after
    grid = np.linspace(0.0, 50.0, 20001)
    r = np.asarray(g(jnp.asarray(grid)))
    assert r[0] == 0.0
    flat = target.profile_flat_from
    before = grid <= (flat if flat is not None else np.inf)
    assert np.all(np.diff(r[before]) > 0)
    if flat is not None:
        assert np.ptp(r[grid >= flat]) == 0.0
        assert np.all(np.diff(r) >= 0)


@pytest.mark.parametrize("case", PROFILE_CASES, ids=_case_id)
def test_quadratic_start_matches_the_profile(case):
    """``quadratic_start`` says whether int_0 dt/sqrt(r) diverges: r(t)/t^2 bounded at 0 or not."""
    spec, shape = case
    target = build_target(spec, shape)
    g = target.profile or target.spectral_profile
    if g is None:
        pytest.skip("not separable, not spectral")
    t = np.array([1e-7, 1e-4])
    q = np.asarray(g(jnp.asarray(t))) / t**2
    growth = q[0] / q[1]  # ~1 for a quadratic start, (1e3)^(2 - p) for a t^p start
    assert (growth < 1.01) == target.quadratic_start, (spec, growth)
    assert (growth > 1.5) == (not target.quadratic_start), (spec, growth)


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_no_profile_means_not_separable(kind):
    """A target without a declared profile is really not one: coordinate permutations and sign flips
    (vectors) or rotations (matrices) change its value."""
    spec, shape, z, _ = EXAMPLES[kind]
    target = build_target(spec, shape)
    if target.profile is not None or target.spectral_profile is not None:
        pytest.skip("declares a profile")
    rng = np.random.default_rng(11)
    z = np.asarray(z)
    if len(shape) == 1:
        moved = [z[rng.permutation(shape[0])], z * rng.choice([-1.0, 1.0], shape[0])]
    else:
        q1, _ = np.linalg.qr(rng.standard_normal((shape[0],) * 2))
        q2, _ = np.linalg.qr(rng.standard_normal((shape[1],) * 2))
        moved = [q1 @ z @ q2]
    base = float(target.value(jnp.asarray(z)))
    assert max(abs(float(target.value(jnp.asarray(m))) - base) for m in moved) > 1e-6 * abs(base)


# --------------------------------------------------------------------------------------------
# per-target oracles
# --------------------------------------------------------------------------------------------
def _value(spec, z):
    z = np.asarray(z, dtype=np.float64)
    return float(build_target(spec, z.shape).value(jnp.asarray(z)))


def test_elastic_net_hand_values():
    # 0.5 * (3 + 4) + 0.25 * (9 + 16)
    assert _value({"kind": "elastic_net"}, [3.0, -4.0]) == pytest.approx(9.75, rel=1e-15)
    assert _value({"kind": "elastic_net", "l1_ratio": 1.0}, [3.0, -4.0]) == pytest.approx(7.0, rel=1e-15)
    assert _value({"kind": "elastic_net", "l1_ratio": 0.0}, [3.0, -4.0]) == pytest.approx(12.5, rel=1e-15)


def test_huber_is_the_infimal_convolution_of_l1_and_half_squared_l2():
    """H_delta(t) = min_x delta |x| + (t - x)^2 / 2 (scipy's bounded scalar minimizer), and scipy.special.huber."""
    delta = 0.7
    ts = np.array([-5.0, -0.7, -0.3, 0.0, 0.2, 0.7, 0.71, 3.0])
    target = build_target({"kind": "huber", "delta": delta}, (1,))
    got = np.asarray(jax.jit(jax.vmap(target.value))(jnp.asarray(ts)[:, None]))
    inf_conv = [optimize.minimize_scalar(lambda x, t=t: delta * abs(x) + (t - x) ** 2 / 2, bounds=(-10, 10), method="bounded",
                                         options={"xatol": 1e-12}).fun for t in ts]
    np.testing.assert_allclose(got, inf_conv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got, special.huber(delta, ts), rtol=1e-15)
    # hand values: quadratic inside, linear outside, C^1 at delta
    assert _value({"kind": "huber", "delta": 2.0}, [1.0, -3.0]) == pytest.approx(0.5 + 2.0 * (3.0 - 1.0), rel=1e-15)
    grad = jax.vmap(jax.grad(build_target({"kind": "huber", "delta": 2.0}, (1,)).profile))
    np.testing.assert_allclose(np.asarray(grad(jnp.array([2.0 - 1e-9, 2.0 + 1e-9]))), 2.0, atol=1e-8)


def _profile_at(target, ts):
    return np.asarray(jax.jit(target.profile)(jnp.asarray(ts, dtype=jnp.float64)))


@pytest.mark.parametrize("lam, a", [(1.0, 3.7), (0.5, 2.2), (2.0, 6.0)])
def test_scad_fan_li(lam, a):
    """Fan & Li define SCAD by its derivative p'(t) = lam [1(t <= lam) + (a lam - t)_+ / ((a - 1) lam) 1(t > lam)]
    and p(0) = 0: integrate it (scipy.integrate.quad) and compare; breakpoint values by hand; continuity."""
    spec = {"kind": "scad", "lambda": lam, "a": a}
    target = build_target(spec, (1,))

    def deriv(x):
        return lam * (1.0 if x <= lam else max(a * lam - x, 0.0) / ((a - 1.0) * lam))

    ts = np.array([0.3 * lam, lam, 0.5 * (1 + a) * lam, a * lam, 2 * a * lam])
    ref = [integrate.quad(deriv, 0.0, t, points=[lam, a * lam], epsabs=1e-13, epsrel=1e-13)[0] for t in ts]
    np.testing.assert_allclose(_profile_at(target, ts), ref, rtol=1e-10, atol=1e-12)
    # the derivative itself (autodiff of the profile) away from the breakpoints
    inner = ts[[0, 2, 4]]
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(target.profile))(jnp.asarray(inner))), [deriv(t) for t in inner],
                               rtol=1e-12, atol=1e-12)
    at = _profile_at(target, [lam, a * lam, lam - 1e-10, lam + 1e-10, a * lam - 1e-10, a * lam + 1e-10])
    np.testing.assert_allclose(at[:2], [lam**2, lam**2 * (a + 1) / 2], rtol=1e-14)
    assert abs(at[2] - at[3]) < 1e-8 and abs(at[4] - at[5]) < 1e-8  # continuous at both breakpoints
    assert target.profile_flat_from == pytest.approx(a * lam)
    assert _value(spec, [-lam, 10 * a * lam, 0.0]) == pytest.approx(lam**2 + lam**2 * (a + 1) / 2, rel=1e-14)


@pytest.mark.parametrize("lam, gamma", [(1.0, 3.0), (0.5, 1.5), (2.0, 0.5)])
def test_mcp_zhang(lam, gamma):
    """Zhang's MCP is lam int_0^t (1 - x/(gamma lam))_+ dx (scipy.integrate.quad); breakpoint by hand; continuity."""
    spec = {"kind": "mcp", "lambda": lam, "gamma": gamma}
    target = build_target(spec, (1,))
    b = gamma * lam
    ts = np.array([0.1 * b, 0.9 * b, b, 3 * b])
    ref = [integrate.quad(lambda x: lam * max(1.0 - x / b, 0.0), 0.0, t, points=[b], epsabs=1e-13, epsrel=1e-13)[0] for t in ts]
    np.testing.assert_allclose(_profile_at(target, ts), ref, rtol=1e-10, atol=1e-12)
    at = _profile_at(target, [b, b - 1e-10, b + 1e-10])
    assert at[0] == pytest.approx(gamma * lam**2 / 2, rel=1e-14)
    assert abs(at[1] - at[2]) < 1e-8
    assert target.profile_flat_from == pytest.approx(b)
    assert _value(spec, [0.5 * b, -5 * b]) == pytest.approx(lam * 0.5 * b - (0.5 * b) ** 2 / (2 * gamma) + gamma * lam**2 / 2, rel=1e-14)


def test_fused_lasso_hand_values():
    # |-2 - 1| + |0 + 2| + |3 - 0| = 8, plus 0.5 (1 + 2 + 0 + 3)
    assert _value({"kind": "fused_lasso", "lambda": 0.5}, [1.0, -2.0, 0.0, 3.0]) == pytest.approx(11.0, rel=1e-15)
    assert _value({"kind": "fused_lasso", "lambda": 0.0}, [1.0, -2.0, 0.0, 3.0]) == pytest.approx(8.0, rel=1e-15)
    assert build_target({"kind": "fused_lasso"}, (8,)).sampling_basis == "cumsum"


def test_tv_2d_hand_values():
    # vertical |2 - 0| + |4 - 1| = 5, horizontal |1 - 0| + |4 - 2| = 3
    assert _value({"kind": "tv_2d"}, [[0.0, 1.0], [2.0, 4.0]]) == pytest.approx(8.0, rel=1e-15)
    # a single row or column is 1-D total variation
    assert _value({"kind": "tv_2d"}, [[1.0, -2.0, 0.0, 3.0]]) == pytest.approx(8.0, rel=1e-15)
    assert _value({"kind": "tv_2d"}, [[1.0], [-2.0], [0.0], [3.0]]) == pytest.approx(8.0, rel=1e-15)
