"""Credit: the loan funnel, decisions, loans and repayment schedules.

Approval follows a noisy view of each customer's hidden true probability of
default (true_pd), and repayments go bad on the same true_pd, so a scorecard
trained on the data has something real to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from finpersona.synth import formatting as fmt
from finpersona.synth import personas as ps
from finpersona.synth.calendar import day_weights, period_days, sample_times
from finpersona.synth.catalogue import (
    LOAN_PRODUCTS,
    PRODUCT_IDS,
    PRODUCT_INDEX,
    PRODUCT_MIN,
    PRODUCT_RATE,
    PRODUCTS,
)
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import by_group, expand, stream

# Loan product preference per persona (LOAN_PRODUCTS order: P025, P026, P027, P029, P030).
LOAN_PRODUCT_PROBS = np.array([
    [.55, .05, .4, 0, 0], [.45, .45, .1, 0, 0], [.6, .3, 0, .05, .05], [.15, .05, .05, .45, .3],
    [.8, .2, 0, 0, 0], [.45, .05, .5, 0, 0], [.4, 0, .6, 0, 0]])
TERMS = {"P025": (6, 12, 24), "P026": (24, 36), "P027": (3, 6, 12), "P029": (12, 24, 36),
         "P030": (12,)}
APP_STATUSES = ("submitted", "approved", "rejected", "withdrawn")
LOAN_STATUSES = ("current", "overdue", "paid_off", "written_off")
REJECT_REASONS = ("R01_SCORE", "R02_DEBT_TO_INCOME", "R03_FRAUD_CHECK")
MORTGAGE_SHARE = np.array([.02, .35, .25, .2, .05, .15, 0])
APPROVAL_CUTOFF = -2.4  # log-odds of the noisy risk score


@dataclass
class Funnel:
    """Who looked at a loan in the app, and how far they got."""

    customer: np.ndarray  # index into the chunk
    view_time: np.ndarray  # datetime64[s]
    product: np.ndarray  # index into PRODUCTS
    started: np.ndarray
    submitted: np.ndarray
    web: np.ndarray  # applied on the web site rather than the app
    applied: np.ndarray  # datetime64[s] of the submission (used when submitted)


@dataclass
class Loans:
    """Loans for account and holdings generation."""

    customer: np.ndarray
    loan_id: pa.Array
    product: np.ndarray
    principal: np.ndarray
    term: np.ndarray
    disbursed: np.ndarray  # datetime64[D]
    status: np.ndarray  # index into LOAN_STATUSES


@dataclass
class CreditChunk:
    funnel: Funnel
    loans: Loans  # every loan drawn; loan_kept marks those still booked
    applications: fmt.Columns
    loan_rows: fmt.Columns
    repayments: fmt.Columns
    application_funnel: np.ndarray  # per application: its funnel row
    loan_application: np.ndarray  # per loan: its application row, -1 before the period
    repayment_loan: np.ndarray  # per repayment row: its loan
    loan_kept: np.ndarray

    def before_leaving(self, churned_at: np.ndarray) -> CreditChunk:
        """Without the loan looks (and their applications, loans, repayments) after leaving.

        ``churned_at`` is each customer's churn moment (NaT: stays). A customer who
        has left opens no app and applies for nothing; the draws stay as they were so
        nobody else's credit history changes.
        """
        f = self.funnel
        left = churned_at[f.customer]
        look = ~(~np.isnat(left) & (f.view_time > left))
        app = look[self.application_funnel]
        has_app = self.loan_application >= 0
        loan = ~has_app | app[np.maximum(self.loan_application, 0)]
        repayment = loan[self.repayment_loan]
        funnel = Funnel(f.customer[look], f.view_time[look], f.product[look], f.started[look],
                        f.submitted[look], f.web[look], f.applied[look])
        return CreditChunk(funnel, self.loans, _rows(self.applications, app),
                           _rows(self.loan_rows, loan), _rows(self.repayments, repayment),
                           self.application_funnel, self.loan_application, self.repayment_loan,
                           loan & self.loan_kept)


def _rows(columns: fmt.Columns, keep: np.ndarray) -> fmt.Columns:
    mask = pa.array(keep)
    return {name: values.filter(mask) for name, values in columns.items()}


def add_months_days(day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Same day-of-month ``months`` later, with days past the 28th moved to the 28th."""
    month = day.astype("datetime64[M]")
    dom = np.minimum((day - month.astype("datetime64[D]")).astype(np.int64), 27)
    return np.asarray((month + months.astype("timedelta64[M]")).astype("datetime64[D]")
            + dom.astype("timedelta64[D]"))


def _funnel(rng: np.random.Generator, cust: CustomerChunk, start: date, months: int) -> Funnel:
    interest = np.clip(ps.table("loan_interest")[cust.persona] * (0.6 + 0.4 * cust.activity), 0, 1)
    who = np.flatnonzero(rng.random(cust.n) < interest)
    days = period_days(start, months)
    profile = np.array([ps.HOUR_PROFILE_NAMES.index(ps.PERSONAS[p].hour_profile)
                        for p in range(len(ps.PERSONAS))])[cust.persona[who]]
    view = sample_times(rng, days, day_weights(days, "app"), profile)
    choice = by_group(rng, cust.persona[who], LOAN_PRODUCT_PROBS)
    product = np.array([PRODUCT_INDEX[p] for p in LOAN_PRODUCTS])[choice]
    stressed = cust.persona[who] == ps.PERSONA_NAMES.index("credit_stressed_borrower")
    started = rng.random(len(who)) < np.where(stressed, 0.75, 0.55)
    submitted = started & (rng.random(len(who)) < 0.65)
    applied = view + rng.integers(120, 1500, size=len(who)).astype("timedelta64[s]")
    return Funnel(who, view, product, started, submitted, rng.random(len(who)) < 0.12, applied)


def _annuity(principal: np.ndarray, rate: np.ndarray, term: np.ndarray) -> np.ndarray:
    r = rate / 12
    with np.errstate(divide="ignore", invalid="ignore"):
        pay = principal * r / (1 - (1 + r) ** (-term.astype(float)))
    return np.asarray(np.where(r > 0, pay, principal / term))


def make_credit(  # noqa: PLR0915 - funnel, decision, booking and schedule read in order
        seed: int, chunk: int, cust: CustomerChunk, start: date,
                months: int) -> CreditChunk:
    rng = stream(seed, chunk, "credit")
    end = period_days(start, months)[-1]
    end_ts = end.astype("datetime64[s]") + np.timedelta64(86399, "s")
    funnel = _funnel(rng, cust, start, months)

    # Applications: one per submitted funnel.
    sub = np.flatnonzero(funnel.submitted)
    a_cust = funnel.customer[sub]
    a_prod = funnel.product[sub]
    applied = funnel.applied[sub]
    n_app = len(sub)
    term = np.zeros(n_app, dtype=np.int64)
    for pid in LOAN_PRODUCTS:
        idx = np.flatnonzero(a_prod == PRODUCT_INDEX[pid])
        term[idx] = np.array(TERMS[pid])[rng.integers(0, len(TERMS[pid]), size=len(idx))]
    min_amount = PRODUCT_MIN[a_prod]
    amount = np.maximum(np.round(cust.income[a_cust] * rng.uniform(0.8, 6, size=n_app), -3),
                        min_amount)
    amount = np.where(np.isin(a_prod, [PRODUCT_INDEX["P029"], PRODUCT_INDEX["P026"]]),
                      np.maximum(amount * 4, min_amount), amount)
    score = np.log(cust.true_pd[a_cust] / (1 - cust.true_pd[a_cust])) + rng.normal(0, 0.6, n_app)
    dti = amount / cust.income[a_cust]
    decided = applied + np.round(rng.exponential(3 * 3600, size=n_app)).astype("timedelta64[s]")
    withdrawn = rng.random(n_app) < 0.03
    pending = decided > end_ts
    approved = (score < APPROVAL_CUTOFF) & (dti < 30) & ~withdrawn & ~pending
    status = np.select([pending, withdrawn, approved], [0, 3, 1], default=2)
    reason = np.where(dti >= 30, 1, np.where(rng.random(n_app) < 0.05, 2, 0))
    app_id = fmt.prefixed_ids("AP", np.arange(n_app) + chunk * 10**7, 11)
    applications: fmt.Columns = {
        "application_id": app_id,
        "customer_id": fmt.take(cust.customer_id, a_cust),
        "product_id": fmt.codes(a_prod, PRODUCT_IDS),
        "applied_at": fmt.timestamps(applied),
        "amount": fmt.decimals(amount),
        "term_months": fmt.integers(term),
        "channel": fmt.codes(funnel.web[sub].astype(np.int64), ("app", "web")),
        "status": fmt.codes(status, APP_STATUSES),
        "decided_at": fmt.timestamps(decided, missing=pending),
        "reject_reason": fmt.codes(reason, REJECT_REASONS, missing=status != 2),
    }

    # New loans from approved applications, plus loans booked before the period.
    ok = np.flatnonzero(approved)
    disb_new = decided[ok].astype("datetime64[D]") + rng.integers(0, 3, len(ok)).astype(
        "timedelta64[D]")
    keep = disb_new <= end
    ok, disb_new = ok[keep], disb_new[keep]
    start_day = np.datetime64(start, "D")
    has_mortgage = rng.random(cust.n) < MORTGAGE_SHARE[cust.persona]
    m_cust = np.flatnonzero(has_mortgage)
    m_disb = start_day - rng.integers(60, 365 * 12, size=len(m_cust)).astype("timedelta64[D]")
    legacy = rng.random(cust.n) < ps.table("loan_interest")[cust.persona] * 0.6
    l_cust = np.flatnonzero(legacy)
    l_choice = by_group(rng, cust.persona[l_cust], LOAN_PRODUCT_PROBS)
    l_prod = np.array([PRODUCT_INDEX[p] for p in LOAN_PRODUCTS])[l_choice]
    longest = np.array([TERMS.get(p.product_id, (1,))[-1] for p in PRODUCTS], dtype=np.int64)
    l_term = longest[l_prod]
    l_disb = start_day - rng.integers(20, 540, size=len(l_cust)).astype("timedelta64[D]")

    customer = np.concatenate([a_cust[ok], m_cust, l_cust])
    product = np.concatenate([a_prod[ok], np.full(len(m_cust), PRODUCT_INDEX["P028"]), l_prod])
    disbursed = np.concatenate([disb_new, m_disb, l_disb])
    loan_term = np.concatenate([term[ok], np.full(len(m_cust), 360, dtype=np.int64), l_term])
    principal = np.concatenate([
        amount[ok] * np.where(score[ok] > APPROVAL_CUTOFF - 0.5, 0.8, 1.0),
        np.round(cust.income[m_cust] * rng.uniform(60, 200, size=len(m_cust)), -4),
        np.round(cust.income[l_cust] * rng.uniform(1, 5, size=len(l_cust)), -3)])
    principal = np.maximum(principal, 1000)
    base_rate = PRODUCT_RATE[product]
    pd = cust.true_pd[customer]
    rate = np.clip(base_rate + np.where(product == PRODUCT_INDEX["P028"], 0, 0.4 * pd), 0.03, 0.24)
    app_row = np.concatenate([ok, np.full(len(m_cust) + len(l_cust), -1)])
    n_loan = len(customer)
    loan_id = fmt.prefixed_ids("L", np.arange(n_loan) + chunk * 10**7, 11)
    maturity = add_months_days(disbursed, loan_term)

    # Schedules: instalments due inside the period plus the next three, as a bank exports them.
    window_start = np.maximum(disbursed, start_day)
    months_before = np.maximum(
        0, (window_start.astype("datetime64[M]") - disbursed.astype("datetime64[M]")).astype(
            np.int64) - 1)
    first_k = months_before + 1
    horizon = end.astype("datetime64[M]") + np.timedelta64(3, "M")
    last_k = np.minimum(loan_term, (horizon - disbursed.astype("datetime64[M]")).astype(np.int64))
    counts = np.maximum(last_k - first_k + 1, 0)
    owner, pos = expand(counts)
    k = first_k[owner] + pos
    due = add_months_days(disbursed[owner], k)
    in_window = due >= window_start[owner]
    owner, k, due = owner[in_window], k[in_window], due[in_window]
    pay = np.round(_annuity(principal, rate, loan_term), 2)[owner]
    # Default: a monthly hazard from the 12-month true PD; after it nothing more is paid.
    hazard = 1 - (1 - pd) ** (1 / 12)
    default_after = rng.geometric(np.clip(hazard, 1e-6, 1))  # months into the window
    month_in_window = (due.astype("datetime64[M]")
                       - window_start[owner].astype("datetime64[M]")).astype(np.int64)
    defaulted = month_in_window >= default_after[owner]
    late = np.where(rng.random(len(due)) < np.clip(3 * pd[owner], 0.01, 0.4),
                    rng.integers(1, 25, size=len(due)), 0)
    paid_date = due + late.astype("timedelta64[D]")
    is_due = due <= end
    paid = ~defaulted & is_due & (paid_date <= end)
    dpd = np.where(paid, late, np.where(is_due, (end - due).astype(np.int64), 0))
    paid_amount = np.where(paid, pay, 0.0)
    max_dpd = np.zeros(n_loan, dtype=np.int64)
    np.maximum.at(max_dpd, owner, np.where(paid, 0, dpd))
    status = np.select([max_dpd > 180, max_dpd > 0, maturity <= end], [3, 1, 2], default=0)

    loan_rows: fmt.Columns = {
        "loan_id": loan_id,
        "application_id": fmt.take(app_id, np.maximum(app_row, 0), missing=app_row < 0),
        "customer_id": fmt.take(cust.customer_id, customer),
        "product_id": fmt.codes(product, PRODUCT_IDS),
        "principal": fmt.decimals(principal),
        "annual_rate": fmt.decimals(rate, 4),
        "term_months": fmt.integers(loan_term),
        "disbursed_date": fmt.dates(disbursed),
        "maturity_date": fmt.dates(maturity),
        "status": fmt.codes(status, LOAN_STATUSES),
    }
    repayments: fmt.Columns = {
        "loan_id": fmt.take(loan_id, owner),
        "customer_id": fmt.take(cust.customer_id, customer[owner]),
        "installment_no": fmt.integers(k),
        "due_date": fmt.dates(due),
        "due_amount": fmt.decimals(pay),
        "paid_date": fmt.dates(paid_date, missing=~paid),
        "paid_amount": fmt.decimals(paid_amount, missing=~is_due),
        "days_past_due": fmt.integers(dpd),
    }
    loans = Loans(customer, loan_id, product, principal, loan_term, disbursed, status)
    return CreditChunk(funnel, loans, applications, loan_rows, repayments, sub, app_row, owner,
                       np.ones(n_loan, dtype=bool))

