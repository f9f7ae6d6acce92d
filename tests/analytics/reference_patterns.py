"""Brute-force references for RFM, consumption patterns and association rules.

Plain Python over lists of row dicts (warehouse column names, UTC naive timestamps,
decimals), written from the definitions in docs/analytics.md, not from the engine code:
only constant tables are shared (the Lunar New Year dates and shopping days of
``finpersona.tags.calendar``, the MCC groups of ``finpersona.tags.builtin``, the eight
class names).

Also the hypothesis strategies that draw random transactions and customers for them:
few customers, days and amounts, so ties, repeated timestamps and local-midnight
boundaries (16:00 UTC is midnight in Shanghai) come up often.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from finpersona.schema import TABLES_BY_NAME, ColumnType
from finpersona.tags.builtin import SPEND_CATEGORY_CODES, TRAVEL_MCC_RANGE
from finpersona.tags.calendar import LUNAR_NEW_YEAR, SHOPPING_DAYS

Row = dict[str, Any]
NONE = "(none)"

# -- warehouse-shaped input tables ---------------------------------------------------------------

_ARROW = {ColumnType.STRING: pa.string(), ColumnType.INT: pa.int64(),
          ColumnType.DECIMAL: pa.decimal128(18, 4), ColumnType.BOOL: pa.bool_(),
          ColumnType.DATE: pa.date32(), ColumnType.TIMESTAMP: pa.timestamp("us"),
          ColumnType.JSON: pa.string()}


def warehouse_schema(table: str) -> pa.Schema:
    """The stored columns of a warehouse table (personal columns as their text forms)."""
    spec = TABLES_BY_NAME[table]
    return pa.schema([(name, pa.string() if col.pii is not None else _ARROW[col.type])
                      for col in spec.columns for name in col.warehouse_names()])


def warehouse_rows(table: str, rows: Sequence[Row]) -> pa.Table:
    """Rows with some columns given; every other column of the table is null."""
    schema = warehouse_schema(table)
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows],
                                schema=schema)


# -- random inputs ---------------------------------------------------------------------------------

AS_OF = date(2025, 3, 10)
KEYS = ("c1", "c2", "c3", "c4", "c5", "c6")
AMOUNTS = tuple(Decimal(x) for x in ("0.01", "5", "10", "10", "99.99", "100", "1000", "1000",
                                     "5000", "12345.6789"))
# Seconds into a UTC day: 57,600 (16:00 UTC) is local midnight in Shanghai (UTC+8).
SECONDS = st.one_of(st.sampled_from([0, 57_599, 57_600, 86_399]), st.integers(0, 86_399))


@st.composite
def transactions(draw: st.DrawFn, days_before: int = 40, days_after: int = 2,
                 max_size: int = 40) -> list[Row]:
    """Transactions around AS_OF: every status, direction and currency, null keys too."""
    base = datetime(AS_OF.year, AS_OF.month, AS_OF.day)
    row = st.fixed_dictionaries({
        "customer_key": st.one_of(st.sampled_from(KEYS), st.none()),
        "txn_time": st.builds(lambda d, s: base + timedelta(days=d, seconds=s),
                              st.integers(-days_before, days_after), SECONDS),
        "amount": st.sampled_from(AMOUNTS),
        "currency": st.sampled_from(["CNY", "CNY", "CNY", "USD"]),
        "direction": st.sampled_from(["debit", "debit", "credit"]),
        "txn_type": st.sampled_from(["purchase", "purchase", "transfer_out", "refund"]),
        "status": st.sampled_from(["success", "success", "success", "failed", "reversed"]),
        "channel": st.one_of(st.sampled_from(["app", "pos", "online", "atm", "branch"]),
                             st.none()),
        "mcc": st.one_of(st.sampled_from(["5411", "5812", "5964", "3001", "9999"]), st.none()),
        "city": st.one_of(st.sampled_from(["北京市", "上海市", "广州市"]), st.none()),
    })
    return draw(st.lists(row, max_size=max_size))


@st.composite
def customers(draw: st.DrawFn) -> list[Row]:
    """Some of KEYS (not all: transactions may name unknown customers), a few registered
    after AS_OF, some without a city, one key possibly repeated with another city."""
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
    rows = [{"customer_key": k,
             "registered_at": AS_OF + timedelta(days=draw(st.integers(-400, 3))),
             "birth_date": date(1980, 1, 1),
             "city": draw(st.one_of(st.sampled_from(["北京市", "上海市", "广州市"]), st.none()))}
            for k in keys]
    if rows and draw(st.booleans()):
        rows.append({**rows[0], "city": "深圳市"})
    return rows


def local_dt(ts: datetime, offset_hours: float) -> datetime:
    return ts + timedelta(seconds=round(offset_hours * 3600))


# -- RFM -------------------------------------------------------------------------------------------

RFM_CLASS_NAMES = {  # (R high, F high, M high) -> class
    (True, True, True): "重要价值", (True, False, True): "重要发展",
    (False, True, True): "重要保持", (False, False, True): "重要挽留",
    (True, True, False): "一般价值", (True, False, False): "一般发展",
    (False, True, False): "一般保持", (False, False, False): "一般挽留",
}


def _quintile_scores(values: dict[str, Any]) -> dict[str, int]:
    """ceil(5 x share of customers whose value is at most this one's)."""
    n = len(values)
    out = {}
    for key, value in values.items():
        at_most = sum(1 for v in values.values() if v <= value)
        out[key] = min(5, max(1, math.ceil(at_most * 5 / n - 1e-9)))
    return out


def ref_rfm(txns: Sequence[Row], customer_rows: Sequence[Row], as_of: date, offset: float,
            window: int, scoring: str, cuts: tuple[Sequence[float], ...]) -> dict[str, Row]:
    """Per customer of the build: recency_days, frequency, monetary, scores and class."""
    first = as_of - timedelta(days=window - 1)
    debits: dict[str, list[Row]] = defaultdict(list)
    for t in txns:
        day = local_dt(t["txn_time"], offset).date()
        if (t["customer_key"] is not None and t["direction"] == "debit"
                and t["status"] == "success" and first <= day <= as_of):
            debits[t["customer_key"]].append({**t, "day": day})
    last = {k: max(r["day"] for r in rows) for k, rows in debits.items()}
    freq = {k: len(rows) for k, rows in debits.items()}
    money = {k: sum((r["amount"] for r in rows if r["currency"] == "CNY"), Decimal(0))
             for k, rows in debits.items()}
    if scoring == "quantile":
        r, f, m = _quintile_scores(last), _quintile_scores(freq), _quintile_scores(money)
    else:
        recency_cuts, frequency_cuts, monetary_cuts = cuts
        r = {k: 5 - sum(1 for c in recency_cuts if (as_of - d).days > c) for k, d in last.items()}
        f = {k: 1 + sum(1 for c in frequency_cuts if n >= c) for k, n in freq.items()}
        m = {k: 1 + sum(1 for c in monetary_cuts if v >= Decimal(str(c)))
             for k, v in money.items()}
    out = {}
    for c in customer_rows:
        key, registered = c["customer_key"], c.get("registered_at")
        if key is None or key in out or (registered is not None and registered > as_of):
            continue
        scores = (r.get(key, 1), f.get(key, 1), m.get(key, 1))
        out[key] = {"recency_days": (as_of - last[key]).days if key in last else None,
                    "frequency": freq.get(key, 0), "monetary": money.get(key, Decimal(0)),
                    "r_score": scores[0], "f_score": scores[1], "m_score": scores[2],
                    "rfm_class": RFM_CLASS_NAMES[tuple(s >= 3 for s in scores)]}
    return out


def ref_rfm_classes(per_customer: dict[str, Row]) -> dict[str, Row]:
    """Per class: customers, active customers, mean R (active), mean F and M, total M."""
    out = {}
    for name in RFM_CLASS_NAMES.values():
        rows = [r for r in per_customer.values() if r["rfm_class"] == name]
        active = [r for r in rows if r["recency_days"] is not None]
        total = sum((r["monetary"] for r in rows), Decimal(0))
        out[name] = {
            "customers": len(rows), "active_customers": len(active),
            "mean_recency_days": (sum(r["recency_days"] for r in active) / len(active)
                                  if active else None),
            "mean_frequency": sum(r["frequency"] for r in rows) / len(rows) if rows else 0.0,
            "mean_monetary": float(total / len(rows)) if rows else 0.0,
            "total_monetary": float(total)}
    return out


def ref_rfm_bands(per_customer: dict[str, Row]) -> list[tuple[str, int, int, float, float]]:
    """(measure, score, customers, low, high) over active customers."""
    out = []
    for measure, score in (("recency_days", "r_score"), ("frequency", "f_score"),
                           ("monetary", "m_score")):
        groups: dict[int, list[Any]] = defaultdict(list)
        for r in per_customer.values():
            if r["recency_days"] is not None:
                groups[r[score]].append(r[measure])
        out += [(measure, s, len(v), float(min(v)), float(max(v)))
                for s, v in sorted(groups.items())]
    return out


# -- consumption patterns ------------------------------------------------------------------------

def scoped(txns: Sequence[Row], offset: float, types: Sequence[str] | None = ("purchase",),
           since: date | None = None, until: date | None = None) -> list[Row]:
    """Successful transactions with a customer, of the types, on local days in range."""
    out = []
    for t in txns:
        local = local_dt(t["txn_time"], offset)
        if (t["customer_key"] is None or t["status"] != "success"
                or (types is not None and t["txn_type"] not in types)
                or (since is not None and local.date() < since)
                or (until is not None and local.date() > until)):
            continue
        out.append({**t, "day": local.date(), "hour": local.hour,
                    "weekday": local.isoweekday(),
                    "cny": t["amount"] if t["currency"] == "CNY" else None})
    return out


def bin_index(value: Any, edges: Sequence[float]) -> int:
    return sum(1 for e in edges[1:] if value >= Decimal(str(e)))


def ref_distribution(rows: Sequence[Row], customer_rows: Sequence[Row],
                     count_edges: Sequence[float], spend_edges: Sequence[float],
                     ticket_edges: Sequence[float]) -> Row:
    keys = {c["customer_key"] for c in customer_rows if c["customer_key"] is not None}
    keys |= {r["customer_key"] for r in rows}
    count = Counter(r["customer_key"] for r in rows)
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["cny"] is not None:
            spend[r["customer_key"]] += r["cny"]
    tickets = sorted(r["cny"] for r in rows if r["cny"] is not None)
    total = sum(tickets, Decimal(0))

    def hist(values: Iterable[Any], edges: Sequence[float]) -> list[int]:
        bins = [0] * len(edges)
        for v in values:
            bins[bin_index(v, edges)] += 1
        return bins

    def quantile(p: float) -> float | None:
        if not tickets:
            return None
        rank = next(k for k in range(1, len(tickets) + 1)
                    if Decimal(k) / len(tickets) >= Decimal(str(p)))  # smallest k, k/n >= p
        return float(tickets[rank - 1])

    buyers = sum(1 for k in keys if count[k] > 0)
    return {
        "customers": len(keys), "customers_with_purchases": buyers,
        "purchases": len(rows), "purchases_cny": len(tickets), "amount_cny": float(total),
        "mean_ticket": float(total) / len(tickets) if tickets else None,
        "mean_spend_per_buyer": float(total) / buyers if buyers else None,
        "ticket_quantiles": {f"p{round(p * 100)}": quantile(p) for p in (0.25, 0.5, 0.75, 0.9)},
        "count_histogram": hist((count[k] for k in keys), count_edges),
        "spend_histogram": hist((spend[k] for k in keys), spend_edges),
        "ticket_histogram": hist(tickets, ticket_edges),
    }


def ref_heatmap(rows: Sequence[Row]) -> dict[tuple[int, int], tuple[int, int, float]]:
    cells: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for r in rows:
        cells[(r["weekday"], r["hour"])].append(r)
    return {k: (len(v), len({r["customer_key"] for r in v}),
                float(sum((r["cny"] for r in v if r["cny"] is not None), Decimal(0))))
            for k, v in cells.items()}


def period_days(rows: Sequence[Row], since: date | None, until: date | None) -> list[date]:
    first = since or min((r["day"] for r in rows), default=None)
    last = until or max((r["day"] for r in rows), default=None)
    if first is None or last is None:
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def ref_occasion(day: date) -> str:  # noqa: PLR0911 - one return per occasion
    """The occasion of a day, from the published dates (docs/analytics.md)."""
    new_year = LUNAR_NEW_YEAR.get(day.year)
    if new_year is not None:
        eve = new_year - timedelta(days=1)
        if 0 <= (day - eve).days <= 6:
            return "spring_festival"
        if 1 <= (eve - day).days <= 14:
            return "pre_spring_festival"
    (m618, d618), (m11, d11) = SHOPPING_DAYS
    if (day.month, day.day) == (m618, d618):
        return "shopping_618"
    if (day.month, day.day) == (m11, d11):
        return "double_11"
    if day.month == 10 and day.day <= 7:
        return "national_day"
    if day.month == 5 and day.day <= 5:
        return "labour_day"
    if (day.month, day.day) == (1, 1):
        return "new_year"
    return "ordinary"


def ref_day_groups(rows: Sequence[Row], days: Sequence[date], key: Any,
                   channel: str | None = None) -> dict[Any, Row]:
    """Per group of days (``key(day)``): days, transactions, CNY, per-day figures."""
    groups: dict[Any, Row] = defaultdict(lambda: {"days": 0, "transactions": 0,
                                                  "amount": Decimal(0)})
    for d in days:
        groups[key(d)]["days"] += 1
    in_period = set(days)
    for r in rows:
        ch = r["channel"] if r["channel"] is not None else NONE
        if r["day"] in in_period and (channel is None or ch == channel):
            g = groups[key(r["day"])]
            g["transactions"] += 1
            g["amount"] += r["cny"] if r["cny"] is not None else 0
    return dict(groups)


def ref_mix(rows: Sequence[Row], column: str) -> dict[str, tuple[int, int, float]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r[column] if r[column] is not None else NONE].append(r)
    return {k: (len(v), len({r["customer_key"] for r in v}),
                float(sum((r["cny"] for r in v if r["cny"] is not None), Decimal(0))))
            for k, v in groups.items()}


def ref_category(mcc: str) -> str:
    for name, codes in SPEND_CATEGORY_CODES.items():
        if mcc in codes:
            return name
    low, high = TRAVEL_MCC_RANGE
    return "travel" if low <= mcc <= high else "other"


def ref_home_cities(customer_rows: Sequence[Row]) -> dict[str, str | None]:
    cities: dict[str, list[str]] = defaultdict(list)
    for c in customer_rows:
        if c["customer_key"] is not None:
            cities[c["customer_key"]] += [c["city"]] if c.get("city") is not None else []
    return {k: min(v) if v else None for k, v in cities.items()}


def ref_location(row: Row, homes: dict[str, str | None]) -> str:
    home = homes.get(row["customer_key"])
    if row["city"] is None or home is None:
        return "unknown"
    return "home" if row["city"] == home else "away"


# -- association rules -----------------------------------------------------------------------------

def ref_itemsets(baskets: dict[str, set[str]], min_count: int,
                 max_len: int) -> dict[tuple[str, ...], int]:
    """Every itemset of up to max_len items in at least min_count baskets, by enumeration."""
    counts: Counter[tuple[str, ...]] = Counter()
    for items in baskets.values():
        ordered = sorted(items)
        for size in range(1, min(max_len, len(ordered)) + 1):
            counts.update(combinations(ordered, size))
    return {s: n for s, n in counts.items() if n >= min_count}


def ref_rules(itemsets: dict[tuple[str, ...], int], n: int, min_confidence: float,
              min_lift: float) -> dict[tuple[tuple[str, ...], tuple[str, ...]], Row]:
    out = {}
    for items, both in itemsets.items():
        for k in range(1, len(items)):
            for left in combinations(items, k):
                right = tuple(i for i in items if i not in left)
                confidence = both / itemsets[left]
                lift = confidence / (itemsets[right] / n)
                if confidence >= min_confidence and lift >= min_lift:
                    out[(left, right)] = {"count": both, "support": both / n,
                                          "confidence": confidence, "lift": lift}
    return out


def ref_product_baskets(accounts: Sequence[Row], products: Sequence[Row] | None,
                        as_of: date | None, by_id: bool) -> dict[str, set[str]]:
    types: dict[str, list[str]] = defaultdict(list)
    for p in products or []:
        if p["product_type"] is not None:
            types[p["product_id"]].append(p["product_type"])
    out: dict[str, set[str]] = defaultdict(set)
    for a in accounts:
        if a["customer_key"] is None or a["product_id"] is None:
            continue
        closed, status = a["closed_date"], a["status"]
        if status == "closed" and closed is None:
            continue
        if as_of is None:
            held = closed is None
        else:
            held = a["opened_date"] <= as_of and (closed is None or closed > as_of)
        if not held:
            continue
        if by_id:
            out[a["customer_key"]].add(a["product_id"])
        elif types.get(a["product_id"]):
            out[a["customer_key"]].add(min(types[a["product_id"]]))
    return dict(out)


def ref_mcc_baskets(txns: Sequence[Row], as_of: date, days: int,
                    offset: float) -> dict[str, set[str]]:
    first = as_of - timedelta(days=days - 1)
    out: dict[str, set[str]] = defaultdict(set)
    for t in txns:
        day = local_dt(t["txn_time"], offset).date()
        if (t["customer_key"] is not None and t["mcc"] is not None
                and t["txn_type"] == "purchase" and t["status"] == "success"
                and first <= day <= as_of):
            out[t["customer_key"]].add(t["mcc"])
    return dict(out)
