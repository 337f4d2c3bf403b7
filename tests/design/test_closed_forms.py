"""The search's closed-form shapes agree with the geometry engine's ``mechanism.shape`` (constants included)."""

import jax.numpy as jnp
import numpy as np
import pytest

from designer import bases
from designer.design import _evaluate as ev
from designer.families.group_hadamard import GroupHadamard
from designer.families.hadamard import Hadamard
from designer.families.matrix_product import MatrixProduct
from designer.mechanisms import Gauge, LabelNoise, WeightDecay
from designer.transforms import AsinhTransform, IdentityTransform, SignedPowerTransform

MECHS = (WeightDecay(1.0), Gauge(1.0), LabelNoise(1.0, 1.0))
RNG = np.random.default_rng(3)


def _hadamard_case(basis, depth, kind, transform, knob, mechs):
    d = 8
    z = RNG.standard_normal(d) * 3.0
    fam = Hadamard(depth, d, basis, transform)
    engine = np.array([float(m.shape(fam, jnp.asarray(z))) for m in mechs])
    weights = np.sum(bases.synthesis(basis, d) ** 2, axis=0)
    closed = np.asarray(ev.hadamard_shapes(jnp.asarray(bases.analysis(basis, d) @ z), jnp.asarray(weights), float(depth), kind, knob))
    index = [{"weight_decay": 0, "gauge": 1, "label_noise": 2}[m.kind] for m in mechs]
    np.testing.assert_allclose(closed[index], engine, rtol=1e-10)


TRANSFORMS = [("identity", IdentityTransform(), 1.0), ("asinh", AsinhTransform(0.7), 0.7), ("signed_power", SignedPowerTransform(1.7), 1.7)]


@pytest.mark.parametrize("basis", ["identity", "cosine", "cumsum", "haar"])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_hadamard_weight_decay_and_gauge(basis, depth):
    for kind, transform, knob in TRANSFORMS:
        _hadamard_case(basis, depth, kind, transform, knob, MECHS[:2])


# the engine's label noise runs an L-BFGS over the orbit (slow to compile): a few cases
@pytest.mark.parametrize("basis, depth, transform", [("cumsum", 2, 0), ("cosine", 3, 1), ("identity", 3, 2), ("haar", 2, 1)])
def test_hadamard_label_noise(basis, depth, transform):
    _hadamard_case(basis, depth, *TRANSFORMS[transform], MECHS[2:])


def test_group_closed_forms():
    z = RNG.standard_normal(12)
    fam = GroupHadamard(12, 4)
    engine = np.array([float(m.shape(fam, jnp.asarray(z))) for m in MECHS])
    membership = np.kron(np.eye(3), np.ones((4, 1)))
    closed = np.asarray(ev.group_shapes(jnp.asarray(z), jnp.asarray(membership), jnp.full(3, 4.0)))
    np.testing.assert_allclose(closed, engine, rtol=1e-8)


@pytest.mark.parametrize("rows, cols, depth", [(3, 3, 2), (2, 3, 2), (4, 3, 3), (3, 3, 4)])
def test_matrix_closed_forms(rows, cols, depth):
    m = RNG.standard_normal((rows, cols))
    fam = MatrixProduct(rows, cols, min(rows, cols), depth)
    mechs = MECHS if (depth == 2 and rows < 3) else MECHS[:2]  # label noise: depth 2 only; one small case (slow engine)
    engine = np.array([float(mm.shape(fam, jnp.asarray(m))) for mm in mechs])
    s = np.linalg.svd(m, compute_uv=False)
    closed = np.asarray(ev.matrix_shapes(jnp.asarray(s), float(depth), float(rows), float(cols)))[: len(mechs)]
    np.testing.assert_allclose(closed, engine, rtol=1e-8)


def test_matrix_gauge_equal_singular_values_is_stable():
    s = jnp.asarray([2.0, 2.0, 2.0 * (1 + 1e-12), 0.5])
    for depth in (2.0, 3.0, 5.0):
        g = float(ev.matrix_shapes(s, depth, 4.0, 4.0)[1])
        x = np.asarray(s) ** (2 / depth)
        ref = 0.5 * sum(np.log(sum(x[i] ** k * x[j] ** (depth - 1 - k) for k in range(int(depth)))) for i in range(4) for j in range(i, 4))
        np.testing.assert_allclose(g, ref, rtol=1e-12)
