"""The catalogue of parameterization families: one file each, one line each in ``FAMILIES``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from .._specs import pydantic_error, validate_tagged  # noqa: F401  (pydantic_error re-exported)
from ._base import Family, Params
from ._matrix import tangents_at_identity  # noqa: F401  (for designer.geometry)
from .attention_qk import AttentionQK, AttentionQKSpec
from .free import Free, FreeSpec
from .group_hadamard import GroupHadamard, GroupHadamardSpec
from .hadamard import Hadamard, HadamardSpec
from .interval_hadamard import IntervalHadamard, IntervalHadamardSpec
from .linear import Linear, LinearSpec
from .matrix_product import MatrixProduct, MatrixProductSpec
from .relu_two_layer import ReluTwoLayer, ReluTwoLayerSpec
from .scalar_product import ScalarProduct, ScalarProductSpec
from .sum import Sum, SumSpec

#: family name -> its pydantic spec (the spec's ``build(shape)`` makes the family).
FAMILIES: dict[str, type] = {
    "scalar_product": ScalarProductSpec,
    "hadamard": HadamardSpec,
    "group_hadamard": GroupHadamardSpec,
    "matrix_product": MatrixProductSpec,
    "relu_two_layer": ReluTwoLayerSpec,
    "attention_qk": AttentionQKSpec,
    "linear": LinearSpec,
    "interval_hadamard": IntervalHadamardSpec,
    "free": FreeSpec,
    "sum": SumSpec,
}

ParamSpec = Annotated[Union[tuple(FAMILIES.values())], Field(discriminator="family")]


def parse_param_spec(spec: Any, field: str = "param"):
    """Validate a family spec given as a dict, JSON text or spec object (nested terms included)."""
    parsed = validate_tagged(FAMILIES, 'family', spec, field)
    check_nested = getattr(parsed, "check_nested", None)
    if check_nested is not None:
        check_nested(field)
    return parsed


def build_family(spec: Any, shape: tuple[int, ...] | None = None) -> Family:
    """Make a :class:`Family` from a spec, sizes not in the spec taken from ``shape``."""
    return parse_param_spec(spec).build(None if shape is None else tuple(shape))


__all__ = [
    "FAMILIES", "Family", "Params", "ParamSpec", "build_family", "parse_param_spec",
    "AttentionQK", "Free", "GroupHadamard", "Hadamard", "IntervalHadamard", "Linear", "MatrixProduct", "ReluTwoLayer",
    "ScalarProduct", "Sum",
]
