"""``group_l21``: ``R*(z) = sum_g |z_g|_2`` over contiguous groups (group lasso)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from ..errors import DesignerInputError
from ._base import Target, check_domain


@dataclasses.dataclass(frozen=True)
class GroupL21(Target):
    sizes: tuple[int, ...]
    kind = "group_l21"

    @property
    def groups(self):
        return self.sizes

    def value(self, z):
        bounds = np.cumsum((0,) + self.sizes)
        return sum(jnp.linalg.norm(z[bounds[g]:bounds[g + 1]]) for g in range(len(self.sizes)))


register_dataclass(GroupL21, data_fields=[], meta_fields=["sizes"])


class GroupL21Spec(BaseModel):
    """Group lasso ``sum_g |z_g|_2`` over contiguous groups: equal ``group_size`` or explicit ``sizes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["group_l21"] = "group_l21"
    group_size: int | None = Field(None, ge=1, le=limits.MAX_VECTOR_DIM, description="coordinates per group (must divide d)")
    sizes: list[int] | None = Field(None, min_length=1, max_length=limits.MAX_VECTOR_DIM, description="sizes of consecutive groups (must sum to d)")

    def build(self, shape: tuple[int, ...]) -> GroupL21:
        check_domain(self.kind, "vector", shape)
        d = shape[0]
        if (self.group_size is None) == (self.sizes is None):
            raise DesignerInputError("target.group_size", "give exactly one of group_size or sizes")
        if self.sizes is not None and min(self.sizes) < 1:
            raise DesignerInputError("target.sizes", "group sizes must be positive")
        if self.group_size is not None:
            if d % self.group_size:
                raise DesignerInputError("target.group_size", f"group_size={self.group_size} does not divide d={d}")
            sizes = (self.group_size,) * (d // self.group_size)
        else:
            if sum(self.sizes) != d:
                raise DesignerInputError("target.sizes", f"the group sizes sum to {sum(self.sizes)}, not d={d}")
            sizes = tuple(int(s) for s in self.sizes)
        return GroupL21(sizes)
