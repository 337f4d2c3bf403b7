"""Request limits: body size (413) and the shape of JSON bodies (422 naming the field).

The JSON walker runs before model validation so that a huge array or a NaN is rejected with
the limit named, whatever the model behind it.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import InvalidInput, problem_response

MAX_ARRAY_ITEMS = 10_000
MAX_JSON_DEPTH = 32
MAX_STRING_CHARS = 10_000


def check_json_limits(value: Any, path: str = "body", depth: int = 0) -> Any:
    """Walk a decoded JSON value; raise :class:`InvalidInput` naming the first field over a limit.

    Limits: arrays of at most ``MAX_ARRAY_ITEMS`` items, nesting of at most ``MAX_JSON_DEPTH``,
    strings of at most ``MAX_STRING_CHARS``, and only finite numbers (no NaN or Infinity).
    Returns the value unchanged, so it can serve as a pydantic ``BeforeValidator``.
    """
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{path}: nesting deeper than the limit of {MAX_JSON_DEPTH}", field=path)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{path}: {value!r} is not a finite number (NaN and Infinity are refused)", field=path)
    elif isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise InvalidInput(
                f"{path}: string of {len(value)} characters exceeds the limit of {MAX_STRING_CHARS}", field=path
            )
    elif isinstance(value, list):
        if len(value) > MAX_ARRAY_ITEMS:
            raise InvalidInput(
                f"{path}: array of {len(value)} items exceeds the limit of {MAX_ARRAY_ITEMS}", field=path
            )
        for i, item in enumerate(value):
            check_json_limits(item, f"{path}.{i}", depth + 1)
    elif isinstance(value, dict):
        if len(value) > MAX_ARRAY_ITEMS:
            raise InvalidInput(f"{path}: object with {len(value)} keys exceeds the limit of {MAX_ARRAY_ITEMS}", field=path)
        for key, item in value.items():
            check_json_limits(item, f"{path}.{key}", depth + 1)
    return value


class BodySizeLimitMiddleware:
    """Answer 413 (problem+json) for request bodies over ``max_bytes``.

    Checks ``Content-Length`` first, then counts the bytes actually received (chunked bodies),
    buffering at most ``max_bytes`` before handing the body to the application.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._reject(scope, receive, send, declared)
                    return
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_bytes:
                await self._reject(scope, receive, send, received)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        response = problem_response(
            413, "Payload too large",
            f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes",
            "payload_too_large", field="body",
        )
        await response(scope, receive, send)
