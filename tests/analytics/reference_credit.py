"""A brute-force reference for credit behaviour, in plain Python.

It walks each loan month end by month end and, at each, looks at every
instalment of the schedule: late if due on or before the month end and not paid
on or before it. Nothing here is shared with ``finpersona.analytics.credit``:
bucket edges come from a ceiling division, balances from amortising instalment
by instalment rather than the closed-form annuity formula.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

BUCKET_NAMES = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+"]


@dataclass(frozen=True)
class Loan:
    loan_id: str
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    disbursed_date: date


@dataclass(frozen=True)
class Instalment:
    loan_id: str
    installment_no: int
    due_date: date
    due_amount: Decimal
    paid_date: date | None
    paid_amount: Decimal | None


@dataclass(frozen=True)
class LoanMonth:
    loan_id: str
    month_end: date
    mob: int
    dpd: int
    state: str


def loans_from_rows(rows: list[dict[str, Any]]) -> list[Loan]:
    return [Loan(r["loan_id"], Decimal(r["principal"]), Decimal(r["annual_rate"]),
                 int(r["term_months"]), r["disbursed_date"]) for r in rows]


def instalments_from_rows(rows: list[dict[str, Any]]) -> list[Instalment]:
    return [Instalment(r["loan_id"], int(r["installment_no"]), r["due_date"],
                       Decimal(r["due_amount"]), r["paid_date"],
                       None if r["paid_amount"] is None else Decimal(r["paid_amount"]))
            for r in rows]


def end_of_month(day: date) -> date:
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - timedelta(days=1)


def following_month_end(month_end: date) -> date:
    return end_of_month(month_end + timedelta(days=1))


def last_month_end(as_of: date) -> date:
    if (as_of + timedelta(days=1)).day == 1:
        return as_of
    return as_of.replace(day=1) - timedelta(days=1)


def months_apart(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def bucket(dpd: int) -> str:
    if dpd == 0:
        return "M0"
    k = -(-dpd // 30)  # 1..30 -> 1, 31..60 -> 2, ...
    return BUCKET_NAMES[min(k, 7)]


def _paid_by(inst: Instalment, day: date) -> bool:
    return inst.paid_date is not None and inst.paid_date <= day


def loan_state(loan: Loan, schedule: list[Instalment], month_end: date) -> tuple[int, str]:
    late = [i for i in schedule if i.due_date <= month_end and not _paid_by(i, month_end)]
    dpd = max(((month_end - i.due_date).days for i in late), default=0)
    has_last = any(i.installment_no >= loan.term_months for i in schedule)
    if has_last and all(_paid_by(i, month_end) for i in schedule):
        return dpd, "closed"
    return dpd, bucket(dpd)


def schedules(instalments: list[Instalment]) -> dict[str, list[Instalment]]:
    out: dict[str, list[Instalment]] = {}
    for inst in instalments:
        out.setdefault(inst.loan_id, []).append(inst)
    return out


def panel(loans: list[Loan], instalments: list[Instalment], as_of: date) -> list[LoanMonth]:
    """Every observed loan at every month end up to the last one on or before ``as_of``."""
    last = last_month_end(as_of)
    plans = schedules(instalments)
    rows = []
    for loan in loans:
        schedule = plans.get(loan.loan_id, [])
        if not schedule or loan.disbursed_date > last:
            continue
        whole = min(i.installment_no for i in schedule) == 1
        start = loan.disbursed_date if whole else min(i.due_date for i in schedule)
        month_end = end_of_month(start)
        while month_end <= last:
            dpd, state = loan_state(loan, schedule, month_end)
            rows.append(LoanMonth(loan.loan_id, month_end,
                                  months_apart(loan.disbursed_date, month_end), dpd, state))
            month_end = following_month_end(month_end)
    return rows


def vintage(loans: list[Loan], instalments: list[Instalment], as_of: date, threshold: int,
            by: str) -> dict[str, dict[str, Any]]:
    """{cohort: {"loans", "principal", "rates": [MOB 1, 2, ...]}} over whole-history loans."""
    last = last_month_end(as_of)
    plans = schedules(instalments)
    history = {(r.loan_id, r.mob): r.dpd for r in panel(loans, instalments, as_of)}
    cohorts: dict[str, dict[str, Any]] = {}
    for loan in loans:
        schedule = plans.get(loan.loan_id, [])
        if (not schedule or loan.disbursed_date > last
                or min(i.installment_no for i in schedule) != 1):
            continue
        label = loan.disbursed_date.strftime("%Y-%m")
        c = cohorts.setdefault(label, {"loans": 0, "principal": Decimal(0), "members": [],
                                       "observed": months_apart(loan.disbursed_date, last)})
        c["loans"] += 1
        c["principal"] += loan.principal
        c["members"].append(loan)
    for c in cohorts.values():
        rates = []
        for mob in range(1, c["observed"] + 1):
            bad = [m for m in c["members"]
                   if any(history[(m.loan_id, k)] >= threshold for k in range(1, mob + 1))]
            if by == "count":
                rates.append(len(bad) / c["loans"])
            else:
                total = float(c["principal"])
                rates.append(float(sum(m.principal for m in bad)) / total if total else 0.0)
        c["rates"] = rates
        del c["members"], c["observed"]
    return cohorts


def roll_rates(loans: list[Loan], instalments: list[Instalment],
               as_of: date) -> dict[str, Counter[tuple[str, str]]]:
    """{"YYYY-MM" of the later month end: Counter[(from state, to state)]}."""
    rows = panel(loans, instalments, as_of)
    state = {(r.loan_id, r.month_end): r.state for r in rows}
    out: dict[str, Counter[tuple[str, str]]] = {}
    for r in rows:
        before = r.month_end.replace(day=1) - timedelta(days=1)
        if (r.loan_id, before) in state:
            out.setdefault(r.month_end.strftime("%Y-%m"), Counter())[
                (state[(r.loan_id, before)], r.state)] += 1
    return out


def remaining_principal(loan: Loan, paid: int) -> float:
    """Amortise instalment by instalment: interest accrues, the level payment is taken off."""
    rate = float(loan.annual_rate) / 12
    n = loan.term_months
    balance = float(loan.principal)
    payment = balance / n if rate == 0 else balance * rate / (1 - (1 + rate) ** -n)
    for _ in range(min(paid, n)):
        balance = balance * (1 + rate) - payment
    return max(balance, 0.0) if paid < n else 0.0


def dpd_distribution(loans: list[Loan], instalments: list[Instalment],
                     as_of: date) -> dict[str, dict[str, float]]:
    """{state: {"loans", "balance", "overdue"}} at the last month end."""
    last = last_month_end(as_of)
    plans = schedules(instalments)
    by_id = {loan.loan_id: loan for loan in loans}
    out: dict[str, dict[str, float]] = {}
    for r in panel(loans, instalments, as_of):
        if r.month_end != last:
            continue
        loan, schedule = by_id[r.loan_id], plans[r.loan_id]
        paid = (min(i.installment_no for i in schedule) - 1
                + sum(1 for i in schedule if _paid_by(i, last)))
        overdue = sum(float(i.due_amount - (i.paid_amount or 0)) for i in schedule
                      if i.due_date <= last and not _paid_by(i, last))
        cell = out.setdefault(r.state, {"loans": 0, "balance": 0.0, "overdue": 0.0})
        cell["loans"] += 1
        cell["balance"] += 0.0 if r.state == "closed" else remaining_principal(loan, paid)
        cell["overdue"] += overdue
    return out
