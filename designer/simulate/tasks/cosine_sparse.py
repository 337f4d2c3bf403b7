"""Sparse spectrum recovery on cosine features (paper Fig. 5).

Features ``cos(2 pi k t)``, ``k = 0..modes-1``, ``t ~ U[0, 1]``; ``nonzero`` coefficients (never
``k = 0``) with magnitudes in ``[low, high]`` and random signs; ``n_train`` noisy training points,
``n_test`` clean test points. Metrics: train / test MSE, recovery error, support precision and
recall, and the number of coefficients above ``threshold`` (the paper's 56 / 3 / 5 count).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import DesignerInputError, PredictorTask, mse, random_sparse, support_scores


def cosine_features(t, modes: int):
    """``cos(2 pi k t)`` for ``k = 0..modes-1``; ``t`` of shape (n,) -> (n, modes)."""
    k = jnp.arange(modes, dtype=t.dtype)
    return jnp.cos(2 * math.pi * t[:, None] * k[None, :])


@dataclasses.dataclass(frozen=True)
class CosineSparse(PredictorTask):
    modes: int = 64
    nonzero: int = 3
    low: float = 1.0
    high: float = 2.0
    n_train: int = 32
    n_test: int = 10_000
    noise: float = 0.1
    threshold: float = 0.05

    name = "cosine_sparse"

    @property
    def predictor_shape(self):
        return (self.modes,)

    def _n_examples(self):
        return self.n_train

    def generate(self, key, dtype="float32"):
        kt, kz, ke, ks = jax.random.split(key, 4)
        z = random_sparse(kz, self.modes, self.nonzero, self.low, self.high, dtype, exclude_first=True)
        x = cosine_features(jax.random.uniform(kt, (self.n_train,), dtype), self.modes)
        y = x @ z + self.noise * jax.random.normal(ke, (self.n_train,), dtype)
        xt = cosine_features(jax.random.uniform(ks, (self.n_test,), dtype), self.modes)
        return {"truth": z, "train": {"x": x, "y": y}, "test": {"x": xt, "y": xt @ z}}

    def outputs_from_predictor(self, z, data, examples):
        return examples["x"] @ z

    def prepare_metrics(self, data):
        """The test error as a quadratic form in ``d = z - truth``: with ``r = y - X truth``,
        ``mean((X z - y)^2) = d^T (X^T X / n) d - 2 d^T (X^T r / n) + r^T r / n``, exact; a record
        then costs a 64 x 64 product instead of a 10,000 x 64 one (Fig. 5 logs it every step)."""
        x, y = data["test"]["x"], data["test"]["y"]
        n = x.shape[0]
        r = y - x @ data["truth"]
        quad = {"gram": x.T @ x / n, "xr": x.T @ r / n, "rr": r @ r / n}
        return {**data, "test_quadratic": quad}

    def metrics(self, model, params, data):
        z = model.predictor(params)
        if "test_quadratic" in data:
            q, d = data["test_quadratic"], z - data["truth"]
            test_mse = d @ q["gram"] @ d - 2 * d @ q["xr"] + q["rr"]
        else:
            test_mse = mse(data["test"]["x"] @ z, data["test"]["y"])
        out = {
            "train_mse": mse(data["train"]["x"] @ z, data["train"]["y"]),
            "test_mse": test_mse,
            "recovery_error": jnp.sum((z - data["truth"]) ** 2),
        }
        out.update(support_scores(z, data["truth"], self.threshold))
        return out


class CosineSparseSpec(BaseModel):
    """Sparse spectrum recovery on cosine features (paper Fig. 5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["cosine_sparse"] = "cosine_sparse"
    modes: int = Field(64, ge=2, le=65_536)
    nonzero: int = Field(3, ge=0)
    low: float = Field(1.0, ge=0.0)
    high: float = Field(2.0, ge=0.0)
    n_train: int = Field(32, ge=1, le=1_000_000)
    n_test: int = Field(10_000, ge=1, le=1_000_000)
    noise: float = Field(0.1, ge=0.0)
    threshold: float = Field(0.05, ge=0.0)

    def build(self) -> CosineSparse:
        if self.nonzero > self.modes - 1:
            raise DesignerInputError("task.nonzero", f"at most modes - 1 = {self.modes - 1}, got {self.nonzero}")
        return CosineSparse(**self.model_dump(exclude={"kind"}))
