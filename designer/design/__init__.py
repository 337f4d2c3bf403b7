"""Inverse design: search parameterizations whose induced bias matches a target (theory.md section 5).

Public entry points, loaded on first use: :func:`design` (the search), :class:`DesignRequest`
(what it needs, a spec that imports without JAX), :func:`parse_design_request`,
:class:`DesignCancelled` (carries the state to resume from).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    'ALL_MECHANISMS': '._request',
    'DesignRequest': '._request',
    'SamplingSpec': '._request',
    'parse_design_request': '._request',
    'DesignCancelled': '._search',
    'design': '._search',
    'hyperparameters': '._search',
    'new_state': '._search',
    'rank_key': '._search',
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
