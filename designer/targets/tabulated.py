"""``tabulated``: a target given as data, pairs of a predictor ``z`` and the value ``R*(z)``.

For targets the catalogue lacks. User input is data, never code. The design fits against the
table itself: the sampling points of the search are the tabulated predictors and the target values
are the tabulated values. ``value(z)`` is the value of the nearest tabulated predictor (exact at the
table's points), so plots and checks can evaluate it anywhere.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Union

from designer._lazy import jax
from designer._lazy import register_dataclass
from designer._lazy import jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .. import limits
from ..errors import DesignerInputError
from ._base import Target, check_domain

#: A tabulated target needs a few points to fit a line and leave a residual.
MIN_PAIRS = 3


@dataclasses.dataclass(frozen=True)
class Tabulated(Target):
    points: jax.Array
    values: jax.Array
    domain_name: str = "vector"
    kind = "tabulated"

    @property
    def domain(self):  # type: ignore[override]
        return self.domain_name

    def value(self, z):
        points, values = jnp.asarray(self.points), jnp.asarray(self.values)
        flat = points.reshape(points.shape[0], -1)
        dist = jnp.sum((flat - z.reshape(1, -1)) ** 2, axis=1)
        return values[jnp.argmin(dist)]


register_dataclass(Tabulated, data_fields=["points", "values"], meta_fields=["domain_name"])

Number = float
Point = Union[list[float], list[list[float]]]


class TabulatedPair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    z: Point = Field(..., description="a predictor: a list (vector) or a list of lists (matrix)")
    value: float = Field(..., description="the target value R*(z)")


class TabulatedSpec(BaseModel):
    """A target given as pairs of predictor and value; the search fits against these points."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["tabulated"] = "tabulated"
    pairs: list[TabulatedPair] = Field(..., max_length=limits.MAX_POINTS, description="pairs {z, value}; at least 3")

    def build(self, shape: tuple[int, ...]) -> Tabulated:
        domain = "vector" if len(shape) == 1 else "matrix"
        check_domain(self.kind, domain, shape)
        if len(self.pairs) == 0:
            raise DesignerInputError("target.pairs", "the table is empty; give at least 3 pairs {z, value}")
        if len(self.pairs) < MIN_PAIRS:
            raise DesignerInputError("target.pairs", f"give at least {MIN_PAIRS} pairs to fit a scale and an offset, got {len(self.pairs)}")
        if len(self.pairs) * int(np.prod(shape)) > limits.MAX_POINT_NUMBERS:
            raise DesignerInputError("target.pairs", f"at most {limits.MAX_POINT_NUMBERS} numbers in all")
        points = np.empty((len(self.pairs), *shape))
        values = np.empty(len(self.pairs))
        for i, pair in enumerate(self.pairs):
            try:
                z = np.asarray(pair.z, dtype=np.float64)
            except (ValueError, TypeError):
                raise DesignerInputError(f"target.pairs[{i}].z", "ragged predictor") from None
            if z.shape != tuple(shape):
                raise DesignerInputError(f"target.pairs[{i}].z", f"expected a predictor of shape {list(shape)}, got {list(z.shape)}")
            if not np.all(np.isfinite(z)):
                raise DesignerInputError(f"target.pairs[{i}].z", "contains a non-finite value (NaN or infinity)")
            if not np.isfinite(pair.value):
                raise DesignerInputError(f"target.pairs[{i}].value", "is not finite (NaN or infinity)")
            points[i], values[i] = z, pair.value
        if np.ptp(values) == 0:
            raise DesignerInputError("target.pairs", "all tabulated values are equal; a constant target has no shape to fit")
        return Tabulated(points, values, domain)
