"""Free parameters: a term that no mechanism touches, ``z = c 1`` (a constant offset).

Alone it only reaches constant predictors and its bias is 0. In a sum it removes a direction
from the bias: a free offset in front of ``cumsum(u * v)`` turns ``|z_1| + sum |z_i+1 - z_i|``
(weight decay) into the total variation ``sum |z_i+1 - z_i|``. ``span: all`` makes every
predictor free (bias 0 everywhere).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .._lazy import register_dataclass
from ._base import Family, require


@dataclasses.dataclass(frozen=True)
class Free(Family):
    shape: tuple[int, ...]
    span: str = "constant"

    name = "free"
    linear_predictor = True
    symmetric_mask = ()
    n_blocks = 1

    @property
    def predictor_shape(self):
        return tuple(self.shape)

    @property
    def block_size(self):
        return 1 if self.span == "constant" else math.prod(self.shape)

    def param_shapes(self):
        return {"c": (self.block_size,)}

    @property
    def free_params(self):
        return tuple(self.param_shapes())

    def predictor(self, params):
        import jax.numpy as jnp

        c = params["c"]
        if self.span == "constant":
            return jnp.broadcast_to(c[0], self.shape)
        return c.reshape(self.shape)

    def to_blocks(self, params):
        return params["c"].reshape(1, -1)

    def from_blocks(self, blocks):
        return {"c": blocks.reshape(-1)}

    def block_action(self, x, t):
        return x

    def balanced_point(self, z):
        """The least-squares coefficients (exact on the span)."""
        import jax.numpy as jnp

        return {"c": jnp.mean(z).reshape(1) if self.span == "constant" else z.reshape(-1)}

    def induced_shape(self, mechanism, z):
        import jax.numpy as jnp

        return jnp.zeros((), z.dtype)  # no mechanism touches these parameters

    def closed_form(self, mechanism: str):
        """0 under every mechanism that takes a minimum over the fibre (weight decay, label noise)."""
        if mechanism not in ("weight_decay", "label_noise"):
            return None
        import jax.numpy as jnp

        return lambda z: jnp.zeros((), z.dtype)

    def convex_atom(self, mechanism: str):
        from ._sum_closed import Atom

        return Atom("free", span=self.span) if mechanism in ("weight_decay", "label_noise") else None


register_dataclass(Free, data_fields=[], meta_fields=["shape", "span"])


class FreeSpec(BaseModel):
    """Parameters no mechanism touches: a constant offset (``span: constant``) or everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["free"] = "free"
    span: Literal["constant", "all"] = Field("constant", description="constant: z = c 1 (one number); all: z = theta")

    def build(self, shape: tuple[int, ...] | None = None) -> Free:
        require(shape is not None, "points", "a free term takes its shape from the points (or from the other terms of a sum)")
        return Free(tuple(int(s) for s in shape), self.span)

    @classmethod
    def design_candidates(cls, problem, screened=None):
        """None on its own (no mechanism touches it: its bias is constant); a term of sums."""
        return []
