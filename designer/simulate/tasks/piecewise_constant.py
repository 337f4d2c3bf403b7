"""Piecewise-constant signal from Gaussian measurements (paper Fig. 6).

Signal of ``segments`` (value, length) pairs; ``m`` measurements ``y = A w* + noise`` with
``A_ij ~ N(0, 1/m)``. Metrics: reconstruction MSE, total variation ``sum |w_{i+1} - w_i|``,
measurement fit ``mean (A w - y)^2``, and support precision / recall of the jumps.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import DesignerInputError, PredictorTask, mse, support_scores

PAPER_SEGMENTS = ((1.0, 50), (-1.5, 70), (0.5, 40), (2.0, 40))


@dataclasses.dataclass(frozen=True)
class PiecewiseConstant(PredictorTask):
    segments: tuple[tuple[float, int], ...] = PAPER_SEGMENTS
    m: int = 60
    noise: float = 0.1
    jump_threshold: float = 0.05

    name = "piecewise_constant"

    @property
    def length(self):
        return sum(n for _, n in self.segments)

    @property
    def predictor_shape(self):
        return (self.length,)

    def _n_examples(self):
        return self.m

    def signal(self, dtype):
        return jnp.concatenate([jnp.full((n,), v, dtype) for v, n in self.segments])

    def generate(self, key, dtype="float32"):
        ka, ke = jax.random.split(key)
        w = self.signal(dtype)
        a = jax.random.normal(ka, (self.m, self.length), dtype) / jnp.sqrt(jnp.asarray(self.m, dtype))
        y = a @ w + self.noise * jax.random.normal(ke, (self.m,), dtype)
        return {"truth": w, "train": {"x": a, "y": y}}

    def outputs_from_predictor(self, z, data, examples):
        return examples["x"] @ z

    def metrics(self, model, params, data):
        z = model.predictor(params)
        out = {
            "recon_mse": mse(z, data["truth"]),
            "tv": jnp.sum(jnp.abs(jnp.diff(z))),
            "fit_mse": mse(data["train"]["x"] @ z, data["train"]["y"]),
            "train_mse": mse(data["train"]["x"] @ z, data["train"]["y"]),
        }
        jumps = support_scores(jnp.diff(z), jnp.diff(data["truth"]), self.jump_threshold)
        out.update({f"jump_{k}": v for k, v in jumps.items()})
        return out


class PiecewiseConstantSpec(BaseModel):
    """Piecewise-constant recovery from Gaussian measurements (paper Fig. 6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["piecewise_constant"] = "piecewise_constant"
    segments: tuple[tuple[float, int], ...] = Field(PAPER_SEGMENTS, description="(value, length) pairs")
    m: int = Field(60, ge=1, le=1_000_000, description="measurements")
    noise: float = Field(0.1, ge=0.0)
    jump_threshold: float = Field(0.05, ge=0.0)

    def build(self) -> PiecewiseConstant:
        if not self.segments or any(n < 1 for _, n in self.segments):
            raise DesignerInputError("task.segments", "need at least one segment, each of length >= 1")
        return PiecewiseConstant(segments=tuple((float(v), int(n)) for v, n in self.segments),
                                 m=self.m, noise=self.noise, jump_threshold=self.jump_threshold)
