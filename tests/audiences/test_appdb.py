"""The application database: ordered migrations applied once, and an append-only export log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from finpersona.appdb import (
    LATEST_VERSION,
    MIGRATIONS,
    URL_ENV,
    AppDatabase,
    AppDatabaseError,
    Migration,
    audiences,
    current_version,
    database_url,
    export_log,
    open_app_database,
)
from finpersona.appdb import migrations as migrations_module
from finpersona.appdb.schema import schema_version

from ._bank import make_workspace

NOW = datetime(2025, 12, 31, 8, 0, tzinfo=UTC)


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def log_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "at": NOW, "actor": "alice", "audience": "young", "expression": "age < 30",
        "purpose": "marketing", "channel": "sms", "format": "csv", "as_of": date(2025, 12, 31),
        "selected": 10, "exported": 7, "excluded": {"no_consent": 3}, "path": "/tmp/x.csv",
        "reidentified": False}
    row.update(overrides)
    return row


def versions(con: Connection) -> list[int]:
    return list(con.execute(select(schema_version.c.version)
                            .order_by(schema_version.c.version)).scalars())


def test_a_new_database_has_every_table_at_the_latest_version(tmp_path: Path) -> None:
    with AppDatabase.open(url(tmp_path / "app.db")) as db, db.begin() as con:
        assert current_version(con) == LATEST_VERSION == MIGRATIONS[-1].version
        assert versions(con) == [m.version for m in MIGRATIONS]
        names = set(inspect(con).get_table_names())
    assert {"schema_version", "audiences", "audience_sizes", "export_log"} <= names


def test_an_old_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with AppDatabase.open(url(path), migrate_to=1) as old, old.begin() as con:
        assert versions(con) == [1]
        assert not inspect(con).has_table("export_log")
        con.execute(insert(audiences).values(name="young", expression="age < 30",
                                             description="", created_at=NOW,
                                             created_by="alice", updated_at=NOW))
    with AppDatabase.open(url(path)) as db, db.begin() as con:
        assert versions(con) == [1, 2, 3]
        assert con.execute(select(audiences.c.expression)).scalar() == "age < 30"
        assert con.execute(select(audiences.c.members)).scalar() is None  # v3 column
        con.execute(insert(export_log).values(**log_row()))
    with AppDatabase.open(url(path)) as again, again.begin() as con:
        assert versions(con) == [1, 2, 3]  # each migration once


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.db"
    AppDatabase.open(url(path)).close()

    def broken(con: Connection) -> None:
        con.execute(text("CREATE TABLE half_done (x INTEGER)"))
        con.execute(text("SELECT no_such_column FROM audiences"))

    monkeypatch.setattr(migrations_module, "MIGRATIONS",
                        (*MIGRATIONS, Migration(LATEST_VERSION + 1, "broken", broken)))
    monkeypatch.setattr(migrations_module, "LATEST_VERSION", LATEST_VERSION + 1)
    broken_version = LATEST_VERSION + 1
    with pytest.raises(AppDatabaseError, match=rf"migration {broken_version} .*broken.* failed"):
        AppDatabase.open(url(path))
    monkeypatch.undo()
    with AppDatabase.open(url(path)) as db, db.begin() as con:
        assert current_version(con) == LATEST_VERSION
        assert not inspect(con).has_table("half_done")  # the DDL was rolled back too


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with AppDatabase.open(url(path)) as db, db.begin() as con:
        con.execute(insert(schema_version).values(version=99, description="future",
                                                  applied_at=NOW))
    with pytest.raises(AppDatabaseError, match="version 99, newer"):
        AppDatabase.open(url(path))


def test_the_export_log_is_append_only(tmp_path: Path) -> None:
    with AppDatabase.open(url(tmp_path / "app.db")) as db:
        with db.begin() as con:
            con.execute(insert(export_log).values(**log_row()))
            con.execute(insert(export_log).values(**log_row(actor="bob")))
        attempts = [
            update(export_log).values(exported=0),
            update(export_log).where(export_log.c.actor == "bob").values(path="/dev/null"),
            delete(export_log).where(export_log.c.actor == "alice"),
            delete(export_log),  # without WHERE: SQLite's truncate shortcut must not apply
        ]
        for statement in attempts:
            with pytest.raises(IntegrityError, match="append-only"), db.begin() as con:
                con.execute(statement)
        with db.begin() as con:
            rows = con.execute(select(export_log.c.actor, export_log.c.exported,
                                      export_log.c.excluded, export_log.c.path)
                               .order_by(export_log.c.id)).all()
    assert [tuple(r) for r in rows] == [("alice", 7, {"no_consent": 3}, "/tmp/x.csv"),
                                        ("bob", 7, {"no_consent": 3}, "/tmp/x.csv")]


def test_the_url_comes_from_the_environment_else_the_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    ws = make_workspace(tmp_path / "ws")
    assert database_url(ws) == f"sqlite:///{ws.root / 'app.db'}"
    open_app_database(ws).close()
    assert (ws.root / "app.db").is_file()
    elsewhere = tmp_path / "shared" / "meta.db"
    monkeypatch.setenv(URL_ENV, url(elsewhere))
    with open_app_database(ws) as db, db.begin() as con:
        assert current_version(con) == LATEST_VERSION
    assert elsewhere.is_file()


@pytest.mark.parametrize("bad", ["not a url", "nosuchdialect://x/y"])
def test_a_bad_url_is_a_clear_error(bad: str) -> None:
    with pytest.raises(AppDatabaseError, match="application database"):
        AppDatabase.open(bad)
