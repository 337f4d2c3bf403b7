"""V4 (Woodworth et al. 2020): the initialization scale sets the implicit bias of gradient flow.

``z = u_+^2 - u_-^2`` started at ``u_+ = u_- = alpha`` ends, under gradient flow on an
underdetermined least-squares problem, at ``argmin Q_alpha(z)`` subject to ``X z = y`` with
``Q_alpha(z) = alpha^2 sum q(z_i / alpha^2)``, ``q(s) = 2 - sqrt(4 + s^2) + s asinh(s/2)``.
The flow is approximated by float64 GD with a small step (one batched run over alpha), the
minimizer is found independently by scipy (trust-region Newton on ``Q_alpha`` restricted to the affine set ``X z = y``).
Small alpha approaches min-L1 (basis pursuit, linprog), large alpha min-L2.
"""

import jax.numpy as jnp
import numpy as np
import scipy.linalg
from scipy.optimize import minimize

from designer.simulate import Simulator
from designer.simulate.tasks import SparseRegression
from designer.validate import SignedSquares, basis_pursuit, q_alpha, q_alpha_grad

ALPHAS = np.array([0.03, 1.0, 10.0])


def _q_minimizer(x, y, alpha):
    """``argmin Q_alpha`` on ``{X z = y}``: ``z = z_0 + N t`` (N a null-space basis), Newton-CG in t."""
    z0 = np.linalg.lstsq(x, y, rcond=None)[0]
    null = scipy.linalg.null_space(x)
    z = lambda t: z0 + null @ t
    hess_diag = lambda t: 1.0 / np.sqrt(4 * alpha**4 + z(t) ** 2)  # d/dz asinh(z / (2 alpha^2))
    res = minimize(lambda t: q_alpha(z(t), alpha), np.zeros(null.shape[1]),
                   jac=lambda t: null.T @ q_alpha_grad(z(t), alpha),
                   hess=lambda t: null.T @ (hess_diag(t)[:, None] * null),
                   method="trust-exact", options={"gtol": 1e-12, "maxiter": 1000})
    # trust-exact may stop with "bad approximation" once at machine precision: check optimality
    grad = null.T @ q_alpha_grad(z(res.x), alpha)
    assert np.linalg.norm(grad) < 1e-7, (res.message, np.linalg.norm(grad))
    return z(res.x)


def test_gradient_flow_end_point_is_the_q_alpha_minimizer():
    task = SparseRegression(n=20, d=40, k=3, low=1.0, high=2.0)
    model = SignedSquares(40)
    sim = Simulator(model, task, dtype=jnp.float64)
    # step ~ 1 / curvature: the Hessian in u scales like max(alpha^2, |z|)
    lrs = 4e-3 / np.maximum(ALPHAS**2, 1.0)
    state, hyper, data = sim.setup(np.zeros(len(ALPHAS), int), sim.hyper(lrs), init=lambda k: model.init_params(k, 1.0, jnp.float64))
    a = jnp.asarray(ALPHAS)[:, None] * jnp.ones((1, 40))
    state = state._replace(params={"u_plus": a, "u_minus": a})
    res = sim.run(state, hyper, data, 200_000, 20_000, records_per_chunk=1)
    assert (res.status == 0).all()
    assert np.all(res.records["train_mse"][:, -1] < 1e-10)  # on the interpolation manifold
    x, y = np.asarray(data["train"]["x"][0]), np.asarray(data["train"]["y"][0])
    z_gd = np.asarray(model.predictor(res.state.params))
    z_l1 = basis_pursuit(x, y)["z"]
    z_l2 = np.linalg.pinv(x) @ y
    dist_l1, dist_l2, dist_gd = [], [], []
    for i, alpha in enumerate(ALPHAS):
        z_q = _q_minimizer(x, y, alpha)
        dist_gd.append(np.linalg.norm(z_gd[i] - z_q) / np.linalg.norm(z_q))
        assert dist_gd[-1] <= 2e-3, (alpha, dist_gd[-1])
        dist_l1.append(np.linalg.norm(z_q - z_l1) / np.linalg.norm(z_l1))
        dist_l2.append(np.linalg.norm(z_q - z_l2) / np.linalg.norm(z_l2))
    print("alpha", ALPHAS, "GD vs Q_alpha minimizer", dist_gd, "Q_alpha minimizer to min-L1", dist_l1, "to min-L2", dist_l2)
    # the rich-to-kernel transition: small alpha near min-L1, large alpha near min-L2
    assert dist_l1[0] < 0.1 and dist_l1[0] < dist_l1[1] < dist_l1[2]
    assert dist_l2[2] < 1e-3 and dist_l2[2] < dist_l2[1] < dist_l2[0]
