"""Target regularizers of the inverse designer: one file each, one line each in ``TARGETS``."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from .._specs import validate_tagged
from ._base import Target
from .basis_l1 import BasisL1, BasisL1Spec
from .elastic_net import ElasticNet, ElasticNetSpec
from .fused_lasso import FusedLasso, FusedLassoSpec
from .group_l21 import GroupL21, GroupL21Spec
from .huber import Huber, HuberSpec
from .l1 import L1, L1Spec
from .log_det import LogDet, LogDetSpec
from .log_sum import LogSum, LogSumSpec
from .lp import Lp, LpSpec
from .mcp import Mcp, McpSpec
from .nuclear import Nuclear, NuclearSpec
from .path_norm import PathNorm, PathNormSpec
from .scad import Scad, ScadSpec
from .schatten import Schatten, SchattenSpec
from .sparse_plus_low_rank import SparsePlusLowRank, SparsePlusLowRankSpec
from .tabulated import Tabulated, TabulatedSpec
from .tv import TotalVariation, TotalVariationSpec
from .tv_2d import TotalVariation2D, TotalVariation2DSpec

#: target kind -> its pydantic spec (``build(shape)`` makes the target).
TARGETS: dict[str, type] = {
    "l1": L1Spec,
    "lp": LpSpec,
    "log_sum": LogSumSpec,
    "group_l21": GroupL21Spec,
    "tv": TotalVariationSpec,
    "basis_l1": BasisL1Spec,
    "nuclear": NuclearSpec,
    "schatten": SchattenSpec,
    "log_det": LogDetSpec,
    "tabulated": TabulatedSpec,
    "elastic_net": ElasticNetSpec,
    "huber": HuberSpec,
    "scad": ScadSpec,
    "mcp": McpSpec,
    "fused_lasso": FusedLassoSpec,
    "tv_2d": TotalVariation2DSpec,
    "path_norm": PathNormSpec,
    "sparse_plus_low_rank": SparsePlusLowRankSpec,
}

TargetSpec = Annotated[Union[tuple(TARGETS.values())], Field(discriminator="kind")]


def parse_target_spec(spec: Any, field: str = "target"):
    """Validate a target spec given as a dict, JSON text or spec object (errors name the field)."""
    return validate_tagged(TARGETS, 'kind', spec, field)


def build_target(spec: Any, shape: tuple[int, ...]) -> Target:
    """Make a :class:`Target` for predictors of ``shape``."""
    return parse_target_spec(spec).build(tuple(shape))


__all__ = [
    "TARGETS", "Target", "TargetSpec", "build_target", "parse_target_spec",
    "BasisL1", "ElasticNet", "FusedLasso", "GroupL21", "Huber", "L1", "LogDet", "LogSum", "Lp", "Mcp", "Nuclear", "PathNorm",
    "Scad", "Schatten", "SparsePlusLowRank", "Tabulated", "TotalVariation", "TotalVariation2D",
]
