"""Planted product acquisition: who opens which product during the period, and when.

For each product type below, every customer has a hidden acquisition hazard per
day, set by traits the data reflects (persona, income, assets, age, activity,
risk appetite, how many other product types they hold). While the customer does
not hold that type, the first account of it opens after an exponential wait at
that hazard: the true probability of opening one in (T, T+h] for a customer
without it at T is ``1 - exp(-hazard * h)`` (and less for a customer who may
leave first; see attrition.py). Leaving stops all acquisition.

Accounts the old recipe would have opened during the period are replaced by
these; accounts opened before the period keep their dates. Loans are not planted
here: they come from the credit funnel (credit.py), one look at a loan a year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpersona.synth import personas as ps
from finpersona.synth.catalogue import (
    PRODUCT_INDEX,
    card_product,
    fund_level,
    pick,
    time_deposit_product,
    wealth_product,
)
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk

INCOME_CENTRE = 9.1  # log monthly income of a typical customer
AUM_CENTRE = 10.7  # log assets of a typical customer
# How strongly a persona's share of holders moves its hazard (log of the share ratio).
PERSONA_WEIGHT = 0.9


@dataclass(frozen=True)
class Driver:
    """The log-linear hazard of acquiring one product type.

    ``annual_rate`` is the yearly hazard of an average customer without the type;
    the other fields are coefficients of centred traits on the log-hazard.
    """

    product_type: str
    annual_rate: float
    holders_field: str  # the persona parameter with that persona's share of holders
    income: float  # per unit of log monthly income
    aum: float  # per unit of log assets
    age: float  # per ten years above 40
    activity: float  # per unit of log activity
    risk: float  # per risk-appetite step above 3 (of 1..5)
    cross: float  # per other product type held


DRIVERS: tuple[Driver, ...] = (
    Driver("time_deposit", 0.20, "has_time_deposit", 0.1, 0.4, 0.3, 0.1, -0.2, 0.1),
    Driver("wealth_management", 0.18, "has_wealth", 0.35, 0.5, 0.0, 0.2, 0.2, 0.15),
    Driver("fund", 0.22, "has_fund", 0.35, 0.15, -0.35, 0.35, 0.25, 0.1),
    Driver("insurance", 0.18, "has_insurance", 0.4, 0.15, 0.15, 0.1, 0.0, 0.25),
    Driver("credit_card", 0.25, "has_credit_card", 0.5, 0.0, -0.45, 0.3, 0.1, 0.1),
)
ACQUIRED_TYPES = tuple(d.product_type for d in DRIVERS)


def acquisition_hazard(driver: Driver, cust: CustomerChunk,
                       other_types_held: np.ndarray) -> np.ndarray:
    """Hazard per day of ``driver``'s product type for each customer of the chunk."""
    holders = ps.table(driver.holders_field)
    typical = float(holders @ ps.persona_shares())
    log_hazard = (np.log(driver.annual_rate / 365.0)
                  + PERSONA_WEIGHT * np.log(holders[cust.persona] / typical)
                  + driver.income * (np.log(cust.income) - INCOME_CENTRE)
                  + driver.aum * (np.log(cust.aum) - AUM_CENTRE)
                  + driver.age * (cust.age - 40) / 10
                  + driver.activity * np.log(cust.activity)
                  + driver.risk * (cust.risk_appetite - 3)
                  + driver.cross * other_types_held)
    return np.asarray(np.exp(log_hazard))


@dataclass
class Acquisitions:
    """Per customer and product type (columns in ACQUIRED_TYPES order)."""

    hazard: np.ndarray  # per day, shape (customers, types)
    held: np.ndarray  # held the type when the period (or the relationship) began
    exposed_from: np.ndarray  # datetime64[D] the customer could first open one; NaT: held all along
    opened: np.ndarray  # datetime64[D] of the planted opening; NaT: none in the period
    product: np.ndarray  # index into PRODUCTS of the product that would be opened


def _products(rng: np.random.Generator, cust: CustomerChunk) -> np.ndarray:
    """Which product of each family every customer would pick (the accounts' rules)."""
    n = cust.n
    appetite, aum = cust.risk_appetite, cust.aum
    fund = fund_level(appetite, rng.normal(0, 0.8, n))
    by_type = {
        "time_deposit": time_deposit_product(rng.integers(0, 3, n), aum),
        "wealth_management": wealth_product(appetite, rng.normal(0, 0.7, n), aum),
        "fund": np.where(rng.random(n) < 0.1, PRODUCT_INDEX["P016"], fund),
        "insurance": pick(("P018", "P019", "P020", "P021"), rng.integers(0, 4, n)),
        "credit_card": card_product(cust.persona),
    }
    return np.column_stack([by_type[t] for t in ACQUIRED_TYPES])


def make_acquisitions(chunk: Chunk, cust: CustomerChunk, held: np.ndarray,
                      exposed_from: np.ndarray, types_held: np.ndarray,
                      churned_at: np.ndarray) -> Acquisitions:
    """Draw the opening day of each product type for customers who lack it.

    ``held`` and ``exposed_from`` are customers x types: whether the customer held the
    type when the period (or their relationship) began, and the day they started
    lacking it within the period (NaT: held it throughout). ``types_held`` counts the
    product families held then; ``churned_at`` ends all acquisition.
    """
    rng = chunk.rng("acquisition")
    others = types_held[:, None] - held.astype(np.int64)
    hazard = np.column_stack([acquisition_hazard(d, cust, others[:, k])
                              for k, d in enumerate(DRIVERS)])
    # One unit exponential per customer and type: the wait is that over the hazard.
    wait = rng.exponential(1.0, hazard.shape) / hazard
    days = np.floor(np.minimum(wait, 20 * 365)).astype(np.int64)
    exposed = ~np.isnat(exposed_from)
    base = np.where(exposed, exposed_from, np.datetime64(chunk.start, "D"))
    opened = base + days.astype("timedelta64[D]")
    left = churned_at.astype("datetime64[D]")[:, None]
    in_time = exposed & (opened <= chunk.end) & (np.isnat(left) | (opened <= left))
    opened = np.where(in_time, opened, np.datetime64("NaT", "D"))
    return Acquisitions(hazard, held, exposed_from, opened, _products(rng, cust))
