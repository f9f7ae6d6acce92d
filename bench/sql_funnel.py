"""The ordered funnel's step counts as hand-written DuckDB SQL, the benchmark's yardstick.

:func:`funnel_sql` writes what a DuckDB expert would: one window pass numbering each
customer's step events, then one ``ASOF LEFT JOIN`` per step that finds the next
event of that step after the previous one, and the counts of the furthest step each
customer reached. The semantics are those of ``finpersona.analytics.funnel``
(ordered mode, no exclusions, whole seconds, same-second events in funnel order,
window inclusive), so the two must give the same counts; a test checks that on
random logs.
"""

from __future__ import annotations

from finpersona.analytics.funnel import EventCondition


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _condition(c: EventCondition) -> str:
    test = f"event_name = {_quote(c.event)}"
    if c.page is not None:
        test += f" AND page = {_quote(c.page)}"
    return f"coalesce({test}, false)"


def funnel_sql(table: str, steps: list[str], window_seconds: int, offset_hours: float) -> str:
    """Rows ``(step, count)``, step 1..n: customers whose furthest step is at least ``step``.

    ``table`` has the warehouse's event columns (``customer_key``, ``event_time`` in UTC,
    ``event_name``, ``page``); ``steps`` use the funnel syntax (``event`` or
    ``event@page``). Local time (``offset_hours``) shifts every second alike, so it
    changes no count; it is applied to keep the query in the analyst's clock.
    """
    conditions = [EventCondition.parse(s) for s in steps]
    n = len(conditions)
    offset = round(offset_hours * 3600)
    flags = ",\n           ".join(f"{_condition(c)} AS m{k}" for k, c in enumerate(conditions))
    first_step = " ".join(f"WHEN m{k} THEN {k}" for k in range(n))
    chain = ["a0 AS (SELECT customer_key, seq AS s0, ts AS t0 FROM numbered WHERE m0)"]
    for k in range(1, n):
        prev = ", ".join(f"a.s{j}, a.t{j}" for j in range(k))
        # The ASOF operator pairs a NULL key too (its nested-loop form for small inputs
        # does not), so an attempt that stopped must be stopped explicitly.
        within = f"a.s{k - 1} IS NOT NULL AND c.ts <= a.t0 + {window_seconds}"
        chain.append(
            f"a{k} AS (\n    SELECT a.customer_key, {prev},\n"
            f"           CASE WHEN {within} THEN c.seq END AS s{k},\n"
            f"           CASE WHEN {within} THEN c.ts END AS t{k}\n"
            f"    FROM a{k - 1} a ASOF LEFT JOIN (SELECT customer_key, seq, ts FROM numbered "
            f"WHERE m{k}) c\n"
            f"      ON a.customer_key = c.customer_key AND a.s{k - 1} < c.seq)")
    reached = " + ".join(["1", *(f"(t{k} IS NOT NULL)::INT" for k in range(1, n))])
    step_list = ", ".join(f"({k})" for k in range(1, n + 1))
    any_step = " OR ".join(f"m{k}" for k in range(n))
    steps_chain = ",\n".join(chain)
    return f"""
WITH events AS (
    SELECT customer_key, event_name, page,
           CAST(epoch(date_trunc('second', event_time)) AS BIGINT) + {offset} AS ts,
           {flags}
    FROM {table}
    WHERE customer_key IS NOT NULL AND event_time IS NOT NULL
),
numbered AS (
    SELECT *, row_number() OVER (
        PARTITION BY customer_key
        ORDER BY ts, CASE {first_step} ELSE {n} END, coalesce(event_name, ''),
                 coalesce(page, '')) AS seq
    FROM events
    WHERE {any_step}
),
{steps_chain},
furthest AS (
    SELECT customer_key, max({reached}) AS reach FROM a{n - 1} GROUP BY customer_key
)
SELECT s.step, count(f.customer_key) AS count
FROM (VALUES {step_list}) s(step) LEFT JOIN furthest f ON f.reach >= s.step
GROUP BY s.step
ORDER BY s.step
"""
