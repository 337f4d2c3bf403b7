"""``tv_2d``: anisotropic total variation of an image ``M`` of shape ``[h, w]``,

    R*(M) = sum_{i,j} |M[i+1, j] - M[i, j]| + sum_{i,j} |M[i, j+1] - M[i, j]|

(vertical plus horizontal absolute differences; piecewise-constant images).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax, pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict

from ..errors import DesignerInputError
from ._base import Target, check_domain


@pytree
@dataclasses.dataclass(frozen=True)
class TotalVariation2D(Target):
    kind = "tv_2d"
    domain = "matrix"

    def value(self, z):
        return jnp.sum(jnp.abs(jnp.diff(z, axis=0))) + jnp.sum(jnp.abs(jnp.diff(z, axis=1)))


class TotalVariation2DSpec(BaseModel):
    """Anisotropic total variation of an image [h, w]: absolute vertical plus horizontal differences."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["tv_2d"] = "tv_2d"

    def build(self, shape: tuple[int, ...]) -> TotalVariation2D:
        check_domain(self.kind, "matrix", shape)
        if max(shape) < 2:
            raise DesignerInputError("shape", "total variation of an image needs at least 2 pixels")
        return TotalVariation2D()
