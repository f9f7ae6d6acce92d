"""The audience-count index: compressed bitmaps over one tag snapshot.

Marketers select audiences (人群圈选) with expressions over customer tags and expect
the count back while they type. A scan of ten million rows with fifty columns
takes far too long for that, so each tag is turned into roaring bitmaps of row
positions once per snapshot and expressions become set operations:

- ``bool`` and ``category`` tags keep one bitmap per distinct value;
- ``int``, ``decimal`` and ``date`` tags keep a bit-sliced index (see ``_bsi``:
  O'Neil/Quass range walks, behind a few equi-depth bins that spare most of them) of an
  exact int64 form of the value: ints as they are, decimals times 10^4 (the tag
  builder rounds them to 4 decimals; a column whose values all have fewer decimals
  is kept at that smaller scale, so money in cents needs fewer slices), dates as
  days since 1970-01-01;
- every tag keeps the rows where it is null and the rows where it is not.

Semantics are SQL's three-valued logic (see ``finpersona.tags.expression.ast``).
Instead of carrying a (true, unknown) pair through the tree, each node is asked
for exactly one set, the rows where it is TRUE or the rows where it is FALSE:
``NOT`` swaps the question, ``AND`` intersects true sets and unions false sets,
``OR`` the converse, and a predicate's false set is the rows with a value minus
its true set. Whatever is in neither set is unknown, so unknown stays unknown
under ``NOT`` without ever being materialised, and a query costs one set
operation per node. Inside an intersection the operands run cheapest first and
each one only looks at the rows still in, so ranges over millions of rows
mostly walk a few thousand.

Comparisons are exact. A numeric literal (``int`` or ``Decimal``; never a float)
is turned into an exact fraction on the tag's scaled integer grid
(``Fraction(Decimal)`` is exact whatever the literal's precision) and rounded
towards the side that keeps the meaning (``x < 2.5`` on ints is ``x <= 2``;
``x = 2.5`` matches nothing). A decimal
literal with more than 4 decimals is *not* rounded: it is compared exactly with
the stored 4-decimal value, as SQL compares a ``DECIMAL(p, 4)`` column with a
more precise literal, so ``aum = 1.23456`` matches nothing and ``aum < 1.23456``
matches ``aum <= 1.2345``.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from finpersona.audiences._bsi import Bin, BitSlicedIndex, frozen_from_positions
from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    CompareOp,
    InList,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Or,
    Tag,
    Truthy,
)
from finpersona.tags.types import TagSignature, ValueType

DECIMAL_DIGITS: Final = 4
FORMAT: Final = "finpersona-tag-index"
FORMAT_VERSION: Final = 2  # 2: bit-sliced tags carry cumulative bins
MANIFEST: Final = "manifest.json"
KEYS_FILE: Final = "keys.arrow"
# Row positions are 32-bit in roaring bitmaps.
MAX_ROWS: Final = 2**32 - 1
# Beyond 2^53 a float64 no longer holds every integer, so ``round(x * 10^4)`` would
# stop being the decimal the builder meant.
_MAX_SCALED_DECIMAL: Final = 2**53
_EPOCH: Final = date(1970, 1, 1)
_EMPTY: Final = FrozenBitMap()

_ORDER: Final[dict[CompareOp, Callable[[Any, Any], bool]]] = {
    CompareOp.LT: operator.lt,
    CompareOp.LE: operator.le,
    CompareOp.GT: operator.gt,
    CompareOp.GE: operator.ge,
}

ValueKey = bool | str


class UnknownTagError(KeyError):
    """An expression names a tag the index does not hold."""

    def __str__(self) -> str:
        # KeyError's own str() shows the repr of its argument, quotes and escapes included.
        return str(self.args[0])


@dataclass(frozen=True)
class _ValueColumn:
    """A ``bool`` or ``category`` tag: one bitmap per distinct value."""

    type: ValueType
    values: dict[ValueKey, FrozenBitMap]
    null: FrozenBitMap
    present: FrozenBitMap


@dataclass(frozen=True)
class _NumericColumn:
    """An ``int``, ``decimal`` or ``date`` tag: a bit-sliced index of its scaled value."""

    type: ValueType
    bsi: BitSlicedIndex
    null: FrozenBitMap
    # Decimals are stored times 10^scale_digits, the fewest digits (at most 4) that
    # hold every value exactly: money with 2 decimals needs 7 fewer slices than at 4.
    scale_digits: int = 0

    @property
    def present(self) -> FrozenBitMap:
        return self.bsi.present


_Column = _ValueColumn | _NumericColumn


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE`` as a regex for ``fullmatch``: ``%`` any run, ``_`` one character.

    There is no escape character, as in DuckDB without ``ESCAPE``; ``_`` is one
    Unicode character, so ``'重要__'`` matches ``'重要价值'``.
    """
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL)


class TagIndex:
    """Bitmaps over one tag snapshot, answering audience expressions by set algebra."""

    def __init__(self, size: int, keys: pa.Array, columns: Mapping[str, _Column],
                 key_column: str = "customer_key") -> None:
        self._size = size
        self._keys = keys
        self._columns = dict(columns)
        self._key_column = key_column

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, snapshot: pa.Table, signatures: Mapping[str, TagSignature], *,
              key_column: str = "customer_key") -> TagIndex:
        """Index the tags named by ``signatures`` (keyed by column name) in ``snapshot``.

        One row per customer: ``key_column`` (string) and one column per tag, typed
        bool / int64 / float64 / string / date32 for bool / int / decimal / category /
        date tags (dictionary<string> is accepted for category, any integer type for
        int). Other columns are ignored.
        """
        if key_column not in snapshot.column_names:
            raise KeyError(f"the snapshot has no key column {key_column!r}")
        size = snapshot.num_rows
        if size > MAX_ROWS:
            raise ValueError(f"{size:,} rows: the index holds at most {MAX_ROWS:,}")
        keys = _whole(snapshot.column(key_column))
        if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
            raise TypeError(f"key column {key_column!r} must be string, not {keys.type}")
        columns: dict[str, _Column] = {}
        for name, signature in signatures.items():
            if name == key_column:
                raise ValueError(f"{name!r} is the key column, not a tag")
            if name not in snapshot.column_names:
                raise KeyError(f"tag {name!r} has a signature but no column in the snapshot")
            columns[name] = _build_column(name, ValueType(signature.type),
                                          _whole(snapshot.column(name)))
        return cls(size, keys, columns, key_column)

    # ------------------------------------------------------------------ queries
    @property
    def size(self) -> int:
        """Customers (rows) in the snapshot."""
        return self._size

    def tags(self) -> list[str]:
        return list(self._columns)

    def select(self, node: Node) -> BitMap:
        """Row positions where the expression is TRUE (not false, not unknown)."""
        rows = self._eval(node, True, None)
        # Stored bitmaps are frozen and may come back unchanged: hand out a copy.
        return rows if isinstance(rows, BitMap) else BitMap(rows)

    def count(self, node: Node) -> int:
        """How many customers the expression selects."""
        return len(self._eval(node, True, None))

    def keys(self, rows: AbstractBitMap) -> pa.Array:
        """The key values (``customer_key``) of the given row positions, in row order."""
        if not rows:
            return self._keys.slice(0, 0)
        if rows.max() >= self._size:
            raise IndexError(f"row {rows.max()} is outside the snapshot ({self._size} rows)")
        positions = np.frombuffer(rows.to_array(), dtype=np.uint32)
        return self._keys.take(pa.array(positions))

    # ------------------------------------------------------------------ evaluation
    def _column(self, tag: Tag) -> _Column:
        try:
            return self._columns[tag.name]
        except KeyError:
            known = ", ".join(sorted(self._columns)) or "none"
            raise UnknownTagError(f"unknown tag {tag.name!r} at position {tag.pos}: "
                                  f"this index holds {known}") from None

    def _eval(self, node: Node, want_true: bool,
              within: AbstractBitMap | None) -> AbstractBitMap:
        """The rows of ``within`` (all rows if None) where ``node`` is TRUE (``want_true``)
        or FALSE (otherwise)."""
        if isinstance(node, Not):
            return self._eval(node.operand, not want_true, within)
        if isinstance(node, And | Or):
            if not node.operands:
                raise ValueError(f"{type(node).__name__} at position {node.pos} has no operands")
            # true(AND) and false(OR) are intersections; false(AND) and true(OR) unions.
            if isinstance(node, And) != want_true:
                return _union([self._eval(op, want_true, within) for op in node.operands])
            # Cheapest operand first, and each later one only looks at the rows that are
            # still in, so a range over a bit-sliced index walks those rows, not all.
            running = within
            for operand in sorted(node.operands, key=self._cost):
                running = self._eval(operand, want_true, running)
                if not running:
                    break
            assert running is not None
            return running
        column = self._column(node.tag)
        if isinstance(node, IsNull):
            return _restrict(column.null if want_true != node.negated else column.present,
                             within)
        match, negated = self._match(node, column, within)
        if want_true != negated:
            return match
        return _restrict(column.present, within) - match

    def _cost(self, node: Node) -> int:
        """Roughly how many bitmap operations evaluating ``node`` takes."""
        if isinstance(node, Not):
            return self._cost(node.operand)
        if isinstance(node, And | Or):
            return sum(self._cost(op) for op in node.operands)
        column = self._column(node.tag)
        if isinstance(column, _ValueColumn) or isinstance(node, IsNull):
            return 1
        walks = len(node.values) if isinstance(node, InList) else 1
        return 1 + walks * len(column.bsi.slices)

    def _match(self, node: Compare | Between | InList | Like | Truthy, column: _Column,
               within: AbstractBitMap | None) -> tuple[AbstractBitMap, bool]:
        """Rows of ``within`` where the predicate without its own negation holds, and
        that negation."""
        if isinstance(node, Truthy):
            if column.type is not ValueType.BOOL:
                raise TypeError(f"tag {node.tag.name!r} at position {node.pos} is "
                                f"{column.type}, not bool: it cannot stand alone as a condition")
            assert isinstance(column, _ValueColumn)
            return _restrict(column.values.get(True, _EMPTY), within), False
        if isinstance(node, Like):
            if column.type is not ValueType.CATEGORY:
                raise TypeError(f"LIKE at position {node.pos} needs a category tag; "
                                f"{node.tag.name!r} is {column.type}")
            assert isinstance(column, _ValueColumn)
            regex = like_regex(node.pattern)
            hits = [bm for value, bm in column.values.items()
                    if isinstance(value, str) and regex.fullmatch(value)]
            return _restrict(_union(hits), within), node.negated
        if isinstance(column, _ValueColumn):
            match, negated = _match_values(node, column)
            return _restrict(match, within), negated
        return _match_numeric(node, column, within)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """Write the index into ``directory``: one bitmap file per tag, keys, a manifest.

        Bitmaps use the portable roaring serialisation, so other roaring libraries
        (Java, Go, C) can read them. The manifest is written last: a folder without
        one holds no complete index.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).unlink(missing_ok=True)
        schema = pa.schema([pa.field(self._key_column, self._keys.type)])
        with pa.OSFile(str(directory / KEYS_FILE), "wb") as sink, \
                pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(pa.Table.from_arrays([self._keys], schema=schema))
        tags = []
        for number, (name, column) in enumerate(self._columns.items()):
            file_name = f"tag-{number:04d}.roaring"
            with (directory / file_name).open("wb") as out:
                blobs = _BlobWriter(out)
                entry: dict[str, Any] = {"name": name, "type": str(column.type),
                                         "file": file_name, "null": blobs.put(column.null),
                                         "present": blobs.put(column.present)}
                if isinstance(column, _ValueColumn):
                    entry["layout"] = "values"
                    entry["values"] = [[value, *blobs.put(bm)]
                                       for value, bm in column.values.items()]
                else:
                    entry["layout"] = "bsi"
                    entry["scale_digits"] = column.scale_digits
                    entry["base"] = column.bsi.base
                    entry["max_offset"] = column.bsi.max_offset
                    entry["slices"] = [blobs.put(bm) for bm in column.bsi.slices]
                    entry["bins"] = [[b.low, b.high, *blobs.put(b.upto)]
                                     for b in column.bsi.bins]
            tags.append(entry)
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "size": self._size,
                    "key_column": self._key_column, "keys_file": KEYS_FILE,
                    "decimal_digits": DECIMAL_DIGITS, "tags": tags}
        (directory / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                          encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TagIndex:
        directory = Path(directory)
        path = directory / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"no tag index in {directory} (no {MANIFEST})")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a {FORMAT} version {FORMAT_VERSION} manifest: "
                             "rebuild the index from its snapshot")
        size = int(manifest["size"])
        with pa.OSFile(str(directory / manifest["keys_file"]), "rb") as source:
            keys = _whole(pa.ipc.open_file(source).read_all().column(0))
        if len(keys) != size:
            raise ValueError(f"{directory}: {len(keys)} keys for {size} rows")
        columns: dict[str, _Column] = {}
        for entry in manifest["tags"]:
            data = memoryview((directory / entry["file"]).read_bytes())

            def blob(span: Sequence[int], data: memoryview = data) -> FrozenBitMap:
                offset, length = span
                return FrozenBitMap.deserialize(data[offset:offset + length])  # type: ignore[arg-type]

            value_type = ValueType(entry["type"])
            null, present = blob(entry["null"]), blob(entry["present"])
            if entry["layout"] == "values":
                values = {value: blob(span) for value, *span in entry["values"]}
                columns[entry["name"]] = _ValueColumn(value_type, values, null, present)
            else:
                bins = tuple(Bin(int(low), int(high), blob(span))
                             for low, high, *span in entry["bins"])
                bsi = BitSlicedIndex(int(entry["base"]), int(entry["max_offset"]),
                                     tuple(blob(span) for span in entry["slices"]), present,
                                     bins)
                columns[entry["name"]] = _NumericColumn(value_type, bsi, null,
                                                        int(entry["scale_digits"]))
        return cls(size, keys, columns, manifest["key_column"])


class _BlobWriter:
    """Appends serialised bitmaps to one file and says where each one went."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._offset = 0

    def put(self, bitmap: AbstractBitMap) -> list[int]:
        data = bitmap.serialize()
        self._out.write(data)
        span = [self._offset, len(data)]
        self._offset += len(data)
        return span


# ---------------------------------------------------------------------- set helpers
def _restrict(bitmap: AbstractBitMap, within: AbstractBitMap | None) -> AbstractBitMap:
    return bitmap if within is None else within & bitmap


def _union(parts: Sequence[AbstractBitMap]) -> AbstractBitMap:
    if not parts:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return BitMap.union(BitMap(), *parts)


# ---------------------------------------------------------------------- literals
def _check_literal(tag: Tag, value_type: ValueType, value: Literal, pos: int) -> None:
    if value_type is ValueType.BOOL:
        ok = isinstance(value, bool)
    elif value_type is ValueType.CATEGORY:
        ok = isinstance(value, str)
    elif value_type is ValueType.DATE:
        ok = isinstance(value, date) and not isinstance(value, datetime)
    else:
        ok = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if not ok:
        raise TypeError(f"tag {tag.name!r} is {value_type}; it cannot be compared with "
                        f"{value!r} (position {pos})")


def _scaled(column: _NumericColumn, tag: Tag, value: Literal, pos: int) -> Fraction:
    """The literal on the column's integer grid, exactly (no rounding yet)."""
    _check_literal(tag, column.type, value, pos)
    if isinstance(value, date):
        return Fraction((value - _EPOCH).days)
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{value} is not a number that tag {tag.name!r} can be compared with "
                         f"(position {pos})")
    assert isinstance(value, int | Decimal)
    scale: int = 10**column.scale_digits
    return Fraction(value) * scale


def _match_numeric(node: Compare | Between | InList, column: _NumericColumn,
                   within: AbstractBitMap | None) -> tuple[AbstractBitMap, bool]:
    bsi, tag = column.bsi, node.tag
    if isinstance(node, Compare):
        v = _scaled(column, tag, node.value, node.pos)
        if node.op in (CompareOp.EQ, CompareOp.NE):
            hit = bsi.equal(int(v), within) if v.denominator == 1 else _EMPTY
            return hit, node.op is CompareOp.NE
        bounds = {
            CompareOp.LT: (None, math.ceil(v) - 1),
            CompareOp.LE: (None, math.floor(v)),
            CompareOp.GT: (math.floor(v) + 1, None),
            CompareOp.GE: (math.ceil(v), None),
        }[node.op]
        return bsi.between(*bounds, within), False
    if isinstance(node, Between):
        low = _scaled(column, tag, node.low, node.pos)
        high = _scaled(column, tag, node.high, node.pos)
        return bsi.between(math.ceil(low), math.floor(high), within), node.negated
    scaled = {_scaled(column, tag, value, node.pos) for value in node.values}
    hits = [bsi.equal(int(v), within) for v in scaled if v.denominator == 1]
    return _union(hits), node.negated


def _match_values(node: Compare | Between | InList,
                  column: _ValueColumn) -> tuple[AbstractBitMap, bool]:
    tag = node.tag
    if isinstance(node, Compare):
        _check_literal(tag, column.type, node.value, node.pos)
        literal = node.value
        assert isinstance(literal, bool | str)
        if node.op in (CompareOp.EQ, CompareOp.NE):
            return column.values.get(literal, _EMPTY), node.op is CompareOp.NE
        # Python orders str by code point, which is DuckDB's (binary UTF-8) order too,
        # and False < True as in SQL.
        test = _ORDER[node.op]
        return _union([bm for value, bm in column.values.items() if test(value, literal)]), False
    if isinstance(node, Between):
        _check_literal(tag, column.type, node.low, node.pos)
        _check_literal(tag, column.type, node.high, node.pos)
        at_least, at_most = _ORDER[CompareOp.GE], _ORDER[CompareOp.LE]
        hits = [bm for value, bm in column.values.items()
                if at_least(value, node.low) and at_most(value, node.high)]
        return _union(hits), node.negated
    for value in node.values:
        _check_literal(tag, column.type, value, node.pos)
    wanted = set(node.values)
    return _union([bm for value, bm in column.values.items() if value in wanted]), node.negated


# ---------------------------------------------------------------------- building
def _whole(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _positions(mask: np.ndarray) -> FrozenBitMap:
    return frozen_from_positions(np.flatnonzero(mask))


def _build_column(name: str, value_type: ValueType, array: pa.Array) -> _Column:
    if pa.types.is_null(array.type):
        # A column that is null throughout (Arrow may type it as null).
        none = np.zeros(len(array), dtype=bool)
        everything = _positions(~none)
        if value_type in (ValueType.BOOL, ValueType.CATEGORY):
            return _ValueColumn(value_type, {}, everything, _EMPTY)
        return _NumericColumn(value_type, BitSlicedIndex.build(none.astype(np.int64), none),
                              everything)
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if value_type is ValueType.BOOL:
        if not pa.types.is_boolean(array.type):
            raise _physical_type_error(name, value_type, array.type, "bool")
        truth = np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        values: dict[ValueKey, FrozenBitMap] = {}
        for value, mask in ((False, present & ~truth), (True, truth)):
            if mask.any():
                values[value] = _positions(mask)
        return _ValueColumn(value_type, values, _positions(~present), _positions(present))
    if value_type is ValueType.CATEGORY:
        return _build_category(name, array, present)
    scaled = _scaled_values(name, value_type, array, present)
    digits = 0
    if value_type is ValueType.DECIMAL:
        digits = DECIMAL_DIGITS
        kept = scaled[present]
        while digits and not (kept % 10).any():
            kept //= 10
            digits -= 1
        scaled = scaled // 10 ** (DECIMAL_DIGITS - digits)
    return _NumericColumn(value_type, BitSlicedIndex.build(scaled, present),
                          _positions(~present), digits)


def _physical_type_error(name: str, value_type: ValueType, found: pa.DataType,
                         expected: str) -> TypeError:
    return TypeError(f"tag {name!r} is declared {value_type} but its column is {found}; "
                     f"expected {expected}")


def _build_category(name: str, array: pa.Array, present: np.ndarray) -> _ValueColumn:
    if pa.types.is_dictionary(array.type):
        encoded = array
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        encoded = pc.dictionary_encode(array)
    else:
        raise _physical_type_error(name, ValueType.CATEGORY, array.type, "string")
    if not (pa.types.is_string(encoded.type.value_type)
            or pa.types.is_large_string(encoded.type.value_type)):
        raise _physical_type_error(name, ValueType.CATEGORY, array.type,
                                   "string or dictionary<string>")
    # A dictionary read from Parquet may repeat values or hold unused ones: number the
    # distinct values afresh. Code -1 is null; remap[-1] is the appended -1.
    distinct: dict[str, int] = {}
    remap = np.array([-1 if value is None else distinct.setdefault(value, len(distinct))
                      for value in encoded.dictionary.to_pylist()] + [-1], dtype=np.int64)
    raw = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    codes = remap[raw]
    # A stable sort on 16-bit keys is a radix sort in numpy: one pass, and it keeps
    # positions ascending within each value, as the bitmaps want them.
    dtype = np.int16 if len(distinct) < 2**15 - 1 else np.int64
    order = np.argsort(codes.astype(dtype), kind="stable")
    counts = np.bincount(codes + 1, minlength=len(distinct) + 1)
    groups = np.split(order, np.cumsum(counts)[:-1])
    values: dict[ValueKey, FrozenBitMap] = {
        value: frozen_from_positions(groups[code + 1])
        for value, code in distinct.items() if counts[code + 1]
    }
    return _ValueColumn(ValueType.CATEGORY, values, frozen_from_positions(groups[0]),
                        _positions(present))


def _scaled_values(name: str, value_type: ValueType, array: pa.Array,
                   present: np.ndarray) -> np.ndarray:
    """The column as exact int64 on its grid (nulls as 0; ``present`` says which)."""
    kind = array.type
    if value_type is ValueType.INT:
        if not pa.types.is_integer(kind):
            raise _physical_type_error(name, value_type, kind, "int64")
        return np.asarray(array.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
    if value_type is ValueType.DATE:
        if not (pa.types.is_date32(kind) or pa.types.is_date64(kind)):
            raise _physical_type_error(name, value_type, kind, "date32")
        days = array.cast(pa.date32()).cast(pa.int32()).fill_null(0)
        return np.asarray(days.to_numpy(), dtype=np.int64)
    if value_type is not ValueType.DECIMAL:
        raise ValueError(f"tag {name!r}: unknown value type {value_type}")
    scale = 10**DECIMAL_DIGITS
    if pa.types.is_integer(kind):
        whole = np.asarray(array.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        if np.abs(whole[present]).max(initial=0) > _MAX_SCALED_DECIMAL // scale:
            raise ValueError(f"tag {name!r}: values too large for a decimal tag")
        return whole * scale
    if pa.types.is_decimal(kind):
        return _scaled_arrow_decimals(name, array)
    if not pa.types.is_floating(kind):
        raise _physical_type_error(name, value_type, kind, "float64")
    floats = np.asarray(array.cast(pa.float64()).fill_null(0.0).to_numpy(), dtype=np.float64)
    # The builder rounded to 4 decimals, so x * 10^4 lies within float error of an
    # integer: rint recovers that integer (and rounds any extra decimals to nearest).
    scaled = np.rint(floats * scale)
    kept = scaled[present]
    if not np.isfinite(kept).all():
        raise ValueError(f"tag {name!r} holds NaN or infinite values; nulls must be null")
    if np.abs(kept).max(initial=0.0) > _MAX_SCALED_DECIMAL:
        raise ValueError(f"tag {name!r}: |value| above {_MAX_SCALED_DECIMAL / scale:.0f} "
                         "cannot be held exactly at 4 decimals")
    return scaled.astype(np.int64)


def _scaled_arrow_decimals(name: str, array: pa.Array) -> np.ndarray:
    """An Arrow decimal column (as engines may hand it over) on the 10^4 grid, exactly."""
    if array.type.scale > DECIMAL_DIGITS:
        array = pc.round(array, ndigits=DECIMAL_DIGITS)  # half to even, like np.rint
    at_grid = array.cast(pa.decimal128(38, DECIMAL_DIGITS))
    # A decimal's buffer holds the unscaled integer: read it back with scale 0.
    unscaled = pa.Array.from_buffers(pa.decimal128(38, 0), len(at_grid), at_grid.buffers(),
                                     offset=at_grid.offset)
    try:
        whole = unscaled.cast(pa.int64()).fill_null(0)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"tag {name!r}: values too large for a decimal tag") from exc
    return np.asarray(whole.to_numpy(), dtype=np.int64)
