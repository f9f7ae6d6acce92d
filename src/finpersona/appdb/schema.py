"""The application database's tables, as SQLAlchemy Core metadata.

Small relational metadata lives here (saved audiences, their size history, the
export log); customer-scale data never does. The tables describe the newest
schema version; :mod:`finpersona.appdb.migrations` is what creates and changes
them in a database, so this module is only read by queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Every timestamp is stored in UTC; SQLite forgets the zone, so readers re-attach it.
schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

audiences = Table(
    "audiences", metadata,
    Column("name", String(64), primary_key=True),
    Column("expression", Text, nullable=False),  # canonical text (to_text of the parsed tree)
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Fixed-list audiences only: the member list's folder, relative to the workspace.
    # Their ``expression`` then describes where the list came from.
    Column("members", Text, nullable=True),
)

audience_sizes = Table(
    "audience_sizes", metadata,
    Column("audience", String(64), ForeignKey("audiences.name", ondelete="CASCADE"),
           primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)

# Append-only (enforced by triggers from migration 2). No foreign key to audiences on
# purpose: the record of an export must outlive the audience it was taken from.
export_log = Table(
    "export_log", metadata,
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
    Column("excluded", JSON, nullable=False),  # {reason: customers}, every reason present
    Column("path", Text, nullable=False),
    Column("reidentified", Boolean, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite returns them naive (but they are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
