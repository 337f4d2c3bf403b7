"""``fused_lasso``: ``R*(z) = sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|`` (Tibshirani et al. 2005).

Total variation plus an L1 term: piecewise-constant signals that are also sparse. Its TV part lives
in the cumulative-sum basis (as for ``tv``), where the default sampling draws the coefficients.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax, pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DesignerInputError
from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class FusedLasso(Target):
    lam: jax.Array | float = 1.0
    kind = "fused_lasso"
    inexact_note = (
        "The fused lasso is a sum of two norms, not an infimal convolution, so no sum of the registered families is "
        "exact; by the 1-D coarea formula it equals min_{Bu=z} |u|_1 for the dictionary B of normalized interval "
        "indicators, so a depth-2 Hadamard product behind that overcomplete map would be exact under weight decay, "
        "but the designer's linear maps are square and invertible.")

    @property
    def sampling_basis(self):
        return "cumsum"

    def value(self, z):
        return jnp.sum(jnp.abs(jnp.diff(z))) + self.lam * jnp.sum(jnp.abs(z))


class FusedLassoSpec(BaseModel):
    """Fused lasso ``sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|`` of a 1-D signal (sparse and piecewise constant)."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)
    kind: Literal["fused_lasso"] = "fused_lasso"
    lam: float = Field(1.0, alias="lambda", ge=0.0, le=1e6, description="weight of the L1 term, >= 0 (0 is total variation)")

    def build(self, shape: tuple[int, ...]) -> FusedLasso:
        check_domain(self.kind, "vector", shape)
        if shape[0] < 2:
            raise DesignerInputError("shape", "the fused lasso needs at least 2 coordinates")
        return FusedLasso(float(self.lam))
