"""The catalogue of parameterization families: one file each, one line each in ``FAMILIES``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from .._specs import pydantic_error, validate_tagged  # noqa: F401  (pydantic_error re-exported)
from ._base import Family, Params
from ._matrix import tangents_at_identity  # noqa: F401  (for designer.geometry)
from .attention_qk import AttentionQK, AttentionQKSpec
from .group_hadamard import GroupHadamard, GroupHadamardSpec
from .hadamard import Hadamard, HadamardSpec
from .matrix_product import MatrixProduct, MatrixProductSpec
from .relu_two_layer import ReluTwoLayer, ReluTwoLayerSpec
from .scalar_product import ScalarProduct, ScalarProductSpec

#: family name -> its pydantic spec (the spec's ``build(shape)`` makes the family).
FAMILIES: dict[str, type] = {
    "scalar_product": ScalarProductSpec,
    "hadamard": HadamardSpec,
    "group_hadamard": GroupHadamardSpec,
    "matrix_product": MatrixProductSpec,
    "relu_two_layer": ReluTwoLayerSpec,
    "attention_qk": AttentionQKSpec,
}

ParamSpec = Annotated[Union[tuple(FAMILIES.values())], Field(discriminator="family")]


def parse_param_spec(spec: Any, field: str = "param"):
    """Validate a family spec given as a dict, JSON text or spec object."""
    return validate_tagged(FAMILIES, 'family', spec, field)


def build_family(spec: Any, shape: tuple[int, ...] | None = None) -> Family:
    """Make a :class:`Family` from a spec, sizes not in the spec taken from ``shape``."""
    return parse_param_spec(spec).build(None if shape is None else tuple(shape))


__all__ = [
    "FAMILIES", "Family", "Params", "ParamSpec", "build_family", "parse_param_spec",
    "AttentionQK", "GroupHadamard", "Hadamard", "MatrixProduct", "ReluTwoLayer", "ScalarProduct",
]
