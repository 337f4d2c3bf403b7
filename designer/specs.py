"""Pydantic specs of everything a user can ask for (the REST API's schemas re-use them)."""

from .families import FAMILIES, ParamSpec, parse_param_spec
from .mechanisms import MECHANISMS, MechanismSpec, parse_mechanism_spec
from .transforms import TransformSpec

__all__ = [
    "FAMILIES", "MECHANISMS", "ParamSpec", "MechanismSpec", "TransformSpec",
    "parse_param_spec", "parse_mechanism_spec",
]
