"""Model benchmark: training time per model, and scoring throughput in the engine.

Usage::

    python bench/models.py --train-customers 1e5 [--score-workspace WS1e6 --score-as-of D]
                           [--work DIR] [--json OUT] [--markdown docs/benchmarks-models.md]

1. **Training** (``--train-customers``): a synthetic bank of that size is generated,
   ingested and built at 2025-06-30, 2025-09-30 and 2025-12-31 (kept in ``--work``
   and reused on the next run), then every model is trained with
   ``finpersona.models.workflow.train`` — reading its features and outcomes from
   the engine, fitting, testing on the held-out data, writing the registry version —
   and timed end to end. The held-out metrics are recorded beside the time.
2. **Scoring** (``--score-workspace``): the versions just trained are copied into
   that (larger, already built) workspace and each model scores every customer of
   its snapshot with ``publish_scores`` (features computed in the engine, the
   estimator mapped over Arrow batches, Parquet written): rows per second. The
   tag snapshot is not rebuilt here (that is the tag build's benchmark).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from finpersona.analytics.data import open_analytics
from finpersona.build import build
from finpersona.config import Workspace, open_workspace
from finpersona.ingest import ingest_directory
from finpersona.models import workflow
from finpersona.models.catalog import READS_SCORES_OF, SPECS, TRAINING_ORDER, get_spec
from finpersona.models.scoring import publish_scores
from finpersona.synth import generate_demo_bank
from finpersona.tags.catalogue import load_catalogue
from machine import REPO, machine_facts

BUILD_DATES = (date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31))
NOTES_MARKER = "<!-- notes below are kept when bench/models.py rewrites this page -->"
ORDER = TRAINING_ORDER


def _scale(text: str) -> int:
    return int(float(text))


def prepare(customers: int, work: Path) -> Workspace:
    """A built workspace of ``customers`` (reused when a complete one is there)."""
    root = work / f"models-{customers}"
    done = root / "READY"
    if done.exists():
        return open_workspace(root / "ws", create=False)
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    summary = generate_demo_bank(root / "bank", customers=customers, seed=7)
    ws = open_workspace(root / "ws")
    ingest_directory(ws, summary.source_dir)
    for day in BUILD_DATES:
        build(ws, day)
    done.write_text(f"{time.perf_counter() - started:.1f} s to prepare\n", encoding="utf-8")
    return ws


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items() if isinstance(v, int | float)}


def bench_training(ws: Workspace) -> list[dict[str, Any]]:
    rows = []
    for name in ORDER:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        card = workflow.train(ws, name)
        seconds = time.perf_counter() - start
        workflow.promote(ws, name, card.version)
        # Later models read earlier models' tags: score the latest snapshot now.
        workflow.score(ws, name)
        rows.append({"model": name, "seconds": round(seconds, 2), "version": card.version,
                     "train_rows": card.rows["train"], "test_rows": card.rows["test"],
                     "split": card.split, "metrics": _headline(card.metrics)})
    return rows


def bench_scoring(trained: Workspace, target: Workspace, as_of: date) -> list[dict[str, Any]]:
    shutil.rmtree(target.models_dir, ignore_errors=True)
    shutil.copytree(trained.models_dir, target.models_dir)
    catalogue = load_catalogue(target.tags_dir)
    rows = []
    fresh: set[str] = set()  # scored since the tag snapshot was last rebuilt
    for name in ORDER:
        # A model that reads another's tags needs them in the snapshot it scores: rebuild
        # the tag snapshot (not timed) only then, not after every model.
        if fresh & set(READS_SCORES_OF.get(name, ())):
            print(f"rebuilding the tag snapshot for {name} ...", file=sys.stderr, flush=True)
            build(target, as_of, stages=("tag_snapshot",))
            fresh.clear()
        print(f"scoring {name} ...", file=sys.stderr, flush=True)
        reg = workflow.registry(target)
        with open_analytics(target) as ctx:
            start = time.perf_counter()
            report = publish_scores(ctx, reg, catalogue, get_spec(name, target.settings), as_of)
            seconds = time.perf_counter() - start
        rows.append({"model": name, "rows": report.rows, "seconds": round(seconds, 2),
                     "rows_per_second": round(report.rows / seconds)})
        fresh.add(name)
    return rows


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = ["# Benchmarks: models", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python "
             f"{m['python']}, DuckDB {m['duckdb']}; commit {m['git_commit']}.", ""]
    if result.get("training"):
        lines += [f"## Training on the {result['train_customers']:,}-customer bank", "",
                  "Each model trained by `finpersona model train` end to end (features and "
                  "outcomes read from the engine, fit, held-out test, registry write).", "",
                  "| model | seconds | train rows | test rows | held-out metrics |",
                  "|---|---:|---:|---:|---|"]
        for r in result["training"]:
            metrics = ", ".join(f"{k} {v}" for k, v in list(r["metrics"].items())[:6])
            lines.append(f"| {r['model']} | {r['seconds']} | {r['train_rows']:,} | "
                         f"{r['test_rows']:,} | {metrics} |")
        lines.append("")
    if result.get("scoring"):
        lines += [f"## Scoring every customer on DuckDB ({result['score_workspace']})", "",
                  "| model | customers scored | seconds | rows/s |", "|---|---:|---:|---:|"]
        for r in result["scoring"]:
            lines.append(f"| {r['model']} | {r['rows']:,} | {r['seconds']} | "
                         f"{r['rows_per_second']:,} |")
        lines.append("")
    lines += ["## Rerun", "", "```sh", result["command"], "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-customers", type=_scale, default=100_000)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "results" / "work")
    parser.add_argument("--score-workspace", type=Path)
    parser.add_argument("--score-as-of", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--only", nargs="*", choices=list(SPECS), help="these models only")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    global ORDER  # noqa: PLW0603 - --only narrows the run
    if args.only:
        ORDER = tuple(n for n in ORDER if n in args.only)
    result: dict[str, Any] = {"machine": machine_facts("bench"),
                              "command": "python " + " ".join(sys.argv),
                              "train_customers": args.train_customers}
    trained = prepare(args.train_customers, args.work)
    result["training"] = bench_training(trained)
    if args.score_workspace:
        target = open_workspace(args.score_workspace, create=False)
        result["score_workspace"] = str(args.score_workspace)
        result["scoring"] = bench_scoring(trained, target, args.score_as_of)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.markdown:
        # The notes after the marker are written by people (the truth comparison, what
        # the figures mean): a rerun replaces the tables above them and keeps them.
        old = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else ""
        notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else NOTES_MARKER + "\n"
        args.markdown.write_text(markdown(result) + "\n" + notes, encoding="utf-8")


if __name__ == "__main__":
    main()
