"""Credit behaviour: vintage curves, roll rates and the DPD distribution.

Everything starts from one engine table, the *month-end panel*: one row per loan
and month end while the loan is observed, with the loan's days past due (DPD)
and its state at that month end, reconstructed from the repayment schedule.

Definitions (docs/analytics.md, "Credit behaviour"):

* The latest month end is the last day of ``as_of``'s month if ``as_of`` is that
  day, else the last day of the previous month. Month ends after it are not used.
* An instalment is *fully paid* on its ``paid_date``; an empty ``paid_date`` means
  not fully paid (a partial payment does not cure it). At month end E an
  instalment due on or before E and not fully paid on or before E is late by
  ``E - due_date`` days (so one due on E itself is 0 days late). The loan's DPD at
  E is that of its oldest late instalment, 0 if none.
* Buckets: M0 = 0 days, M1 = 1-30, M2 = 31-60, M3 = 61-90, M4 = 91-120,
  M5 = 121-150, M6 = 151-180, M6+ = more than 180. ``closed`` (absorbing): the
  schedule holds the final instalment (number >= ``term_months``) and every
  instalment of the schedule is fully paid on or before E.
* A loan needs schedule rows to be observed; loans without any are left out and
  counted. A schedule that starts at instalment 1 shows the loan's whole life, and
  the loan is observed from the month end of its disbursement month (months on
  book, MOB, 0). A schedule exported from a later instalment (older loans, when a
  bank exports only a window) is *left-truncated*: the loan is observed from its
  first exported due date on, and vintage curves leave it out.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.analytics.base import AnalysisError, collect, require_columns
from finpersona.engine import Engine

STATES = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+", "closed")
BUCKETS = STATES[:-1]
# Upper DPD bound (inclusive) of each bucket up to M6; anything later is M6+.
BUCKET_UPPER = {"M0": 0, "M1": 30, "M2": 60, "M3": 90, "M4": 120, "M5": 150, "M6": 180}
CALENDAR_START = date(2000, 1, 1)  # the warehouse rejects credit dates before 2000
LOAN_COLUMNS = ("loan_id", "principal", "annual_rate", "term_months", "disbursed_date")
REPAYMENT_COLUMNS = ("loan_id", "installment_no", "due_date", "due_amount", "paid_date",
                     "paid_amount")
VINTAGE_BY = ("count", "amount")


# -- month ends ---------------------------------------------------------------------------


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def latest_month_end(as_of: date) -> date:
    """``as_of`` if it is a month end, else the month end before it."""
    if as_of == month_end(as_of):
        return as_of
    return as_of.replace(day=1) - timedelta(days=1)


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _month_ends(last: date) -> ir.Table:
    """A small calendar: every month end from 2000 up to ``last``."""
    ends, index = [], month_index(CALENDAR_START)
    while index <= month_index(last):
        ends.append(month_end(date(index // 12, index % 12 + 1, 1)))
        index += 1
    return ibis.memtable(pa.table({"month_end": pa.array(ends, pa.date32()),
                                   "month_index": pa.array([month_index(e) for e in ends],
                                                           pa.int64())}))


def _month_index_expr(day: ir.DateValue) -> ir.IntegerValue:
    return day.year().cast("int64") * 12 + day.month().cast("int64") - 1


# -- the month-end panel ------------------------------------------------------------------


def _schedules(repayments: ir.Table) -> ir.Table:
    """Per loan: first and last instalment number, first due date, unpaid count, last payment."""
    r = repayments
    return r.group_by("loan_id").aggregate(
        first_no=r.installment_no.min(), last_no=r.installment_no.max(),
        first_due=r.due_date.min(), unpaid=r.paid_date.isnull().cast("int64").sum(),
        last_paid=r.paid_date.max())


def observed_loans(loans: ir.Table, repayments: ir.Table, last: date) -> ir.Table:
    """Loans with a schedule, disbursed by ``last``: when observation starts, full history."""
    require_columns(loans, LOAN_COLUMNS, "credit analysis (loans)")
    require_columns(repayments, REPAYMENT_COLUMNS, "credit analysis (repayments)")
    s = _schedules(repayments)
    joined = loans.filter(loans.disbursed_date <= last).inner_join(s, "loan_id")
    full = joined.first_no == 1
    return joined.mutate(
        full_history=full,
        observed_from=ibis.ifelse(full, joined.disbursed_date, joined.first_due),
        cohort_index=_month_index_expr(joined.disbursed_date))


def _late_instalments(panel: ir.Table, repayments: ir.Table) -> ir.Table:
    """Per loan and month end: the oldest instalment due by then and not fully paid by then."""
    keys = panel.select("loan_id", "month_end")
    r = repayments.select(_r_loan=repayments.loan_id, _due=repayments.due_date,
                          _paid=repayments.paid_date)
    late = keys.inner_join(r, [keys.loan_id == r._r_loan, r._due <= keys.month_end,
                               r._paid.isnull() | (r._paid > keys.month_end)])
    return late.group_by(["loan_id", "month_end"]).aggregate(oldest_due=late._due.min())


def _state(dpd: ir.IntegerValue, closed: ir.BooleanValue) -> ir.StringValue:
    branches = [(closed, "closed"), (dpd <= 0, "M0")]
    branches += [(dpd <= upper, name) for name, upper in BUCKET_UPPER.items() if upper > 0]
    return ibis.cases(*branches, else_="M6+")


def month_end_panel(loans: ir.Table, repayments: ir.Table, as_of: date) -> ir.Table:
    """One row per observed loan and month end up to the latest month end.

    Columns: the loan's (``loan_id``, ``principal``, ``annual_rate``, ``term_months``,
    ``disbursed_date``, ``full_history``, ``cohort_index``, ``first_no``), ``month_end``,
    ``month_index``, ``mob`` (months on book), ``dpd`` and ``state``.
    """
    last = latest_month_end(as_of)
    lo = observed_loans(loans, repayments, last)
    ends = _month_ends(last)
    grid = lo.inner_join(ends, [ends.month_end >= lo.observed_from])
    grid = grid.mutate(mob=grid.month_index - grid.cohort_index)
    late = _late_instalments(grid, repayments)
    panel = grid.left_join(late, ["loan_id", "month_end"])
    dpd = panel.month_end.delta(panel.oldest_due, unit="day").fill_null(0).cast("int64")
    closed = ((panel.last_no >= panel.term_months) & (panel.unpaid == 0)
              & (panel.last_paid <= panel.month_end)).fill_null(False)
    panel = panel.mutate(dpd=dpd, state=_state(dpd, closed))
    return panel.select("loan_id", "principal", "annual_rate", "term_months", "disbursed_date",
                        "full_history", "cohort_index", "first_no", "month_end", "month_index",
                        "mob", "dpd", "state")


def default_as_of(engine: Engine, loans: ir.Table, repayments: ir.Table) -> date:
    """The latest date the data speaks for: the last disbursement or payment."""
    a = loans.aggregate(d=loans.disbursed_date.max())
    b = repayments.aggregate(d=repayments.paid_date.max())
    dates = [r["d"] for r in collect(engine, a.union(b)) if r["d"] is not None]
    if not dates:
        raise AnalysisError("no loans or repayments to analyse")
    latest: date = max(dates)
    return latest


def _coverage(engine: Engine, loans: ir.Table, repayments: ir.Table, last: date) -> dict[str, int]:
    """How many loans disbursed by ``last`` have no schedule or a left-truncated one."""
    s = _schedules(repayments)
    lo = loans.filter(loans.disbursed_date <= last)
    j = lo.left_join(s, "loan_id")
    row = collect(engine, j.aggregate(
        loans=j.count(), without_schedule=j.first_no.isnull().cast("int64").sum(),
        left_truncated=(j.first_no > 1).fill_null(False).cast("int64").sum()))[0]
    return {k: int(v or 0) for k, v in row.items()}


# -- vintage curves -----------------------------------------------------------------------


@dataclass(frozen=True)
class VintagePoint:
    mob: int
    bad_loans: int  # loans of the cohort that reached the threshold by this MOB
    bad_principal: float
    rate: float  # share of the cohort's loans (by="count") or principal (by="amount")

    def to_dict(self) -> dict[str, Any]:
        return {"mob": self.mob, "bad_loans": self.bad_loans,
                "bad_principal": round(self.bad_principal, 2), "rate": round(self.rate, 6)}


@dataclass(frozen=True)
class VintageCohort:
    cohort: str  # disbursement month, YYYY-MM
    loans: int
    principal: float
    points: tuple[VintagePoint, ...]  # MOB 1 .. the last observed MOB

    def to_dict(self) -> dict[str, Any]:
        return {"cohort": self.cohort, "loans": self.loans,
                "principal": round(self.principal, 2),
                "points": [p.to_dict() for p in self.points]}


@dataclass(frozen=True)
class VintageCurves:
    as_of: date
    month_end: date  # the latest month end observed
    threshold: int
    by: str
    cohorts: tuple[VintageCohort, ...]
    loans_without_schedule: int
    left_truncated_loans: int  # observed for roll rates and DPD, not in vintages

    def to_dict(self) -> dict[str, Any]:
        basis = "loans" if self.by == "count" else "principal"
        return {"as_of": self.as_of.isoformat(), "month_end": self.month_end.isoformat(),
                "threshold": self.threshold, "by": self.by,
                "definition": f"share of the cohort's {basis} whose month-end DPD reached "
                              f"{self.threshold} days or more by each month on book",
                "loans_without_schedule": self.loans_without_schedule,
                "left_truncated_loans": self.left_truncated_loans,
                "cohorts": [c.to_dict() for c in self.cohorts]}


def vintage_table(panel: ir.Table, threshold: int) -> ir.Table:
    """Per cohort and first bad MOB (null: never bad): loans and principal."""
    full = panel.filter(panel.full_history)
    loans = full.filter(full.mob == 0).select("loan_id", "cohort_index", "principal")
    bad = full.filter((full.mob >= 1) & (full.dpd >= threshold))
    first_bad = bad.group_by("loan_id").aggregate(bad_mob=bad.mob.min())
    j = loans.left_join(first_bad, "loan_id")
    return j.group_by(["cohort_index", "bad_mob"]).aggregate(
        loans=j.count(), principal=j.principal.sum())


def _check_vintage(threshold: int, by: str, max_mob: int | None) -> None:
    if threshold <= 0:
        raise AnalysisError(f"the DPD threshold must be a positive number of days, got "
                            f"{threshold} (usual: 30, 60 or 90)")
    if by not in VINTAGE_BY:
        raise AnalysisError(f"unknown vintage basis {by!r}: use count or amount")
    if max_mob is not None and max_mob <= 0:
        raise AnalysisError(f"--max-mob must be positive, got {max_mob}")


def _cohort(index: int, rows: list[dict[str, Any]], last_index: int, by: str,
            max_mob: int | None) -> VintageCohort:
    total = sum(int(r["loans"]) for r in rows)
    principal = sum(float(r["principal"] or 0) for r in rows)
    observed = last_index - index
    if max_mob is not None:
        observed = min(observed, max_mob)
    points, bad_n, bad_p = [], 0, 0.0
    for mob in range(1, observed + 1):
        for r in rows:
            if r["bad_mob"] == mob:
                bad_n += int(r["loans"])
                bad_p += float(r["principal"] or 0)
        rate = bad_n / total if by == "count" else (bad_p / principal if principal else 0.0)
        points.append(VintagePoint(mob, bad_n, bad_p, rate))
    return VintageCohort(month_label(index), total, principal, tuple(points))


def compute_vintage(engine: Engine, loans: ir.Table, repayments: ir.Table, *, as_of: date,
                    threshold: int = 30, by: str = "count",
                    max_mob: int | None = None) -> VintageCurves:
    """Vintage curves: per disbursement month, the share ever ``threshold``+ DPD by MOB."""
    _check_vintage(threshold, by, max_mob)
    last = latest_month_end(as_of)
    rows = collect(engine, vintage_table(month_end_panel(loans, repayments, as_of), threshold))
    cover = _coverage(engine, loans, repayments, last)
    by_cohort: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_cohort.setdefault(int(row["cohort_index"]), []).append(row)
    cohorts = tuple(_cohort(i, by_cohort[i], month_index(last), by, max_mob)
                    for i in sorted(by_cohort))
    return VintageCurves(as_of, last, threshold, by, cohorts, cover["without_schedule"],
                         cover["left_truncated"])


# -- roll rates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RollRateMatrix:
    month: str  # the month whose end the loans rolled into (YYYY-MM), or "pooled"
    counts: tuple[tuple[int, ...], ...]  # [from state][to state], in STATES order
    states: tuple[str, ...] = STATES

    @property
    def from_totals(self) -> tuple[int, ...]:
        return tuple(sum(row) for row in self.counts)

    @property
    def shares(self) -> tuple[tuple[float | None, ...], ...]:
        """Each row divided by its total (None for a state no loan was in)."""
        return tuple(tuple(n / total if total else None for n in row)
                     for row, total in zip(self.counts, self.from_totals, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "states": list(self.states),
                "from_totals": list(self.from_totals),
                "counts": [list(r) for r in self.counts],
                "shares": [[None if s is None else round(s, 6) for s in r]
                           for r in self.shares]}


@dataclass(frozen=True)
class RollRates:
    as_of: date
    month_end: date
    months: tuple[RollRateMatrix, ...]
    pooled: RollRateMatrix

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "month_end": self.month_end.isoformat(),
                "states": list(STATES), "pooled": self.pooled.to_dict(),
                "months": [m.to_dict() for m in self.months]}


def roll_rate_table(panel: ir.Table) -> ir.Table:
    """``month_index``, ``from_state``, ``to_state``, ``loans``: moves between month ends."""
    w = ibis.window(group_by="loan_id", order_by="month_index")
    p = panel.mutate(from_state=panel.state.lag().over(w),
                     from_index=panel.month_index.lag().over(w))
    moves = p.filter(p.from_index == p.month_index - 1)
    return moves.group_by(["month_index", "from_state", "state"]).aggregate(
        loans=moves.count()).rename(to_state="state")


def parse_month(text: str) -> int:
    if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
        raise AnalysisError(f"a month is written YYYY-MM, e.g. 2025-06, not {text!r}")
    return int(text[:4]) * 12 + int(text[5:]) - 1


def _matrix(label: str, rows: Sequence[dict[str, Any]]) -> RollRateMatrix:
    pos = {s: i for i, s in enumerate(STATES)}
    counts = [[0] * len(STATES) for _ in STATES]
    for r in rows:
        counts[pos[r["from_state"]]][pos[r["to_state"]]] += int(r["loans"])
    return RollRateMatrix(label, tuple(tuple(row) for row in counts))


def compute_roll_rates(engine: Engine, loans: ir.Table, repayments: ir.Table, *, as_of: date,
                       month: str | None = None) -> RollRates:
    """Counts and shares of loans moving between states from one month end to the next.

    ``month`` (YYYY-MM) keeps only the moves into that month's end; the pooled
    matrix sums the months shown.
    """
    last = latest_month_end(as_of)
    wanted = None if month is None else parse_month(month)
    if wanted is not None and wanted > month_index(last):
        raise AnalysisError(f"month {month} ends after the latest month end {last}")
    table = roll_rate_table(month_end_panel(loans, repayments, as_of))
    if wanted is not None:
        table = table.filter(table.month_index == wanted)
    rows = collect(engine, table)
    by_month: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_month.setdefault(int(r["month_index"]), []).append(r)
    if wanted is not None:
        by_month.setdefault(wanted, [])
    months = tuple(_matrix(month_label(i), by_month[i]) for i in sorted(by_month))
    return RollRates(as_of, last, months, _matrix("pooled", rows))


# -- DPD distribution ---------------------------------------------------------------------


@dataclass(frozen=True)
class DpdBucket:
    bucket: str
    loans: int
    loan_share: float | None  # of open loans
    balance: float  # estimated outstanding principal
    balance_share: float | None
    overdue_amount: float  # unpaid amount of the late instalments

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "loans": self.loans,
                "loan_share": None if self.loan_share is None else round(self.loan_share, 6),
                "balance": round(self.balance, 2),
                "balance_share": (None if self.balance_share is None
                                  else round(self.balance_share, 6)),
                "overdue_amount": round(self.overdue_amount, 2)}


@dataclass(frozen=True)
class DpdDistribution:
    as_of: date
    month_end: date
    buckets: tuple[DpdBucket, ...]  # M0 .. M6+, open loans
    closed_loans: int
    loans_without_schedule: int

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "month_end": self.month_end.isoformat(),
                "open_loans": sum(b.loans for b in self.buckets),
                "closed_loans": self.closed_loans,
                "loans_without_schedule": self.loans_without_schedule,
                "buckets": [b.to_dict() for b in self.buckets]}


def outstanding_principal(principal: ir.NumericValue, annual_rate: ir.NumericValue,
                          term: ir.IntegerValue, paid: ir.IntegerValue) -> ir.FloatingValue:
    """Principal left after ``paid`` level (annuity) instalments at ``annual_rate / 12``.

    ``P * ((1+i)^n - (1+i)^k) / ((1+i)^n - 1)``, or ``P * (n-k) / n`` at zero rate.
    """
    p = principal.cast("float64")
    i = annual_rate.cast("float64") / 12
    n = term.cast("float64")
    k = ibis.least(paid, term).cast("float64")
    growth_n, growth_k = (1 + i).pow(n), (1 + i).pow(k)
    return ibis.ifelse(i > 0, p * (growth_n - growth_k) / (growth_n - 1), p * (n - k) / n)


def dpd_table(panel: ir.Table, repayments: ir.Table, last: date) -> ir.Table:
    """Per state at the latest month end: loans, outstanding balance, overdue amount."""
    latest = panel.filter(panel.month_end == last)
    r = repayments
    settled = r.filter(r.paid_date <= last)
    paid = settled.group_by(_paid_loan=settled.loan_id).aggregate(paid_count=settled.count())
    late = r.filter((r.due_date <= last) & (r.paid_date.isnull() | (r.paid_date > last)))
    overdue = late.group_by(_late_loan=late.loan_id).aggregate(overdue=(
        late.due_amount.cast("float64") - late.paid_amount.cast("float64").fill_null(0)).sum())
    j = latest.left_join(paid, latest.loan_id == paid._paid_loan).left_join(
        overdue, latest.loan_id == overdue._late_loan)
    # Instalments before a left-truncated schedule are not exported: they were paid.
    count = j.first_no - 1 + j.paid_count.fill_null(0)
    balance = ibis.ifelse(j.state == "closed", 0.0,
                          outstanding_principal(j.principal, j.annual_rate, j.term_months,
                                                count))
    return j.group_by("state").aggregate(loans=j.count(), balance=balance.sum(),
                                         overdue=j.overdue.fill_null(0).sum())


def compute_dpd_distribution(engine: Engine, loans: ir.Table, repayments: ir.Table, *,
                             as_of: date) -> DpdDistribution:
    """Loans and outstanding balance by DPD bucket at the latest month end."""
    last = latest_month_end(as_of)
    rows = {r["state"]: r for r in collect(
        engine, dpd_table(month_end_panel(loans, repayments, as_of), repayments, last))}
    cover = _coverage(engine, loans, repayments, last)
    open_loans = sum(int(r["loans"]) for s, r in rows.items() if s != "closed")
    open_balance = sum(float(r["balance"] or 0) for s, r in rows.items() if s != "closed")
    buckets = []
    for name in BUCKETS:
        r = rows.get(name, {"loans": 0, "balance": 0.0, "overdue": 0.0})
        n, bal = int(r["loans"]), float(r["balance"] or 0)
        buckets.append(DpdBucket(name, n, n / open_loans if open_loans else None, bal,
                                 bal / open_balance if open_balance else None,
                                 float(r["overdue"] or 0)))
    closed = int(rows["closed"]["loans"]) if "closed" in rows else 0
    return DpdDistribution(as_of, last, tuple(buckets), closed, cover["without_schedule"])


__all__ = ["BUCKETS", "STATES", "DpdBucket", "DpdDistribution", "RollRateMatrix", "RollRates",
           "VintageCohort", "VintageCurves", "VintagePoint", "compute_dpd_distribution",
           "compute_roll_rates", "compute_vintage", "default_as_of", "latest_month_end",
           "month_end_panel", "outstanding_principal"]
