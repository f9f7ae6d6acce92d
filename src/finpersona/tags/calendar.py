"""The festival days behind the ``is_festival`` column of the ``transactions`` view.

One table shared by the engine view and the test reference, so both agree on
what a festival day is. A festival day (local calendar day in the workspace
zone) is:

- **Spring Festival week** (春节黄金周): Lunar New Year's Eve (除夕) and the six
  days after it, i.e. New Year's Eve through the 6th day of the first lunar
  month (初六) — seven days, the span of the statutory holiday in most years;
- **618** (年中购物节): June 18;
- **Double 11** (双十一): November 11.

Lunar New Year's Day (正月初一) is hard-coded from the published calendar for
2020-2030; years outside the table have only 618 and Double 11.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

# Lunar New Year's Day (正月初一), from the published Chinese calendar.
LUNAR_NEW_YEAR: dict[int, date] = {
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}
SPRING_FESTIVAL_DAYS = 7  # New Year's Eve and the six days after it
SHOPPING_DAYS = ((6, 18), (11, 11))  # 618 and Double 11


def spring_festival_week(year: int) -> tuple[date, ...]:
    """The seven days from Lunar New Year's Eve (除夕) on; empty outside the table."""
    new_year = LUNAR_NEW_YEAR.get(year)
    if new_year is None:
        return ()
    eve = new_year - timedelta(days=1)
    return tuple(eve + timedelta(days=i) for i in range(SPRING_FESTIVAL_DAYS))


@cache
def festival_dates(year: int) -> frozenset[date]:
    """Every festival day of one calendar year."""
    return frozenset(spring_festival_week(year)) | {date(year, m, d) for m, d in SHOPPING_DAYS}


def festival_days(first: date, last: date) -> list[date]:
    """Festival days between two dates (inclusive), sorted: the list an engine view tests
    ``local_date`` against (``isin``)."""
    days = {d for year in range(first.year, last.year + 1) for d in festival_dates(year)}
    return sorted(d for d in days if first <= d <= last)


def is_festival(day: date) -> bool:
    return day in festival_dates(day.year)
