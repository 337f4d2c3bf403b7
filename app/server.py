"""``python -m app.server``: the process that ``designer serve`` becomes.

``designer serve`` re-executes into this module so that the API process starts clean, without
whatever the ``designer`` command line imported (JAX).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from app.core.config import LOOPBACK_HOSTS, Settings


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--data-dir", default="./data", help="SQLite file, results and artifacts live here")
    parser.add_argument("--workers", type=int, default=1, help="number of job worker processes")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--access-log", action="store_true", help="log every request")


def run(args: argparse.Namespace) -> int:
    """Check the binding policy, then run uvicorn with the app and its workers."""
    import uvicorn

    from app.core.db import Database
    from app.core.http_protocol import protocol_class
    from app.main import create_app, prepare_database

    os.umask(0o077)  # the database, token hashes and job files are created owner-only
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings(host=args.host, port=args.port, data_dir=Path(args.data_dir).resolve(), workers=args.workers)
    except Exception as exc:  # pydantic ValidationError: say which setting
        print(f"designer serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    database = Database(settings)
    has_users = prepare_database(database)
    database.dispose()
    if not has_users:
        if settings.environment == "production":
            print("designer serve: no users configured; production refuses single-user mode. "
                  "Create one with `designer users add NAME --admin`.", file=sys.stderr)
            return 2
        if settings.host not in LOOPBACK_HOSTS:
            print(f"designer serve: refusing to listen on {settings.host}: no users are configured, so the "
                  "service would run without authentication. Create a user first with "
                  "`designer users add NAME` (then clients send its token), or listen on 127.0.0.1.",
                  file=sys.stderr)
            return 2
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                access_log=args.access_log, timeout_graceful_shutdown=5, http=protocol_class())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="designer serve")
    serve_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
