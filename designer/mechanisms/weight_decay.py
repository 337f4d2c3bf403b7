"""Weight decay: ``R(z) = (lambda/2) min_{phi(w)=z} |w|^2 = (lambda/2) |w*(z)|^2`` (theory.md section 3)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from pydantic import BaseModel, ConfigDict, Field

from ..geometry import squared_norm
from ._base import Mechanism, finish_hyperparameters


@dataclasses.dataclass(frozen=True)
class WeightDecay(Mechanism):
    """``lambda/2 |w|^2`` minimised over the fibre: L1 for Hadamard depth 2, nuclear norm for ``P Q``."""

    strength: jax.Array | float = 1.0
    kind = "weight_decay"

    @property
    def unit(self):
        return self.strength

    def orbit_shape(self, family, z):
        return 0.5 * squared_norm(family.balanced_point(z))

    def fibre_functional(self, family, params):
        return 0.5 * squared_norm(params)


register_dataclass(WeightDecay, data_fields=["strength"], meta_fields=[])


class WeightDecaySpec(BaseModel):
    """Explicit ``lambda/2 |w|^2`` on the parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["weight_decay"] = "weight_decay"
    strength: float = Field(1.0, gt=0.0, le=1e6, description="lambda")

    #: Rank among mechanisms when designs tie (smaller first): an explicit penalty is the simplest.
    rank: ClassVar[int] = 0

    @classmethod
    def hyperparameters(cls, request, a: float) -> tuple[dict, dict | None]:
        """Weight decay ``lambda_wd = lambda / a`` gives ``lambda R*(z) + const`` (bias = unit * shape)."""
        return finish_hyperparameters(request, a, lambda unit: ({"weight_decay": unit}, {"kind": "weight_decay", "strength": unit}))

    def build(self, family=None) -> WeightDecay:
        return WeightDecay(float(self.strength))
