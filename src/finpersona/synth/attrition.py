"""Planted attrition: each customer's hidden churn hazard and the moment they leave.

Churn is a constant hazard per day, set by traits the data reflects (persona,
activity, age, tenure, how many product types the customer holds, assets), so a
churn model has something real to learn and the hidden truth knows the true
probability: a customer still with the bank at T leaves within (T, T+h] with
probability ``1 - exp(-hazard * h)``. Nothing announces the departure in advance:
activity is flat up to the churn moment, then transactions, app and web use and
new products stop, and the money leaves (deposit, wealth and fund balances at the
following month-ends fall to a few yuan; see accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk

# Churn per year of an average customer (persona shift 0, activity 1, age 40, ...).
BASE_ANNUAL_CHURN = 0.10
# Log-hazard shift per persona (order of personas.PERSONAS): the young and the
# stretched borrowers switch banks easily; retired savers and families rarely move.
PERSONA_SHIFT = np.array([0.5, -0.25, -0.35, 0.1, -0.6, 0.6, 0.7])
ACTIVITY = -0.35  # per unit of log(activity): engaged customers stay
AGE = -0.015  # per year of age above 40
TENURE = -0.45  # per unit of log(1 + years with the bank), centred at 3.5 years
PRODUCT_TYPES = -0.35  # per product type held when the period starts, above two
AUM = -0.15  # per unit of log(assets), centred at the typical customer's
AUM_CENTRE = 10.7
RESIDUAL_MAX = 20.0  # CNY left in each deposit, wealth or fund account after leaving


@dataclass
class Attrition:
    """Per customer of the chunk: the hidden hazard and when (if ever) they leave."""

    hazard: np.ndarray  # per day
    churned_at: np.ndarray  # datetime64[s] local time; NaT for customers who stay

    def after_churn(self, owner: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Rows (customer index, local time) that fall after their customer has left."""
        left = self.churned_at[owner]
        return np.asarray(~np.isnat(left) & (when.astype("datetime64[s]") > left))


def tenure_years(cust: CustomerChunk, start: np.datetime64) -> np.ndarray:
    """Years with the bank when the period (or, for newcomers, the relationship) starts."""
    return np.asarray(np.maximum((start - cust.registered).astype(np.int64), 0) / 365.25)


def churn_hazard(cust: CustomerChunk, types_held: np.ndarray,
                 start: np.datetime64) -> np.ndarray:
    """Hazard per day from the documented log-linear rule (docs/models/churn-propensity.md)."""
    log_hazard = (np.log(BASE_ANNUAL_CHURN / 365.0)
                  + PERSONA_SHIFT[cust.persona]
                  + ACTIVITY * np.log(cust.activity)
                  + AGE * (cust.age - 40)
                  + TENURE * (np.log1p(tenure_years(cust, start)) - np.log1p(3.5))
                  + PRODUCT_TYPES * (types_held - 2)
                  + AUM * (np.log(cust.aum) - AUM_CENTRE))
    return np.asarray(np.exp(log_hazard))


def make_attrition(chunk: Chunk, cust: CustomerChunk, types_held: np.ndarray) -> Attrition:
    """Draw each customer's churn moment from their hazard, counted from when they could leave.

    ``types_held`` is the number of product types (of the five acquisition types plus
    loans) each customer holds when the period starts, or when they join during it.
    """
    rng = chunk.rng("attrition")
    start = np.datetime64(chunk.start, "D")
    hazard = churn_hazard(cust, types_held, start)
    exposed_from = np.maximum(cust.registered, start).astype("datetime64[s]")
    wait_days = rng.exponential(1.0, cust.n) / hazard
    seconds = np.minimum(wait_days, 10 * 365) * 86_400
    churned_at = exposed_from + np.round(seconds).astype("timedelta64[s]")
    period_end = (chunk.end + np.timedelta64(1, "D")).astype("datetime64[s]")
    churned_at = np.where(churned_at < period_end, churned_at, np.datetime64("NaT", "s"))
    return Attrition(hazard, churned_at)
