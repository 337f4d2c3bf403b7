"""``z = u v`` for scalars: the smallest example of a rescaling symmetry (theory.md section 2)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from designer._lazy import jax
from designer._lazy import pytree
from designer._lazy import jnp
from pydantic import BaseModel, ConfigDict

from ._base import Family, require


@pytree
@dataclasses.dataclass(frozen=True)
class ScalarProduct(Family):
    """``z = u v``; symmetry ``(u, v) -> (e^t u, e^-t v)``; balanced ``|u| = |v| = sqrt|z|``."""

    name = "scalar_product"
    linear_predictor = True

    @property
    def predictor_shape(self):
        return ()

    def param_shapes(self):
        return {"u": (), "v": ()}

    def predictor(self, params):
        return params["u"] * params["v"]

    n_blocks = 1
    block_size = 2
    symmetric_mask = (True,)

    def to_blocks(self, params):
        return jnp.stack([params["u"], params["v"]])[None, :]

    def from_blocks(self, blocks):
        return {"u": blocks[0, 0], "v": blocks[0, 1]}

    def block_action(self, x, t):
        return x * jnp.exp(jnp.stack([t[0], -t[0]]))

    def balanced_point(self, z):
        a = jnp.sqrt(jnp.abs(z))
        return {"u": jnp.sign(z) * a, "v": a}


class ScalarProductSpec(BaseModel):
    """``z = u v`` (a scalar predictor)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["scalar_product"] = "scalar_product"

    def build(self, shape: tuple[int, ...] | None = None) -> ScalarProduct:
        if shape is not None:
            require(tuple(shape) in ((), (1,)), "points", f"scalar_product predictors are numbers, got shape {list(shape)}")
        return ScalarProduct()
