"""The paper's geometric (gauge) bias: ``R(z) = (T/2) log det G_sym(w*(z))`` (theory.md section 2)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DesignerInputError
from ..geometry import log_det_gram
from ._base import Mechanism, finish_hyperparameters


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
                f"slice); the fibre of {family.name} is larger ({getattr(family, 'fibre_reason', 'a sum splits z in many ways')}), "
                "so it has no gauge "
                "bias: use weight_decay or label_noise",
            )

    def orbit_shape(self, family, z):
        return 0.5 * log_det_gram(family, family.balanced_point(z), symmetric_only=True)


register_dataclass(Gauge, data_fields=["temperature"], meta_fields=[])


class GaugeSpec(BaseModel):
    """The paper's mechanism: ``(T/2) log det G_sym`` on the balanced slice."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["gauge"] = "gauge"
    temperature: float = Field(1.0, gt=0.0, le=1e6, description="T ~ learning_rate * s^2 / (2 batch)")

    #: Rank among mechanisms when designs tie (smaller first).
    rank: ClassVar[int] = 2

    @classmethod
    def hyperparameters(cls, request, a: float) -> tuple[dict, dict | None]:
        """``T = lambda / a``, and ``T ~ eta s^2 / (2 B)`` (theory.md section 2): ``eta / B = 2 T / s^2``."""
        s2 = request.gradient_noise_variance

        def make(unit):
            mapping = {
                "temperature": unit,
                "learning_rate_over_batch_size": 2.0 * unit / s2,
                "gradient_noise_variance": s2,
                "relation": "T = eta s^2 / (2 B): choose eta / B = 2 T / s^2",
            }
            return mapping, {"kind": "gauge", "temperature": unit}

        return finish_hyperparameters(request, a, make)

    def build(self, family=None) -> Gauge:
        return Gauge(float(self.temperature))
