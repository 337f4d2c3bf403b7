"""Unknown query parameters are refused (422 naming ``query.<name>``), not silently ignored.

A misspelt parameter (``?page_sise=5``) would otherwise answer as if it were absent. The API
routers are included with :data:`KNOWN_QUERY_PARAMETERS` as a dependency, which compares the
request's query names with those the route declares (its own and its dependencies').
"""

from __future__ import annotations

from fastapi import Depends, Request

from app.core.errors import InvalidInput

_DECLARED: dict[int, frozenset[str]] = {}


def _declared(route) -> frozenset[str]:
    names = _DECLARED.get(id(route))
    if names is None:
        names, todo = set(), [route.dependant]
        while todo:
            dependant = todo.pop()
            names.update(p.alias for p in dependant.query_params)
            todo.extend(dependant.dependencies)
        names = frozenset(names)
        _DECLARED[id(route)] = names
    return names


async def refuse_unknown_query_parameters(request: Request) -> None:
    """Async on purpose: a plain ``def`` dependency would cost every request a thread-pool hop."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    unknown = [name for name in request.query_params.keys() if name not in _declared(route)]
    if unknown:
        allowed = sorted(_declared(route))
        raise InvalidInput(
            f"unknown query parameter {unknown[0]!r}: this operation takes "
            + (", ".join(allowed) if allowed else "no query parameters"),
            field=f"query.{unknown[0]}",
        )


KNOWN_QUERY_PARAMETERS = Depends(refuse_unknown_query_parameters)
