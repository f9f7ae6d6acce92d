"""The top-paths query written by hand in DuckDB SQL, for the paths benchmark.

:func:`top_paths_sql` is what a DuckDB expert writes for the question
``finpersona.analytics.paths.top_paths_query`` answers: sessions by inactivity gap
per actor (customer, else device, else SDK session), each session's pages in event
order with consecutive repeats collapsed, its first ``steps`` pages as the path,
and the ``top`` most frequent paths. It may use what only DuckDB has (``list``
aggregates with ``ORDER BY``, list slicing and list ordering), which FinPersona's
engine-neutral version may not. ``tests/analytics/test_paths.py`` checks that both
give the same rows on random logs.

Result columns: ``path`` (a list of pages) and ``sessions``, largest first; ties go
to the smaller path (element by element, a shorter path before its extensions).
"""

from __future__ import annotations

# Events sharing a timestamp are taken in this order (as in the analysis).
EVENT_ORDER = ("event_time, event_name, page NULLS FIRST, platform NULLS FIRST, "
               "dwell_ms NULLS FIRST, event_id NULLS FIRST")


def top_paths_sql(table: str, steps: int, gap_minutes: int, top: int,
                  offset_hours: float) -> str:
    """The hand-written query over ``table`` (the warehouse's ``events`` columns).

    ``offset_hours`` is accepted so both sides take the same parameters; sessions are
    cut by pauses, not by calendar days, so the zone does not change the answer.
    """
    del offset_hours  # no calendar boundary in this query
    return f"""
WITH actors AS (
  SELECT coalesce(customer_key, 'device:' || anonymous_key, 'sdk:' || session_id) AS actor,
         event_time, event_name, page, platform, dwell_ms, event_id
  FROM {table}
  WHERE event_time IS NOT NULL
),
marked AS (
  SELECT *,
    CASE WHEN lag(event_time) OVER w IS NULL
           OR event_time > lag(event_time) OVER w + INTERVAL {int(gap_minutes)} MINUTE
         THEN 1 ELSE 0 END AS starts
  FROM actors
  WHERE actor IS NOT NULL
  WINDOW w AS (PARTITION BY actor ORDER BY {EVENT_ORDER})
),
numbered AS (
  SELECT *, sum(starts) OVER (PARTITION BY actor ORDER BY {EVENT_ORDER}
                              ROWS UNBOUNDED PRECEDING) AS session
  FROM marked
),
pages AS (
  SELECT *, lag(page) OVER (PARTITION BY actor, session ORDER BY {EVENT_ORDER}) AS before
  FROM numbered
  WHERE page IS NOT NULL
),
paths AS (
  SELECT list(page ORDER BY {EVENT_ORDER})[1:{int(steps)}] AS path
  FROM pages
  WHERE before IS NULL OR before <> page
  GROUP BY actor, session
)
SELECT path, count(*) AS sessions
FROM paths
GROUP BY path
ORDER BY sessions DESC, path
LIMIT {int(top)}
"""
