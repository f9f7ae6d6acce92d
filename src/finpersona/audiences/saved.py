"""Saved audiences: named expressions in the application database, with size history.

An audience is stored as the canonical text of its parsed expression, so two
spellings of the same condition are stored alike. Each ``refresh`` records the
size on the latest tag snapshot, one row per audience and as-of date, which is
the history ``show`` reports. Redefining an audience clears its history: the
old sizes counted a different selection.
"""

from __future__ import annotations

import difflib
import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from finpersona.appdb import AppDatabase, audience_sizes, audiences, open_app_database
from finpersona.appdb.schema import as_utc, utcnow
from finpersona.audiences import selection
from finpersona.audiences.errors import AudienceError
from finpersona.audiences.policy import check_name
from finpersona.audiences.selection import Method, compile_text, open_selector
from finpersona.config import Workspace
from finpersona.engine import Engine
from finpersona.tags.expression import to_text
from finpersona.tags.types import TagSignature

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass(frozen=True)
class SizeRecord:
    as_of: date
    count: int
    computed_at: datetime


@dataclass(frozen=True)
class Audience:
    name: str
    expression: str
    description: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    size: int | None = None  # on the latest recorded as-of date
    size_as_of: date | None = None
    sizes: list[SizeRecord] = field(default_factory=list)  # filled by show_audience only
    members: str | None = None  # fixed-list audiences: the member list (workspace-relative)

    @property
    def is_list(self) -> bool:
        return self.members is not None


@dataclass(frozen=True)
class RefreshResult:
    name: str
    as_of: date
    count: int | None
    method: Method | None
    error: str | None = None


_COLUMNS = (audiences.c.name, audiences.c.expression, audiences.c.description,
            audiences.c.created_at, audiences.c.created_by, audiences.c.updated_at,
            audiences.c.members)
_AudienceRow = Row[tuple[str, str, str, datetime, str, datetime, str | None]]
LISTS_DIR = "audience_lists"  # member lists of fixed-list audiences, in the workspace


def default_actor() -> str:
    """The OS user: who saves or exports when nobody says otherwise."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def _audience(row: _AudienceRow,
              latest: SizeRecord | None, sizes: list[SizeRecord] | None = None) -> Audience:
    return Audience(name=row.name, expression=row.expression, description=row.description,
                    created_at=as_utc(row.created_at), created_by=row.created_by,
                    updated_at=as_utc(row.updated_at),
                    size=latest.count if latest else None,
                    size_as_of=latest.as_of if latest else None, sizes=sizes or [],
                    members=row.members)


def _sizes(con: Connection, name: str) -> list[SizeRecord]:
    rows = con.execute(select(audience_sizes.c.as_of, audience_sizes.c.count.label("size"),
                              audience_sizes.c.computed_at)
                       .where(audience_sizes.c.audience == name)
                       .order_by(audience_sizes.c.as_of)).all()
    return [SizeRecord(r.as_of, int(r.size), as_utc(r.computed_at)) for r in rows]


def _row(con: Connection, name: str) -> _AudienceRow:
    row = con.execute(select(*_COLUMNS).where(audiences.c.name == name)).first()
    if row is None:
        known = con.execute(select(audiences.c.name).order_by(audiences.c.name)).scalars()
        near = difflib.get_close_matches(name, list(known), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else "; see `audience list`"
        raise AudienceError(f"no saved audience {name!r}{hint}")
    return row


def load_audience(db: AppDatabase, name: str) -> Audience:
    with db.begin() as con:
        row = _row(con, name)
        sizes = _sizes(con, name)
        return _audience(row, sizes[-1] if sizes else None, sizes)


def save_audience(workspace: Workspace, name: str, expression: str,
                  description: str | None = None, *,
                  actor: str | None = None, replace: bool = False,
                  signatures: Mapping[str, TagSignature] | None = None) -> Audience:
    """Check the name and the expression against the catalogue, then store the audience.

    With ``replace``, a description of None keeps the one already stored.
    """
    check_name(name)
    sigs = selection.catalogue_signatures(workspace) if signatures is None else signatures
    canonical = to_text(compile_text(expression, sigs))
    now = utcnow()
    with open_app_database(workspace) as db, db.begin() as con:
        existing = con.execute(select(audiences.c.expression)
                               .where(audiences.c.name == name)).scalar()
        if existing is None:
            con.execute(insert(audiences).values(
                name=name, expression=canonical, description=description or "", created_at=now,
                created_by=actor or default_actor(), updated_at=now))
        elif not replace:
            raise AudienceError(f"audience {name!r} exists; pass --replace to redefine it")
        else:
            if existing != canonical:
                con.execute(delete(audience_sizes).where(audience_sizes.c.audience == name))
            changes: dict[str, object] = {"expression": canonical, "updated_at": now,
                                          "members": None}
            if description is not None:
                changes["description"] = description
            con.execute(update(audiences).where(audiences.c.name == name).values(**changes))
        sizes = _sizes(con, name)
        return _audience(_row(con, name), sizes[-1] if sizes else None)


def save_member_audience(workspace: Workspace, name: str, members: ir.Table, engine: Engine,
                         source: str, description: str | None = None, *,
                         actor: str | None = None, replace: bool = False) -> Audience:
    """Save a fixed list of customers (a table with ``customer_key``) as an audience.

    ``source`` says where the list came from (an analysis and its parameters); it is
    shown and logged where an expression audience shows its expression. The list is
    written to the workspace first, so a failure leaves no audience without members.
    """
    check_name(name)
    if "customer_key" not in members.columns:
        raise AudienceError("a member list needs a customer_key column")
    now = utcnow()
    relative = Path(LISTS_DIR) / f"{name}-{now.strftime('%Y%m%dT%H%M%S%f')}"
    folder = workspace.root / relative
    keys = members.filter(members.customer_key.notnull()).select("customer_key").distinct()
    with open_app_database(workspace) as db, db.begin() as con:
        existing = con.execute(select(audiences.c.name)
                               .where(audiences.c.name == name)).scalar()
        if existing is not None and not replace:
            raise AudienceError(f"audience {name!r} exists; pass --replace to redefine it")
        folder.parent.mkdir(parents=True, exist_ok=True)
        engine.write_parquet(keys, folder)
        values = {"expression": source, "members": str(relative), "updated_at": now}
        if existing is None:
            con.execute(insert(audiences).values(
                name=name, description=description or "", created_at=now,
                created_by=actor or default_actor(), **values))
        else:
            con.execute(delete(audience_sizes).where(audience_sizes.c.audience == name))
            if description is not None:
                values["description"] = description
            con.execute(update(audiences).where(audiences.c.name == name).values(**values))
        sizes = _sizes(con, name)
        return _audience(_row(con, name), sizes[-1] if sizes else None)


def list_audiences(workspace: Workspace) -> list[Audience]:
    """Every saved audience with its most recently recorded size."""
    latest_day = (select(audience_sizes.c.audience, func.max(audience_sizes.c.as_of)
                         .label("as_of")).group_by(audience_sizes.c.audience).subquery())
    query = (select(*_COLUMNS, audience_sizes.c.as_of, audience_sizes.c.count.label("size"),
                    audience_sizes.c.computed_at)
             .select_from(audiences
                          .outerjoin(latest_day, latest_day.c.audience == audiences.c.name)
                          .outerjoin(audience_sizes,
                                     (audience_sizes.c.audience == latest_day.c.audience)
                                     & (audience_sizes.c.as_of == latest_day.c.as_of)))
             .order_by(audiences.c.name))
    with open_app_database(workspace) as db, db.begin() as con:
        rows = con.execute(query).all()
    return [_audience(r, None if r.as_of is None else SizeRecord(
        r.as_of, int(r.size), as_utc(r.computed_at))) for r in rows]


def show_audience(workspace: Workspace, name: str) -> Audience:
    """The definition and the size recorded by each refresh, oldest first."""
    with open_app_database(workspace) as db:
        return load_audience(db, name)


def delete_audience(workspace: Workspace, name: str) -> None:
    """Remove the audience and its size history; its exports stay in the export log."""
    with open_app_database(workspace) as db, db.begin() as con:
        _row(con, name)
        con.execute(delete(audience_sizes).where(audience_sizes.c.audience == name))
        con.execute(delete(audiences).where(audiences.c.name == name))


def refresh_audiences(workspace: Workspace, names: Sequence[str] | None = None, *,
                      signatures: Mapping[str, TagSignature] | None = None
                      ) -> list[RefreshResult]:
    """Count each saved audience (default: all) on the latest snapshot and record the size.

    An audience that no longer compiles (a tag was retired) is reported with its error
    and the others are still refreshed.
    """
    with open_app_database(workspace) as db:
        with db.begin() as con:
            if names:
                chosen = [_row(con, check_name(n)) for n in dict.fromkeys(names)]
            else:
                chosen = list(con.execute(select(*_COLUMNS).order_by(audiences.c.name)))
        results: list[RefreshResult] = []
        with open_selector(workspace, signatures=signatures) as selector:
            for row in chosen:
                try:
                    n, method = selector.count_of(selector.define(row.expression, row.members))
                except AudienceError as exc:
                    results.append(RefreshResult(row.name, selector.as_of, None, None, str(exc)))
                    continue
                with db.begin() as con:
                    con.execute(delete(audience_sizes).where(
                        (audience_sizes.c.audience == row.name)
                        & (audience_sizes.c.as_of == selector.as_of)))
                    con.execute(insert(audience_sizes).values(
                        audience=row.name, as_of=selector.as_of, count=n,
                        computed_at=utcnow()))
                results.append(RefreshResult(row.name, selector.as_of, n, method))
        return results
