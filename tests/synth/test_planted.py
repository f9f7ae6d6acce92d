"""Planted churn and product acquisition, checked from the source files and the truth.

The checks read the written files (not the generator's arrays) and compare what
happened with what the hidden hazards say should happen: counts against their
expectation under the hazards (Monte Carlo in the bank itself), and no activity or
money after a customer has left.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from finpersona.synth import SynthSummary
from tests.synth.test_synth import _lines, _read_csvs

PERIOD_START = pd.Timestamp("2025-01-01")
PERIOD_END = pd.Timestamp("2026-01-01")  # exclusive
PLANTED = ("time_deposit", "wealth_management", "fund", "insurance", "credit_card")
MOVABLE = ("demand_deposit", "time_deposit", "wealth_management", "fund")


@functools.cache
def _parquet(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _truth(bank: SynthSummary, name: str) -> pd.DataFrame:
    return _parquet(bank.truth_dir / f"{name}.parquet")


def _products(bank: SynthSummary) -> pd.Series:
    p = _read_csvs(bank, "products").drop_duplicates("product_id")
    return p.set_index("product_id").product_type


def _times(values: pd.Series) -> pd.Series:
    # Messy spellings (the dirty rows) do not parse and are left out of the timing checks.
    return pd.to_datetime(values, format="%Y-%m-%d %H:%M:%S", errors="coerce")


def _days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")


def test_churn_truth_covers_every_customer_at_a_realistic_rate(bank: SynthSummary) -> None:
    churn = _truth(bank, "churn")
    customers = _truth(bank, "customers")
    assert list(churn.customer_id) == list(customers.customer_id)
    assert (churn.churn_hazard_per_day > 0).all()
    left = churn.churned_at.notna()
    assert 0.08 <= left.mean() <= 0.16  # a yearly churn rate in the usual banking range
    assert (churn.churned_at[left] >= pd.to_datetime(churn.exposed_from[left])).all()
    assert (churn.churned_at[left] < PERIOD_END).all()


def test_churners_are_as_many_as_their_hazards_predict(bank: SynthSummary) -> None:
    churn = _truth(bank, "churn")
    exposure = (PERIOD_END - pd.to_datetime(churn.exposed_from)).dt.days.to_numpy()
    p = 1 - np.exp(-churn.churn_hazard_per_day.to_numpy() * exposure)
    expected, spread = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert abs(churn.churned_at.notna().sum() - expected) < 4 * spread
    # and the hazards rank who leaves: churners' hazards are well above the stayers'
    left = churn.churned_at.notna()
    assert churn.churn_hazard_per_day[left].median() > 1.5 * churn.churn_hazard_per_day[
        ~left].median()


def test_nothing_happens_after_a_customer_leaves(bank: SynthSummary) -> None:
    churn = _truth(bank, "churn").set_index("customer_id").churned_at
    tx = _read_csvs(bank, "transactions")
    when = _times(tx.txn_time)
    left = tx.customer_id.map(churn)
    assert when.notna().mean() > 0.9
    assert not (left.notna() & when.notna() & (when > left)).any()
    churned_customers = set(churn.dropna().index)
    assert tx.customer_id.isin(churned_customers).any()  # they did transact before leaving

    identity = _truth(bank, "identity").set_index("event_id").true_customer_id
    rows = []
    for file in (f for f in bank.files if f.startswith("events_part")):
        for line in _lines(bank.source_dir / file):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows.append((str(event["event_id"]).strip(), str(event["event_time"])))
    events = pd.DataFrame(rows, columns=["event_id", "event_time"])
    events = events[events.event_id.isin(identity.index)]
    owner = events.event_id.map(identity)
    event_time = _times(events.event_time.astype(str))
    left = owner.map(churn)
    # Sessions that began before leaving may run a few minutes past it.
    late = left.notna() & event_time.notna() & (event_time > left + pd.Timedelta(hours=1))
    assert not late.any()


def test_the_money_leaves_with_the_customer(bank: SynthSummary) -> None:
    churn = _truth(bank, "churn").set_index("customer_id").churned_at
    holdings = pd.concat([pq.read_table(bank.source_dir / f).to_pandas()
                          for f in bank.files if f.startswith("holdings_part")])
    holdings = holdings[holdings.customer_id.isin(churn.dropna().index)]
    kind = holdings.product_id.map(_products(bank))
    snapshot = _days(holdings.snapshot_date)
    balance = pd.to_numeric(holdings.balance, errors="coerce")
    after = snapshot + pd.Timedelta(days=1) > holdings.customer_id.map(churn)
    movable = kind.isin(MOVABLE) & balance.notna() & snapshot.notna()
    assert (movable & after).sum() > 20
    assert (balance[movable & after] <= 20).all()
    assert balance[movable & ~after].median() > 1000


def test_in_period_openings_are_the_planted_acquisitions(bank: SynthSummary) -> None:
    acquired = _truth(bank, "acquisition")
    planted = acquired[acquired.acquired_on.notna()]
    accounts = _read_csvs(bank, "accounts")
    kind = accounts.product_id.map(_products(bank))
    opened = _days(accounts.opened_date)
    in_period = accounts[kind.isin(PLANTED) & (opened >= PERIOD_START)]
    seen = set(zip(in_period.customer_id, in_period.product_id.map(_products(bank)),
                   _days(in_period.opened_date).dt.date, strict=True))
    wanted = set(zip(planted.customer_id, planted.product_type,
                     pd.to_datetime(planted.acquired_on).dt.date, strict=True))
    assert len(wanted) > 500
    # The account master of the bank fixture is dirty (2 % of rows): compare the clean ones.
    assert len(seen - wanted) <= 0.01 * len(seen)
    assert len(wanted & seen) >= 0.95 * len(wanted)


def test_acquisitions_are_as_many_as_their_hazards_predict(bank: SynthSummary) -> None:
    acquired = _truth(bank, "acquisition")
    churn = _truth(bank, "churn").set_index("customer_id")
    assert set(acquired.product_type) == set(PLANTED)
    assert (acquired.groupby("customer_id").size() == len(PLANTED)).all()
    exposed = acquired[acquired.exposed_from.notna()].copy()
    start = pd.to_datetime(exposed.exposed_from)
    left = exposed.customer_id.map(churn.churned_at).fillna(PERIOD_END)
    # Acquisition stops when the customer leaves: exposure runs to the earlier end.
    stop = (left.dt.normalize() + pd.Timedelta(days=1)).clip(upper=PERIOD_END)
    days = np.maximum((stop - start).dt.days.to_numpy(), 0)
    p = 1 - np.exp(-exposed.hazard_per_day.to_numpy() * days)
    for kind in PLANTED:
        mine = (exposed.product_type == kind).to_numpy()
        expected = p[mine].sum()
        spread = np.sqrt((p[mine] * (1 - p[mine])).sum())
        observed = exposed.acquired_on[mine].notna().sum()
        assert abs(observed - expected) < 4 * spread, (kind, observed, expected)
    assert acquired.loc[acquired.exposed_from.isna(), "acquired_on"].isna().all()
    assert acquired.loc[acquired.exposed_from.isna(), "held_at_start"].all()


def test_cards_are_used_only_once_opened(bank: SynthSummary) -> None:
    accounts = _read_csvs(bank, "accounts")
    cards = accounts[accounts.product_id.map(_products(bank)) == "credit_card"]
    opened = _days(cards.drop_duplicates("account_id").set_index("account_id").opened_date)
    tx = _read_csvs(bank, "transactions")
    on_card = tx[tx.account_id.isin(opened.index)]
    when = _times(on_card.txn_time).dt.normalize()
    card_opened = on_card.account_id.map(opened)
    ok = when.notna() & card_opened.notna()
    assert ok.sum() > 1000
    assert (when[ok] >= card_opened[ok]).all()


def test_newcomers_hold_no_product_before_they_join(bank: SynthSummary) -> None:
    acquired = _truth(bank, "acquisition")
    people = pd.concat([pd.read_csv(bank.source_dir / f, dtype=str, keep_default_na=False,
                                    on_bad_lines="skip", encoding="utf-8-sig")
                        for f in bank.files if f.startswith("customers_part")])
    people = people.drop_duplicates("customer_id")
    joined = _days(people.set_index("customer_id").registered_at)
    newcomers = joined[joined > PERIOD_START].index
    mine = acquired[acquired.customer_id.isin(newcomers)]
    assert len(mine) > 0
    assert not mine.held_at_start.any()
    opened = pd.to_datetime(mine.acquired_on)
    assert (opened.isna() | (opened >= mine.customer_id.map(joined))).all()
