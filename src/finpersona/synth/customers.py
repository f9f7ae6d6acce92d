"""Customers of one chunk: hidden persona traits and the customer master rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from finpersona.synth import formatting as fmt
from finpersona.synth import identities as ids
from finpersona.synth import personas as ps
from finpersona.synth.draw import by_group, stream

INCOME_BANDS = ("lt_5k", "5k_10k", "10k_20k", "20k_50k", "ge_50k")
INCOME_EDGES = np.array([5_000, 10_000, 20_000, 50_000])
STATUSES = ("active", "dormant", "closed")
# The branch whose export arrives as a separate GBK file (长沙, area code 0731).
GBK_BRANCH_REGION = 12
GBK_BRANCH_ID = "BR0731"


@dataclass
class CustomerChunk:
    """Everything known about a chunk's customers, hidden traits included."""

    first_number: int
    customer_id: pa.Array
    persona: np.ndarray
    birth: np.ndarray  # datetime64[D]
    age: np.ndarray
    male: np.ndarray
    region: np.ndarray
    income: np.ndarray  # true monthly income in CNY
    aum: np.ndarray
    utilisation: np.ndarray  # hidden share of the card limit in use
    true_pd: np.ndarray
    activity: np.ndarray  # individual multiplier of all behaviour volumes
    risk_appetite: np.ndarray
    registered: np.ndarray  # datetime64[D]
    branch_id: pa.Array
    columns: fmt.Columns

    @property
    def n(self) -> int:
        return len(self.customer_id)


def logistic(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _sample_ages(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    mean, sd = ps.table("age_mean")[persona], ps.table("age_sd")[persona]
    lo, hi = ps.table("age_min")[persona], ps.table("age_max")[persona]
    return np.asarray(np.clip(np.round(rng.normal(mean, sd)), lo, hi).astype(np.int64))


def make_customers(seed: int, chunk: int, first_number: int, n: int, start: date) -> CustomerChunk:
    rng = stream(seed, chunk, "customers")
    persona = rng.choice(len(ps.PERSONAS), size=n, p=ps.persona_shares())
    age = _sample_ages(rng, persona)
    start_day = np.datetime64(start, "D")
    birth = start_day - (age * 365.25 + rng.integers(0, 365, size=n)).astype("timedelta64[D]")
    male = rng.random(n) < 0.5
    tier = by_group(rng, persona, ps.prob_table("tier_probs")) + 1
    region = np.zeros(n, dtype=np.int64)
    for t in range(1, 6):
        idx = np.flatnonzero(tier == t)
        choices = np.flatnonzero(t == ids.REGION_TIER)
        region[idx] = choices[rng.integers(0, len(choices), size=len(idx))]
    # Most people hold an ID issued where they live; migrants carry their home region's code.
    id_region = np.where(rng.random(n) < 0.8, region, rng.integers(0, len(ids.REGIONS), size=n))
    income = np.exp(rng.normal(ps.table("income_log_mean")[persona],
                               ps.table("income_log_sd")[persona]))
    band = np.searchsorted(INCOME_EDGES, income, side="right")
    aum = np.exp(rng.normal(ps.table("aum_log_mean")[persona], ps.table("aum_log_sd")[persona]))
    util = np.clip(rng.beta(2, 2, size=n) * 2 * ps.table("card_utilisation")[persona], 0, 0.99)
    # Default risk comes from what a bank can observe (persona behaviour, income, card
    # utilisation, age) plus a little idiosyncratic noise: a scorecard built on the data
    # can approach the hidden truth, as the model issue's acceptance test requires.
    logit = (ps.table("pd_logit")[persona]
             - 0.7 * (np.log(income) - ps.table("income_log_mean")[persona])
             + 2.0 * (util - ps.table("card_utilisation")[persona])
             - 0.015 * (age - 35) + rng.normal(0, 0.15, size=n))
    true_pd = np.clip(logistic(logit), 0.0005, 0.95)
    activity = rng.gamma(4.0, 0.25, size=n)
    appetite = np.clip(ps.table("risk_appetite")[persona] + rng.normal(0, 0.6, size=n), 1, 5)
    years_known = np.minimum(rng.exponential(6.0, size=n), np.maximum(age - 18, 0.2))
    new_customer = rng.random(n) < 0.08  # joined during the period
    reg_offset = np.where(new_customer, -rng.integers(0, 330, size=n), years_known * 365.25)
    registered = start_day - reg_offset.astype(np.int64).astype("timedelta64[D]")
    registered = np.maximum(registered, np.datetime64("1995-01-01"))
    branch = np.where(region == GBK_BRANCH_REGION, 731, region * 100 + rng.integers(1, 6, size=n))
    branch_id = fmt.prefixed_ids("BR", branch, 4)

    occupation = by_group(rng, persona, ps.prob_table("occupation_probs"))
    education = by_group(rng, persona, ps.prob_table("education_probs"))
    marital = by_group(rng, persona, ps.prob_table("marital_probs"))
    reg_channel = by_group(rng, persona, ps.prob_table("reg_channel_probs"))
    kyc = np.where(reg_channel == 0, 3, np.where(rng.random(n) < 0.8, 2, 1))
    status = np.where(rng.random(n) < 0.9, 0, np.where(rng.random(n) < 0.8, 1, 2))
    phone = ids.phones(rng, n)
    email = ids.emails(rng, phone)
    has_email = rng.random(n) < np.where(age < 45, 0.55, 0.25)
    customer_id = fmt.prefixed_ids("C", np.arange(first_number, first_number + n), 9)
    columns: fmt.Columns = {
        "customer_id": customer_id,
        "name": fmt.text(ids.names(rng, n, age < 35)),
        "gender": fmt.codes(np.where(male, 0, 1), ("M", "F")),
        "birth_date": fmt.dates(birth),
        "id_number": fmt.text(ids.id_numbers(rng, ids.REGION_CODE[id_region], birth, male)),
        "phone": fmt.text(phone),
        "email": fmt.text(email, missing=~has_email),
        "province": fmt.text(ids.REGION_PROVINCE[region]),
        "city": fmt.text(ids.REGION_CITY[region]),
        "city_tier": fmt.integers(tier),
        "occupation": fmt.codes(occupation, ps.OCCUPATIONS),
        "education": fmt.codes(education, ps.EDUCATIONS, missing=rng.random(n) < 0.05),
        "income_band": fmt.codes(band, INCOME_BANDS, missing=rng.random(n) < 0.07),
        "marital_status": fmt.codes(marital, ps.MARITAL, missing=rng.random(n) < 0.04),
        "registration_channel": fmt.codes(reg_channel, ps.REG_CHANNELS),
        "registered_at": fmt.dates(registered),
        "kyc_level": fmt.integers(kyc),
        "branch_id": branch_id,
        "status": fmt.codes(status, STATUSES),
    }
    return CustomerChunk(first_number, customer_id, persona, birth, age, male, region, income,
                         aum, util, true_pd, activity, appetite, registered, branch_id, columns)
