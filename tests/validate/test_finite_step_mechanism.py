"""The label-noise mechanism's finite_step option (designer/mechanisms/label_noise.py).

At a small step the finite-step bias of ``z = u v`` is the small-step shape ``(eta sigma^2/2)|z|``
(the exact stationary mean shifts by ``eta sigma^2/2``); at a larger step it grows faster with
``|z|`` (the finite-step correction grows with ``eta`` times the curvature). The JAX evaluation is
jit- and vmap-safe and extrapolates linearly past the table.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.families import build_family
from designer.mechanisms import build_mechanism
from designer.validate._finite_step import finite_step_shape, stationary_mean


def test_finite_step_shape_interpolates_and_extrapolates_in_jax():
    table = (np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 3.0]))
    f = jax.jit(jax.vmap(lambda z: finite_step_shape(z, table)))
    np.testing.assert_allclose(f(jnp.array([[0.5, -1.5], [3.0, 0.0]])), [0.5 + 2.0, 5.0 + 0.0], rtol=1e-12)


def test_stationary_mean_shift_is_the_small_step_bias_at_small_steps():
    # half-squared loss (the mechanism's convention): small-step mean z0 - eta sigma^2 / 2
    for z0 in (0.5, 2.0):
        m = stationary_mean(z0, 0.002, 1.0, 2)
        assert z0 - m == pytest.approx(0.001, rel=0.02)


@pytest.mark.slow
def test_label_noise_finite_step_bias_against_the_small_step_shape():
    fam = build_family({"family": "scalar_product"})
    small = build_mechanism({"kind": "label_noise", "variance": 1.0, "learning_rate": 0.01}, fam)
    finite = build_mechanism({"kind": "label_noise", "variance": 1.0, "learning_rate": 0.01, "finite_step": True,
                              "z_max": 4.0}, fam)
    ratio = [float(finite.bias(fam, jnp.asarray(z))) / float(small.bias(fam, jnp.asarray(z))) for z in (0.25, 1.0, 4.0)]
    assert abs(ratio[0] - 1) < 0.02 and abs(ratio[1] - 1) < 0.02  # eta * curvature <= 0.01
    assert 1.01 < ratio[2] < 1.1 and ratio[2] > ratio[1]  # eta * curvature = 0.04 at z = 4: a few % more


def test_finite_step_refuses_what_it_cannot_model():
    fam = build_family({"family": "hadamard", "depth": 2, "dim": 3, "basis": "cosine"})
    with pytest.raises(DesignerInputError, match="mechanism.finite_step"):
        build_mechanism({"kind": "label_noise", "finite_step": True}, fam)
    with pytest.raises(DesignerInputError, match="mechanism.finite_step"):
        build_mechanism({"kind": "label_noise", "finite_step": True, "second_moment": [1.0]}, build_family({"family": "scalar_product"}))
    with pytest.raises(DesignerInputError, match="noise_df"):
        build_mechanism({"kind": "label_noise", "finite_step": True, "noise_df": 2.0})
