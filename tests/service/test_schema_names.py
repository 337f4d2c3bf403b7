"""One schema name per concept: the OpenAPI document may not let two models share a name."""

from __future__ import annotations

from typing import Literal, Union

import pytest
from pydantic import BaseModel

from app.numerics import child


def _two_models_named_alike():
    class WeightDecaySpec(BaseModel):  # a mechanism: strength only
        kind: Literal["weight_decay"] = "weight_decay"
        strength: float

    mechanism = WeightDecaySpec

    class WeightDecaySpec(BaseModel):  # noqa: F811  a noise piece of the same name, other fields
        kind: Literal["weight_decay"] = "weight_decay"
        scale: float

    class Mechanisms(BaseModel):
        mechanism: mechanism

    class Noises(BaseModel):
        noise: list[WeightDecaySpec]

    return Mechanisms, Noises


def test_two_models_publishing_one_name_with_different_fields_are_refused():
    mechanisms, noises = _two_models_named_alike()
    with pytest.raises(ValueError, match="'WeightDecaySpec' with different fields"):
        child.spec_schemas({"A": mechanisms, "B": noises})
    # The same model reached from two roots is one definition, not a conflict.
    same = child.spec_schemas({"A": mechanisms, "B": Union[mechanisms, None]})
    assert set(same["defs"]) == {"WeightDecaySpec", "Mechanisms"} and "scale" not in str(same["defs"])


def test_the_library_spec_models_publish_each_name_once():
    from designer.mechanisms.label_noise import LabelNoiseSpec
    from designer.simulate._noise import LabelNoisePieceSpec

    schemas = child.schemas()  # raises on a conflict
    components = {**schemas["defs"], **schemas["roots"]}
    # The simulator's label-noise piece and the label-noise mechanism are two concepts, published
    # under two names, each with its own fields (the piece needs a scale, the mechanism does not).
    piece = components["LabelNoisePieceSpec"]
    mechanism = components["LabelNoiseSpec"]
    assert "scale" in piece["properties"] and "scale" in piece.get("required", [])
    assert "scale" not in mechanism["properties"]
    assert set(piece["properties"]) == set(LabelNoisePieceSpec.model_fields)
    assert set(mechanism["properties"]) == set(LabelNoiseSpec.model_fields)
