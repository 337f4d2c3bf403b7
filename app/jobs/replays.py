"""Retried submissions answered without the route: a cache and a coalescer in front of the database.

A client that retries ``POST /v1/design-jobs`` with the same ``Idempotency-Key`` sends the same
bytes again. The route validates the spec, hashes it, reads the job by (owner, key) and builds
the reply: several milliseconds of CPU each time, for an answer that only differs by the job's
current state. :class:`ReplayMiddleware` answers such a retry itself:

* **Exact requests only.** A request is eligible when it is ``POST /v1/design-jobs`` with no query
  string, one ``Idempotency-Key`` header and at most one ``Authorization`` and ``Content-Type``
  header; its identity is the tuple (authorization, key, content type, SHA-256 of the body). Anything
  else goes to the route unchanged.
* **The route decides first.** The first request of an identity goes to the route. When the
  route answers 201 or 200 (created, or replayed), the identity is remembered with the job id
  from ``Location``: the same bytes under the same credentials and key always get that job (the
  spec check is a pure function of the body, and a job's key and spec never change). Requests
  with the same identity that arrive while the first one is in the route wait for its outcome
  instead of running the route in parallel.
* **The database stays the source of truth.** A remembered identity is answered from a fresh
  read of the job row (the job's state as of a read that started after the request arrived),
  only if the caller's principal is in the principal cache, the job still exists, belongs to that
  principal and carries that key. Otherwise the request goes to the route, which answers it as
  it would have (a deleted job's key creates a new job). Concurrent replays of one job share one
  read: requests that arrive while a read is in flight wait for the next one.

Nothing is written by this module: a restart only empties the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.jobs import repository, service

PATH = "/v1/design-jobs"
#: Bodies larger than this are never remembered (design specs are a few hundred bytes).
MAX_REMEMBERED_BODY = 64 * 1024

_Identity = tuple[bytes, bytes, bytes, bytes]


class ReplayMiddleware:
    """Answers exact retries of ``POST /v1/design-jobs`` (see the module docstring).

    Install it inside the host, size and metrics middlewares (it reads the buffered body).
    ``app_state`` is the application's state (``database``, ``principal_cache``); ``route`` the
    route it answers for (put in ``scope["route"]``, so request metrics are labelled alike);
    ``answered`` a callable counting the replies given here.
    """

    def __init__(self, app: ASGIApp, app_state: Any, route: Any = None, answered=None, size: int = 4096):
        self.app = app
        self.state = app_state
        self.size = size
        self._route = route
        self._count = answered or (lambda: None)
        self._known: OrderedDict[_Identity, str] = OrderedDict()  # identity -> job id
        self._first: dict[_Identity, asyncio.Future] = {}  # identity -> the route's outcome (job id or None)
        self._waiting: dict[str, list[asyncio.Future]] = {}  # job id -> requests waiting for the next read
        self._reading: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        found: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            if name in (b"idempotency-key", b"authorization", b"content-type", b"content-length"):
                found.setdefault(name, []).append(value)
        if len(found.get(b"idempotency-key", ())) != 1 or any(len(v) > 1 for v in found.values()):
            await self.app(scope, receive, send)
            return
        try:
            length = int(found[b"content-length"][0]) if b"content-length" in found else -1
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REMEMBERED_BODY:
            await self.app(scope, receive, send)
            return
        body, receive = await _read_body(receive)
        if body is None:  # disconnected, or longer than declared: the route answers as usual
            await self.app(scope, receive, send)
            return
        identity = (found.get(b"authorization", [b""])[0], found[b"idempotency-key"][0],
                    found.get(b"content-type", [b""])[0], hashlib.sha256(body).digest())

        job_id = self._known.get(identity)
        if job_id is not None and await self._answer(scope, send, identity, job_id):
            return
        if identity in self._first:  # the route is answering this identity: wait for its outcome
            job_id = await asyncio.shield(self._first[identity])
            if job_id is not None and await self._answer(scope, send, identity, job_id):
                return
        if identity in self._first:  # still undecided (a new request in the route): no more waiting
            await self.app(scope, receive, send)
            return
        await self._through_route(scope, receive, send, identity)

    # --- the first request of an identity ------------------------------------------------------

    async def _through_route(self, scope: Scope, receive: Receive, send: Send, identity: _Identity) -> None:
        outcome: asyncio.Future = asyncio.get_running_loop().create_future()
        self._first[identity] = outcome
        job_id = None

        async def _send(message: Message) -> None:
            nonlocal job_id
            if message["type"] == "http.response.start" and message["status"] in (200, 201):
                for name, value in message.get("headers", ()):
                    if name == b"location" and value.startswith(PATH.encode() + b"/"):
                        job_id = value[len(PATH) + 1:].decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            if job_id is not None and service.is_job_id(job_id):
                self._remember(identity, job_id)
            else:
                job_id = None
            del self._first[identity]
            outcome.set_result(job_id)

    def _remember(self, identity: _Identity, job_id: str) -> None:
        self._known[identity] = job_id
        self._known.move_to_end(identity)
        while len(self._known) > self.size:
            self._known.popitem(last=False)

    # --- replies from a fresh read -------------------------------------------------------------

    async def _answer(self, scope: Scope, send: Send, identity: _Identity, job_id: str) -> bool:
        """Reply with the job's current state; False (nothing sent) if the route must answer."""
        authorization = identity[0].decode("latin-1")
        scheme, token = get_authorization_scheme_param(authorization)
        # The same reading of the header as the route's bearer dependency.
        token = token if authorization and scheme and token and scheme.lower() == "bearer" else None
        principal = self.state.principal_cache.get(token)
        if principal is None:
            return False
        try:
            reply = await self._read(job_id)
        except Exception:  # the database is unwell: the route answers (with its problem document)
            return False
        if reply is None or reply[0].owner_id != principal.user_id or reply[0].idempotency_key != identity[1].decode("latin-1"):
            if self._known.get(identity) == job_id:  # deleted: the route decides what the key means now
                del self._known[identity]
            return False
        content = reply[1]
        if self._route is not None:
            scope["route"] = self._route  # metrics label the request like the route's own
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
            (b"location", f"{PATH}/{job_id}".encode()), (b"idempotent-replayed", b"true"),
        ]})
        await send({"type": "http.response.body", "body": content})
        self._count()
        return True

    async def _read(self, job_id: str):
        """(row, JSON bytes of the job) from a read that starts after this call, or None."""
        waiter: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, []).append(waiter)
        if job_id not in self._reading:
            self._reading.add(job_id)
            asyncio.ensure_future(self._drain(job_id))
        return await waiter

    async def _drain(self, job_id: str) -> None:
        try:
            while waiters := self._waiting.pop(job_id, None):
                try:
                    reply = await run_in_threadpool(self._read_now, job_id)
                except Exception as exc:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                    continue
                for w in waiters:
                    if not w.done():
                        w.set_result(reply)
        finally:
            self._reading.discard(job_id)

    def _read_now(self, job_id: str):
        with self.state.database.reading() as session:
            row = repository.get_row_with_owner(session, job_id)
        if row is None:
            return None
        content = service.to_public(row, row.owner_name).model_dump_json(by_alias=True).encode()
        return row, content


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body, and a ``receive`` that hands it to the next application."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, _replaying([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replaying([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def _receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return _receive
