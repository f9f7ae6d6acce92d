"""Behaviour-analysis benchmark: FinPersona's analyses against hand-written DuckDB SQL.

Usage::

    python bench/analytics.py --events 2e7 [--repeat 3] [--json OUT] [--markdown PAGE]

Over one synthetic event log (``bench/event_log.py``, written once and reused),
each query is timed in the same process on the same DuckDB connection, with the
engine's own settings, twice: as FinPersona runs it (Ibis expressions compiled by
the analysis, the small answer collected into Python) and as a DuckDB expert
writes it by hand (``bench/sql_*.py``). The answers are compared; the ratio of
the two times is the figure. Queries:

- a 5-step ordered funnel with a 14-day window (and 3, 6 and 12 steps, to show
  that its time grows at most linearly with the number of steps);
- a 12-week first-time retention matrix (login → login);
- the top 10 five-step page paths of 30-minute sessions.

Each timing is the best of ``--repeat`` runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from event_log import write_event_log
from finpersona.analytics.funnel import FunnelSpec, funnel_step_counts
from finpersona.analytics.paths import analyze_paths, top_paths_query
from finpersona.analytics.retention import (
    RetentionQuery,
    activity_from_events,
    compute_retention,
)
from finpersona.config import Settings
from finpersona.engine import connect
from machine import machine_facts
from sql_funnel import funnel_sql
from sql_paths import top_paths_sql
from sql_retention import retention_sql

OFFSET = 8.0
FUNNEL_12 = ("app_open", "login", "page_view", "click", "product_view", "loan_apply_start",
             "loan_apply_submit", "page_view", "search", "product_view", "purchase_start",
             "purchase_submit")
FUNNEL_5 = ("app_open", "login", "product_view", "loan_apply_start", "loan_apply_submit")
WINDOW_SECONDS = 14 * 86_400


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, answer = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = fn()
        best = min(best, time.perf_counter() - start)
    return best, answer


def _funnel(engine: Any, events: Any, steps: tuple[str, ...], repeat: int,
            hand: bool) -> dict[str, Any]:
    spec = FunnelSpec.parse(list(steps), "14d", "ordered")
    ours_s, ours = _best(lambda: _our_funnel(engine, events, spec), repeat)
    out: dict[str, Any] = {"steps": len(steps), "ours_seconds": ours_s, "counts": ours}
    if hand:
        sql = funnel_sql("bench_events", list(steps), WINDOW_SECONDS, OFFSET)
        hand_s, rows = _best(lambda: engine.con.con.execute(sql).fetchall(), repeat)
        theirs = [int(r[1]) for r in sorted(rows)]
        out |= {"hand_seconds": hand_s, "ratio": ours_s / hand_s, "equal": theirs == ours}
    return out


def _our_funnel(engine: Any, events: Any, spec: FunnelSpec) -> list[int]:
    row = engine.to_arrow(funnel_step_counts(events, spec, offset_hours=OFFSET)).to_pylist()[0]
    return [int(row[f"step_{k}"]) for k in range(1, len(spec.steps) + 1)]


def _retention(engine: Any, events: Any, repeat: int) -> dict[str, Any]:
    query = RetentionQuery(start_event="login", return_event="login", periods=12)
    activity = activity_from_events(events)
    ours_s, result = _best(lambda: compute_retention(engine, activity, query,
                                                     offset_hours=OFFSET), repeat)
    ours = sorted((str(c.cohort_start), cell.period, cell.customers)
                  for c in result.cohorts for cell in c.cells if cell.customers)
    sql = retention_sql("bench_events", "login", "login", 12, OFFSET)
    hand_s, rows = _best(lambda: engine.con.con.execute(sql).fetchall(), repeat)
    theirs = sorted((str(r[0]), int(r[1]), int(r[2])) for r in rows if int(r[2]))
    return {"ours_seconds": ours_s, "hand_seconds": hand_s, "ratio": ours_s / hand_s,
            "cells": len(ours), "equal": ours == theirs}


def _paths(engine: Any, events: Any, repeat: int) -> dict[str, Any]:
    query = top_paths_query(events, gap="30m", offset_hours=OFFSET, steps=5, top=10)
    ours_s, rows = _best(lambda: engine.to_arrow(query).to_pylist(), repeat)
    ours = [(tuple(r[f"step_{k}"] for k in range(1, 6) if r[f"step_{k}"] is not None),
             int(r["sessions"])) for r in rows]
    sql = top_paths_sql("bench_events", 5, 30, 10, OFFSET)
    hand_s, hand_rows = _best(lambda: engine.con.con.execute(sql).fetchall(), repeat)
    theirs = [(tuple(r[0]), int(r[1])) for r in hand_rows]
    # The whole report (top paths, next steps and the Sankey data) for reference.
    report_s, _ = _best(lambda: analyze_paths(engine, events, offset_hours=OFFSET, steps=5,
                                              top=10, gap="30m"), 1)
    return {"ours_seconds": ours_s, "hand_seconds": hand_s, "ratio": ours_s / hand_s,
            "equal": ours == theirs, "report_seconds": report_s,
            "top": [(" → ".join(p), n) for p, n in ours[:3]]}


QUERIES = ("funnel", "retention", "paths")


def run(events_n: int, repeat: int, data_dir: Path,
        only: tuple[str, ...] = QUERIES) -> dict[str, Any]:
    folder = data_dir / f"events-{events_n}"
    marker = folder / "COUNT"
    if not marker.exists():
        start = time.perf_counter()
        written = write_event_log(folder, events_n)
        marker.write_text(str(written))
        print(f"generated {written:,} events in {time.perf_counter() - start:.0f}s",
              file=sys.stderr)
    written = int(marker.read_text())
    out: dict[str, Any] = {"events": written, "repeat": repeat,
                           "machine": {**machine_facts("bench"), "cpus": _cpus()}}
    with connect(Settings()) as engine:
        events = engine.read_parquet([folder])
        engine.con.con.execute(
            f"CREATE OR REPLACE VIEW bench_events AS SELECT * FROM read_parquet("
            f"'{folder}/*.parquet')")
        if "funnel" in only:
            out["funnel"] = [_funnel(engine, events, FUNNEL_5, repeat, hand=True)]
            print(f"funnel 5 steps: {out['funnel'][0]}", file=sys.stderr)
            for n in (3, 6, 12):
                steps = FUNNEL_12[:n]
                out["funnel"].append(_funnel(engine, events, steps, repeat, hand=True))
                print(f"funnel {n} steps: {out['funnel'][-1]}", file=sys.stderr)
        if "retention" in only:
            out["retention"] = _retention(engine, events, repeat)
            print(f"retention: {out['retention']}", file=sys.stderr)
        if "paths" in only:
            out["paths"] = _paths(engine, events, repeat)
            print(f"paths: {out['paths']}", file=sys.stderr)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Event log: {result['events']:,} events; best of {result['repeat']} runs each; "
             f"{result['machine']['cpus']} CPUs.", "",
             "| query | FinPersona (s) | hand-written DuckDB SQL (s) | ratio | same answer |",
             "|---|---:|---:|---:|:-:|"]
    for f in result["funnel"]:
        lines.append(f"| funnel, {f['steps']} steps, ordered, 14 days | {f['ours_seconds']:.2f} "
                     f"| {f['hand_seconds']:.2f} | {f['ratio']:.2f} | "
                     f"{'yes' if f['equal'] else 'NO'} |")
    for key, label in (("retention", "retention, 12 weeks, first-time login → login"),
                       ("paths", "top 10 paths, 5 steps, 30-minute sessions")):
        r = result[key]
        lines.append(f"| {label} | {r['ours_seconds']:.2f} | {r['hand_seconds']:.2f} | "
                     f"{r['ratio']:.2f} | {'yes' if r['equal'] else 'NO'} |")
    if "report_seconds" in result["paths"]:
        lines += ["", f"The whole paths report (top paths, next steps and Sankey data in one "
                  f"call) took {result['paths']['report_seconds']:.2f} s."]
    steps = {f["steps"]: f["ours_seconds"] for f in result["funnel"]}
    if {3, 6, 12} <= set(steps):
        per_step = {n: steps[n] / n for n in (3, 6, 12)}
        lines += ["", "Funnel time per step (linear growth keeps this flat or falling): "
                  + ", ".join(f"{n} steps {v:.3f} s/step" for n, v in per_step.items())
                  + f"; 12 steps take {steps[12] / steps[3]:.2f}× the time of 3."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=float, default=2e7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("bench/results/work"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--only", nargs="+", choices=QUERIES, default=list(QUERIES),
                        help="run only these queries; with --json, update that file's")
    args = parser.parse_args()
    result = run(int(args.events), args.repeat, args.data, tuple(args.only))
    if args.json and args.json.exists() and set(args.only) != set(QUERIES):
        earlier = json.loads(args.json.read_text(encoding="utf-8"))
        result = {**earlier, **result}
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    print(markdown(result))
    if args.markdown:
        args.markdown.write_text(markdown(result), encoding="utf-8")


if __name__ == "__main__":
    main()
