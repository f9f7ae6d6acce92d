"""Real-world mess: messy-but-valid values, invalid values and duplicates.

At the dirty rate a row becomes invalid; as many rows again get a messy but
valid spelling, and half as many are duplicated (an exact copy at the end of
the file, or a re-sent copy with another valid date spelling in a separate
file). A row gets at most one of these, so each corruption has exactly one
expected outcome for the ingestion pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finpersona.schema import ColumnType, Reason, Table
from finpersona.synth import formatting as fmt

NORMALISE, INVALID, DUPLICATE = "normalise", "invalid", "duplicate"
MONEY = ("amount", "balance", "credit_limit", "principal", "due_amount", "paid_amount",
         "revenue", "cost", "min_amount", "cost_per_contact")
DATE_TYPES = (ColumnType.DATE, ColumnType.TIMESTAMP)
NUMBER_TYPES = (ColumnType.INT, ColumnType.DECIMAL)
FULL_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
# Row-level kinds are handled by the writer, which knows the file format.
ROW_KINDS = ("ragged_row", "bad_json", "exact_duplicate", "resent")
SPECIAL_INVALID = {  # table: [(kind, column, reason)]
    "customers": [("age_212", "birth_date", Reason.OUT_OF_RANGE),
                  ("bad_format", "phone", Reason.BAD_FORMAT),
                  ("bad_id_number", "id_number", Reason.BAD_ID_NUMBER)],
    "holdings": [("negative_balance", "balance", Reason.OUT_OF_RANGE)],
    "transactions": [("non_positive_amount", "amount", Reason.OUT_OF_RANGE),
                     ("bad_format", "mcc", Reason.BAD_FORMAT)],
    "loan_applications": [("non_positive_amount", "amount", Reason.OUT_OF_RANGE)],
    "loans": [("non_positive_amount", "principal", Reason.OUT_OF_RANGE)],
}


@dataclass(frozen=True)
class Damage:
    kind: str
    family: str
    column: str | None
    reason: str | None


@dataclass
class MessPlan:
    """Which rows of one file get which damage."""

    rows: np.ndarray
    damage: list[Damage]
    choice: np.ndarray  # a random integer per damaged row, to pick a variant
    by_kind: dict[str, np.ndarray] = field(default_factory=dict)

    def rows_of(self, kind: str) -> np.ndarray:
        return self.by_kind.get(kind, np.zeros(0, dtype=np.int64))


def _candidates(table: Table, fmt_name: str) -> tuple[list[Damage], list[Damage]]:
    """Possible (normalise, invalid) damages for a table in a file format."""
    key = set(table.primary_key)
    norm: list[Damage] = []
    bad: list[Damage] = []
    for col in table.columns:
        t = col.type
        if t in DATE_TYPES:
            norm += [Damage("date_format", NORMALISE, col.name, None),
                     Damage("fullwidth", NORMALISE, col.name, None)]
            bad.append(Damage("bad_date", INVALID, col.name, Reason.BAD_DATE))
        elif t in NUMBER_TYPES:
            norm.append(Damage("fullwidth", NORMALISE, col.name, None))
            if col.name in MONEY and table.name != "customers":
                norm.append(Damage("currency", NORMALISE, col.name, None))
            bad.append(Damage("bad_number", INVALID, col.name, Reason.BAD_NUMBER))
        elif t is ColumnType.BOOL:
            norm.append(Damage("bool_variant", NORMALISE, col.name, None))
        elif t is ColumnType.STRING:
            norm.append(Damage("whitespace", NORMALISE, col.name, None))
            if col.allowed:
                norm.append(Damage("code_case", NORMALISE, col.name, None))
                bad.append(Damage("unknown_code", INVALID, col.name, Reason.UNKNOWN_CODE))
        if col.required and col.name not in key:
            bad.append(Damage("missing_required", INVALID, col.name, Reason.MISSING_REQUIRED))
    bad += [Damage(k, INVALID, c, r) for k, c, r in SPECIAL_INVALID.get(table.name, [])]
    if fmt_name == "csv":
        bad.append(Damage("ragged_row", INVALID, None, Reason.RAGGED_ROW))
    elif fmt_name == "jsonl":
        bad.append(Damage("bad_json", INVALID, None, Reason.BAD_JSON))
    return norm, bad


def plan_mess(rng: np.random.Generator, table: Table, cols: fmt.Columns, fmt_name: str,
              dirty_rate: float) -> MessPlan:
    n = len(next(iter(cols.values())))
    u = rng.random(n)
    r = dirty_rate
    family = np.select([u < r, u < 2 * r, u < 2.5 * r], [1, 2, 3], 0)
    norm, bad = _candidates(table, fmt_name)
    dups = [Damage("exact_duplicate", DUPLICATE, None, None),
            Damage("resent", DUPLICATE, None, None)]
    options = {1: bad, 2: norm, 3: dups}
    rows_parts, dmg_idx_parts = [], []
    catalogue: list[Damage] = [*bad, *norm, *dups]
    offset = {1: 0, 2: len(bad), 3: len(bad) + len(norm)}
    for fam, opts in options.items():
        rows = np.flatnonzero(family == fam)
        pick = rng.integers(0, len(opts), len(rows)) + offset[fam]
        rows_parts.append(rows)
        dmg_idx_parts.append(pick)
    rows = np.concatenate(rows_parts)
    dmg = np.concatenate(dmg_idx_parts)
    # A damage aimed at an empty optional cell would change nothing: leave that row clean.
    usable = np.ones(len(rows), dtype=bool)
    for i, d in enumerate(catalogue):
        if d.column is None:
            continue
        hit = np.flatnonzero(dmg == i)
        if len(hit):
            usable[hit] = cols[d.column].take(pa.array(rows[hit])).is_valid().to_numpy(
                zero_copy_only=False)
    rows, dmg = rows[usable], dmg[usable]
    order = np.argsort(rows, kind="stable")
    rows, dmg = rows[order], dmg[order]
    plan = MessPlan(rows, [catalogue[i] for i in dmg.tolist()],
                    rng.integers(0, 1 << 30, len(rows)))
    for i, d in enumerate(catalogue):
        if d.kind in ROW_KINDS:
            sel = rows[dmg == i]
            plan.by_kind[d.kind] = np.concatenate([plan.rows_of(d.kind), sel])
    for k in list(plan.by_kind):
        plan.by_kind[k] = np.sort(plan.by_kind[k])
    return plan


# ----------------------------------------------------------------------- value spellings


def date_variant(value: str, choice: int) -> str:
    """Another accepted spelling of an ISO date or 'date time' text."""
    day, _, time = value.partition(" ")
    y, m, d = day.split("-")
    styles = [f"{y}/{int(m)}/{int(d)}", f"{y}年{int(m)}月{int(d)}日"]
    if not time:
        styles.append(f"{y}{m}{d}")
    out = styles[choice % len(styles)]
    return f"{out} {time}" if time else out


def fullwidth(value: str, choice: int) -> str:
    return value.translate(FULL_DIGITS)


def currency(value: str, choice: int) -> str:
    whole, _, frac = value.partition(".")
    grouped = f"{int(whole):,}" + (f".{frac}" if frac else "")
    # Without a thousands separator the plain number would look clean: always add a sign.
    if choice % 2 == 0 or "," not in grouped:
        return ("¥", "￥")[choice % 2] + grouped
    return grouped


def whitespace(value: str, choice: int) -> str:
    return ("  " + value, value + " ", " " + value + "  ")[choice % 3]


def bool_variant(value: str, choice: int) -> str:
    options = ("Y", "1", "是", "TRUE") if value == "true" else ("N", "0", "否", "FALSE")
    return options[choice % len(options)]


def code_case(value: str, choice: int) -> str:
    upper = value.upper()
    return upper if upper != value else value.lower()


def bad_date(value: str, choice: int) -> str:
    return ("2025-13-45", "昨天", "2025-02-30", "31/31/2025", "上个月")[choice % 5]


def bad_number(value: str, choice: int) -> str:
    return ("12a.5", "1.2.3", "约100", "abc", "--5")[choice % 5]


def unknown_code(value: str, choice: int) -> str:
    return ("teleport", "ZZZ", "其它", "999")[choice % 4]


def missing(value: str, choice: int) -> str:
    return ""


def age_212(value: str, choice: int) -> str:
    # 1813 was not a leap year, so a 29 February birthday moves to the 28th.
    rest = value[4:].replace("-02-29", "-02-28")
    return "1813" + rest


def bad_format(value: str, choice: int) -> str:
    if len(value) == 11:  # a phone number: too short, or letters in it
        return (value[:7], value[:3] + "-abc-" + value[7:], "0" + value[1:])[choice % 3]
    return (value[:2], value + "9", value[:3] + "x")[choice % 3]


def bad_id_number(value: str, choice: int) -> str:
    check = "10X98765432"
    wrong = [c for c in check if c != value[-1]]
    return value[:-1] + wrong[choice % len(wrong)]


def negative(value: str, choice: int) -> str:
    return "-" + value if value not in ("0.00", "0") else "-1.00"


def non_positive(value: str, choice: int) -> str:
    return ("0", "0.00", "-" + value)[choice % 3]


SPELLINGS: dict[str, Callable[[str, int], str]] = {
    "date_format": date_variant, "fullwidth": fullwidth, "currency": currency,
    "whitespace": whitespace, "bool_variant": bool_variant, "code_case": code_case,
    "bad_date": bad_date, "bad_number": bad_number, "unknown_code": unknown_code,
    "missing_required": missing, "age_212": age_212, "bad_format": bad_format,
    "bad_id_number": bad_id_number, "negative_balance": negative,
    "non_positive_amount": non_positive,
}


def apply_cells(cols: fmt.Columns, plan: MessPlan) -> fmt.Columns:
    """Rewrite the damaged cells; only the few damaged rows are touched in Python."""
    out = dict(cols)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, d in enumerate(plan.damage):
        if d.column is not None:
            groups.setdefault((d.column, d.kind), []).append(i)
    for (column, kind), members in sorted(groups.items()):
        idx = np.array(members)
        rows = plan.rows[idx]
        old = out[column].take(pa.array(rows)).to_pylist()
        spell = SPELLINGS[kind]
        new = [spell(v, c) for v, c in zip(old, plan.choice[idx].tolist(), strict=True)]
        mask = np.zeros(len(out[column]), dtype=bool)
        mask[rows] = True
        out[column] = pc.replace_with_mask(out[column], pa.array(mask), pa.array(new, pa.string()))
    return out


def resend_spelling(table: Table, cols: fmt.Columns, rows: np.ndarray,
                    choice: np.ndarray) -> fmt.Columns:
    """The re-sent copy: the same record with its dates spelled another valid way."""
    picked = {k: v.take(pa.array(rows)) for k, v in cols.items()}
    for col in table.columns:
        if col.type in DATE_TYPES:
            values = picked[col.name].to_pylist()
            picked[col.name] = pa.array(
                [None if v is None else date_variant(v, c)
                 for v, c in zip(values, choice.tolist(), strict=True)], pa.string())
    return picked
