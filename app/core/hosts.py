"""The ``Host`` header check: a defence against DNS rebinding of the loopback API.

A web page the user visits can make the browser send requests to 127.0.0.1 under the page's own
host name (DNS rebinding); the browser's same-origin rule then lets the page read the answers.
The browser always sends that host name in ``Host``, so the service answers only requests whose
``Host`` names this machine's loopback (``localhost``, ``127.0.0.0/8``, ``::1``) while it runs in
single-user mode (no users, no tokens). Once users exist, every request needs a token anyway;
``DESIGNER_ALLOWED_HOSTS`` (comma-separated) then restricts ``Host`` to the names listed (empty,
the default: any).
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import problem_response


def host_name(header: str) -> str:
    """The host part of a ``Host`` header (no port, no IPv6 brackets), lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def is_loopback(name: str) -> bool:
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostCheckMiddleware:
    """Answer 400 (problem+json, field ``Host``) to a ``Host`` the service does not accept.

    ``has_users()`` is a coroutine function; it is only awaited for non-loopback hosts.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str], has_users):
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.has_users = has_users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
            # No Host at all is no browser (HTTP/1.0 tools): nothing to rebind.
            name = host_name(header.decode("latin-1")) if header is not None else ""
            refusal = await self._refusal(name) if name and not is_loopback(name) else None
            if refusal is not None:
                response = problem_response(
                    400, "Host not allowed", f"this service does not answer requests for host {name!r}: {refusal}",
                    "host_not_allowed", field="Host",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refusal(self, name: str) -> str | None:
        """Why a non-loopback host is refused, or None if it is accepted."""
        if not await self.has_users():
            return "in single-user mode (no users) only loopback names (localhost, 127.0.0.1, [::1]) are accepted"
        if self.allowed_hosts and "*" not in self.allowed_hosts and name not in self.allowed_hosts:
            return "it is not in DESIGNER_ALLOWED_HOSTS"
        return None
