"""Selecting customers of a tag snapshot with an expression, and counting them.

A :class:`Selector` is opened on one as-of date of the ``tag_snapshot`` and
serves many expressions: counts go to the bitmap index when a ``tag_index``
snapshot exists for that date (no engine is started at all), otherwise to an
engine scan of the snapshot through :func:`to_ibis`. Everything customer-scale
stays in the engine; Python sees counts and aggregates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from finpersona.audiences.errors import AudienceError, AudienceExpressionError
from finpersona.config import Workspace
from finpersona.engine import Engine, connect
from finpersona.tags.expression import ExpressionError, compile_expression, to_ibis, to_text
from finpersona.tags.expression.ast import Node, tags_used
from finpersona.tags.types import TagSignature
from finpersona.warehouse import Warehouse

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from finpersona.audiences.index import TagIndex

TAG_SNAPSHOT = "tag_snapshot"
TAG_INDEX = "tag_index"
KEY = "customer_key"
# Columns of the tag snapshot that are not tags.
NON_TAG_COLUMNS = frozenset({KEY, "as_of"})

Method = Literal["index", "scan"]
T = TypeVar("T")


@dataclass(frozen=True)
class Definition:
    """What an audience selects: an expression over tags, or a fixed list of customers.

    A fixed list (``members``: a Parquet folder of ``customer_key``) is what an
    analysis saves, e.g. the customers who dropped out after a funnel step; it
    selects those of its members who are in the snapshot.
    """

    node: Node | None = None
    members: Path | None = None

    def tags_used(self) -> set[str]:
        return set() if self.node is None else set(tags_used(self.node))


@dataclass(frozen=True)
class CountResult:
    count: int
    elapsed_ms: float
    as_of: date
    method: Method
    expression: str  # canonical text


def catalogue_signatures(workspace: Workspace) -> dict[str, TagSignature]:
    """What expressions may name: the packaged catalogue plus the workspace's ``tags/``."""
    from finpersona.tags.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue(workspace.tags_dir).signatures()
    except CatalogueError as exc:
        raise AudienceError(str(exc)) from exc


def parse_as_of(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise AudienceError(f"as-of must be a date like 2025-12-31, not {value!r}") from exc


def compile_text(text: str, signatures: Mapping[str, TagSignature]) -> Node:
    """Parse and type-check an expression; errors point at the position in the text."""
    try:
        return compile_expression(text, signatures)
    except ExpressionError as exc:
        raise AudienceExpressionError(text, exc) from exc


class Selector:
    """Selection over the tag snapshot of one as-of date; open with :func:`open_selector`."""

    def __init__(self, workspace: Workspace, warehouse: Warehouse, as_of: date,
                 signatures: Mapping[str, TagSignature]) -> None:
        self.workspace = workspace
        self.warehouse = warehouse
        self.as_of = as_of
        self.signatures = signatures
        self._engine: Engine | None = None
        self._table: ir.Table | None = None
        self._index: TagIndex | None = None
        self._index_loaded = False
        self._lists: dict[Path, str] = {}  # member-list folder -> membership column

    # -- resources, opened on first use ---------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = connect(self.workspace.settings)
        return self._engine

    @property
    def table(self) -> ir.Table:
        """The tag snapshot as an engine table (with a flag column per member list used)."""
        if self._table is None:
            self._table = self.warehouse.read_snapshot(self.engine, TAG_SNAPSHOT,
                                                       self.as_of.isoformat())
        return self._table

    def define(self, expression: str, members: str | None = None) -> Definition:
        """A saved audience's definition; member lists are joined to the snapshot now.

        Define every audience a query needs before taking flags: joining a list
        changes :attr:`table`, and flags are bound to the table they were made on.
        """
        if members is None:
            return Definition(node=self.compile(expression))
        folder = self.workspace.root / members
        if not folder.is_dir():
            raise AudienceError(f"the member list of this audience is missing ({folder})")
        if folder not in self._lists:
            column = f"_fp_list_{len(self._lists)}"
            listed = self.engine.read_parquet([folder])
            listed = listed.select(_fp_member=listed[KEY]).distinct()
            base = self.table
            joined = base.left_join(listed, base[KEY] == listed._fp_member)
            self._table = joined.mutate(**{column: joined._fp_member.notnull()}).drop(
                "_fp_member")
            self._lists[folder] = column
        return Definition(members=folder)

    def flag_of(self, definition: Definition) -> ir.BooleanValue:
        if definition.node is not None:
            return self.flag(definition.node)
        assert definition.members is not None
        return self.table[self._lists[definition.members]]

    def selected_of(self, definition: Definition) -> ir.Table:
        if definition.node is not None:
            return self.selected(definition.node)
        return self.table.filter(self.flag_of(definition))

    def count_of(self, definition: Definition) -> tuple[int, Method]:
        if definition.node is not None:
            return self.count(definition.node)
        return int(self.engine.scalar(self.selected_of(definition).count())), "scan"

    @property
    def index(self) -> TagIndex | None:
        """The bitmap index of the same as-of date, or None when the build made none."""
        if not self._index_loaded:
            self._index_loaded = True
            directory = self._snapshot_dir(TAG_INDEX)
            if directory is not None:
                from finpersona.audiences.index import TagIndex

                self._index = TagIndex.load(directory)
        return self._index

    def _snapshot_dir(self, name: str) -> Path | None:
        entry = self.warehouse.catalog()["snapshots"].get(name, {}).get(self.as_of.isoformat())
        return None if entry is None else self.warehouse.root / entry["path"]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            self._table = None

    # -- expressions ------------------------------------------------------------------------
    def compile(self, text: str) -> Node:
        return compile_text(text, self.signatures)

    def tag_columns(self) -> list[str]:
        """Tags present both in the snapshot and in the catalogue, in snapshot order."""
        return [c for c in self.table.columns
                if c not in NON_TAG_COLUMNS and c in self.signatures
                and not c.startswith("_fp_list_")]

    def predicate(self, node: Node, table: ir.Table | None = None) -> ir.BooleanValue:
        """The expression as an engine condition; null (unknown) where SQL says so."""
        source = self.table if table is None else table
        missing = sorted(tags_used(node) - set(source.columns))
        if missing:
            raise AudienceError(
                f"tag{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the tag "
                f"snapshot as of {self.as_of}: added to the catalogue after that build? "
                "Run `finpersona build`")
        return to_ibis(node, lambda name: source[name])

    def flag(self, node: Node, table: ir.Table | None = None) -> ir.BooleanValue:
        """True where selected, false otherwise (unknown counts as not selected)."""
        return self.predicate(node, table).fill_null(False)

    def selected(self, node: Node) -> ir.Table:
        """The selected rows of the tag snapshot (engine table, nothing pulled)."""
        return self.table.filter(self.predicate(node))

    def count(self, node: Node) -> tuple[int, Method]:
        index = self.index
        if index is not None:
            return int(self.on_index(index.count, node)), "index"
        return int(self.engine.scalar(self.selected(node).count())), "scan"

    def on_index(self, query: Callable[[Node], T], node: Node) -> T:
        """Run an index query; a tag the index lacks is reported like a scan would."""
        from finpersona.audiences.index import UnknownTagError

        try:
            return query(node)
        except UnknownTagError as exc:
            raise AudienceError(
                f"{exc} (tag index as of {self.as_of}); the tag was probably added to the "
                "catalogue after that build: run `finpersona build`") from exc


def latest_as_of(warehouse: Warehouse) -> date:
    dates = warehouse.snapshot_dates(TAG_SNAPSHOT)
    if not dates:
        raise AudienceError("no tag snapshot yet: run `finpersona build` first")
    return date.fromisoformat(dates[-1])


@contextmanager
def open_selector(workspace: Workspace, as_of: date | str | None = None, *,
                  signatures: Mapping[str, TagSignature] | None = None) -> Iterator[Selector]:
    """A selector on the given (default: latest) tag snapshot; closes its engine at the end."""
    warehouse = Warehouse(workspace.warehouse_dir)
    day = parse_as_of(as_of)
    dates = warehouse.snapshot_dates(TAG_SNAPSHOT)
    if day is None:
        day = latest_as_of(warehouse)
    elif day.isoformat() not in dates:
        have = ", ".join(dates) or "none yet (run `finpersona build`)"
        raise AudienceError(f"no tag snapshot as of {day}; available: {have}")
    sigs = catalogue_signatures(workspace) if signatures is None else signatures
    selector = Selector(workspace, warehouse, day, sigs)
    try:
        yield selector
    finally:
        selector.close()


def count(workspace: Workspace, expression: str, as_of: date | str | None = None, *,
          signatures: Mapping[str, TagSignature] | None = None) -> CountResult:
    """How many customers the expression selects on the tag snapshot (default: latest).

    ``elapsed_ms`` is what the person waited for: index load or engine scan included,
    catalogue load and parsing not.
    """
    with open_selector(workspace, as_of, signatures=signatures) as selector:
        node = selector.compile(expression)
        started = time.perf_counter()
        n, method = selector.count(node)
        elapsed = (time.perf_counter() - started) * 1000
        return CountResult(count=n, elapsed_ms=round(elapsed, 3), as_of=selector.as_of,
                           method=method, expression=to_text(node))
