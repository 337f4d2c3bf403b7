"""uvicorn's HTTP protocol with problem+json answers to requests it cannot parse.

A request line, header or ``Content-Length`` that the HTTP parser refuses never reaches the
application; uvicorn answers it with a plain-text 400. These subclasses answer the same 400 as
an ``application/problem+json`` document naming the parser's reason, like every other error.
"""

from __future__ import annotations

import json
import sys

from app.core.errors import PROBLEM_MEDIA_TYPE, Problem


def problem_400_bytes(reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete HTTP/1.1 400 response (``Connection: close``) with a problem document."""
    body = json.dumps(Problem(
        title="Malformed HTTP request", status=400, code="malformed_request",
        detail=f"the HTTP request could not be parsed: {reason}",
    ).model_dump(mode="json")).encode()
    lines = [b"HTTP/1.1 400 Bad Request\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
              b"content-length: " + str(len(body)).encode() + b"\r\n", b"connection: close\r\n", b"\r\n", body]
    return b"".join(lines)


class _ProblemMixin:
    def send_400_response(self, msg: str) -> None:  # called inside uvicorn's ``except`` clause
        cause = sys.exc_info()[1]
        reason = str(cause) if cause is not None and str(cause) else msg
        if "method" in reason.lower():  # what follows a too-short Content-Length parses as a request line
            reason += " (or a Content-Length shorter than the body)"
        self.transport.write(problem_400_bytes(reason[:200], self.server_state.default_headers))
        self.transport.close()


def protocol_class() -> type:
    """The HTTP protocol class for ``uvicorn.run(http=...)``: httptools if installed, else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # httptools is optional in uvicorn
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base
    return type("Problem" + Base.__name__, (_ProblemMixin, Base), {})
