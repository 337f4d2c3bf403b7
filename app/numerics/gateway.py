"""A pool of spawned processes that run :mod:`app.numerics.child` functions for the API."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from app.core.errors import GatewayTimeout, ServiceUnavailable
from app.numerics import child

log = logging.getLogger("app.numerics")


class NumericsGateway:
    """Runs library calls in ``processes`` spawned processes, recreating the pool if one dies.

    The schemas and the catalog never change while the service runs, so they are computed
    once and kept.
    """

    def __init__(self, processes: int = 1, timeout: float = 120.0):
        self.processes = processes
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._schemas: dict[str, Any] | None = None
        self._catalog: dict[str, Any] | None = None
        self.warm = threading.Event()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def _reset(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        pool = self._executor()
        try:
            return pool.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):
            self._reset(pool)
            return self._executor().submit(fn, *args)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        """Run ``fn(*args)`` in the pool and wait (blocking)."""
        future = self.submit(fn, *args)
        try:
            return future.result(timeout=timeout or self.timeout)
        except TimeoutError as exc:
            raise GatewayTimeout(f"the numerical library did not answer within {timeout or self.timeout} s") from exc
        except BrokenProcessPool as exc:
            self._reset(self._pool) if self._pool else None
            raise ServiceUnavailable("the numerics process died; try again") from exc

    async def acall(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        """Run ``fn(*args)`` in the pool and await it without blocking the event loop."""
        future = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout or self.timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            future.cancel()
            raise GatewayTimeout(f"the numerical library did not answer within {timeout or self.timeout} s") from exc
        except BrokenProcessPool as exc:
            if self._pool is not None:
                self._reset(self._pool)
            raise ServiceUnavailable("the numerics process died; try again") from exc

    def start_warm_up(self) -> None:
        """Import the library and fetch the schemas in the background; sets :attr:`warm`."""

        def _run() -> None:
            try:
                self.schemas()
                self.warm.set()
            except Exception:  # readiness stays false and says why in the log
                log.exception("numerics warm-up failed")

        threading.Thread(target=_run, name="numerics-warm-up", daemon=True).start()

    def schemas(self) -> dict[str, Any]:
        if self._schemas is None:
            self._schemas = self.call(child.schemas)
        return self._schemas

    async def catalog(self) -> dict[str, Any]:
        if self._catalog is None:
            self._catalog = await self.acall(child.catalog)
        return self._catalog

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
