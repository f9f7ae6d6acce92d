"""Ordered schema migrations of the application database.

Each migration runs once, in its own transaction together with the row that
records it in ``schema_version``; a migration that fails leaves the database at
the previous version. Migrations describe their tables with their own metadata
rather than :mod:`finpersona.appdb.schema`, because what version 1 created must
not change when a later version changes a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from finpersona.appdb.schema import schema_version, utcnow


class AppDatabaseError(Exception):
    """The application database cannot be opened, migrated or written."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_audiences(con: Connection) -> None:
    md = MetaData()
    Table("audiences", md,
          Column("name", String(64), primary_key=True),
          Column("expression", Text, nullable=False),
          Column("description", Text, nullable=False),
          Column("created_at", DateTime(timezone=True), nullable=False),
          Column("created_by", String(128), nullable=False),
          Column("updated_at", DateTime(timezone=True), nullable=False))
    Table("audience_sizes", md,
          Column("audience", String(64), ForeignKey("audiences.name", ondelete="CASCADE"),
                 primary_key=True),
          Column("as_of", Date, primary_key=True),
          Column("count", Integer, nullable=False),
          Column("computed_at", DateTime(timezone=True), nullable=False))
    md.create_all(con)


# Statements that make export_log refuse UPDATE and DELETE, per SQL dialect. A dialect
# missing here cannot host the application database: an editable export log would
# defeat its purpose. SQLite also skips its truncate shortcut when a table has triggers,
# so ``DELETE FROM export_log`` without WHERE is refused as well.
APPEND_ONLY_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER export_log_no_update BEFORE UPDATE ON export_log "
        "BEGIN SELECT RAISE(ABORT, 'export_log is append-only: records cannot be changed'); END",
        "CREATE TRIGGER export_log_no_delete BEFORE DELETE ON export_log "
        "BEGIN SELECT RAISE(ABORT, 'export_log is append-only: records cannot be deleted'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION export_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'export_log is append-only: % is not allowed', TG_OP; END $$",
        "CREATE TRIGGER export_log_no_change BEFORE UPDATE OR DELETE ON export_log "
        "FOR EACH ROW EXECUTE FUNCTION export_log_append_only()",
        "CREATE TRIGGER export_log_no_truncate BEFORE TRUNCATE ON export_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION export_log_append_only()",
    ),
}


def _v2_export_log(con: Connection) -> None:
    dialect = con.dialect.name
    if dialect not in APPEND_ONLY_DDL:
        raise AppDatabaseError(
            f"the export log cannot be made append-only on {dialect}; "
            f"use one of {', '.join(sorted(APPEND_ONLY_DDL))}")
    md = MetaData()
    Table("export_log", md,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("at", DateTime(timezone=True), nullable=False),
          Column("actor", String(128), nullable=False),
          Column("audience", String(64), nullable=False),
          Column("expression", Text, nullable=False),
          Column("purpose", String(32), nullable=False),
          Column("channel", String(32), nullable=True),
          Column("format", String(16), nullable=False),
          Column("as_of", Date, nullable=False),
          Column("selected", Integer, nullable=False),
          Column("exported", Integer, nullable=False),
          Column("excluded", JSON, nullable=False),
          Column("path", Text, nullable=False),
          Column("reidentified", Boolean, nullable=False))
    md.create_all(con)
    for statement in APPEND_ONLY_DDL[dialect]:
        con.execute(text(statement))


def _v3_member_lists(con: Connection) -> None:
    # Fixed-list audiences (e.g. the customers who dropped out of a funnel step) keep
    # their members as Parquet in the workspace; this column says where.
    con.execute(text("ALTER TABLE audiences ADD COLUMN members TEXT"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "saved audiences and their size history", _v1_audiences),
    Migration(2, "append-only export log", _v2_export_log),
    Migration(3, "fixed-list audiences", _v3_member_lists),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(con: Connection) -> int:
    """The highest applied migration; 0 for an empty database."""
    if not inspect(con).has_table("schema_version"):
        return 0
    found = con.execute(select(schema_version.c.version).order_by(
        schema_version.c.version.desc()).limit(1)).scalar()
    return int(found or 0)


def migrate(engine: Engine, target: int | None = None) -> int:
    """Apply every migration above the database's version, up to ``target``; returns it."""
    goal = LATEST_VERSION if target is None else target
    with engine.begin() as con:
        schema_version.create(con, checkfirst=True)
        found = current_version(con)
    if found > LATEST_VERSION:
        raise AppDatabaseError(
            f"the application database is at schema version {found}, newer than this "
            f"FinPersona understands ({LATEST_VERSION}); upgrade FinPersona")
    for migration in MIGRATIONS:
        if migration.version <= found or migration.version > goal:
            continue
        try:
            with engine.begin() as con:
                # Another process may have migrated since we looked; re-read inside the
                # transaction, which on SQLite already holds the write lock.
                if current_version(con) >= migration.version:
                    continue
                migration.apply(con)
                con.execute(insert(schema_version).values(
                    version=migration.version, description=migration.description,
                    applied_at=utcnow()))
        except DBAPIError as exc:
            raise AppDatabaseError(
                f"migration {migration.version} ({migration.description}) failed: "
                f"{exc.orig}") from exc
        found = migration.version
    return found
