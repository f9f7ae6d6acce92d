"""Brute-force retention, lifecycle and stickiness in plain Python over row lists.

Written from the definitions in docs/analytics.md, independently of the engine code:
loops over customers and their local days, no shared helpers. Outputs have the shape
of the results' ``to_dict()`` so tests compare whole documents.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

AUM_TYPES = {"demand_deposit", "time_deposit", "wealth_management", "fund", "insurance"}


@dataclass(frozen=True)
class Act:
    customer: str
    day: date
    name: str


# -- calendar -------------------------------------------------------------------------------

def local_day(utc: datetime, offset_hours: float) -> date:
    return (utc + timedelta(seconds=round(offset_hours * 3600))).date()


def start_of(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return date(day.year, day.month, 1)


def after(start: date, period: str, k: int) -> date:
    if period == "day":
        return start + timedelta(days=k)
    if period == "week":
        return start + timedelta(days=7 * k)
    year, month = start.year, start.month + k
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def last_day_of(start: date, period: str) -> date:
    if period == "month":
        return date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    return after(start, period, 1) - timedelta(days=1)


def lag(a: date, b: date, period: str) -> int:
    """How many periods b's period is after a's (both period starts)."""
    if period == "month":
        return (b.year - a.year) * 12 + b.month - a.month
    return (b - a).days // (7 if period == "week" else 1)


def starts_between(first: date, last: date, period: str) -> list[date]:
    out, current = [], start_of(first, period)
    while current <= last:
        out.append(current)
        current = after(current, period, 1)
    return out


def complete(start: date, period: str, first_day: date, last_day: date) -> bool:
    return start >= first_day and last_day_of(start, period) <= last_day


# -- activity -------------------------------------------------------------------------------

def acts_from_events(events: Iterable[dict[str, Any]], offset_hours: float,
                     until: date | None = None) -> list[Act]:
    out = [Act(e["customer_key"], local_day(e["event_time"], offset_hours), e["event_name"])
           for e in events if e["customer_key"] is not None and e["event_time"] is not None]
    return [a for a in out if until is None or a.day <= until]


def acts_from_transactions(txns: Iterable[dict[str, Any]], offset_hours: float,
                           until: date | None = None) -> list[Act]:
    out = [Act(t["customer_key"], local_day(t["txn_time"], offset_hours), t["txn_type"])
           for t in txns if t["customer_key"] is not None and t["txn_time"] is not None
           and t["status"] in (None, "success")]
    return [a for a in out if until is None or a.day <= until]


def spend(txns: Iterable[dict[str, Any]], period: str, offset_hours: float, last_day: date,
          currency: str = "CNY") -> dict[tuple[str, date], Decimal]:
    out: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for t in txns:
        if (t["customer_key"] is None or t["txn_type"] != "purchase"
                or t["direction"] != "debit" or t["currency"] != currency
                or t["status"] not in (None, "success")):
            continue
        day = local_day(t["txn_time"], offset_hours)
        if day <= last_day:
            out[(t["customer_key"], start_of(day, period))] += Decimal(t["amount"])
    return out


def aum(holdings: Iterable[dict[str, Any]], products: Iterable[dict[str, Any]], period: str,
        period_starts: list[date], last_day: date, currency: str = "CNY"
        ) -> dict[tuple[str, date], Decimal]:
    kinds = {p["product_id"] for p in products if p["product_type"] in AUM_TYPES}
    balance: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for h in holdings:
        if (h["customer_key"] is not None and h["currency"] == currency
                and h["product_id"] in kinds):
            balance[(h["customer_key"], h["snapshot_date"])] += Decimal(h["balance"])
    snapshots = sorted({snap for _, snap in balance})
    out: dict[tuple[str, date], Decimal] = {}
    for start in period_starts:
        limit = min(last_day_of(start, period), last_day)
        usable = [s for s in snapshots if s <= limit]
        if not usable:
            continue
        for (customer, snap), value in balance.items():
            if snap == usable[-1]:
                out[(customer, start)] = value
    return out


# -- retention ------------------------------------------------------------------------------

def retention(acts: list[Act], start: str, ret: str, *, period: str = "week",
              periods: int = 12, mode: str = "first", cumulative: bool = False,
              since: date | None = None, until: date | None = None,
              groups: dict[str, str | None] | None = None, breakdown: str | None = None,
              amounts: dict[tuple[str, date], Decimal] | None = None,
              weighted: str | None = None, source: str = "events",
              offset_hours: float = 8.0) -> dict[str, Any]:
    """``acts`` already cut at ``until``; ``groups`` maps customer → breakdown value."""
    doc: dict[str, Any] = {
        "start_event": start, "return_event": ret, "source": source, "mode": mode,
        "period": period, "periods": periods, "cumulative": cumulative,
        "weighted": weighted, "breakdown": breakdown, "offset_hours": offset_hours,
        "first_day": None, "last_day": None, "cohorts": [], "average": []}
    if not acts:
        return doc
    first_day = min(a.day for a in acts)
    last_day = until if until is not None else max(a.day for a in acts)
    doc["first_day"], doc["last_day"] = first_day.isoformat(), last_day.isoformat()
    start_days = [a.day for a in acts if a.name == start]
    if not start_days:
        return doc
    end = start_of(last_day, period)
    first_cohort = start_of(since if since is not None else min(start_days), period)

    entries: set[tuple[str, date]] = set()
    if mode == "first":
        first_of: dict[str, date] = {}
        for a in acts:
            if a.name == start and (a.customer not in first_of or a.day < first_of[a.customer]):
                first_of[a.customer] = a.day
        entries = {(c, start_of(d, period)) for c, d in first_of.items()}
    else:
        entries = {(a.customer, start_of(a.day, period)) for a in acts if a.name == start}
    entries = {(c, p) for c, p in entries if first_cohort <= p <= end}
    returned: dict[str, set[date]] = defaultdict(set)
    for a in acts:
        if a.name == ret:
            returned[a.customer].add(start_of(a.day, period))

    def group_of(customer: str) -> str:
        if breakdown is None:
            return "all"
        value = (groups or {}).get(customer)
        return "(none)" if value is None else str(value)

    members: dict[tuple[str, date], list[str]] = defaultdict(list)
    for customer, cohort in entries:
        members[(group_of(customer), cohort)].append(customer)

    cohorts = []
    for (group, cohort), people in sorted(members.items()):
        counts = [0] * periods
        for customer in people:
            lags = {lag(cohort, p, period) for p in returned[customer] if p > cohort}
            lags = {k for k in lags if k < periods} | {0}
            for k in (range(max(lags) + 1) if cumulative else lags):
                counts[k] += 1
        money = None
        if amounts is not None:
            money = [sum((amounts.get((c, after(cohort, period, k)), Decimal(0))
                          for c in people), Decimal(0)) for k in range(periods)]
        cells = []
        for k in range(periods):
            begin = after(cohort, period, k)
            if begin > end:
                break
            cells.append({
                "period": k, "period_start": begin.isoformat(), "customers": counts[k],
                "rate": counts[k] / len(people),
                "complete": complete(begin, period, first_day, last_day),
                "amount": float(money[k]) if money else None,
                "amount_rate": (float(money[k] / money[0]) if money and money[0] > 0
                                else None)})
        cohorts.append({"breakdown": group, "cohort_start": cohort.isoformat(),
                        "size": len(people), "base_amount": float(money[0]) if money else None,
                        "cells": cells, "_money": money})
    doc["average"] = _average(cohorts, weighted=amounts is not None)
    for c in cohorts:
        del c["_money"]
    doc["cohorts"] = cohorts
    return doc


def _average(cohorts: list[dict[str, Any]], weighted: bool) -> list[dict[str, Any]]:
    pooled: dict[tuple[str, int], list[tuple[dict[str, Any], dict[str, Any]]]] = (
        defaultdict(list))
    for cohort in cohorts:
        for cell in cohort["cells"]:
            if cell["complete"]:
                pooled[(cohort["breakdown"], cell["period"])].append((cohort, cell))
    out = []
    for (group, k), pairs in sorted(pooled.items()):
        customers = sum(cell["customers"] for _, cell in pairs)
        sizes = sum(cohort["size"] for cohort, _ in pairs)
        amount = base = None
        if weighted:
            amount = sum((cohort["_money"][k] for cohort, _ in pairs), Decimal(0))
            base = sum((cohort["_money"][0] for cohort, _ in pairs), Decimal(0))
        out.append({"breakdown": group, "period": k, "cohorts": len(pairs),
                    "customers": customers, "cohort_customers": sizes,
                    "rate": customers / sizes,
                    "amount": float(amount) if amount is not None else None,
                    "base_amount": float(base) if base is not None else None,
                    "amount_rate": (float(amount / base) if amount is not None
                                    and base is not None and base > 0 else None)})
    return out


# -- lifecycle and stickiness ---------------------------------------------------------------

def _shown(acts: list[Act], period: str, since: date | None, until: date | None
           ) -> tuple[date | None, date | None, list[date]]:
    if not acts:
        return None, None, []
    first_day = min(a.day for a in acts)
    last_day = until if until is not None else max(a.day for a in acts)
    return first_day, last_day, starts_between(since or first_day, last_day, period)


def _head(period: str, source: str, event: str | None, offset_hours: float,
          first_day: date | None, last_day: date | None) -> dict[str, Any]:
    return {"period": period, "source": source, "event": event, "offset_hours": offset_hours,
            "first_day": first_day.isoformat() if first_day else None,
            "last_day": last_day.isoformat() if last_day else None}


def lifecycle(acts: list[Act], *, period: str = "week", event: str | None = None,
              since: date | None = None, until: date | None = None, source: str = "events",
              offset_hours: float = 8.0) -> dict[str, Any]:
    first_day, last_day, shown = _shown(acts, period, since, until)
    active: dict[str, set[date]] = defaultdict(set)
    for a in acts:
        if event is None or a.name == event:
            active[a.customer].add(start_of(a.day, period))
    tally: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for periods in active.values():
        ordered = sorted(periods)
        for i, p in enumerate(ordered):
            if i == 0:
                tally[p]["new"] += 1
            elif lag(ordered[i - 1], p, period) == 1:
                tally[p]["returning"] += 1
            else:
                tally[p]["resurrecting"] += 1
            if i == len(ordered) - 1 or lag(p, ordered[i + 1], period) > 1:
                tally[after(p, period, 1)]["dormant"] -= 1
    doc = _head(period, source, event, offset_hours, first_day, last_day)
    doc["periods"] = []
    for p in shown:
        t = tally[p]
        doc["periods"].append({
            "period_start": p.isoformat(), "new": t["new"], "returning": t["returning"],
            "resurrecting": t["resurrecting"], "dormant": t["dormant"],
            "active": t["new"] + t["returning"] + t["resurrecting"],
            "complete": complete(p, period, first_day, last_day)  # type: ignore[arg-type]
        })
    return doc


def stickiness(acts: list[Act], *, period: str = "week", event: str | None = None,
               since: date | None = None, until: date | None = None, source: str = "events",
               offset_hours: float = 8.0) -> dict[str, Any]:
    first_day, last_day, shown = _shown(acts, period, since, until)
    days: dict[tuple[str, date], set[date]] = defaultdict(set)
    for a in acts:
        if event is None or a.name == event:
            days[(a.customer, start_of(a.day, period))].add(a.day)
    doc = _head(period, source, event, offset_hours, first_day, last_day)
    doc["periods"] = []
    for p in shown:
        length = (last_day_of(p, period) - p).days + 1
        counts = [len(d) for (_, q), d in days.items() if q == p]
        distribution = [sum(1 for c in counts if c == n) for n in range(1, length + 1)]
        doc["periods"].append({
            "period_start": p.isoformat(), "days_in_period": length,
            "customers": len(counts), "distribution": distribution,
            "mean_active_days": sum(counts) / len(counts) if counts else None,
            "complete": complete(p, period, first_day, last_day)  # type: ignore[arg-type]
        })
    return doc
