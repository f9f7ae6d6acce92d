"""Hidden customer archetypes that drive every generated behaviour.

The personas are never written to the source files: analytics has to rediscover
them. Each one carries its own parameters so segment profiles, propensities and
risk models have real structure to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OCCUPATIONS = ("civil_servant", "professional", "office_worker", "worker", "self_employed",
               "business_owner", "student", "retired", "farmer", "unemployed", "other")
EDUCATIONS = ("primary", "junior_high", "senior_high", "college", "bachelor", "master",
              "doctorate")
MARITAL = ("single", "married", "divorced", "widowed")
REG_CHANNELS = ("branch", "app", "web", "partner", "telemarketing")
PLATFORMS = ("ios", "android", "web", "mini_program")
PURCHASE_CHANNELS = ("pos", "online", "app")
# Hour-of-day profiles: lunch and evening peaks for workers, mornings for the retired,
# office hours for business owners, late nights for the young.
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "office": (1, .5, .3, .2, .2, .3, .8, 2, 3, 3, 3, 4, 7, 6, 3, 3, 3, 4, 5, 7, 8, 7, 4, 2),
    "night_owl": (3, 2, 1, .5, .3, .3, .5, 1, 2, 2, 3, 4, 7, 6, 3, 3, 3, 4, 5, 7, 9, 10, 9, 6),
    "early": (.2, .1, .1, .1, .3, 1, 3, 5, 7, 8, 8, 6, 4, 3, 4, 5, 5, 4, 3, 3, 2, 1, .5, .3),
    "business": (.5, .3, .2, .2, .2, .5, 1, 3, 6, 8, 8, 7, 5, 6, 8, 8, 7, 6, 4, 4, 3, 2, 1, .5),
}
HOUR_PROFILE_NAMES = tuple(HOUR_PROFILES)
# Transaction types in the order of the canonical allowed list.
TXN_TYPES = ("purchase", "transfer_in", "transfer_out", "cash_withdrawal", "deposit", "salary",
             "repayment", "fee", "interest", "refund")


@dataclass(frozen=True)
class Persona:
    """Parameters of one hidden archetype; probabilities are per customer per year."""

    name: str
    share: float
    age_mean: float
    age_sd: float
    age_min: int
    age_max: int
    tier_probs: tuple[float, ...]  # city tiers 1..5
    occupation_probs: tuple[float, ...]  # OCCUPATIONS
    education_probs: tuple[float, ...]  # EDUCATIONS
    marital_probs: tuple[float, ...]  # MARITAL
    reg_channel_probs: tuple[float, ...]  # REG_CHANNELS
    income_log_mean: float  # log of monthly income in CNY
    income_log_sd: float
    aum_log_mean: float  # log of deposits + wealth in CNY
    aum_log_sd: float
    has_credit_card: float
    has_time_deposit: float
    has_wealth: float
    has_fund: float
    has_insurance: float
    txn_per_year: float
    txn_amount_log_mean: float
    txn_type_probs: tuple[float, ...]  # TXN_TYPES
    purchase_channel_probs: tuple[float, ...]  # PURCHASE_CHANNELS
    mcc_weights: tuple[float, ...]  # activity.MCCS
    hour_profile: str
    sessions_per_year: float
    login_prob: float
    platform_probs: tuple[float, ...]  # PLATFORMS
    loan_interest: float  # chance of looking at a loan during the year
    pd_logit: float  # base log-odds of default within a year
    card_utilisation: float  # mean share of the credit limit in use
    tickets_per_year: float
    complaint_share: float
    risk_appetite: float  # 1 (conservative) .. 5 (aggressive), drives questionnaire answers
    base_conversion: float
    uplift_scale: float  # how much marketing moves this persona
    marketing_consent: float


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "young_urban_spender", 0.20, 27, 4, 20, 38, (.35, .40, .15, .07, .03),
        (.02, .25, .45, .05, .08, .01, .05, 0, 0, .04, .05), (0, .01, .05, .2, .55, .17, .02),
        (.75, .22, .03, 0), (.1, .6, .15, .15, 0), 9.1, 0.45, 9.6, 1.0,
        .65, .08, .15, .35, .1, 32, 4.3,
        (.62, .08, .12, .02, .01, .06, .04, .01, .01, .03), (.35, .5, .15),
        (1, 3, 3, 1, 3, .5, .4, .6, .3, 1.5, .3, .1, .1, 1.5, 1, .2, .3, .6),
        "night_owl", 7.0, .9, (.45, .4, .05, .1), .18, -3.4, .55, .25, .35, 3.6, .05, 1.3, .75),
    Persona(
        "salaried_family", 0.28, 40, 6, 28, 55, (.15, .35, .25, .17, .08),
        (.1, .2, .4, .15, .05, .02, 0, 0, .02, .01, .05), (.01, .05, .15, .25, .4, .12, .02),
        (.08, .85, .06, .01), (.5, .3, .1, .05, .05), 9.3, 0.4, 11.2, 1.0,
        .55, .35, .3, .25, .45, 24, 4.8,
        (.55, .08, .1, .04, .04, .1, .05, .01, .01, .02), (.55, .3, .15),
        (3, 2, 1, 2, 2, 2, 1.5, .4, .2, .8, 1, 1, 1.5, 1, .6, .2, .2, 1),
        "office", 5.0, .85, (.4, .45, .05, .1), .2, -3.7, .4, .3, .3, 2.6, .06, 1.0, .6),
    Persona(
        "affluent_investor", 0.08, 50, 8, 32, 70, (.55, .3, .1, .04, .01),
        (.08, .35, .15, 0, .05, .25, 0, .08, 0, 0, .04), (0, 0, .03, .1, .4, .35, .12),
        (.05, .85, .07, .03), (.7, .15, .05, .05, .05), 10.6, 0.6, 13.8, 0.9,
        .85, .7, .85, .7, .6, 16, 6.2,
        (.45, .12, .15, .01, .08, .02, .02, .01, .12, .02), (.5, .35, .15),
        (1.5, 3, .3, 2.5, 1, 1, .5, 3, 2, 2, .5, .5, 1, .5, .5, 2, .2, .6),
        "office", 6.0, .95, (.55, .3, .1, .05), .04, -5.0, .15, .18, .25, 4.0, .08, .8, .45),
    Persona(
        "small_business_owner", 0.10, 44, 8, 28, 62, (.15, .3, .3, .18, .07),
        (0, .02, .03, .02, .43, .45, 0, 0, .02, 0, .03), (.03, .12, .3, .25, .22, .07, .01),
        (.1, .8, .08, .02), (.7, .15, .05, .1, 0), 10.0, 0.8, 12.0, 1.2,
        .6, .3, .3, .3, .35, 28, 6.0,
        (.35, .22, .22, .03, .1, 0, .05, .01, .01, .01), (.6, .25, .15),
        (2, 1, 1, 1.5, 1, 2, 1, 1, 1, 1, .3, .2, .3, .5, .3, .5, 4, .8),
        "business", 5.0, .85, (.3, .55, .05, .1), .35, -3.2, .5, .35, .35, 3.4, .05, 1.1, .5),
    Persona(
        "retired_saver", 0.16, 67, 6, 56, 85, (.12, .28, .27, .2, .13),
        (.02, .02, .02, .02, .02, .01, 0, .85, .02, 0, .02), (.15, .3, .3, .12, .1, .02, .01),
        (0, .72, .06, .22), (.9, .03, .02, .02, .03), 8.6, 0.4, 11.8, 1.0,
        .15, .8, .35, .05, .3, 10, 4.5,
        (.5, .1, .05, .15, .08, .06, 0, .01, .05, 0), (.85, .05, .1),
        (5, 2.5, .2, 1, .5, 2, 3, .1, .1, .3, 3, 2, .2, .1, .1, .5, .2, .2),
        "early", 1.5, .75, (.3, .55, .05, .1), .03, -4.6, .1, .2, .5, 1.4, .04, .5, .35),
    Persona(
        "credit_stressed_borrower", 0.10, 34, 7, 22, 55, (.08, .25, .3, .25, .12),
        (0, .03, .3, .35, .1, .02, 0, 0, .05, .1, .05), (.05, .25, .35, .25, .1, 0, 0),
        (.4, .4, .18, .02), (.1, .4, .1, .4, 0), 8.6, 0.45, 8.3, 1.1,
        .8, .02, .02, .08, .08, 22, 4.4,
        (.5, .1, .14, .07, .01, .05, .09, .03, 0, .01), (.35, .5, .15),
        (3, 2.5, 1.5, .3, 1.5, .4, .2, .2, .1, 1, .5, .2, .1, 1, .6, .1, .2, 1),
        "night_owl", 6.0, .9, (.3, .55, .05, .1), .6, -1.3, .9, .6, .45, 2.8, .07, 1.0, .7),
    Persona(
        "student_starter", 0.08, 21, 1.8, 18, 25, (.3, .4, .2, .08, .02),
        (0, 0, .05, .03, .02, 0, .85, 0, 0, .02, .03), (0, 0, .05, .25, .6, .1, 0),
        (.98, .02, 0, 0), (.05, .75, .1, .1, 0), 7.6, 0.5, 8.0, 1.0,
        .2, .01, .02, .15, .02, 18, 3.6,
        (.7, .15, .06, .03, 0, 0, .01, .01, .01, .03), (.2, .6, .2),
        (1, 2, 4, .1, 1, .2, .3, .2, .1, 1.5, .2, .05, .5, 1.2, 1.5, .1, .1, .6),
        "night_owl", 8.0, .9, (.4, .45, .02, .13), .12, -3.0, .6, .12, .3, 3.0, .04, 1.2, .8),
)
PERSONA_NAMES = tuple(p.name for p in PERSONAS)


def persona_shares() -> np.ndarray:
    """Configured shares, normalised so that small rounding in the table cannot matter."""
    shares = np.array([p.share for p in PERSONAS], dtype=float)
    return np.asarray(shares / shares.sum())


def table(field: str) -> np.ndarray:
    """One parameter for every persona, as an array indexed by persona number."""
    return np.array([getattr(p, field) for p in PERSONAS], dtype=float)


def prob_table(field: str) -> np.ndarray:
    """A probability vector per persona (rows normalised to 1)."""
    rows = np.array([getattr(p, field) for p in PERSONAS], dtype=float)
    return np.asarray(rows / rows.sum(axis=1, keepdims=True))
