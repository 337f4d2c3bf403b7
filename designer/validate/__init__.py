"""Validation of designs against SGD and trusted solvers, and where the theory holds (issue 5).

Public names only; the implementation lives in the private modules beside this file:
:func:`validate` (train a design, compare with scikit-learn / scipy / cvxpy),
:func:`stationary_check` (empirical stationary laws vs ``exp(-(l + R)/T)`` and the Gamma law),
:func:`stationary_law` (the exact finite-step law of the balanced slice's chain, no simulation) and
:func:`finite_step_check` (long batched chains against it),
:func:`sweep` (prediction error of the bias over learning rate x batch size x noise family).
"""

from ._solvers import MissingSolver, basis_pursuit, lasso, nuclear_norm
from ._models import PositiveSparseRegression, SignedSquares, q_alpha, q_alpha_grad
from ._spec import ValidationSpec
from ._stationary import NOISE_MODELS, stationary_check
from ._finite_step import NoiseLaw, SliceChain, finite_step_bias, stationary_law
from ._finite_step_check import finite_step_check
from ._sweep import FAMILIES, FamilyLabelNoise, sweep
from ._validate import (
    data_loss, linear_problem, parse_validation_spec, pick_candidate, polish_weight_decay,
    solve_target_problem, train, validate,
)

__all__ = [
    "FAMILIES", "FamilyLabelNoise", "NOISE_MODELS", "PositiveSparseRegression", "SignedSquares",
    "q_alpha", "q_alpha_grad", "stationary_check", "NoiseLaw", "SliceChain", "finite_step_bias", "stationary_law",
    "finite_step_check", "sweep", "MissingSolver", "ValidationSpec", "basis_pursuit", "data_loss", "lasso", "linear_problem",
    "nuclear_norm", "parse_validation_spec", "pick_candidate", "polish_weight_decay",
    "solve_target_problem", "train", "validate",
]
