"""``fused_lasso``: ``R*(z) = sum_i |z_{i+1} - z_i| + lambda sum_i |z_i|`` (Tibshirani et al. 2005).

Total variation plus an L1 term: piecewise-constant signals that are also sparse. Its TV part lives
in the cumulative-sum basis (as for ``tv``), where the default sampling draws the coefficients.

By the coarea formula it is the weighted L1 synthesis norm over interval indicators,
``min { sum_I (TV(1_I) + lambda |I|) |y_I| : sum_I y_I 1_I = z }``, so a depth-2 Hadamard product
behind that (overcomplete) dictionary has exactly this weight-decay bias
(:mod:`designer.families.interval_hadamard`, declared in :meth:`FusedLasso.sum_designs`; up to its
``MAX_DIM`` entries).
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

    def sum_designs(self, shape):
        """The exact design under weight decay: a depth-2 Hadamard product behind the interval dictionary
        (``lambda > 0``), or, at ``lambda = 0`` (total variation), the free offset plus a cumsum Hadamard product."""
        lam = float(self.lam)
        if lam == 0.0:
            from .tv import TotalVariation

            return TotalVariation().sum_designs(shape)
        return ({
            "param": {"family": "interval_hadamard", "lambda": lam},
            "mechanisms": ("weight_decay",),
            "rule": "coarea formula: the fused lasso is min sum_I c_I |y_I| over the ways of writing z = sum_I y_I 1_I "
                    "with interval indicators, c_I = TV(1_I) + lambda |I|; a depth-2 Hadamard product on the atoms "
                    "1_I / c_I has exactly that weight-decay bias",
        },)

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
