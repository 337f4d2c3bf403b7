"""The paper's geometric (gauge) bias: ``R(z) = (T/2) log det G_sym(w*(z))`` (theory.md section 2)."""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DesignerInputError
from ..geometry import log_det_gram
from ._base import Mechanism


@dataclasses.dataclass(frozen=True)
class Gauge(Mechanism):
    """Isotropic-noise (Langevin) model at temperature ``T``; ``-inf`` where an orbit degenerates."""

    temperature: jax.Array | float = 1.0
    kind = "gauge"

    @property
    def unit(self):
        return self.temperature

    def check(self, family):
        if not family.fibre_is_orbit:
            raise DesignerInputError(
                "mechanism.kind",
                f"the gauge bias needs a fibre that is one group orbit (its log det of the Gram on the balanced "
                f"slice); the fibre of {family.name} is larger (a sum splits z in many ways), so it has no gauge "
                "bias: use weight_decay or label_noise",
            )

    def orbit_shape(self, family, z):
        return 0.5 * log_det_gram(family, family.balanced_point(z), symmetric_only=True)


jax.tree_util.register_dataclass(Gauge, data_fields=["temperature"], meta_fields=[])


class GaugeSpec(BaseModel):
    """The paper's mechanism: ``(T/2) log det G_sym`` on the balanced slice."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["gauge"] = "gauge"
    temperature: float = Field(1.0, gt=0.0, le=1e6, description="T ~ learning_rate * s^2 / (2 batch)")

    def build(self, family=None) -> Gauge:
        return Gauge(float(self.temperature))
