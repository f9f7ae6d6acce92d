"""The 12-week retention matrix written by hand in DuckDB SQL: the benchmark's yardstick.

``retention_sql`` returns one statement over a raw events table with the warehouse's
column names (``customer_key``, ``event_time`` in UTC, ``event_name``) that computes
the same first-time weekly retention as
:func:`finpersona.analytics.retention.compute_retention` with ``mode=first``,
``period=week`` and no date range: known customers only, local weeks starting on
Monday, period 0 = the cohort, period k = returned in the k-th week after the
cohort's week. It yields the non-zero cells as (``cohort_start``, ``period``,
``customers``); tests/analytics/test_retention.py checks it against the analysis.
"""

from __future__ import annotations


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def retention_sql(table: str, start_event: str, return_event: str, periods: int,
                  offset_hours: float) -> str:
    """DuckDB SQL of the first-time weekly retention matrix over ``table``.

    ``table`` is pasted as is (a table name or e.g. ``read_parquet('dir/*.parquet')``);
    event names are quoted as SQL literals.
    """
    if periods < 1:
        raise ValueError("periods must be at least 1")
    shift = f"INTERVAL ({round(offset_hours * 3600)}) SECOND"
    return f"""
WITH ev AS (
  SELECT customer_key, event_name,
         CAST(date_trunc('week', CAST(event_time + {shift} AS DATE)) AS DATE) AS wk
  FROM {table}
  WHERE customer_key IS NOT NULL AND event_time IS NOT NULL
    AND event_name IN ({_text(start_event)}, {_text(return_event)})),
cohorts AS (
  SELECT customer_key, min(wk) AS cohort FROM ev
  WHERE event_name = {_text(start_event)} GROUP BY customer_key),
returns AS (
  SELECT DISTINCT customer_key, wk FROM ev WHERE event_name = {_text(return_event)}),
lags AS (
  SELECT cohort, 0 AS period FROM cohorts
  UNION ALL
  SELECT c.cohort, date_diff('day', c.cohort, r.wk) // 7 AS period
  FROM cohorts c JOIN returns r
    ON r.customer_key = c.customer_key AND r.wk > c.cohort
   AND r.wk < c.cohort + INTERVAL {7 * periods} DAY)
SELECT cohort AS cohort_start, CAST(period AS INTEGER) AS period, count(*) AS customers
FROM lags GROUP BY cohort, period ORDER BY cohort, period
"""
