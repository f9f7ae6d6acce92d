"""Accounts each customer holds, and their balance snapshots (holdings).

Two steps. :func:`draw_accounts` draws the accounts of the old recipe: who holds
which product family, opened at a random day since registration. Then
:func:`finish_accounts` keeps those opened before the period (or before the
customer joined), drops the ones the recipe would have opened during it and
adds the planted acquisitions instead (acquisition.py), drops loans booked after
a customer left (attrition.py), and writes month-end balances: each customer's
assets are spread over the accounts open at each snapshot, and after leaving,
deposits, wealth products and funds keep only a few yuan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from finpersona.synth import attrition as at
from finpersona.synth import formatting as fmt
from finpersona.synth import identities as ids
from finpersona.synth import personas as ps
from finpersona.synth.acquisition import ACQUIRED_TYPES, Acquisitions
from finpersona.synth.calendar import month_ends, period_days
from finpersona.synth.catalogue import (
    PRODUCT_IDS,
    PRODUCT_INDEX,
    PRODUCT_MIN,
    PRODUCT_TYPES,
    card_product,
    fund_level,
    pick,
    time_deposit_product,
    wealth_product,
)
from finpersona.synth.credit import Loans, add_months_days
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import stream

ACCOUNT_STATUSES = ("active", "dormant", "frozen", "closed")
# Relative share of a customer's assets (AUM) kept in each product family.
AUM_WEIGHT = {"demand_deposit": 1.0, "time_deposit": 2.0, "wealth_management": 2.0, "fund": 1.0}
# The families whose money a leaving customer takes with them.
MOVABLE = ("demand_deposit", "time_deposit", "wealth_management", "fund")
USD_RATE = 7.1
FAMILIES = tuple(dict.fromkeys(PRODUCT_TYPES.tolist()))


@dataclass
class AccountChunk:
    customer: np.ndarray
    account_id: pa.Array
    product: np.ndarray
    debit_account: np.ndarray  # per customer: row of the main debit-card account
    credit_account: np.ndarray  # per customer: row of the credit card, -1 when none
    credit_opened: np.ndarray  # per customer: datetime64[D] the card opened, NaT when none
    columns: fmt.Columns
    holdings: fmt.Columns


@dataclass
class DrawnAccounts:
    """The old recipe's accounts (rows), before planted acquisition and attrition."""

    rng: np.random.Generator
    customer: np.ndarray
    product: np.ndarray
    opened: np.ndarray  # datetime64[D]
    closed_date: np.ndarray  # datetime64[D]
    closed: np.ndarray
    status: np.ndarray  # index into ACCOUNT_STATUSES
    usd: np.ndarray
    is_loan: np.ndarray
    card_text: np.ndarray  # card number of every row (empty where the row has no card)

    @property
    def ptype(self) -> np.ndarray:
        return np.asarray(PRODUCT_TYPES[self.product])


def draw_accounts(  # noqa: PLR0915 - one linear recipe per product family
        seed: int, chunk: int, cust: CustomerChunk, loans: Loans, start: date,
        months: int) -> DrawnAccounts:
    rng = stream(seed, chunk, "accounts")
    n = cust.n
    p = cust.persona
    end = period_days(start, months)[-1]
    everyone = np.arange(n)
    salaried = np.isin(p, [0, 1, 5]) & (rng.random(n) < 0.5)
    parts_c: list[np.ndarray] = [everyone]
    parts_p: list[np.ndarray] = [np.where(salaried, PRODUCT_INDEX["P002"], PRODUCT_INDEX["P001"])]

    has_card = np.flatnonzero(rng.random(n) < ps.table("has_credit_card")[p])
    parts_c.append(has_card)
    parts_p.append(card_product(p[has_card]))

    has_td = np.flatnonzero(rng.random(n) < ps.table("has_time_deposit")[p])
    parts_c.append(has_td)
    parts_p.append(time_deposit_product(rng.integers(0, 3, size=len(has_td)), cust.aum[has_td]))

    appetite = cust.risk_appetite
    has_wm = np.flatnonzero(rng.random(n) < ps.table("has_wealth")[p])
    parts_c.append(has_wm)
    parts_p.append(wealth_product(appetite[has_wm], rng.normal(0, 0.7, len(has_wm)),
                                  cust.aum[has_wm]))

    has_fund = np.flatnonzero(rng.random(n) < ps.table("has_fund")[p])
    fund = fund_level(appetite[has_fund], rng.normal(0, 0.8, len(has_fund)))
    fund = np.where(rng.random(len(has_fund)) < 0.1, PRODUCT_INDEX["P016"], fund)
    parts_c.append(has_fund)
    parts_p.append(fund)

    has_ins = np.flatnonzero(rng.random(n) < ps.table("has_insurance")[p])
    parts_c.append(has_ins)
    parts_p.append(pick(("P018", "P019", "P020", "P021"), rng.integers(0, 4, size=len(has_ins))))

    n_plain = sum(len(c) for c in parts_c)
    customer = np.concatenate([*parts_c, loans.customer])
    product = np.concatenate([*parts_p, loans.product])
    m = len(customer)
    is_loan = np.arange(m) >= n_plain
    registered = cust.registered[customer]
    span = np.maximum((end - registered).astype(np.int64), 1)
    opened = registered + (rng.random(m) * span * 0.9).astype("timedelta64[D]")
    opened[: n] = registered[: n]
    opened[is_loan] = loans.disbursed
    ptype = PRODUCT_TYPES[product]
    is_card = (ptype == "credit_card") | (np.arange(m) < n)

    closes = (rng.random(m) < 0.04) & ~is_loan & (np.arange(m) >= n)
    close_day = opened + ((end - opened).astype(np.int64) * rng.random(m)).astype(
        "timedelta64[D]")
    closes &= close_day > opened
    loan_closed = np.zeros(m, dtype=bool)
    loan_closed[is_loan] = loans.status == 2
    loan_maturity = np.full(m, end)
    loan_maturity[is_loan] = np.minimum(add_months_days(loans.disbursed, loans.term), end)
    closed_date = np.where(loan_closed, loan_maturity, close_day)
    closed = closes | loan_closed
    status = np.where(closed, 3, np.where(rng.random(m) < 0.06, 1,
                                          np.where(rng.random(m) < 0.005, 2, 0)))
    usd = (ptype == "time_deposit") & (cust.persona[customer] == 2) & (rng.random(m) < 0.15)
    card_rows = np.flatnonzero(is_card)
    card_text = np.full(m, "", dtype=object)
    card_text[card_rows] = ids.card_numbers(rng, len(card_rows), ptype[card_rows] == "credit_card")
    return DrawnAccounts(rng, customer, product, opened, closed_date, closed, status, usd,
                         is_loan, card_text)


def _held_on(drawn: DrawnAccounts, rows: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which of ``rows`` are open on ``day`` (one day per row)."""
    return np.asarray((drawn.opened[rows] <= day)
                      & ~(drawn.closed[rows] & (drawn.closed_date[rows] <= day)))


@dataclass
class StartingPosition:
    """What each customer holds when the period (or their relationship) starts."""

    keep: np.ndarray  # rows of the drawn accounts that stay
    types_held: np.ndarray  # distinct product families held then, per customer
    held: np.ndarray  # customers x ACQUIRED_TYPES: holds that type then
    exposed_from: np.ndarray  # customers x ACQUIRED_TYPES: lacks the type from (NaT: never)


def starting_position(drawn: DrawnAccounts, cust: CustomerChunk, start: date,
                      end: np.datetime64) -> StartingPosition:
    """Keep accounts opened before the period; find who lacks which type, and from when."""
    n = cust.n
    first_day = np.maximum(cust.registered, np.datetime64(start, "D"))
    rows = np.arange(len(drawn.customer))
    acquired_family = np.isin(drawn.ptype, ACQUIRED_TYPES) & ~drawn.is_loan & (rows >= n)
    keep = ~(acquired_family & (drawn.opened >= np.datetime64(start, "D")))
    kept = np.flatnonzero(keep)
    owner = drawn.customer[kept]
    held_now = _held_on(drawn, kept, first_day[owner])
    family = np.searchsorted(np.array(sorted(FAMILIES)), drawn.ptype[kept])
    holds_family = np.zeros((n, len(FAMILIES)), dtype=bool)
    holds_family[owner[held_now], family[held_now]] = True
    types_held = holds_family.sum(axis=1)

    held = np.zeros((n, len(ACQUIRED_TYPES)), dtype=bool)
    keeps_it = np.zeros_like(held)
    last_close = np.zeros(held.shape, dtype=np.int64)  # days since 1970 of the last closing
    survives = ~(drawn.closed[kept] & (drawn.closed_date[kept] <= end))
    closing_day = drawn.closed_date[kept].astype("datetime64[D]").astype(np.int64)
    for k, kind in enumerate(ACQUIRED_TYPES):
        mine = held_now & (drawn.ptype[kept] == kind)
        held[owner[mine], k] = True
        keeps_it[owner[mine & survives], k] = True
        closing = mine & ~survives
        np.maximum.at(last_close[:, k], owner[closing], closing_day[closing])
    # A customer lacks a type from the day they join or the period starts, or from the
    # day their last account of it closes; holding one throughout, never.
    exposed_from = np.where(~held, first_day[:, None],
                            np.where(keeps_it, np.datetime64("NaT", "D"),
                                     last_close.astype("datetime64[D]")))
    return StartingPosition(keep, types_held, held, exposed_from.astype("datetime64[D]"))


def finish_accounts(drawn: DrawnAccounts, position: StartingPosition, acquired: Acquisitions,
                    leaving: at.Attrition, cust: CustomerChunk, loans: Loans,
                    loan_kept: np.ndarray, chunk: int, start: date,
                    months: int) -> AccountChunk:
    """The account master and holdings: kept accounts, then the planted acquisitions.

    ``loan_kept`` marks the loans still booked once applications made after a
    customer left are gone (credit.py); the accounts of the others go too.
    """
    rng = drawn.rng
    n = cust.n
    keep = position.keep.copy()
    keep[drawn.is_loan] &= loan_kept
    kept = np.flatnonzero(keep)
    new_c, new_k = np.nonzero(~np.isnat(acquired.opened))
    new_product = acquired.product[new_c, new_k]
    m_old, k_new = len(drawn.customer), len(new_c)
    customer = np.concatenate([drawn.customer[kept], new_c])
    product = np.concatenate([drawn.product[kept], new_product])
    opened = np.concatenate([drawn.opened[kept], acquired.opened[new_c, new_k]])
    closed = np.concatenate([drawn.closed[kept], np.zeros(k_new, dtype=bool)])
    closed_date = np.concatenate([drawn.closed_date[kept],
                                  np.full(k_new, np.datetime64("NaT", "D"))])
    status = np.concatenate([drawn.status[kept], np.zeros(k_new, dtype=np.int64)])
    usd = np.concatenate([drawn.usd[kept], np.zeros(k_new, dtype=bool)])
    ptype = PRODUCT_TYPES[product]
    new_cards = ptype[len(kept):] == "credit_card"
    card_text = np.concatenate([drawn.card_text[kept], np.full(k_new, "", dtype=object)])
    card_text[len(kept):][new_cards] = ids.card_numbers(rng, int(new_cards.sum()),
                                                        np.ones(int(new_cards.sum()), bool))
    # Kept rows keep their running number; acquisitions are numbered after the drawn rows.
    number = np.concatenate([kept, m_old + np.arange(k_new)])
    account_id = fmt.prefixed_ids("A", number + chunk * 10**7, 11)
    loan_row = np.full(len(customer), -1, dtype=np.int64)
    drawn_loan_row = np.cumsum(drawn.is_loan) - 1
    loan_row[: len(kept)] = np.where(drawn.is_loan[kept], drawn_loan_row[kept], -1)
    is_card = card_text != ""
    columns: fmt.Columns = {
        "account_id": account_id,
        "customer_id": fmt.take(cust.customer_id, customer),
        "product_id": fmt.codes(product, PRODUCT_IDS),
        "opened_date": fmt.dates(opened),
        "closed_date": fmt.dates(np.where(closed, closed_date, opened), missing=~closed),
        "status": fmt.codes(status, ACCOUNT_STATUSES),
        "currency": fmt.codes(usd.astype(np.int64), ("CNY", "USD")),
        "branch_id": fmt.take(cust.branch_id, customer),
        "card_number": fmt.text(card_text.astype(str), missing=~is_card),
    }
    credit_account = np.full(n, -1, dtype=np.int64)
    card_acc = np.flatnonzero(ptype == "credit_card")
    credit_account[customer[card_acc]] = card_acc
    credit_opened = np.full(n, np.datetime64("NaT", "D"))
    credit_opened[customer[card_acc]] = opened[card_acc]
    rows = _Rows(customer, product, ptype, opened, closed_date, closed, usd, loan_row)
    holdings = _holdings(rng, cust, rows, account_id, loans, leaving, start, months)
    return AccountChunk(customer, account_id, product, np.arange(n), credit_account,
                        credit_opened, columns, holdings)


@dataclass
class _Rows:
    customer: np.ndarray
    product: np.ndarray
    ptype: np.ndarray
    opened: np.ndarray
    closed_date: np.ndarray
    closed: np.ndarray
    usd: np.ndarray
    loan_row: np.ndarray  # index into the loans, -1 for other accounts


def _holdings(rng: np.random.Generator, cust: CustomerChunk, rows: _Rows,
              account_id: pa.Array, loans: Loans, leaving: at.Attrition, start: date,
              months: int) -> fmt.Columns:
    snaps = month_ends(start, months)
    m = len(rows.customer)
    limit = np.clip(np.round(cust.income[rows.customer] * rng.uniform(1.5, 4, m), -3), 3000,
                    500_000)
    acc = np.repeat(np.arange(m), len(snaps))
    snap_no = np.tile(np.arange(len(snaps)), m)
    snap = snaps[snap_no]
    alive = (rows.opened[acc] <= snap) & ~(rows.closed[acc] & (rows.closed_date[acc] <= snap))
    acc, snap, snap_no = acc[alive], snap[alive], snap_no[alive]
    owner = rows.customer[acc]
    t = rows.ptype[acc]
    k = len(acc)
    # The customer's assets are spread over the accounts open at each snapshot, so money
    # moves into a product when it is bought, not before.
    weight = np.array([AUM_WEIGHT.get(str(x), 0.0) for x in PRODUCT_TYPES])[rows.product[acc]]
    cell = owner * len(snaps) + snap_no
    total_w = np.zeros(cust.n * len(snaps))
    np.add.at(total_w, cell, weight)
    aum_share = cust.aum[owner] * weight / np.maximum(total_w[cell], 1e-9)
    noise = rng.lognormal(0, 0.25, k)
    balance = aum_share * noise
    balance = np.where(t == "time_deposit", aum_share, balance)
    balance = np.where(rows.usd[acc], balance / USD_RATE, balance)
    years = (snap - rows.opened[acc]).astype(np.int64) / 365.25
    ins_min = PRODUCT_MIN[rows.product[acc]]
    balance = np.where(t == "insurance", ins_min * (1 + years), balance)
    card = t == "credit_card"
    util = np.clip(cust.utilisation[owner] * rng.lognormal(0, 0.3, k), 0, 1)
    balance = np.where(card, limit[acc] * util, balance)
    lr = rows.loan_row[acc]
    is_l = lr >= 0
    safe = np.maximum(lr, 0)
    elapsed = (snap.astype("datetime64[M]") - loans.disbursed[safe].astype(
        "datetime64[M]")).astype(np.int64)
    remaining = np.clip(1 - elapsed / loans.term[safe], 0, 1)
    balance = np.where(is_l, loans.principal[safe] * remaining, balance)
    # After leaving, the money is gone: a few yuan stay in each deposit, wealth or fund account.
    residual = rng.uniform(0, at.RESIDUAL_MAX, k)
    gone = leaving.after_churn(owner, (snap + np.timedelta64(1, "D")).astype("datetime64[s]"))
    balance = np.where(gone & np.isin(t, MOVABLE), residual, balance)
    return {
        "account_id": fmt.take(account_id, acc),
        "customer_id": fmt.take(cust.customer_id, owner),
        "product_id": fmt.codes(rows.product[acc], PRODUCT_IDS),
        "snapshot_date": fmt.dates(snap),
        "balance": fmt.decimals(np.maximum(balance, 0)),
        "credit_limit": fmt.decimals(limit[acc], missing=~card),
        "currency": fmt.codes(rows.usd[acc].astype(np.int64), ("CNY", "USD")),
    }
