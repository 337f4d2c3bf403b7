"""Validation of designs against SGD and trusted solvers, and where the theory holds.

Public names only, loaded on first use; the implementation lives in the private modules beside
this file: :func:`validate` (train a design, compare with scikit-learn / scipy / cvxpy),
:func:`stationary_check` (empirical stationary laws vs ``exp(-(l + R)/T)`` and the Gamma law),
:func:`stationary_law` (the exact finite-step law of the balanced slice's chain, no simulation) and
:func:`finite_step_check` (long batched chains against it), :func:`run_law` (the law of the
records of a finite run, both sides of 0 at odd depth),
:func:`sweep` (prediction error of the bias over learning rate x batch size x noise family).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    'MissingSolver': '._solvers',
    'basis_pursuit': '._solvers',
    'lasso': '._solvers',
    'nuclear_norm': '._solvers',
    'robust_pca': '._solvers',
    'PositiveSparseRegression': '._models',
    'SignedSquares': '._models',
    'q_alpha': '._models',
    'q_alpha_grad': '._models',
    'ValidationSpec': '._spec',
    'NOISE_MODELS': '._stationary',
    'stationary_check': '._stationary',
    'NoiseLaw': '._finite_step',
    'SliceChain': '._finite_step',
    'finite_step_bias': '._finite_step',
    'stationary_law': '._finite_step',
    'run_law': '._run_law',
    'finite_step_check': '._finite_step_check',
    'FAMILIES': '._sweep',
    'FamilyLabelNoise': '._sweep',
    'sweep': '._sweep',
    'data_loss': '._validate',
    'linear_problem': '._validate',
    'parse_validation_spec': '._validate',
    'pick_candidate': '._validate',
    'polish_weight_decay': '._validate',
    'solve_target_problem': '._validate',
    'train': '._validate',
    'validate': '._validate',
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
