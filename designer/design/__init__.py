"""Inverse design: search parameterizations whose induced bias matches a target (theory.md section 5).

Public entry points: :func:`design` (the search), :class:`DesignRequest` (what it needs),
:func:`parse_design_request`, :class:`DesignCancelled` (carries the state to resume from).
"""

from ._request import ALL_MECHANISMS, DesignRequest, SamplingSpec, parse_design_request
from ._search import DesignCancelled, design, hyperparameters, new_state, rank_key

__all__ = [
    "ALL_MECHANISMS", "DesignCancelled", "DesignRequest", "SamplingSpec", "design", "hyperparameters",
    "new_state", "parse_design_request", "rank_key",
]
