"""Mechanisms that induce a bias: one file each, one line each in ``MECHANISMS``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from .._specs import validate_tagged
from ._base import Mechanism
from .gauge import Gauge, GaugeSpec
from .label_noise import LabelNoise, LabelNoiseSpec, hessian_trace
from .weight_decay import WeightDecay, WeightDecaySpec

#: mechanism kind -> its pydantic spec (``build(family)`` makes the mechanism).
MECHANISMS: dict[str, type] = {
    "gauge": GaugeSpec,
    "weight_decay": WeightDecaySpec,
    "label_noise": LabelNoiseSpec,
}

MechanismSpec = Annotated[Union[tuple(MECHANISMS.values())], Field(discriminator="kind")]


def parse_mechanism_spec(spec: Any, field: str = "mechanism"):
    """Validate a mechanism spec given as a dict, JSON text or spec object."""
    return validate_tagged(MECHANISMS, 'kind', spec, field)


def build_mechanism(spec: Any, family=None) -> Mechanism:
    """Make a :class:`Mechanism` from a spec and check it applies to ``family``."""
    mech = parse_mechanism_spec(spec).build(family)
    if family is not None:
        mech.check(family)
    return mech


__all__ = [
    "MECHANISMS", "Mechanism", "MechanismSpec", "build_mechanism", "parse_mechanism_spec",
    "Gauge", "LabelNoise", "WeightDecay", "hessian_trace",
]
