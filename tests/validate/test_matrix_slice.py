"""The singular-value chain of a balanced matrix product (docs/theory.md section 4, "Finite step on
the slice"): when the label noise shares the target's singular vectors, every singular value of
``M = P Q`` follows the scalar slice map ``z' = z (1 - 2 eta (z - z0 - s xi))^2``, from a balanced but
rotated factorisation; and batched matrix chains sample the law of the run of that scalar map."""

import math

import numpy as np
import pytest

from designer.errors import DesignerInputError
from designer.validate._finite_step import SliceChain
from designer.validate._finite_step_check import compare_run, matrix_chains, matrix_product_start
from designer.validate._run_law import divergence_point, run_law


def test_singular_values_follow_the_scalar_map_step_by_step():
    """Five plain SGD steps of the matrix product (loss |PQ - Y|^2, Y = U diag(z0 + s xi) V^T), from
    a balanced start rotated by a random R (P and Q are not diagonal in any fixed basis): each
    singular value equals the scalar map's iterate to 1e-12, and P^T P = Q Q^T holds throughout."""
    z0s, eta, s = np.array([3.0, 1.2, 0.4]), 0.04, 0.5
    P, Q, U, V = matrix_product_start(z0s, seed=3)
    assert np.max(np.abs(P.T @ P - Q @ Q.T)) < 1e-12 and np.max(np.abs(P - np.diag(np.diag(P)))) > 0.1
    rng = np.random.default_rng(0)
    z = z0s.copy()
    chain = [SliceChain(float(a), eta, s, 2) for a in z0s]
    for _ in range(5):
        xi = rng.standard_normal(3)
        Y = U @ np.diag(z0s + s * xi) @ V.T
        G = 2.0 * eta * (P @ Q - Y)
        P, Q = P - G @ Q.T, Q - P.T @ G
        z = np.array([c.step(zi, x) for c, zi, x in zip(chain, z, xi)])
        sv = np.linalg.svd(P @ Q, compute_uv=False)
        np.testing.assert_allclose(sv, np.sort(z)[::-1], rtol=1e-12)
        assert np.max(np.abs(P.T @ P - Q @ Q.T)) < 1e-12 * np.max(z0s)


def test_matrix_chains_sample_the_scalar_run_law():
    """512 batched 2x2 matrix chains (aligned noise, 200 burn-in, 1,000 steps recorded every 5) at
    z0 = (3, 1), eta = 0.05 (0.3 and 0.1 of the stability edge), s = 0.3: each singular value's
    records against the scalar run law: mean and variance within 3 standard errors, KS within twice
    the floor; the imbalance stays at rounding level."""
    z0s, eta, s = (3.0, 1.0), 0.05, 0.3
    sv, imb = matrix_chains(z0s, eta, s, chains=512, burn=200, steps=1000, every=5, seed=1)
    assert sv.shape == (512, 200, 2) and np.max(imb) < 1e-12
    for k, z0 in enumerate(z0s):
        chain = SliceChain(z0, eta, s, 2)
        law = run_law(chain, 1000, 200, 5)
        out = compare_run(sv[:, :, k], np.isfinite(sv[:, -1, k]), law, divergence_point(chain))
        assert abs(out["mean"] - law.mean) < 3 * out["se_mean"], out
        assert abs(out["variance"] - law.variance) < 3 * out["se_variance"], out
        assert out["ks"] < 2 * out["ks_floor"], out
    # a second call with the same shapes (another seed, another step) does not recompile
    from designer.validate._finite_step_check import _matrix_program

    program = _matrix_program(2, 512, 200, 1000, 5, True)
    compiled = program._cache_size()
    matrix_chains(z0s, 0.04, s, chains=512, burn=200, steps=1000, every=5, seed=2)
    assert program._cache_size() == compiled == 1


def test_matrix_chains_bad_inputs_name_the_field():
    with pytest.raises(DesignerInputError, match="z0s"):
        matrix_chains([1.0, -2.0], 0.05, 0.3)
    with pytest.raises(DesignerInputError, match="steps"):
        matrix_chains([1.0], 0.05, 0.3, steps=1003, every=5)
