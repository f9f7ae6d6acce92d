"""A brute-force reference for tag values: plain Python over pandas frames, no engine.

The slow, obviously-correct counterpart of the tag compiler, written from
docs/tag-definitions.md alone: every source view is rebuilt row by row from the
warehouse tables, and every tag is computed per customer by looping over that
customer's rows. Python tags of ``finpersona.tags.builtin`` are re-implemented
here independently (only their constant tables, such as the MCC groups and the
festival calendar, are shared).

Input frames are the warehouse tables as stored (``customer_key``, UTC naive
timestamps, decimals), e.g. ``pyarrow.Table.to_pandas()``; identity-resolved
events go in as ``events_resolved`` (or ``events`` with a
``resolved_customer_key`` column). Output values are plain Python: ``bool``,
``int``, ``Decimal`` (rounded), ``str``, ``datetime.date`` or ``None``.

Where the document leaves room, this reference decides (and the compiler agrees):

- the ``customers`` view holds customers registered on or before the as-of date;
- a view row whose time is null is in scope for ``lifetime`` only;
- measures see the rows left after the window and the filter; a tag's ``default``
  is its value when no row is left (``count``/``sum``/``count_distinct`` 0,
  ``exists`` false unless the definition says otherwise); ``sum``, ``avg``,
  ``min``, ``max`` ignore null values and are null when every value is null;
- ``mode``, ``first`` and ``last`` ignore rows whose column (or, for first/last,
  time) is null;
- a measure over a timestamp column yields the timestamp's local date;
- ``is_cross_city`` is false (not null) when either city is unknown;
- ``consents_latest``: on equal ``recorded_at`` a refusal wins;
- a bool rule is the expression's three-valued result (None when unknown);
  a case is taken only when its condition is true.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

import pandas as pd

from finpersona.schema import TABLES_BY_NAME, ColumnType
from finpersona.tags.builtin import SPEND_CATEGORY_CODES, TRAVEL_MCC_RANGE
from finpersona.tags.calendar import festival_dates
from finpersona.tags.expression import evaluate, parse, tags_used
from finpersona.tags.expression.ast import Node
from finpersona.tags.model import Measure, TagDefinition, Transform
from finpersona.tags.types import TagKind, TagStatus, ValueType

Row = dict[str, Any]
WINDOW_DAYS = {"7d": 7, "30d": 30, "90d": 90, "180d": 180, "365d": 365, "lifetime": None}
TIME_COLUMNS = {
    "accounts": "opened_date", "holdings": "snapshot_date", "transactions": "txn_time",
    "events": "event_time", "loan_applications": "applied_at", "loans": "disbursed_date",
    "repayments": "due_date", "service_tickets": "opened_at", "marketing_touches": "sent_at",
    "risk_assessments": "assessed_at", "social_mentions": "posted_at", "consents": "recorded_at",
}
VIEW_TABLE = {"holdings_latest": "holdings", "consents_latest": "consents"}


# -- plain values -------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any, kind: ColumnType | None) -> Any:  # noqa: PLR0911 - one per type
    """One cell as a plain Python value of its logical type."""
    if _missing(value):
        return None
    if kind is ColumnType.TIMESTAMP:
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    if kind is ColumnType.DATE:
        return value.date() if isinstance(value, datetime) else pd.Timestamp(value).date()
    if kind is ColumnType.DECIMAL:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if kind is ColumnType.INT:
        return int(value)
    if kind is ColumnType.BOOL:
        return bool(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _rows(frame: pd.DataFrame | None, table: str) -> list[Row]:
    """The frame's rows as dicts of plain values, typed by the canonical schema."""
    if frame is None:
        return []
    kinds: dict[str, ColumnType | None] = {}
    for col in TABLES_BY_NAME[table].columns:
        for name in col.warehouse_names():
            kinds[name] = ColumnType.STRING if col.pii is not None else col.type
    columns = list(frame.columns)
    out = []
    for values in frame.itertuples(index=False, name=None):
        out.append({c: _plain(v, kinds.get(c)) for c, v in zip(columns, values, strict=True)})
    return out


def _local(value: Any, offset: timedelta) -> date | None:
    """The local calendar date of a time value: timestamps are UTC, dates are local already."""
    if value is None:
        return None
    if isinstance(value, datetime):  # before date: a datetime is a date in Python
        return (value + offset).date()
    return value if isinstance(value, date) else None


def _years(start: date, end: date) -> int:
    before_birthday = (end.month, end.day) < (start.month, start.day)
    return end.year - start.year - (1 if before_birthday else 0)


def _months(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@cache
def _node(text: str) -> Node:
    return parse(text)


# -- source views ---------------------------------------------------------------------------

class Views:
    """The documented source views, rebuilt in plain Python for one as-of date."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], as_of: date, offset_hours: float):
        self.as_of = as_of
        self.offset = timedelta(seconds=round(offset_hours * 3600))
        self.tables = tables
        self._views: dict[str, list[Row]] = {}
        self._by_customer: dict[str, dict[str, list[Row]]] = {}

    def raw(self, table: str) -> list[Row]:
        frame = self.tables.get(table)
        if table == "events" and "events_resolved" in self.tables:
            frame = self.tables["events_resolved"]
        rows = _rows(frame, table)
        if table == "events":
            for r in rows:  # the identity-stitched owner replaces the logged-in one
                if "resolved_customer_key" in r:
                    r["customer_key"] = r["resolved_customer_key"]
        return rows

    def view(self, name: str) -> list[Row]:
        if name not in self._views:
            self._views[name] = getattr(self, f"_view_{name}", lambda: self._cut(name))()
        return self._views[name]

    def by_customer(self, name: str) -> dict[str, list[Row]]:
        if name not in self._by_customer:
            groups: dict[str, list[Row]] = defaultdict(list)
            for r in self.view(name):
                groups[r["customer_key"]].append(r)
            self._by_customer[name] = groups
        return self._by_customer[name]

    def time_column(self, view: str) -> str | None:
        return TIME_COLUMNS.get(view)

    def _cut(self, name: str, rows: list[Row] | None = None) -> list[Row]:
        """Attributed rows not after the as-of date, with their local date."""
        rows = self.raw(VIEW_TABLE.get(name, name)) if rows is None else rows
        time_col = TIME_COLUMNS.get(VIEW_TABLE.get(name, name))
        out = []
        for r in rows:
            if r.get("customer_key") is None:
                continue
            if time_col is not None:
                day = _local(r[time_col], self.offset)
                if day is not None and day > self.as_of:
                    continue
                r["local_date"] = r["_local_date"] = day
            out.append(r)
        if name == "repayments":
            for r in out:
                dpd = r["days_past_due"]
                r["is_overdue"] = None if dpd is None else dpd > 0
        return out

    def _products(self) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for p in self.raw("products"):
            out.setdefault(p["product_id"], p)
        return out

    def _with_products(self, rows: list[Row]) -> list[Row]:
        products = self._products()
        for r in rows:
            p = products.get(r.get("product_id") or "", {})
            r["product_type"] = p.get("product_type")
            r["risk_level"] = p.get("risk_level")
        return rows

    def _view_customers(self) -> list[Row]:
        seen: dict[str, Row] = {}
        for r in self.raw("customers"):
            key, registered = r["customer_key"], r["registered_at"]
            if key is None or key in seen or (registered is not None and registered > self.as_of):
                continue
            born = r["birth_date"]
            r["age"] = None if born is None else _years(born, self.as_of)
            r["tenure_months"] = None if registered is None else _months(registered, self.as_of)
            seen[key] = r
        return list(seen.values())

    def _view_accounts(self) -> list[Row]:
        return self._cut("accounts", self._with_products(self.raw("accounts")))

    def _view_holdings(self) -> list[Row]:
        return self._cut("holdings", self._with_products(self.raw("holdings")))

    def _view_holdings_latest(self) -> list[Row]:
        latest: dict[str, Row] = {}
        for r in self.view("holdings"):
            if r["snapshot_date"] is None:
                continue
            best = latest.get(r["account_id"])
            if best is None or r["snapshot_date"] > best["snapshot_date"]:
                latest[r["account_id"]] = r
        return [{k: v for k, v in r.items() if k not in ("local_date", "_local_date")}
                for r in latest.values()]

    def _view_consents_latest(self) -> list[Row]:
        latest: dict[tuple[Any, ...], Row] = {}
        for r in self._cut("consents"):
            if r["local_date"] is None:
                continue
            key = (r["customer_key"], r["purpose"], r["channel"])
            best = latest.get(key)
            # Later record wins; on the same instant a refusal wins over a grant.
            if best is None or (r["recorded_at"], not r["granted"]) > (
                    best["recorded_at"], not best["granted"]):
                latest[key] = r
        return [{k: v for k, v in r.items() if k not in ("local_date", "_local_date")}
                for r in latest.values()]

    def _view_transactions(self) -> list[Row]:
        home = {c["customer_key"]: c["city"] for c in self.view("customers")}
        rows = self._cut("transactions")
        for r in rows:
            ts, day = r["txn_time"], r["local_date"]
            r["hour"] = None if ts is None else (ts + self.offset).hour
            r["weekday"] = None if day is None else day.isoweekday()
            r["is_weekend"] = None if day is None else day.isoweekday() >= 6
            r["is_festival"] = None if day is None else day in festival_dates(day.year)
            city, home_city = r["city"], home.get(r["customer_key"])
            r["is_cross_city"] = city is not None and home_city is not None and city != home_city
            r["is_online"] = None if r["channel"] is None else r["channel"] in ("online", "app")
        return rows

    def _view_events(self) -> list[Row]:
        rows = self._cut("events")
        for r in rows:
            ts = r["event_time"]
            r["hour"] = None if ts is None else (ts + self.offset).hour
        return rows

    def in_window(self, rows: list[Row], window: str) -> list[Row]:
        days = WINDOW_DAYS[window]
        if days is None:
            return rows
        first = self.as_of - timedelta(days=days - 1)
        return [r for r in rows if r["local_date"] is not None and r["local_date"] >= first]


# -- declarative fact tags ----------------------------------------------------------------

def _true(text: str | None, row: Row) -> bool:
    return text is None or evaluate(_node(text), row) is True


def _measure(  # noqa: PLR0911 - one return per measure reads like the document
        measure: Measure, column: str | None, rows: list[Row], where: str | None,
        time_col: str | None) -> Any:
    if measure is Measure.COUNT:
        return len(rows)
    if measure is Measure.EXISTS:
        return len(rows) > 0
    if measure is Measure.SHARE:
        if not rows:
            return None
        return Decimal(sum(1 for r in rows if _true(where, r))) / Decimal(len(rows))
    assert column is not None
    values = [r[column] for r in rows if r[column] is not None]
    if measure is Measure.COUNT_DISTINCT:
        return len(set(values))
    if measure is Measure.VALUE:
        return rows[0][column] if rows else None
    if not values:
        return None
    if measure is Measure.SUM:
        return sum(values)
    if measure is Measure.AVG:
        return Decimal(sum(values)) / Decimal(len(values))
    if measure is Measure.MIN:
        return min(values)
    if measure is Measure.MAX:
        return max(values)
    if measure is Measure.MODE:
        counts = Counter(values)
        return min(counts, key=lambda v: (-counts[v], v))
    assert time_col is not None, "first/last need a source with a time column"
    timed = [(r[time_col], r[column]) for r in rows
             if r[time_col] is not None and r[column] is not None]
    if not timed:
        return None
    return (min(timed) if measure is Measure.FIRST else max(timed))[1]


def _finish(tag: TagDefinition, value: Any, as_of: date, offset: timedelta) -> Any:
    """Local date, transform, round, bands: the steps after the measure."""
    fact = tag.fact
    assert fact is not None
    if isinstance(value, datetime):
        value = _local(value, offset)
    if fact.transform is not None and value is not None:
        if fact.transform is Transform.DAYS_TO_AS_OF:
            value = (as_of - value).days
        elif fact.transform is Transform.MONTHS_TO_AS_OF:
            value = _months(value, as_of)
        else:
            value = _years(value, as_of)
    if tag.bands:
        if value is None:
            return None
        for band in tag.bands:
            if band.upto is None or Decimal(value) < band.upto:
                return band.value
    if value is None:
        return None
    if tag.type is ValueType.DECIMAL:
        return _round(Decimal(value), fact.round)
    if tag.type is ValueType.INT:
        return int(_round(Decimal(value), 0))
    return value


def _typed(value: Any, vtype: ValueType) -> Any:
    """A definition's literal (default, case result) as a value of the tag's type."""
    if value is None:
        return None
    if vtype is ValueType.DECIMAL:
        return Decimal(str(value))
    if vtype is ValueType.INT:
        return int(value)
    if vtype is ValueType.BOOL:
        return bool(value)
    if vtype is ValueType.DATE:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    return str(value)


class _FactEngine:
    """Per-customer facts, sharing each (source, window, filter) row selection."""

    def __init__(self, views: Views) -> None:
        self.views = views
        self._selected: dict[tuple[str, str, str | None], dict[str, list[Row]]] = {}

    def rows(self, source: str, window: str, filter_text: str | None) -> dict[str, list[Row]]:
        key = (source, window, filter_text)
        if key not in self._selected:
            selected: dict[str, list[Row]] = {}
            for customer, rows in self.views.by_customer(source).items():
                kept = [r for r in self.views.in_window(rows, window) if _true(filter_text, r)]
                if kept:
                    selected[customer] = kept
            self._selected[key] = selected
        return self._selected[key]

    def tag(self, tag: TagDefinition, customers: list[str]) -> dict[str, Any]:
        fact = tag.fact
        assert fact is not None
        selected = self.rows(fact.source, fact.window, fact.filter)
        time_col = self.views.time_column(fact.source)
        out = {}
        for customer in customers:
            rows = selected.get(customer, [])
            if not rows and fact.default is not None:
                out[customer] = _typed(fact.default, tag.type)
                continue
            value = _measure(fact.measure, fact.column, rows, fact.where, time_col)
            value = _finish(tag, value, self.views.as_of, self.views.offset)
            if value is None and fact.measure is Measure.VALUE and fact.default is not None:
                value = _typed(fact.default, tag.type)
            out[customer] = value
        return out


# -- python tags, re-implemented ------------------------------------------------------------

def _successful_debits(views: Views, days: int) -> dict[str, list[Row]]:
    first = views.as_of - timedelta(days=days - 1)
    out: dict[str, list[Row]] = defaultdict(list)
    for r in views.view("transactions"):
        if (r["direction"] == "debit" and r["status"] == "success"
                and r["local_date"] is not None and r["local_date"] >= first):
            out[r["customer_key"]].append(r)
    return out


def _quintile(values: dict[str, Any]) -> dict[str, int]:
    """ceil(5 x share of the population with a value <= this one), ties alike."""
    ordered = sorted(values.values())
    n = len(ordered)
    out = {}
    for key, value in values.items():
        at_most = bisect_right(ordered, value)  # how many values are <= this one
        out[key] = min(5, max(1, math.ceil(at_most / n * 5 - 1e-9)))
    return out


def _ref_rfm_scores(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    debits = _successful_debits(views, 365)
    last = {k: max(r["local_date"] for r in rows) for k, rows in debits.items()}
    freq = {k: len(rows) for k, rows in debits.items()}
    money = {k: sum((r["amount"] for r in rows if r["currency"] == "CNY" and r["amount"]
                     is not None), Decimal(0)) for k, rows in debits.items()}
    r, f, m = _quintile(last), _quintile(freq), _quintile(money)
    return {c: {"r_score": r.get(c, 1), "f_score": f.get(c, 1), "m_score": m.get(c, 1)}
            for c in customers}


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return _round(numerator / denominator, 4) if denominator > 0 else None


def _ref_credit_utilisation(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    owed: dict[str, Decimal] = defaultdict(Decimal)
    limit: dict[str, Decimal] = defaultdict(Decimal)
    for h in views.view("holdings_latest"):
        if h["product_type"] == "credit_card" and (h["credit_limit"] or 0) > 0:
            owed[h["customer_key"]] += h["balance"] or 0
            limit[h["customer_key"]] += h["credit_limit"]
    return {c: {"credit_utilisation": _ratio(owed[c], limit[c]) if c in limit else None}
            for c in customers}


def _ref_wealth_share(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    aum: dict[str, Decimal] = defaultdict(Decimal)
    invested: dict[str, Decimal] = defaultdict(Decimal)
    for h in views.view("holdings_latest"):
        kind, balance = h["product_type"], h["balance"] or Decimal(0)
        if kind in ("demand_deposit", "time_deposit", "wealth_management", "fund", "insurance"):
            aum[h["customer_key"]] += balance
            if kind not in ("demand_deposit", "time_deposit"):
                invested[h["customer_key"]] += balance
    return {c: {"wealth_share_of_aum": _ratio(invested[c], aum[c]) if c in aum else None}
            for c in customers}


def _ref_current_delinquency(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    worst: dict[str, int | None] = {}
    for r in views.view("repayments"):
        paid = r["paid_date"] is not None and r["paid_date"] <= views.as_of
        days = 0 if paid else (None if r["due_date"] is None else
                               (views.as_of - r["due_date"]).days)
        before = worst.get(r["customer_key"])
        if days is not None:
            worst[r["customer_key"]] = days if before is None else max(before, days)
        else:
            worst.setdefault(r["customer_key"], None)
    return {c: {"current_dpd": worst.get(c)} for c in customers}


def _ref_txn_trend(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    recent_start = views.as_of - timedelta(days=89)
    out = {}
    debits = _successful_debits(views, 180)
    for c in customers:
        rows = debits.get(c, [])
        recent = sum(1 for r in rows if r["local_date"] >= recent_start)
        earlier = len(rows) - recent
        out[c] = {"txn_count_trend_90d": _ratio(Decimal(recent), Decimal(earlier))}
    return out


def _category_of(mcc: str) -> str:
    for name, codes in SPEND_CATEGORY_CODES.items():
        if mcc in codes:
            return name
    low, high = TRAVEL_MCC_RANGE
    return "travel" if low <= mcc <= high else "other"


def _ref_spend_category(views: Views, customers: list[str]) -> dict[str, dict[str, Any]]:
    first = views.as_of - timedelta(days=364)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in views.view("transactions"):
        if (r["txn_type"] == "purchase" and r["status"] == "success" and r["mcc"] is not None
                and r["local_date"] is not None and r["local_date"] >= first):
            counts[r["customer_key"]][_category_of(r["mcc"])] += 1
    out = {}
    for c in customers:
        n = counts.get(c)
        best = min(n, key=lambda k: (-n[k], k)) if n else None
        out[c] = {"preferred_spend_category_365d": best}
    return out


PYTHON_TAGS: dict[str, Callable[[Views, list[str]], dict[str, dict[str, Any]]]] = {
    "finpersona.tags.builtin:rfm_scores": _ref_rfm_scores,
    "finpersona.tags.builtin:credit_utilisation": _ref_credit_utilisation,
    "finpersona.tags.builtin:wealth_share": _ref_wealth_share,
    "finpersona.tags.builtin:current_delinquency": _ref_current_delinquency,
    "finpersona.tags.builtin:txn_trend": _ref_txn_trend,
    "finpersona.tags.builtin:spend_category_preference": _ref_spend_category,
}


# -- rules and the whole table ----------------------------------------------------------

def _rule_texts(tag: TagDefinition) -> list[str]:
    assert tag.rule is not None
    if tag.rule.expression is not None:
        return [tag.rule.expression]
    return [case.when for case in tag.rule.cases]


def _rule_value(tag: TagDefinition, row: Row) -> Any:
    assert tag.rule is not None
    if tag.rule.expression is not None:
        return evaluate(_node(tag.rule.expression), row)
    for case in tag.rule.cases:
        if evaluate(_node(case.when), row) is True:
            return _typed(case.then, tag.type)
    return _typed(tag.rule.otherwise, tag.type)


def _rule_order(rules: list[TagDefinition]) -> list[TagDefinition]:
    """Rules after the rules they use (raises on a cycle)."""
    pending = {t.name: t for t in rules}
    needs = {t.name: {n for text in _rule_texts(t) for n in tags_used(_node(text))} & set(pending)
             for t in rules}
    order: list[TagDefinition] = []
    done: set[str] = set()
    while pending:
        ready = [n for n in pending if needs[n] <= done]
        if not ready:
            raise ValueError(f"rule cycle among {sorted(pending)}")
        for name in sorted(ready):
            order.append(pending.pop(name))
            done.add(name)
    return order


def _definitions(definitions: Any) -> list[TagDefinition]:
    if hasattr(definitions, "tags"):  # a Catalogue
        definitions = definitions.tags
    if isinstance(definitions, Mapping):
        definitions = definitions.values()
    return list(definitions)


def reference_tags(tables: dict[str, pd.DataFrame], as_of: date, offset_hours: float,
                   definitions: Iterable[TagDefinition] | Any) -> pd.DataFrame:
    """Every online tag among ``definitions`` for every customer of the ``customers`` view.

    Index ``customer_key`` (sorted); one object column per tag. Online model tags are
    columns of nulls (no model has scored); offline, draft and retired tags are skipped.
    """
    tags = [t for t in _definitions(definitions) if t.status is TagStatus.ONLINE]
    views = Views(tables, as_of, offset_hours)
    customers = sorted(c["customer_key"] for c in views.view("customers"))
    facts = _FactEngine(views)
    values: dict[str, dict[str, Any]] = {}
    python_parts: dict[str, dict[str, dict[str, Any]]] = {}
    for tag in tags:
        if tag.kind is TagKind.MODEL:
            values[tag.name] = dict.fromkeys(customers)
        elif tag.python is not None:
            if tag.python not in python_parts:
                if tag.python not in PYTHON_TAGS:
                    raise NotImplementedError(f"no reference for python tag {tag.python}")
                python_parts[tag.python] = PYTHON_TAGS[tag.python](views, customers)
            part = python_parts[tag.python]
            values[tag.name] = {c: part[c][tag.name] for c in customers}
        elif tag.fact is not None:
            values[tag.name] = facts.tag(tag, customers)
    rules = [t for t in tags if t.kind is TagKind.RULE and t.rule is not None]
    used = {n for t in rules for text in _rule_texts(t) for n in tags_used(_node(text))}
    ordered_rules = _rule_order(rules)
    computed = dict(values)  # facts, python and model tags: the inputs of rules
    for tag in ordered_rules:
        values[tag.name] = {}
    for c in customers:
        row: Row = dict.fromkeys(used)  # tags outside the set (e.g. models) are null
        row.update({name: per[c] for name, per in computed.items()})
        for tag in ordered_rules:
            row[tag.name] = values[tag.name][c] = _rule_value(tag, row)
    frame = pd.DataFrame({t.name: pd.Series([values[t.name][c] for c in customers],
                                            index=customers, dtype=object)
                          for t in tags if t.name in values})
    frame.index.name = "customer_key"
    return frame
