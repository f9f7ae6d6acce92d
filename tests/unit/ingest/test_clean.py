"""Cleaning expressions run on DuckDB and checked against a pure-Python reference.

The reference parsers below are written from the documented accepted spellings,
not from the implementation, so a disagreement points at one or the other.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finpersona.config import Settings
from finpersona.engine import Engine, connect
from finpersona.ingest.clean import CleanContext, clean_table
from finpersona.schema import Column, ColumnType, Pii, Reason, Table, get_table

TODAY = date(2030, 12, 31)
UTC_OFFSET = 8.0
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None)

FULL_WIDTH = str.maketrans("0123456789.,-/: ", "０１２３４５６７８９．，－／：　")
HALF_WIDTH = str.maketrans("０１２３４５６７８９．，－／：＋　", "0123456789.,-/:+ ")
SPACES = " \t\u3000\u00a0"


# -- running the cleaner ----------------------------------------------------------------

@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = connect(Settings())
    yield eng
    eng.close()


_stage_names = itertools.count()


def run_clean(engine: Engine, table: Table, rows: Sequence[dict[str, str | None]],
              today: date = TODAY) -> list[dict[str, Any]]:
    """Clean text rows with ``table``'s rules; results in input order."""
    schema = pa.schema([("_i", pa.int64())] + [(c, pa.string()) for c in table.column_names])
    data = pa.Table.from_pylist([{"_i": i, **r} for i, r in enumerate(rows)], schema=schema)
    raw = engine.stage(f"_clean_test_{next(_stage_names)}", [data], schema)
    out = engine.to_arrow(clean_table(raw, table, CleanContext(engine, today, UTC_OFFSET)))
    return sorted(out.to_pylist(), key=lambda r: r["_i"])


def one_column(col: Column) -> Table:
    return Table(name="t", description="test", columns=(col,), primary_key=(col.name,))


def clean_values(engine: Engine, col: Column, values: Sequence[str | None],
                 today: date = TODAY) -> list[tuple[Any, str | None]]:
    """(typed value, reason) per raw value of a one-column table."""
    rows = run_clean(engine, one_column(col), [{col.name: v} for v in values], today)
    return [(r["_v__" + col.name], r["_reason"]) for r in rows]


# -- independent reference parsers -----------------------------------------------------

def _normalise(text: str) -> str:
    return text.translate(HALF_WIDTH).strip(SPACES)


_DATE_FORMS = (
    r"(\d{4})-(\d{1,2})-(\d{1,2})",
    r"(\d{4})/(\d{1,2})/(\d{1,2})",
    r"(\d{4})\.(\d{1,2})\.(\d{1,2})",
    r"(\d{4})(\d{2})(\d{2})",
    r"(\d{4})年(\d{1,2})月(\d{1,2})日",
)
_TIME_FORMS = (r"(\d{1,2}):(\d{2}):(\d{2})", r"(\d{2})(\d{2})(\d{2})")


def ref_date(text: str) -> date | None:
    s = _normalise(text)
    for form in _DATE_FORMS:
        m = re.fullmatch(form, s)
        if m:
            try:
                return date(*(int(g) for g in m.groups()))
            except ValueError:
                return None
    return None


def ref_timestamp_utc(text: str, offset_hours: float = UTC_OFFSET) -> datetime | None:
    s = _normalise(text)
    parts = s.split(" ")
    if len(parts) == 1:
        day, clock = ref_date(parts[0]), (0, 0, 0)
    elif len(parts) == 2:
        day = ref_date(parts[0])
        clock = None
        for form in _TIME_FORMS:
            m = re.fullmatch(form, parts[1])
            if m:
                clock = tuple(int(g) for g in m.groups())
        if clock is None or not (clock[0] < 24 and clock[1] < 60 and clock[2] < 60):
            return None
    else:
        return None
    if day is None:
        return None
    local = datetime(day.year, day.month, day.day, *clock)
    return local - timedelta(hours=offset_hours)


def ref_decimal(text: str) -> Decimal | None:
    s = _normalise(text)
    for prefix in ("¥", "￥", "RMB", "CNY"):
        if s.startswith(prefix):
            s = s[len(prefix):]
            break
    s = re.sub(r"[,\s]", "", s)
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", s):
        return None
    try:
        return Decimal(s).quantize(Decimal("0.0001"))
    except InvalidOperation:
        return None


_TRUE = {"true", "t", "1", "y", "yes", "是"}
_FALSE = {"false", "f", "0", "n", "no", "否"}


def ref_bool(text: str) -> bool | None:
    s = _normalise(text).lower()
    return True if s in _TRUE else False if s in _FALSE else None


def ref_id_check_char(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # GB 11643-1999
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


# -- strategies --------------------------------------------------------------------------

surround = st.tuples(st.text(alphabet=SPACES, max_size=2), st.text(alphabet=SPACES, max_size=2))


@st.composite
def date_texts(draw: st.DrawFn, day: date) -> str:
    pad = draw(st.booleans())
    m, d = (f"{day.month:02d}", f"{day.day:02d}") if pad else (str(day.month), str(day.day))
    form = draw(st.sampled_from(["iso", "slash", "compact", "chinese"]))
    text = {"iso": day.isoformat(), "slash": f"{day.year}/{m}/{d}",
            "compact": day.strftime("%Y%m%d"), "chinese": f"{day.year}年{m}月{d}日"}[form]
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    left, right = draw(surround)
    return left + text + right


def random_case(word: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flips, strict=False))


DATE_COL = Column("d", ColumnType.DATE, "a date", earliest="1990-01-01", latest="today")
TS_COL = Column("ts", ColumnType.TIMESTAMP, "a time", earliest="1990-01-01", latest="today")
AMOUNT_COL = Column("amount", ColumnType.DECIMAL, "money", minimum=0, maximum=1e9)
BOOL_COL = Column("flag", ColumnType.BOOL, "yes/no")
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))


# -- dates -------------------------------------------------------------------------------

@PROPERTY
@given(data=st.data(), sample=st.lists(days, min_size=1, max_size=8))
def test_dates_in_every_spelling_parse_like_the_reference(engine: Engine, data: st.DataObject,
                                                          sample: list[date]) -> None:
    texts = [data.draw(date_texts(d)) for d in sample]
    got = clean_values(engine, DATE_COL, texts)
    for text, day, (value, reason) in zip(texts, sample, got, strict=True):
        assert ref_date(text) == day, text
        assert (value, reason) == (day, None), text


@PROPERTY
@given(triples=st.lists(st.tuples(st.integers(1990, 2030), st.integers(0, 13),
                                  st.integers(0, 32)), min_size=1, max_size=8),
       form=st.sampled_from(["{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}{m:02d}{d:02d}",
                             "{y}年{m}月{d}日"]))
def test_impossible_calendar_days_are_bad_dates(engine: Engine, triples: list[tuple[int, int, int]],
                                                form: str) -> None:
    texts = [form.format(y=y, m=m, d=d) for y, m, d in triples]
    got = clean_values(engine, DATE_COL, texts)
    for text, (value, reason) in zip(texts, got, strict=True):
        expected = ref_date(text)
        if expected is None:
            assert (value, reason) == (None, Reason.BAD_DATE.value), text
        else:
            assert (value, reason) == (expected, None), text


@pytest.mark.parametrize("text", ["2025-13-01", "2025-02-30", "昨天", "2025-13-45", "2023-02-29",
                                  "20251301", "2025/2/30", "2025年2月30日", "2025-1", "0000-00-00",
                                  "2025--01-02", "12/31/2025"])
def test_invalid_dates_are_bad_date(engine: Engine, text: str) -> None:
    assert clean_values(engine, DATE_COL, [text]) == [(None, Reason.BAD_DATE.value)]


def test_date_edge_cases(engine: Engine) -> None:
    texts = ["2024-02-29", "2000年2月29日", "", "   ", None, "２０２５／１／２", "2025.1.2"]
    assert clean_values(engine, DATE_COL, texts) == [
        (date(2024, 2, 29), None), (date(2000, 2, 29), None), (None, None), (None, None),
        (None, None), (date(2025, 1, 2), None), (date(2025, 1, 2), None)]


def test_dates_outside_their_bounds_are_out_of_range(engine: Engine) -> None:
    today = date(2025, 6, 30)
    texts = ["1989-12-31", "1990-01-01", "2025-06-30", "2025-07-01", "2099-01-01"]
    got = clean_values(engine, DATE_COL, texts, today=today)
    assert [reason for _, reason in got] == [Reason.OUT_OF_RANGE.value, None, None,
                                             Reason.OUT_OF_RANGE.value, Reason.OUT_OF_RANGE.value]


# -- timestamps --------------------------------------------------------------------------

@PROPERTY
@given(data=st.data(), sample=st.lists(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31, 23, 59, 59)),
    min_size=1, max_size=8))
def test_timestamps_parse_and_shift_to_utc(engine: Engine, data: st.DataObject,
                                           sample: list[datetime]) -> None:
    moments = [t.replace(microsecond=0) for t in sample]
    texts = []
    for t in moments:
        form = data.draw(st.sampled_from(["iso", "slash", "compact"]))
        text = {"iso": t.strftime("%Y-%m-%d %H:%M:%S"),
                "slash": f"{t.year}/{t.month}/{t.day} {t.hour}:{t:%M:%S}",
                "compact": t.strftime("%Y%m%d %H%M%S")}[form]
        left, right = data.draw(surround)
        texts.append(left + text + right)
    got = clean_values(engine, TS_COL, texts)
    for text, t, (value, reason) in zip(texts, moments, got, strict=True):
        expected = t - timedelta(hours=UTC_OFFSET)
        assert ref_timestamp_utc(text) == expected, text
        assert (value, reason) == (expected, None), text


def test_timestamp_edge_cases(engine: Engine) -> None:
    texts = ["2025-01-01 07:59:59", "2025-01-02", "2025-13-01 00:00:00", "2025-01-01 25:00:00",
             "1990-01-01 00:00:00", "1989-12-31 23:59:59"]
    got = clean_values(engine, TS_COL, texts)
    assert got == [
        (datetime(2024, 12, 31, 23, 59, 59), None),
        (datetime(2025, 1, 1, 16, 0, 0), None),
        (None, Reason.BAD_DATE.value),
        (None, Reason.BAD_DATE.value),
        # Range bounds are on the local day, not the UTC one.
        (datetime(1989, 12, 31, 16, 0, 0), None),
        (datetime(1989, 12, 31, 15, 59, 59), Reason.OUT_OF_RANGE.value),
    ]


def test_utc_offset_is_taken_from_the_context(engine: Engine) -> None:
    table = one_column(TS_COL)
    schema = pa.schema([("ts", pa.string())])
    raw = engine.stage(f"_clean_test_{next(_stage_names)}",
                       [pa.table({"ts": ["2025-06-01 12:00:00"]}, schema=schema)], schema)
    for offset, hour in ((0.0, 12), (8.0, 4), (-5.0, 17), (5.5, 6)):
        out = engine.to_arrow(clean_table(raw, table, CleanContext(engine, TODAY, offset)))
        value = out["_v__ts"][0].as_py()
        assert value == datetime(2025, 6, 1, 12) - timedelta(hours=offset), offset
        assert value.hour == hour


# -- amounts -----------------------------------------------------------------------------

@st.composite
def amount_texts(draw: st.DrawFn, amount: Decimal) -> str:
    text = f"{amount:.2f}" if draw(st.booleans()) else format(amount.normalize(), "f")
    if draw(st.booleans()):  # thousands separators
        whole, _, frac = text.partition(".")
        text = f"{int(whole):,}" + (f".{frac}" if frac else "")
    if draw(st.booleans()):
        text = draw(st.sampled_from(["¥", "￥", "RMB", "CNY", "¥ "])) + text
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    left, right = draw(surround)
    return left + text + right


@PROPERTY
@given(data=st.data(), sample=st.lists(
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=8))
def test_amounts_parse_like_the_reference(engine: Engine, data: st.DataObject,
                                          sample: list[Decimal]) -> None:
    texts = [data.draw(amount_texts(a)) for a in sample]
    got = clean_values(engine, AMOUNT_COL, texts)
    for text, amount, (value, reason) in zip(texts, sample, got, strict=True):
        assert ref_decimal(text) == amount, text
        assert (value, reason) == (amount, None), text


@pytest.mark.parametrize(("text", "expected"), [
    ("1234.5", Decimal("1234.5")), ("¥1,234.50", Decimal("1234.5")),
    ("１２３４.５０", Decimal("1234.5")), ("１２３４．５０", Decimal("1234.5")),
    (" 12 ", Decimal("12")), ("RMB 1 000", Decimal("1000")), (".5", Decimal("0.5")),
    ("+3", Decimal("3")),
])
def test_amount_examples(engine: Engine, text: str, expected: Decimal) -> None:
    assert clean_values(engine, AMOUNT_COL, [text]) == [(expected, None)]


@pytest.mark.parametrize("text", ["12a.5", "1.2.3", "abc", "--1", "¥", "1e5", "12-", "$12"])
def test_bad_numbers(engine: Engine, text: str) -> None:
    assert clean_values(engine, AMOUNT_COL, [text]) == [(None, Reason.BAD_NUMBER.value)]
    assert ref_decimal(text) is None


def test_integers(engine: Engine) -> None:
    col = Column("n", ColumnType.INT, "count", minimum=1, maximum=5)
    got = clean_values(engine, col, ["3", " ５ ", "0", "6", "1.5", "x", "", "+2"])
    assert got == [(3, None), (5, None), (0, Reason.OUT_OF_RANGE.value),
                   (6, Reason.OUT_OF_RANGE.value), (None, Reason.BAD_NUMBER.value),
                   (None, Reason.BAD_NUMBER.value), (None, None), (2, None)]


def test_amounts_outside_their_range(engine: Engine) -> None:
    amount = get_table("transactions").column("amount")  # 0.01 .. 1e9
    got = clean_values(engine, amount, ["0", "0.01", "1000000000", "1000000000.01", "-5"])
    assert [r for _, r in got] == [Reason.OUT_OF_RANGE.value, None, None,
                                   Reason.OUT_OF_RANGE.value, Reason.OUT_OF_RANGE.value]


# -- booleans and codes ------------------------------------------------------------------

@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(sorted(_TRUE | _FALSE)),
                          st.lists(st.booleans(), min_size=5, max_size=5), surround),
                min_size=1, max_size=10))
def test_booleans_in_any_case(engine: Engine, words: list[tuple[str, list[bool],
                                                               tuple[str, str]]]) -> None:
    texts = [left + random_case(w, flips) + right for w, flips, (left, right) in words]
    got = clean_values(engine, BOOL_COL, texts)
    for text, (value, reason) in zip(texts, got, strict=True):
        assert ref_bool(text) is not None
        assert (value, reason) == (ref_bool(text), None), text


@pytest.mark.parametrize("text", ["maybe", "2", "yess", "真", "-1", "on"])
def test_unrecognised_booleans(engine: Engine, text: str) -> None:
    assert clean_values(engine, BOOL_COL, [text]) == [(None, Reason.BAD_BOOL.value)]


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["app", "pos", "online", "atm", "branch"]),
                          st.lists(st.booleans(), min_size=6, max_size=6)),
                min_size=1, max_size=10))
def test_codes_match_case_insensitively_and_map_to_canonical_spelling(
        engine: Engine, codes: list[tuple[str, list[bool]]]) -> None:
    channel = get_table("transactions").column("channel")
    texts = [random_case(code, flips) for code, flips in codes]
    got = clean_values(engine, channel, texts)
    assert got == [(code, None) for code, _ in codes]


def test_codes_keep_the_schema_spelling(engine: Engine) -> None:
    col = Column("cur", ColumnType.STRING, "currency", allowed=("CNY", "USD"))
    got = clean_values(engine, col, ["cny", " Usd ", "RMB", "CNY1", ""])
    assert got == [("CNY", None), ("USD", None), (None, Reason.UNKNOWN_CODE.value),
                   (None, Reason.UNKNOWN_CODE.value), (None, None)]
    channel = get_table("transactions").column("channel")
    assert clean_values(engine, channel, ["POS", "cash"]) == [
        ("pos", None), (None, Reason.UNKNOWN_CODE.value)]


# -- required, ID numbers, JSON ----------------------------------------------------------

def test_required_empty_is_missing_required(engine: Engine) -> None:
    col = Column("c", ColumnType.INT, "needed", required=True)
    got = clean_values(engine, col, ["", "   ", "\u3000", None, "1"])
    assert [r for _, r in got] == [Reason.MISSING_REQUIRED.value] * 4 + [None]


@settings(PROPERTY, max_examples=20)  # the check-digit expression is large; big batches instead
@given(st.lists(st.tuples(st.text(alphabet="0123456789", min_size=17, max_size=17),
                          st.sampled_from("0123456789X"), st.booleans()),
                min_size=1, max_size=40))
def test_id_numbers_are_checked_against_the_reference_check_digit(
        engine: Engine, ids: list[tuple[str, str, bool]]) -> None:
    col = get_table("customers").column("id_number")
    texts = [first + (check.lower() if lower else check) for first, check, lower in ids]
    got = clean_values(engine, col, texts)
    for (first, check, _), text, (value, reason) in zip(ids, texts, got, strict=True):
        good = ref_id_check_char(first) == check
        assert value == first + check, text
        assert reason == (None if good else Reason.BAD_ID_NUMBER.value), text


def test_id_number_examples(engine: Engine) -> None:
    col = get_table("customers").column("id_number")
    valid = "11010519491231002X"
    assert ref_id_check_char(valid[:17]) == "X"
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    got = clean_values(engine, col, [valid, valid[:-1] + "1", full_width, "1101051949123100"])
    assert got == [(valid, None), (valid[:-1] + "1", Reason.BAD_ID_NUMBER.value),
                   (valid, None), ("1101051949123100", Reason.BAD_FORMAT.value)]


def test_json_objects(engine: Engine) -> None:
    col = Column("j", ColumnType.JSON, "attributes")
    got = clean_values(engine, col, ['{"a": 1}', "[1, 2]", "{", "3"])
    assert [r for _, r in got] == [None] + [Reason.BAD_FORMAT.value] * 3


# -- the first failing column ------------------------------------------------------------

WIDE = Table(name="wide", description="test", primary_key=("code",), columns=(
    Column("code", ColumnType.STRING, "", required=True, allowed=("pos", "ATM")),
    DATE_COL,
    TS_COL,
    AMOUNT_COL,
    Column("n", ColumnType.INT, "", minimum=1, maximum=5),
    BOOL_COL,
    Column("idn", ColumnType.STRING, "", pii=Pii.ID_NUMBER),
))
GOOD = {"code": "pos", "d": "2025-01-02", "ts": "2025-01-02 03:04:05", "amount": "1",
        "n": "2", "flag": "y", "idn": "11010519491231002X"}
BAD = {"code": ("zzz", Reason.UNKNOWN_CODE), "d": ("昨天", Reason.BAD_DATE),
       "ts": ("1989-01-01 00:00:00", Reason.OUT_OF_RANGE), "amount": ("12a.5", Reason.BAD_NUMBER),
       "n": ("9", Reason.OUT_OF_RANGE), "flag": ("maybe", Reason.BAD_BOOL),
       "idn": ("110105194912310021", Reason.BAD_ID_NUMBER)}


def test_first_failing_column_is_reported(engine: Engine) -> None:
    # Every combination of failing columns (2**7 rows) in one query.
    names = WIDE.column_names
    bad_sets = [set(combo) for n in range(len(names) + 1)
                for combo in itertools.combinations(names, n)]
    rows = [{c: BAD[c][0] if c in bad else GOOD[c] for c in names} for bad in bad_sets]
    got = run_clean(engine, WIDE, rows)
    assert len(got) == 2 ** len(names)
    for bad, row in zip(bad_sets, got, strict=True):
        first = next((c for c in names if c in bad), None)
        assert row["_reason_column"] == first, bad
        assert row["_reason"] == (BAD[first][1].value if first else None), bad


def test_good_row_values(engine: Engine) -> None:
    (row,) = run_clean(engine, WIDE, [GOOD])
    assert {k[4:]: v for k, v in row.items() if k.startswith("_v__")} == {
        "code": "pos", "d": date(2025, 1, 2), "ts": datetime(2025, 1, 1, 19, 4, 5),
        "amount": Decimal("1"), "n": 2, "flag": True, "idn": "11010519491231002X"}
    assert not [c for c in row if c.startswith(("_p__", "_d__", "_e__"))]


@pytest.mark.parametrize("text", ["2025-01-02 00:00:00", "2025/1/2 13:05:09", "20250102 000000"])
def test_a_date_column_takes_the_date_part_of_a_datetime(engine: Engine, text: str) -> None:
    assert clean_values(engine, DATE_COL, [text]) == [(date(2025, 1, 2), None)]
