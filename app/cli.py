"""Sub-commands ``serve`` and ``users`` of the ``designer`` command line.

Registered through the ``designer.commands`` entry-point group; each ``register(subparsers)``
adds one sub-command and sets ``func(args) -> int``. Nothing heavy is imported at
registration time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SERVE_EXAMPLE = """example:
  designer serve --port 8000 --data-dir ./data --workers 2
  DATABASE_URL=postgresql://designer@db/designer designer serve --host 0.0.0.0

With no users the service runs in single-user mode (no tokens) and listens on 127.0.0.1 only;
create users with `designer users add NAME` to serve other hosts."""

USERS_EXAMPLE = """example:
  designer users add alice              # prints alice's API token once
  designer users add root --admin --data-dir /srv/designer"""


def register_serve(subparsers) -> None:
    """Add ``designer serve``."""
    from app.server import serve_arguments

    parser = subparsers.add_parser(
        "serve", help=register_serve.help,
        description="Run the design-job REST API and its worker processes. DATABASE_URL selects "
                    "PostgreSQL; the default is SQLite under --data-dir.",
        epilog=SERVE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_arguments(parser)
    parser.set_defaults(func=_serve)


#: The help line ``designer --help`` shows without importing the server (pydantic-settings).
register_serve.help = "run the design-job service (REST API and workers)"


def _serve(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "app.server", "--host", args.host, "--port", str(args.port),
            "--data-dir", str(args.data_dir), "--workers", str(args.workers), "--log-level", args.log_level]
    if args.access_log:
        argv.append("--access-log")
    sys.stdout.flush()
    sys.stderr.flush()
    # A fresh interpreter: the API process must not inherit the CLI's imports (JAX).
    os.execv(sys.executable, argv)
    return 0  # not reached


def register_users(subparsers) -> None:
    """Add ``designer users add NAME [--admin] [--data-dir DIR]``."""
    parser = subparsers.add_parser(
        "users", help="manage users of the service", description="Manage users of the design-job service.",
        epilog=USERS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser(
        "add", help="create a user and print its API token (shown once)",
        description="Create a user and print its API token. The token is stored only hashed: keep it.",
        epilog=USERS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("name", help="user name (letters, digits, . _ -)")
    add.add_argument("--admin", action="store_true", help="may see every user's jobs")
    add.add_argument("--data-dir", default="./data", help="data directory of the service (SQLite file)")
    add.set_defaults(func=_users_add)


def _users_add(args: argparse.Namespace) -> int:
    from app.auth.service import create_user
    from app.core.config import Settings
    from app.core.db import Database
    from app.core.errors import AppError
    from app.main import prepare_database

    settings = Settings(data_dir=Path(args.data_dir).resolve())
    database = Database(settings)
    try:
        prepare_database(database)
        with database.transaction() as session:
            token = create_user(session, args.name, is_admin=args.admin)
    except AppError as exc:
        print(f"designer users add: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m app``: the same sub-commands without the library's command line."""
    parser = argparse.ArgumentParser(prog="python -m app", description="design-job service commands")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_serve(subparsers)
    register_users(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)
