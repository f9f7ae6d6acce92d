"""The Chinese retail-banking calendar: weekly rhythm, festivals and shopping days.

Day weights make the yearly peaks recoverable by analytics: online shopping on
618 and Double 11, offline shopping before Spring Festival, red-envelope
transfers around New Year's Eve. All times are Asia/Shanghai wall-clock time.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from finpersona.synth.personas import HOUR_PROFILE_NAMES, HOUR_PROFILES

# Lunar New Year's Day (春节) for the years a demo period can touch.
SPRING_FESTIVALS = (date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6))
DAY_KINDS = ("online", "offline", "transfer", "app", "flat")


def add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def period_days(start: date, months: int) -> np.ndarray:
    """Every calendar day of the period as datetime64[D]."""
    first = np.datetime64(start, "D")
    end = np.datetime64(add_months(date(start.year, start.month, 1), months), "D")
    return np.arange(first, end, dtype="datetime64[D]")


def period_end(start: date, months: int) -> np.datetime64:
    return np.datetime64(period_days(start, months)[-1], "D")


def month_ends(start: date, months: int) -> np.ndarray:
    """Snapshot dates: quarter ends, then every month end for the last three months."""
    out = []
    for i in range(months):
        first_next = add_months(date(start.year, start.month, 1), i + 1)
        end = np.datetime64(first_next, "D") - np.timedelta64(1, "D")
        month = (start.month - 1 + i) % 12 + 1
        if i >= months - 3 or month % 3 == 0:
            out.append(end)
    return np.array(out, dtype="datetime64[D]")


def _window(days: np.ndarray, centre: date, before: int, after: int) -> np.ndarray:
    delta = (days - np.datetime64(centre, "D")).astype(int)
    return (delta >= -before) & (delta <= after)


def day_weights(days: np.ndarray, kind: str) -> np.ndarray:
    """Relative activity of each day for one kind of behaviour, summing to 1."""
    weekday = ((days.astype("datetime64[D]").astype(np.int64) + 3) % 7)  # 0 = Monday
    weekend = weekday >= 5
    w = np.ones(len(days))
    month_day = np.array([str(d)[5:] for d in days])
    if kind == "online":
        w[weekend] *= 1.15
        for peak, factor in (("06-18", 3.5), ("11-11", 5.0)):
            w[month_day == peak] *= factor
        presale = np.isin(month_day, ("06-16", "06-17", "06-19", "11-10", "11-12"))
        w[presale] *= 1.5
    elif kind == "offline":
        w[weekend] *= 1.45
        w[np.isin(month_day, ("10-01", "10-02", "10-03", "10-04", "10-05"))] *= 1.3
    elif kind == "transfer":
        w[weekend] *= 0.8
    elif kind == "app":
        w[weekend] *= 0.9
    for festival in SPRING_FESTIVALS:
        if kind == "offline":
            w[_window(days, festival, 14, -1)] *= 1.7  # New Year shopping (年货)
            w[_window(days, festival, 0, 6)] *= 0.6  # shops close for the holiday
        elif kind == "transfer":
            w[_window(days, festival, 1, 1)] *= 3.0  # red envelopes (红包)
        elif kind == "online":
            w[_window(days, festival, 0, 6)] *= 0.7
    return np.asarray(w / w.sum())


def hour_probs() -> np.ndarray:
    """Hour-of-day probabilities, one row per persona hour profile."""
    rows = np.array([HOUR_PROFILES[n] for n in HOUR_PROFILE_NAMES], dtype=float)
    return np.asarray(rows / rows.sum(axis=1, keepdims=True))


def sample_times(rng: np.random.Generator, days: np.ndarray, weights: np.ndarray,
                 profile: np.ndarray) -> np.ndarray:
    """Local timestamps (datetime64[s]) on weighted days, with each row's hour profile."""
    n = len(profile)
    day = days[rng.choice(len(days), size=n, p=weights)]
    hours = np.zeros(n, dtype=np.int64)
    probs = hour_probs()
    for k in range(len(probs)):
        idx = np.flatnonzero(profile == k)
        hours[idx] = rng.choice(24, size=len(idx), p=probs[k])
    seconds = hours * 3600 + rng.integers(0, 3600, size=n)
    return np.asarray(day.astype("datetime64[s]") + seconds.astype("timedelta64[s]"))
