"""Read sessions on PostgreSQL run each statement on its own (autocommit, no BEGIN/ROLLBACK round
trips); write transactions stay one transaction; both see each other's committed rows."""

from __future__ import annotations

from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from tests.service.conftest import new_database


def test_reads_are_autocommit_and_writes_one_transaction(postgres_server, tmp_path):
    database = Database(Settings(data_dir=tmp_path, database_url=new_database(postgres_server)))
    try:
        with database.reading() as session:
            first = session.execute(text("SELECT txid_current()")).scalar_one()
            second = session.execute(text("SELECT txid_current()")).scalar_one()
            # A transaction that began before this statement would have its own start time.
            alone = session.execute(text("SELECT now() = statement_timestamp()")).scalar_one()
            level = session.execute(text("SHOW transaction_isolation")).scalar_one()
        assert second != first and alone is True and level == "read committed"
        with database.transaction() as session:
            first = session.execute(text("SELECT txid_current()")).scalar_one()
            second = session.execute(text("SELECT txid_current()")).scalar_one()
            alone = session.execute(text("SELECT now() = statement_timestamp()")).scalar_one()
            session.execute(text("CREATE TABLE probe (x integer)"))
            session.execute(text("INSERT INTO probe VALUES (7)"))
        assert second == first and alone is False
        # A connection returned by a read goes back to transactions for the next write (same pool).
        with database.reading() as session:
            assert session.execute(text("SELECT x FROM probe")).scalar_one() == 7
        with database.transaction() as session:
            session.execute(text("INSERT INTO probe VALUES (8)"))
            a = session.execute(text("SELECT txid_current()")).scalar_one()
            b = session.execute(text("SELECT txid_current()")).scalar_one()
        assert a == b
        with database.reading() as session:
            assert sorted(session.execute(text("SELECT x FROM probe")).scalars()) == [7, 8]
    finally:
        database.dispose()
