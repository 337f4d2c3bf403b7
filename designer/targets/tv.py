"""``tv``: total variation of a 1-D signal, ``R*(z) = sum_i |z_{i+1} - z_i|``.

Its structure lives in the cumulative-sum basis (``z = cumsum(c)``, ``c`` = first differences and
the offset ``z_0``), where the default sampling draws the coefficients. TV ignores the offset, a
Hadamard product on that basis does not (its weight-decay bias is ``|z_0| + TV``); a free offset in
front of it removes ``|z_0|``: the sum ``free + hadamard(cumsum)`` under weight decay is exactly TV
(the sum rule, :meth:`TotalVariation.sum_designs`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict

from ..errors import DesignerInputError
from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class TotalVariation(Target):
    kind = "tv"

    @property
    def sampling_basis(self):
        return "cumsum"

    def value(self, z):
        return jnp.sum(jnp.abs(jnp.diff(z)))

    def sum_designs(self, shape):
        return ({
            "param": {"family": "sum", "terms": [{"family": "free"}, {"family": "hadamard", "basis": "cumsum"}]},
            "mechanisms": ("weight_decay",),
            "rule": "TV(z) = min_{z = c 1 + cumsum(x)} |x|_1: a free offset (bias 0) plus a depth-2 Hadamard product "
                    "on the cumsum basis (weight decay: |x|_1), whose infimal convolution is the sum rule's bias",
        },)


class TotalVariationSpec(BaseModel):
    """Total variation ``sum_i |z_{i+1} - z_i|`` of a 1-D signal (piecewise-constant signals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["tv"] = "tv"

    def build(self, shape: tuple[int, ...]) -> TotalVariation:
        check_domain(self.kind, "vector", shape)
        if shape[0] < 2:
            raise DesignerInputError("shape", "total variation needs at least 2 coordinates")
        return TotalVariation()
