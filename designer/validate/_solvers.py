"""Trusted solvers of the target-regularized problems (optional extras, imported lazily).

Each solver is a real third-party implementation called as is; this module only translates our
objective into the solver's convention and back. Our objective (the simulator's units) is

    F(z) = data_loss(z) + lam * R*(z),   data_loss(z) = scale * |A z - y|^2

with ``scale = 1/n`` for regression and sensing (mean squared error) and ``1/(rows*cols)`` for
completion (masked error averaged over all entries, the paper's Fig. 4 convention).

- :func:`lasso`: scikit-learn's ``Lasso`` minimises ``(1/(2n)) |y - X w|^2 + alpha |w|_1``; with
  ``scale = 1/n`` that is ``F / 2`` at ``alpha = lam / 2``.
- :func:`basis_pursuit`: ``min sum_j c_j |z_j|  s.t.  X z = y`` as a linear program
  (``z = p - q``, ``p, q >= 0``) solved by ``scipy.optimize.linprog`` (HiGHS).
- :func:`nuclear_norm`: ``min data_loss(M) + lam |M|_*`` (``lam > 0``) or
  ``min |M|_* s.t. A(M) = y`` (``lam = 0``) with cvxpy (Clarabel).
- :func:`robust_pca`: ``min_{L, S} data_loss(L + S) + lam (|L|_* + mu |S|_1)``, the robust-PCA
  penalty (``sparse_plus_low_rank``) with cvxpy (Clarabel).
- :func:`convex_vector`: any other convex vector penalty written as a cvxpy expression (Huber:
  ``cp.huber(z, delta)`` is ``z^2`` inside ``|z| <= delta`` and ``2 delta |z| - delta^2`` outside,
  twice the textbook Huber ``scipy.special.huber``, so the reference uses half of it).

A missing extra raises :class:`MissingSolver` naming the package and the extra to install.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..errors import DesignerError


class MissingSolver(DesignerError, ImportError):
    """A trusted solver's package is not installed (install the ``solvers`` extra)."""

    def __init__(self, package: str, module: str):
        self.package = package
        super().__init__(f"the trusted solver needs {package!r} ({module} could not be imported); "
                         "install the extra: pip install 'implicit-bias-designer[solvers]'")


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingSolver(package, module) from None


def lasso(x: np.ndarray, y: np.ndarray, lam: float, tol: float = 1e-12, max_iter: int = 1_000_000) -> dict:
    """``argmin (1/n)|y - X z|^2 + lam |z|_1`` with scikit-learn's ``Lasso`` (``alpha = lam / 2``).

    Returns ``{"z", "objective" (ours, F), "solver_objective" (sklearn's own, F / 2),
    "alpha", "n_iter", "solver"}``.
    """
    linear_model = _require("sklearn.linear_model", "scikit-learn")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = x.shape[0]
    alpha = lam / 2.0
    model = linear_model.Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=max_iter, precompute=True)
    model.fit(x, y)
    z = np.asarray(model.coef_, np.float64)
    resid = y - x @ z
    sk_obj = float(resid @ resid / (2 * n) + alpha * np.abs(z).sum())
    return {"z": z, "objective": 2.0 * sk_obj, "solver_objective": sk_obj, "alpha": alpha,
            "n_iter": int(np.max(model.n_iter_)), "solver": "sklearn.linear_model.Lasso",
            "convention": "sklearn: (1/(2n))|y - Xw|^2 + alpha |w|_1 with alpha = lam/2 (= ours / 2)"}


def basis_pursuit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """``argmin sum_j c_j |z_j|  s.t.  X z = y`` by ``scipy.optimize.linprog`` (HiGHS).

    ``weights`` ``c`` default to ones (plain basis pursuit, min-L1 interpolation).
    """
    from scipy.optimize import linprog

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = x.shape[1]
    c = np.ones(d) if weights is None else np.asarray(weights, np.float64)
    res = linprog(np.concatenate([c, c]), A_eq=np.hstack([x, -x]), b_eq=y, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        return {"z": None, "objective": None, "solver_objective": None, "status": res.message, "solver": "scipy.optimize.linprog"}
    z = res.x[:d] - res.x[d:]
    return {"z": z, "objective": float(c @ np.abs(z)), "solver_objective": float(res.fun),
            "constraint_residual": float(np.max(np.abs(x @ z - y))), "solver": "scipy.optimize.linprog (highs)",
            "convention": "min sum_j c_j |z_j| s.t. X z = y"}


def nuclear_norm(rows: int, cols: int, lam: float, *, mask: np.ndarray | None = None, target: np.ndarray | None = None,
                 a: np.ndarray | None = None, y: np.ndarray | None = None, scale: float = 1.0) -> dict:
    """Nuclear-norm-regularized least squares with cvxpy.

    Completion: ``mask`` and ``target`` (rows x cols), data loss ``scale * |mask * (M - target)|^2``.
    Sensing: ``a`` (k, rows, cols) and ``y`` (k,), data loss ``scale * |<A_k, M> - y_k|^2``.
    ``lam > 0``: ``min data_loss + lam |M|_*``; ``lam = 0``: ``min |M|_*`` s.t. the data are fitted.
    """
    cp = _require("cvxpy", "cvxpy")
    m = cp.Variable((rows, cols))
    if mask is not None:
        mask = np.asarray(mask, np.float64)
        resid = cp.multiply(mask, m - np.asarray(target, np.float64))
        fit = lambda M: np.asarray(mask) * (M - target)
    else:
        a = np.asarray(a, np.float64)
        amat = a.reshape(a.shape[0], -1)
        resid = amat @ cp.vec(m, order="C") - np.asarray(y, np.float64)
        fit = lambda M: amat @ M.reshape(-1) - y
    if lam > 0:
        prob = cp.Problem(cp.Minimize(scale * cp.sum_squares(resid) + lam * cp.normNuc(m)))
    else:
        prob = cp.Problem(cp.Minimize(cp.normNuc(m)), [resid == 0])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, max_iter=500)
    M = np.asarray(m.value, np.float64)
    r = fit(M)
    ours = float(scale * np.sum(r * r) + lam * np.linalg.svd(M, compute_uv=False).sum()) if lam > 0 else \
        float(np.linalg.svd(M, compute_uv=False).sum())
    return {"z": M, "objective": ours, "solver_objective": float(prob.value), "status": prob.status,
            "solver": f"cvxpy ({prob.solver_stats.solver_name})",
            "convention": "same as ours: scale |residual|^2 + lam |M|_*" if lam > 0 else "min |M|_* s.t. data fitted"}


def schatten_convex(rows: int, cols: int, p: float, lam: float, *, mask: np.ndarray | None = None,
                    target: np.ndarray | None = None, a: np.ndarray | None = None, y: np.ndarray | None = None,
                    scale: float = 1.0) -> dict:
    """``min data_loss(M) + lam sum_i sigma_i(M)^p`` for ``p > 1`` by L-BFGS-B (scipy) on numpy SVDs.

    The objective is convex and differentiable for ``p > 1`` (the gradient of the penalty is
    ``U diag(p sigma^(p-1)) V^T``), so its stationary point is the minimizer; the result reports
    the gradient norm at the end (the certificate). cvxpy has no Schatten-p atom for ``p != 1``.
    Data as in :func:`nuclear_norm`.
    """
    from scipy.optimize import minimize

    if not p > 1.0 or not lam > 0:
        raise ValueError("schatten_convex needs p > 1 and lam > 0")
    if mask is not None:
        mask, target = np.asarray(mask, np.float64), np.asarray(target, np.float64)
        resid = lambda M: mask * (M - target)
        back = lambda r: mask * r
    else:
        amat = np.asarray(a, np.float64).reshape(len(a), -1)
        y = np.asarray(y, np.float64)
        resid = lambda M: amat @ M.reshape(-1) - y
        back = lambda r: (amat.T @ r).reshape(rows, cols)

    def fun(x):
        M = x.reshape(rows, cols)
        r = resid(M)
        u, sv, vt = np.linalg.svd(M, full_matrices=False)
        g = 2 * scale * back(r) + lam * (u * (p * sv ** (p - 1))) @ vt
        return float(scale * np.sum(r * r) + lam * np.sum(sv ** p)), g.reshape(-1)

    res = minimize(fun, np.zeros(rows * cols), jac=True, method="L-BFGS-B",
                   options={"maxiter": 50_000, "maxcor": 30, "ftol": 1e-16, "gtol": 1e-12})
    M = res.x.reshape(rows, cols)
    return {"z": M, "objective": float(res.fun), "solver_objective": float(res.fun),
            "status": str(res.message), "gradient_norm": float(np.linalg.norm(res.jac)), "iterations": int(res.nit),
            "solver": f"scipy L-BFGS-B (Schatten p={p:g}, convex)",
            "convention": "same as ours: scale |residual|^2 + lam sum sigma^p"}


def robust_pca(rows: int, cols: int, lam: float, mu: float, *, mask: np.ndarray | None = None, target: np.ndarray | None = None,
               a: np.ndarray | None = None, y: np.ndarray | None = None, scale: float = 1.0) -> dict:
    """The robust-PCA penalty ``R*(M) = min_{L + S = M} |L|_* + mu |S|_1`` regularizing least squares, with cvxpy.

    ``lam > 0``: ``min_{L, S} data_loss(L + S) + lam (|L|_* + mu |S|_1)`` (minimizing over the split
    inside the objective is the same as ``min_M data_loss(M) + lam R*(M)``); ``lam = 0``:
    ``min |L|_* + mu |S|_1`` s.t. the data are fitted. Data as in :func:`nuclear_norm` (completion
    with ``mask`` and ``target``, robust PCA being completion with every entry observed; sensing
    with ``a`` and ``y``). Returns ``z = L + S`` and the split ``low_rank``, ``sparse``.
    """
    cp = _require("cvxpy", "cvxpy")
    low, sparse = cp.Variable((rows, cols)), cp.Variable((rows, cols))
    m = low + sparse
    if mask is not None:
        mask = np.asarray(mask, np.float64)
        resid = cp.multiply(mask, m - np.asarray(target, np.float64))
    else:
        a = np.asarray(a, np.float64)
        resid = a.reshape(a.shape[0], -1) @ cp.vec(m, order="C") - np.asarray(y, np.float64)
    penalty = cp.normNuc(low) + mu * cp.sum(cp.abs(sparse))
    prob = cp.Problem(cp.Minimize(scale * cp.sum_squares(resid) + lam * penalty) if lam > 0 else cp.Minimize(penalty),
                      [] if lam > 0 else [resid == 0])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=500)
    if low.value is None:
        return {"z": None, "objective": None, "status": prob.status, "solver": "cvxpy (robust PCA)"}
    lo, sp = np.asarray(low.value, np.float64), np.asarray(sparse.value, np.float64)
    return {"z": lo + sp, "low_rank": lo, "sparse": sp, "solver_objective": float(prob.value), "status": prob.status,
            "solver": f"cvxpy ({prob.solver_stats.solver_name}, robust PCA: |L|_* + {mu:.6g} |S|_1 over L + S = M)",
            "convention": ("same as ours: scale |residual|^2 + lam (|L|_* + mu |S|_1)" if lam > 0
                           else "min |L|_* + mu |S|_1 s.t. data fitted")}


def convex_vector(regularizer, problem: dict, lam: float, name: str) -> dict:
    """``min data_loss(z) + lam R(z)`` (``lam > 0``) or ``min R(z)`` s.t. ``X z = y`` (``lam = 0``) with cvxpy.

    ``regularizer(cp, z)`` builds the convex ``R`` as a cvxpy expression (``lp`` with ``p >= 1``,
    group L2,1, L1 in a basis, total variation).
    """
    cp = _require("cvxpy", "cvxpy")
    x, y = np.asarray(problem["x"], np.float64), np.asarray(problem["y"], np.float64)
    z = cp.Variable(x.shape[1])
    if lam > 0:
        prob = cp.Problem(cp.Minimize(problem["scale"] * cp.sum_squares(x @ z - y) + lam * regularizer(cp, z)))
    else:
        prob = cp.Problem(cp.Minimize(regularizer(cp, z)), [x @ z == y])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, max_iter=500)
    if z.value is None:
        return {"z": None, "objective": None, "status": prob.status, "solver": f"cvxpy ({name})"}
    zz = np.asarray(z.value, np.float64)
    return {"z": zz, "solver_objective": float(prob.value), "status": prob.status,
            "solver": f"cvxpy ({prob.solver_stats.solver_name}, {name})",
            **({"constraint_residual": float(np.max(np.abs(x @ zz - y)))} if lam <= 0 else {})}


__all__ = ["MissingSolver", "basis_pursuit", "convex_vector", "lasso", "nuclear_norm", "robust_pca"]
