"""One scalar target: loss ``(z0 - z)^2`` on a scalar predictor (theory.md section 4 oracle).

With a ``label_noise`` piece of standard deviation ``s`` the gradient in ``z`` is
``2 (z - z0) - 2 s xi``: the worked Gamma-law example of theory.md with step ``2 eta``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ._base import PredictorTask


@dataclasses.dataclass(frozen=True)
class ScalarTarget(PredictorTask):
    target: float = 1.0

    name = "scalar_target"
    predictor_shape = ()

    def _n_examples(self):
        return 1

    def generate(self, key, dtype="float32"):
        return {"truth": jnp.asarray(self.target, dtype), "train": {"y": jnp.full((1,), self.target, dtype)}}

    def outputs_from_predictor(self, z, data, examples):
        return jnp.broadcast_to(z, examples["y"].shape)

    def metrics(self, model, params, data):
        z = model.predictor(params)
        return {"z": z, "train_mse": (z - data["truth"]) ** 2}


class ScalarTargetSpec(BaseModel):
    """A single scalar target (oracle tests, stationary laws)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["scalar_target"] = "scalar_target"
    target: float = Field(1.0)

    def build(self) -> ScalarTarget:
        return ScalarTarget(target=self.target)
