"""Small models and tasks of the independent checks (docs/experiments.md part B).

- :class:`SignedSquares`: ``z = u_+^2 - u_-^2`` (Woodworth et al. 2020, V4), initialised at
  ``u_+ = u_- = alpha``; gradient flow ends at ``argmin Q_alpha(z)`` subject to ``X z = y``.
- :class:`PositiveSparseRegression`: sparse regression whose nonzero coefficients are positive
  (V1: ``w* = 1`` on the support, the model ``z = v * v`` of HaoChen et al. 2021 cannot change sign).
- :func:`q_alpha`: Woodworth's potential ``Q_alpha(z) = alpha^2 sum q(z_i / alpha^2)``,
  ``q(s) = 2 - sqrt(4 + s^2) + s asinh(s / 2)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import register_dataclass
from ..simulate.tasks import SparseRegression


@dataclasses.dataclass(frozen=True)
class SignedSquares:
    """``z = u_+^2 - u_-^2`` on vectors of length ``dim`` (a model the simulator accepts)."""

    dim: int
    name = "signed_squares"

    @property
    def predictor_shape(self):
        return (self.dim,)

    def param_shapes(self):
        return {"u_plus": (self.dim,), "u_minus": (self.dim,)}

    @property
    def n_params(self):
        return 2 * self.dim

    def predictor(self, params):
        return params["u_plus"] ** 2 - params["u_minus"] ** 2

    def init_params(self, key, scale: float = 1.0, dtype: Any = jnp.float32):
        """Woodworth's initialization ``u_+ = u_- = scale`` (so ``z = 0``); ``key`` is unused."""
        return {"u_plus": jnp.full((self.dim,), scale, dtype), "u_minus": jnp.full((self.dim,), scale, dtype)}


register_dataclass(SignedSquares, data_fields=[], meta_fields=["dim"])


def q_alpha(z: np.ndarray, alpha: float) -> float:
    """``Q_alpha(z) = alpha^2 sum q(z / alpha^2)``, ``q(s) = 2 - sqrt(4 + s^2) + s asinh(s/2)``."""
    s = np.asarray(z, np.float64) / alpha**2
    return float(alpha**2 * np.sum(2.0 - np.sqrt(4.0 + s * s) + s * np.arcsinh(s / 2.0)))


def q_alpha_grad(z: np.ndarray, alpha: float) -> np.ndarray:
    """``dQ_alpha/dz_i = asinh(z_i / (2 alpha^2))``."""
    return np.arcsinh(np.asarray(z, np.float64) / (2.0 * alpha**2))


@dataclasses.dataclass(frozen=True)
class PositiveSparseRegression(SparseRegression):
    """:class:`SparseRegression` with nonnegative truth (the V1 setup); same data otherwise."""

    name = "sparse_regression_positive"

    def generate(self, key, dtype=jnp.float32):
        data = super().generate(key, dtype)
        z = jnp.abs(data["truth"])
        train, test = data["train"], data["test"]
        kz, kx, ke, kt = jax.random.split(key, 4)
        y = train["x"] @ z + self.noise * jax.random.normal(ke, (self.n,), dtype)
        return {"truth": z, "train": {"x": train["x"], "y": y}, "test": {"x": test["x"], "y": test["x"] @ z}}


__all__ = ["PositiveSparseRegression", "SignedSquares", "q_alpha", "q_alpha_grad"]
