"""Sparse linear regression: ``y = X z* + noise``, ``X ~ N(0, I)``, ``z*`` k-sparse (V1)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import PredictorTask, mse, random_sparse, support_scores


@dataclasses.dataclass(frozen=True)
class SparseRegression(PredictorTask):
    n: int
    d: int
    k: int
    noise: float = 0.0
    low: float = 1.0
    high: float = 1.0
    n_test: int = 1000
    threshold: float = 0.05

    name = "sparse_regression"

    @property
    def predictor_shape(self):
        return (self.d,)

    def _n_examples(self):
        return self.n

    def generate(self, key, dtype="float32"):
        kz, kx, ke, kt = jax.random.split(key, 4)
        z = random_sparse(kz, self.d, self.k, self.low, self.high, dtype)
        x = jax.random.normal(kx, (self.n, self.d), dtype)
        y = x @ z + self.noise * jax.random.normal(ke, (self.n,), dtype)
        xt = jax.random.normal(kt, (self.n_test, self.d), dtype)
        return {"truth": z, "train": {"x": x, "y": y}, "test": {"x": xt, "y": xt @ z}}

    def outputs_from_predictor(self, z, data, examples):
        return examples["x"] @ z

    def metrics(self, model, params, data):
        z = model.predictor(params)
        out = {
            "train_mse": mse(data["train"]["x"] @ z, data["train"]["y"]),
            "test_mse": mse(data["test"]["x"] @ z, data["test"]["y"]),
            "recovery_error": jnp.sum((z - data["truth"]) ** 2),
        }
        out.update(support_scores(z, data["truth"], self.threshold))
        return out


class SparseRegressionSpec(BaseModel):
    """Sparse linear regression with Gaussian design."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["sparse_regression"] = "sparse_regression"
    n: int = Field(40, ge=1, le=1_000_000, description="training examples")
    d: int = Field(100, ge=1, le=65_536, description="dimension")
    k: int = Field(5, ge=0, description="nonzero coefficients")
    noise: float = Field(0.0, ge=0.0, description="label noise standard deviation in the data")
    low: float = Field(1.0, ge=0.0, description="smallest nonzero magnitude")
    high: float = Field(1.0, ge=0.0, description="largest nonzero magnitude")
    n_test: int = Field(1000, ge=1, le=1_000_000)
    threshold: float = Field(0.05, ge=0.0, description="support threshold on |z|")

    def build(self) -> SparseRegression:
        from ._base import DesignerInputError

        if self.k > self.d:
            raise DesignerInputError("task.k", f"k={self.k} exceeds d={self.d}")
        return SparseRegression(**self.model_dump(exclude={"kind"}))
