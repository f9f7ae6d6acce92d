"""Opening the application database: SQLite in the workspace by default, any URL otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from finpersona.appdb.migrations import AppDatabaseError, migrate
from finpersona.config import ENV_PREFIX, Workspace

APP_DB_FILE = "app.db"
URL_ENV = ENV_PREFIX + "APP_DATABASE_URL"


def database_url(workspace: Workspace) -> str:
    """``$FINPERSONA_APP_DATABASE_URL``, else the ``app_database_url`` setting, else SQLite.

    The setting is read defensively: it exists once the integrator adds it to Settings.
    """
    env = os.environ.get(URL_ENV)
    if env:
        return env
    setting = getattr(workspace.settings, "app_database_url", None)
    if isinstance(setting, str) and setting:
        return setting
    return f"sqlite:///{workspace.root / APP_DB_FILE}"


def _sqlite_transactions(engine: Engine) -> None:
    """Make SQLite transactions real: transactional DDL and a write lock from the start.

    Python's sqlite3 driver (3.11) opens transactions lazily and never around DDL, so
    a migration could half-apply; it is switched to autocommit and we issue BEGIN
    ourselves (the recipe from SQLAlchemy's SQLite dialect docs). IMMEDIATE takes the
    write lock at BEGIN, so two processes serialise instead of failing at their first
    write; the metadata is tiny, so the lost read concurrency does not matter.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class AppDatabase:
    """A migrated application database; use as a context manager or call :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate_to: int | None = None) -> AppDatabase:
        """Connect and bring the schema to the newest version (or ``migrate_to``)."""
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise AppDatabaseError(f"invalid application database URL {url!r}") from exc
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "",
                                                                             ":memory:"):
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(parsed)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise AppDatabaseError(
                f"cannot use application database {parsed.render_as_string()}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            _sqlite_transactions(engine)
        try:
            migrate(engine, migrate_to)
        except DBAPIError as exc:
            engine.dispose()
            raise AppDatabaseError(
                f"cannot open application database {parsed.render_as_string()}: "
                f"{exc.orig}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self.engine.begin() as con:
            yield con

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> AppDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_app_database(workspace: Workspace) -> AppDatabase:
    """The workspace's application database, migrated to the newest schema."""
    return AppDatabase.open(database_url(workspace))
