"""RFM: recency, frequency and monetary value, scored 1-5 and sorted into eight classes.

The computation is the one the tags use (:func:`finpersona.tags.builtin.rfm_customers`),
over the same source views, so ``finpersona analyze rfm`` shows exactly the classes a
``finpersona build`` with the same settings writes into ``rfm_segment``.

Definitions (docs/analytics.md, "RFM"):

- the population is every customer of the build (registered by the as-of date);
- what counts is a **successful debit** (``direction = 'debit'``, ``status = 'success'``;
  purchases, transfers out, withdrawals, repayments and fees: money leaving the bank
  for the customer) on a local day in the window, the ``window_days`` days up to and
  including the as-of date;
- R = days from the latest such debit to the as-of date, F = how many, M = their CNY sum;
- quantile scoring: among customers with a debit in the window, score =
  ceil(5 x cume_dist), where cume_dist is the share of those customers whose value is at
  most this customer's (for R: whose latest debit was on the same day or earlier), so ties
  score alike; fixed scoring: four cuts per measure (:class:`RfmParams`);
- customers without a debit in the window score 1, 1, 1 (一般挽留);
- a score is high when it is 3 or more; the class is the high/low pattern of R, F, M.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import AnalysisError, collect, parse_duration
from finpersona.analytics.data import AnalyticsData
from finpersona.tags.builtin import (
    RFM_CLASSES,
    RFM_HIGH_SCORE,
    RfmParams,
    RfmScoring,
    rfm_customers,
)
from finpersona.tags.context import TagContext
from finpersona.tags.sources import SourceLoader

MEASURES = (("recency_days", "r_score"), ("frequency", "f_score"), ("monetary", "m_score"))


@dataclass(frozen=True)
class RfmClassSummary:
    """One of the eight classes: its size and the mean and total of its measures."""

    name: str
    r_high: bool
    f_high: bool
    m_high: bool
    customers: int
    share: float  # of all customers
    active_customers: int  # with a successful debit in the window
    mean_recency_days: float | None  # over the active customers of the class
    mean_frequency: float  # over all customers of the class (0 for the inactive)
    mean_monetary: float  # CNY, over all customers of the class
    total_monetary: float  # CNY: the class's value

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RfmScoreBand:
    """The customers with one score of one measure and the range of the measure among them
    (active customers only: without a debit every score is 1 and no measure exists)."""

    measure: str  # recency_days, frequency or monetary
    score: int
    customers: int
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RfmResult:
    as_of: date
    window_days: int
    scoring: str
    high_score: int  # a score of this or more is "high"
    cuts: dict[str, list[float]] | None  # fixed scoring only
    customers: int
    active_customers: int
    classes: tuple[RfmClassSummary, ...]  # all eight, in the classic order
    bands: tuple[RfmScoreBand, ...]  # per measure and score, scores ascending

    def class_named(self, name: str) -> RfmClassSummary:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "window_days": self.window_days,
                "scoring": self.scoring, "high_score": self.high_score, "cuts": self.cuts,
                "customers": self.customers, "active_customers": self.active_customers,
                "classes": [c.to_dict() for c in self.classes],
                "bands": [b.to_dict() for b in self.bands]}


def window_days(window: str | timedelta | int) -> int:
    """A window as whole days: ``365``, ``"365d"``, ``"52w"``."""
    if isinstance(window, int):
        if window <= 0:
            raise AnalysisError(f"the RFM window must be positive, got {window} days")
        return window
    value = parse_duration(window)
    if value % timedelta(days=1):
        raise AnalysisError(f"the RFM window is counted in whole days, got {window!r}")
    return value.days


def rfm_params(data: AnalyticsData, window: str | timedelta | int | None = None,
               scoring: str | RfmScoring | None = None) -> RfmParams:
    """The workspace's RFM settings (those the build uses), with optional overrides."""
    return with_overrides(RfmParams.from_settings(data.engine.settings), window, scoring)


def with_overrides(params: RfmParams, window: str | timedelta | int | None = None,
                   scoring: str | RfmScoring | None = None) -> RfmParams:
    days = params.window_days if window is None else window_days(window)
    method = params.scoring if scoring is None else _scoring(scoring)
    return RfmParams(days, method, params.recency_cuts, params.frequency_cuts,
                     params.monetary_cuts)


def _scoring(value: str | RfmScoring) -> RfmScoring:
    try:
        return RfmScoring(str(value).lower())
    except ValueError:
        raise AnalysisError(f"unknown RFM scoring {value!r}: use quantile or fixed") from None


def default_as_of(data: AnalyticsData) -> date:
    """The latest build's date (so the analysis matches the tags), else the last local day
    with a transaction."""
    dates = data.snapshot_dates()
    if dates:
        return dates[-1]
    t = data.transactions()
    shift = ibis.interval(seconds=round(data.offset_hours * 3600))
    last = data.engine.scalar((t.txn_time + shift).date().max())
    if last is None:
        raise AnalysisError("no transactions yet: ingest data first")
    return date.fromisoformat(str(last)[:10])


def rfm_context(data: AnalyticsData, as_of: date) -> TagContext:
    """The tag build's source views for ``as_of``: the inputs the rfm tags are computed from."""
    return TagContext(data.engine, as_of, data.offset_hours, SourceLoader(data.warehouse))


def customer_rfm(data: AnalyticsData, *, as_of: date | None = None,
                 window: str | timedelta | int | None = None,
                 scoring: str | RfmScoring | None = None) -> ir.Table:
    """Per customer (lazy, in the engine): recency_days, frequency, monetary, r/f/m_score and
    rfm_class; for saving a class as an audience or joining to other analyses."""
    params = rfm_params(data, window, scoring)
    return rfm_customers(rfm_context(data, as_of or default_as_of(data)), params)


def compute_rfm(data: AnalyticsData, *, as_of: date | None = None,
                window: str | timedelta | int | None = None,
                scoring: str | RfmScoring | None = None) -> RfmResult:
    """The RFM classes of the workspace's customers as of a date (default: the latest build),
    with the workspace's window and scoring unless overridden."""
    params = rfm_params(data, window, scoring)
    return summarise_rfm(rfm_context(data, as_of or default_as_of(data)), params)


def summarise_rfm(ctx: TagContext, params: RfmParams) -> RfmResult:
    """Class sizes and values and score bands for the customers of a tag context."""
    table = rfm_customers(ctx, params)
    classes = _class_rows(collect(ctx.engine, _class_query(table)))
    bands = _band_rows(collect(ctx.engine, _band_query(table)))
    customers = sum(c.customers for c in classes)
    total = max(customers, 1)
    classes = tuple(replace(c, share=c.customers / total) for c in classes)
    cuts = None
    if params.scoring is RfmScoring.FIXED:
        cuts = {"recency_days": [float(c) for c in params.recency_cuts],
                "frequency": [float(c) for c in params.frequency_cuts],
                "monetary": [float(c) for c in params.monetary_cuts]}
    return RfmResult(as_of=ctx.as_of, window_days=params.window_days,
                     scoring=params.scoring.value, high_score=RFM_HIGH_SCORE, cuts=cuts,
                     customers=customers,
                     active_customers=sum(c.active_customers for c in classes),
                     classes=classes, bands=bands)


def _class_query(table: ir.Table) -> ir.Table:
    active = table.recency_days.notnull()
    return table.group_by("rfm_class").aggregate(
        customers=table.count(),
        active_customers=table.count(where=active),
        recency_sum=table.recency_days.sum(),
        frequency_sum=table.frequency.sum(),
        monetary_sum=table.monetary.sum(),
    )


def _class_rows(rows: list[dict[str, Any]]) -> tuple[RfmClassSummary, ...]:
    by_name = {r["rfm_class"]: r for r in rows}
    out = []
    for name, r_high, f_high, m_high in RFM_CLASSES:
        row = by_name.get(name, {})
        n = int(row.get("customers") or 0)
        active = int(row.get("active_customers") or 0)
        money = Decimal(row.get("monetary_sum") or 0)
        out.append(RfmClassSummary(
            name=name, r_high=r_high, f_high=f_high, m_high=m_high, customers=n, share=0.0,
            active_customers=active,
            mean_recency_days=(int(row["recency_sum"]) / active) if active else None,
            mean_frequency=int(row.get("frequency_sum") or 0) / n if n else 0.0,
            mean_monetary=float(money / n) if n else 0.0,
            total_monetary=float(money)))
    return tuple(out)


def _band_query(table: ir.Table) -> ir.Table:
    active = table.filter(table.recency_days.notnull())
    parts = [active.group_by(score=active[score]).aggregate(
        customers=active.count(),
        low=active[measure].min().cast("float64"),
        high=active[measure].max().cast("float64"),
    ).mutate(measure=ibis.literal(measure)) for measure, score in MEASURES]
    return ibis.union(*parts)


def _band_rows(rows: list[dict[str, Any]]) -> tuple[RfmScoreBand, ...]:
    order = {m: i for i, (m, _) in enumerate(MEASURES)}
    rows = sorted(rows, key=lambda r: (order[r["measure"]], r["score"]))
    return tuple(RfmScoreBand(measure=r["measure"], score=int(r["score"]),
                              customers=int(r["customers"]), low=float(r["low"]),
                              high=float(r["high"])) for r in rows)


__all__ = ["RfmClassSummary", "RfmResult", "RfmScoreBand", "compute_rfm", "customer_rfm",
           "default_as_of", "rfm_context", "rfm_params", "summarise_rfm",
           "window_days", "with_overrides"]
