"""What the simulator trains: a catalogue family, or the plain (unfactored) predictor.

A model is anything with ``predictor(params)``, ``init_params(key, scale, dtype)`` and
``param_shapes()``: every :class:`designer.families.Family` qualifies. :class:`Plain` adds the
baseline the paper compares against, ``z = w`` (no symmetry, no implicit bias from the geometry).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp

from ..errors import DesignerInputError
from ..families import build_family


@dataclasses.dataclass(frozen=True)
class Plain:
    """The identity parameterization ``z = w`` of a given predictor shape."""

    shape: tuple[int, ...]
    name = "plain"

    @property
    def predictor_shape(self):
        return tuple(self.shape)

    def param_shapes(self):
        return {"w": tuple(self.shape)}

    @property
    def n_params(self):
        return math.prod(self.shape)

    def predictor(self, params):
        return params["w"]

    def init_params(self, key, scale: float = 1.0, dtype: Any = "float32"):
        return {"w": scale * jax.random.normal(key, tuple(self.shape), dtype)}


register_dataclass(Plain, data_fields=[], meta_fields=["shape"])


def build_model(spec: Any, shape: tuple[int, ...] | None = None):
    """A model from a spec: ``{"family": "plain"}`` or any catalogue family spec.

    ``shape`` is the predictor shape a task expects; families take missing sizes from it.
    """
    if isinstance(spec, dict) and spec.get("family") == "plain":
        extra = set(spec) - {"family", "shape"}
        if extra:
            raise DesignerInputError(f"model.{sorted(extra)[0]}", "unknown field for the plain model")
        got = spec.get("shape")
        if got is not None and shape is not None and tuple(got) != tuple(shape):
            raise DesignerInputError("model.shape", f"{list(got)} does not match the task's predictor shape {list(shape)}")
        use = tuple(got) if got is not None else shape
        if use is None:
            raise DesignerInputError("model.shape", "give the shape of the plain predictor")
        return Plain(tuple(int(s) for s in use))
    if hasattr(spec, "predictor") and hasattr(spec, "param_shapes"):
        return spec
    return build_family(spec, shape)
