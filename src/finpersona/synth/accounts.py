"""Accounts each customer holds, and their balance snapshots (holdings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from finpersona.synth import formatting as fmt
from finpersona.synth import identities as ids
from finpersona.synth import personas as ps
from finpersona.synth.calendar import month_ends, period_days
from finpersona.synth.catalogue import PRODUCT_IDS, PRODUCT_INDEX, PRODUCT_MIN, PRODUCT_TYPES
from finpersona.synth.credit import Loans, add_months_days
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import stream

ACCOUNT_STATUSES = ("active", "dormant", "frozen", "closed")
# Relative share of a customer's assets (AUM) kept in each product family.
AUM_WEIGHT = {"demand_deposit": 1.0, "time_deposit": 2.0, "wealth_management": 2.0, "fund": 1.0}
USD_RATE = 7.1


@dataclass
class AccountChunk:
    customer: np.ndarray
    account_id: pa.Array
    product: np.ndarray
    debit_account: np.ndarray  # per customer: row of the main debit-card account
    credit_account: np.ndarray  # per customer: row of the credit card, -1 when none
    columns: fmt.Columns
    holdings: fmt.Columns


def _pick(rng: np.random.Generator, n: int, options: tuple[str, ...]) -> np.ndarray:
    return np.array([PRODUCT_INDEX[o] for o in options])[rng.integers(0, len(options), size=n)]


def make_accounts(  # noqa: PLR0915 - one linear recipe per product family
        seed: int, chunk: int, cust: CustomerChunk, loans: Loans, start: date,
                  months: int) -> AccountChunk:
    rng = stream(seed, chunk, "accounts")
    n = cust.n
    p = cust.persona
    end = period_days(start, months)[-1]
    everyone = np.arange(n)
    salaried = np.isin(p, [0, 1, 5]) & (rng.random(n) < 0.5)
    parts_c: list[np.ndarray] = [everyone]
    parts_p: list[np.ndarray] = [np.where(salaried, PRODUCT_INDEX["P002"], PRODUCT_INDEX["P001"])]

    has_card = np.flatnonzero(rng.random(n) < ps.table("has_credit_card")[p])
    card_product = np.select(
        [p[has_card] == 2, np.isin(p[has_card], [0, 6])],
        [PRODUCT_INDEX["P023"], PRODUCT_INDEX["P024"]], default=PRODUCT_INDEX["P022"])
    parts_c.append(has_card)
    parts_p.append(card_product)

    has_td = np.flatnonzero(rng.random(n) < ps.table("has_time_deposit")[p])
    td = _pick(rng, len(has_td), ("P003", "P004", "P005"))
    td = np.where(cust.aum[has_td] > 300_000, PRODUCT_INDEX["P006"], td)
    parts_c.append(has_td)
    parts_p.append(td)

    # Riskier customers pick riskier wealth products and funds.
    appetite = cust.risk_appetite
    has_wm = np.flatnonzero(rng.random(n) < ps.table("has_wealth")[p])
    wm_level = np.clip(np.round(appetite[has_wm] + rng.normal(0, 0.7, len(has_wm))), 1, 4)
    wm = np.array([PRODUCT_INDEX[x] for x in ("P007", "P008", "P009", "P010")])[
        wm_level.astype(int) - 1]
    wm = np.where((cust.aum[has_wm] > 1_000_000) & (appetite[has_wm] > 3.5),
                  PRODUCT_INDEX["P011"], wm)
    parts_c.append(has_wm)
    parts_p.append(wm)

    has_fund = np.flatnonzero(rng.random(n) < ps.table("has_fund")[p])
    f_level = np.clip(np.round(appetite[has_fund] + rng.normal(0, 0.8, len(has_fund))), 1, 5)
    fund = np.array([PRODUCT_INDEX[x] for x in ("P012", "P013", "P017", "P014", "P015")])[
        f_level.astype(int) - 1]
    fund = np.where(rng.random(len(has_fund)) < 0.1, PRODUCT_INDEX["P016"], fund)
    parts_c.append(has_fund)
    parts_p.append(fund)

    has_ins = np.flatnonzero(rng.random(n) < ps.table("has_insurance")[p])
    parts_c.append(has_ins)
    parts_p.append(_pick(rng, len(has_ins), ("P018", "P019", "P020", "P021")))

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
    card_text = fmt.text(ids.card_numbers(rng, len(card_rows), ptype[card_rows] == "credit_card"))
    card_pos = np.cumsum(is_card) - 1
    account_id = fmt.prefixed_ids("A", np.arange(m) + chunk * 10**7, 11)
    columns: fmt.Columns = {
        "account_id": account_id,
        "customer_id": fmt.take(cust.customer_id, customer),
        "product_id": fmt.codes(product, PRODUCT_IDS),
        "opened_date": fmt.dates(opened),
        "closed_date": fmt.dates(closed_date, missing=~closed),
        "status": fmt.codes(status, ACCOUNT_STATUSES),
        "currency": fmt.codes(usd.astype(np.int64), ("CNY", "USD")),
        "branch_id": fmt.take(cust.branch_id, customer),
        "card_number": fmt.take(card_text, np.maximum(card_pos, 0), missing=~is_card),
    }

    credit_account = np.full(n, -1, dtype=np.int64)
    card_acc = np.flatnonzero(ptype == "credit_card")
    credit_account[customer[card_acc]] = card_acc
    holdings = _holdings(rng, cust, customer, product, ptype, opened, closed_date, closed,
                         usd, account_id, loans, is_loan, start, months)
    return AccountChunk(customer, account_id, product, np.arange(n), credit_account, columns,
                        holdings)


def _holdings(rng: np.random.Generator, cust: CustomerChunk, customer: np.ndarray,
              product: np.ndarray, ptype: np.ndarray, opened: np.ndarray,
              closed_date: np.ndarray, closed: np.ndarray, usd: np.ndarray,
              account_id: pa.Array, loans: Loans, is_loan: np.ndarray, start: date,
              months: int) -> fmt.Columns:
    snaps = month_ends(start, months)
    m = len(customer)
    weight = np.array([AUM_WEIGHT.get(str(t), 0.0) for t in PRODUCT_TYPES])[product]
    total_w = np.zeros(cust.n)
    np.add.at(total_w, customer, weight)
    aum_share = cust.aum[customer] * weight / np.maximum(total_w[customer], 1e-9)
    limit = np.clip(np.round(cust.income[customer] * rng.uniform(1.5, 4, m), -3), 3000, 500_000)
    loan_row = np.full(m, -1, dtype=np.int64)
    loan_row[is_loan] = np.arange(len(loans.customer))

    acc = np.repeat(np.arange(m), len(snaps))
    snap = np.tile(snaps, m)
    alive = (opened[acc] <= snap) & ~(closed[acc] & (closed_date[acc] <= snap))
    acc, snap = acc[alive], snap[alive]
    t = ptype[acc]
    k = len(acc)
    noise = rng.lognormal(0, 0.25, k)
    balance = aum_share[acc] * noise
    balance = np.where(t == "time_deposit", aum_share[acc], balance)
    balance = np.where(usd[acc], balance / USD_RATE, balance)
    years = (snap - opened[acc]).astype(np.int64) / 365.25
    ins_min = PRODUCT_MIN[product[acc]]
    balance = np.where(t == "insurance", ins_min * (1 + years), balance)
    card = t == "credit_card"
    util = np.clip(cust.utilisation[customer[acc]] * rng.lognormal(0, 0.3, k), 0, 1)
    balance = np.where(card, limit[acc] * util, balance)
    lr = loan_row[acc]
    is_l = lr >= 0
    elapsed = (snap.astype("datetime64[M]") - loans.disbursed[np.maximum(lr, 0)].astype(
        "datetime64[M]")).astype(np.int64)
    remaining = np.clip(1 - elapsed / loans.term[np.maximum(lr, 0)], 0, 1)
    balance = np.where(is_l, loans.principal[np.maximum(lr, 0)] * remaining, balance)
    return {
        "account_id": fmt.take(account_id, acc),
        "customer_id": fmt.take(cust.customer_id, customer[acc]),
        "product_id": fmt.codes(product[acc], PRODUCT_IDS),
        "snapshot_date": fmt.dates(snap),
        "balance": fmt.decimals(np.maximum(balance, 0)),
        "credit_limit": fmt.decimals(limit[acc], missing=~card),
        "currency": fmt.codes(usd[acc].astype(np.int64), ("CNY", "USD")),
    }
