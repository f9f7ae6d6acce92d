"""FinPersona end-to-end benchmark: synth → ingest → build, against a plain DuckDB load.

Usage::

    python bench/run.py --scale 1e4 1e5 [--out bench/results] [--keep-data]
                        [--markdown docs/benchmarks.md] [--profile]
    python bench/run.py --render bench/results/A.json [B.json ...] --markdown docs/benchmarks.md

Every measured stage runs in its own fresh Python process, so its peak resident memory
(``ru_maxrss``) belongs to that stage alone. The stage's wall time is measured inside the
child around the call itself (imports excluded); the process time including interpreter
start-up and imports is recorded as well.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from machine import machine_facts as shared_machine_facts

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED = 7
DIRTY_RATE = 0.02
MONTHS = 12
# DuckDB cannot decode GB18030/GBK without its ``encodings`` extension: left out of the reference.
GBK_PREFIX = "customers_branch_"
READERS = {".csv": "read_csv", ".jsonl": "read_json", ".json": "read_json",
           ".ndjson": "read_json", ".parquet": "read_parquet"}
READER_OPTIONS = {
    "read_csv": "all_varchar=true, ignore_errors=true, header=true",
    "read_json": "format='newline_delimited', ignore_errors=true",
    "read_parquet": "",
}
Result = dict[str, Any]


# --------------------------------------------------------------------------- child side
def _peak_rss_mb() -> float:
    """Peak RSS of this process (and any children it waited for), in MB (Linux: KiB units).

    Linux carries a process's peak across exec into ``ru_maxrss``, and a forked child
    starts with its parent's; the parent therefore starts children through ``/bin/sh``
    (see ``run_stage``) so the figure is the stage's own.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _cpu_seconds() -> float:
    """User plus system CPU time of this process and its waited-for children (all threads)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _work_synth(p: Result) -> Result:
    from finpersona.synth import generate_demo_bank

    start = time.perf_counter()
    summary = generate_demo_bank(Path(p["out"]), customers=p["customers"], seed=SEED,
                                 dirty_rate=DIRTY_RATE, months=MONTHS, progress=None)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": sum(summary.rows.values()),
            "rows_by_table": dict(summary.rows), "files": len(summary.files),
            "source_bytes": _dir_bytes(summary.source_dir)}


def _work_ingest(p: Result) -> Result:
    from finpersona.config import open_workspace
    from finpersona.ingest import ingest_directory

    workspace = open_workspace(Path(p["workspace"]))
    start = time.perf_counter()
    report = ingest_directory(workspace, Path(p["directory"]))
    seconds = time.perf_counter() - start
    tables = {name: {"read": c.read, "accepted": c.accepted, "quarantined": c.quarantined,
                     "duplicates": c.duplicates} for name, c in sorted(report.tables.items())}
    txn = tables.get("transactions", {}).get("read", 0)
    return {"seconds": seconds, "rows": sum(t["read"] for t in tables.values()),
            "transactions_rows": txn,
            "accepted": sum(t["accepted"] for t in tables.values()),
            "quarantined": sum(t["quarantined"] for t in tables.values()),
            "duplicates": sum(t["duplicates"] for t in tables.values()),
            "tables": tables, "engine": workspace.settings.engine,
            "warehouse_bytes": _dir_bytes(workspace.warehouse_dir)}


def _work_build(p: Result) -> Result:
    from finpersona.build import build
    from finpersona.config import open_workspace

    workspace = open_workspace(Path(p["workspace"]), create=False)
    start = time.perf_counter()
    report = build(workspace, None)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": sum(report.tables.values()), "tables": report.tables,
            "as_of": report.as_of, "engine": report.engine}


def _work_reference(p: Result) -> Result:
    import duckdb

    database = Path(p["database"])
    database.unlink(missing_ok=True)
    start = time.perf_counter()
    con = duckdb.connect(str(database))
    tables: dict[str, int] = {}
    for table, group in sorted(p["groups"].items()):
        for reader, files in sorted(group.items()):
            name = f"{table}__{reader}" if len(group) > 1 else table
            listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
            options = READER_OPTIONS[reader]
            args = f"{listing}, {options}" if options else listing
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM {reader}({args})')
            counted = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            tables[name] = int(counted[0]) if counted else 0
    con.close()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": sum(tables.values()), "tables": tables,
            "transactions_rows": tables.get("transactions", 0),
            "database_bytes": database.stat().st_size}


STAGE_IMPORTS = {"synth": ["finpersona.synth"],
                 "ingest": ["finpersona.config", "finpersona.ingest"],
                 "build": ["finpersona.config", "finpersona.build"], "reference": ["duckdb"]}
WORKERS: dict[str, Callable[[Result], Result]] = {
    "synth": _work_synth, "ingest": _work_ingest, "build": _work_build,
    "reference": _work_reference,
}


def _child_main(kind: str, params_path: str, result_path: str) -> None:
    params = json.loads(Path(params_path).read_text(encoding="utf-8"))
    import importlib

    import psutil

    # Import cost belongs to start-up, not to the stage.
    for module in STAGE_IMPORTS[kind]:
        importlib.import_module(module)

    baseline = psutil.Process().memory_info().rss / 2**20  # after imports, before the work
    cpu_before = _cpu_seconds()
    result = WORKERS[kind](params)
    result["cpu_seconds"] = _cpu_seconds() - cpu_before
    result["baseline_rss_mb"] = baseline
    result["peak_rss_mb"] = _peak_rss_mb()
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


# --------------------------------------------------------------------------- parent side
def _child_env() -> dict[str, str]:
    """The environment without FINPERSONA_* overrides, so every run uses default settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINPERSONA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"),
                                                      env.get("PYTHONPATH", "")]))
    return env


class StageError(RuntimeError):
    """A stage failed or was stopped; ``info`` keeps what was measured until then."""

    def __init__(self, label: str, message: str, info: Result) -> None:
        super().__init__(f"stage {label}: {message}")
        self.label = label
        self.info = {"error": message, **info}


def _watch(proc: subprocess.Popen[bytes], rss_limit_gb: float) -> tuple[float, bool]:
    """Wait for the child, sampling its process tree's RSS; kill it above the limit.

    Returns the sampled peak in MB (a cross-check of the child's own ``ru_maxrss``) and
    whether the child was killed. The limit protects everything else on the machine
    from the kernel's out-of-memory killer at large scales.
    """
    import psutil

    peak, limit = 0.0, rss_limit_gb * 2**30
    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        proc.wait()
        return peak, False
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree)
        except psutil.NoSuchProcess:
            time.sleep(0.25)
            continue
        peak = max(peak, rss / 2**20)
        if rss > limit:
            for p in reversed(tree):
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            proc.wait()
            return peak, True
        time.sleep(0.25)
    return peak, False


def run_stage(kind: str, params: Result, scratch: Path, label: str,
              profile_to: Path | None = None, rss_limit_gb: float = 1e9) -> Result:
    """Run one worker in a fresh interpreter and return what it measured."""
    params_path = scratch / f"{label}.params.json"
    result_path = scratch / f"{label}.result.json"
    params_path.write_text(json.dumps(params), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind,
           str(params_path), str(result_path)]
    if profile_to is not None:
        spy = Path(sys.executable).with_name("py-spy")
        cmd = [str(spy), "record", "--format", "raw", "--rate", "50", "--idle",
               "-o", str(profile_to), "--", *cmd]
    # A small shell forks the child, so the child's ru_maxrss does not start from this
    # (larger) process's peak: Linux carries that over fork+exec. No `exec`: keep the fork.
    cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *cmd]
    print(f"  {label} ...", end="", flush=True, file=sys.stderr)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    log_path = scratch / f"{label}.log"
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, env=_child_env(), cwd=scratch, stdout=log,
                                stderr=subprocess.STDOUT)
        sampled_mb, killed = _watch(proc, rss_limit_gb)
    elapsed = time.perf_counter() - start
    partial = {"process_seconds": elapsed, "sampled_peak_rss_mb": sampled_mb,
               "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    if killed:
        print(f" killed after {elapsed:.0f}s at {sampled_mb:,.0f} MB", file=sys.stderr)
        raise StageError(label, f"killed after {elapsed:.0f} s: its processes passed the "
                         f"{rss_limit_gb:.1f} GB memory limit (--rss-limit-gb)", partial)
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-8000:]
        sys.stderr.write(tail)
        raise StageError(label, f"exit code {proc.returncode} after {elapsed:.0f} s",
                         partial | {"log_tail": tail[-2000:]})
    result: Result = json.loads(result_path.read_text(encoding="utf-8"))
    result["sampled_peak_rss_mb"] = sampled_mb
    result["process_seconds"] = elapsed
    # 1-minute load average before and after: above the core count, other work competed.
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["seconds"] else None
    print(f" {result['seconds']:.2f}s (cpu {result['cpu_seconds']:.1f}s), "
          f"{result['rows']:,} rows, {result['peak_rss_mb']:.0f} MB, "
          f"load {result['load_avg']}", file=sys.stderr)
    return result


def best_of(repeat: int, kind: str, params: Result, scratch: Path, label: str,
            rss_limit_gb: float) -> Result:
    """The fastest of ``repeat`` runs (each in a fresh process and fresh output)."""
    runs = []
    for i in range(repeat):
        fresh = {k: (f"{v}.{i}" if k in ("workspace", "database") else v)
                 for k, v in params.items()}
        runs.append(run_stage(kind, fresh, scratch, f"{label}.{i}" if repeat > 1 else label,
                              rss_limit_gb=rss_limit_gb))
    best = min(runs, key=lambda r: r["seconds"])
    best["all_seconds"] = [r["seconds"] for r in runs]
    return best


def reference_groups(source: Path, only: str | None = None) -> tuple[Result, list[str]]:
    """Source files by table and DuckDB reader, and the files left out of the reference."""
    from finpersona.ingest.sources import table_for

    groups: dict[str, dict[str, list[str]]] = {}
    excluded: list[str] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        reader = READERS.get(path.suffix.lower())
        table = table_for(path.stem) if reader else None
        if reader is None or table is None or (only and table != only):
            continue
        if path.name.startswith(GBK_PREFIX):
            excluded.append(path.name)
            continue
        groups.setdefault(table, {}).setdefault(reader, []).append(str(path))
    return groups, excluded


def link_table_files(source: Path, target: Path, table: str) -> list[str]:
    """A folder holding symlinks to one table's files only."""
    from finpersona.ingest.sources import table_for

    target.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        if path.suffix.lower() in READERS and table_for(path.stem) == table:
            (target / path.name).symlink_to(path)
            names.append(path.name)
    return names


_LINE_NO = re.compile(r":\d+\)$")


def _leaf_kind(frame: str) -> str:
    """What the innermost Python frame of a sample was doing.

    py-spy sees Python frames only: time inside native code (DuckDB, pyarrow) is charged
    to the Python line that called it.
    """
    kinds = [("ibis/backends/duckdb", "DuckDB executing ibis-compiled SQL (native call)"),
             ("sqlglot/", "sqlglot generating SQL"), ("ibis/", "ibis building/compiling"),
             ("pyarrow/", "pyarrow (Python layer)"),
             ("finpersona/", "finpersona lines, incl. the native calls they make "
              "(pyarrow CSV parsing, DuckDB Arrow inserts)"),
             ("importlib", "imports"), ("duckdb", "DuckDB (other)")]
    return next((kind for key, kind in kinds if key in frame), "other Python")


def profile_summary(raw: Path, top: int = 15) -> Result:
    """Self and inclusive sample shares of finpersona frames in a py-spy raw (folded) file."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        # --idle keeps samples where the main thread waits on DuckDB's worker threads;
        # only the main thread (the stage's own stack) is counted.
        if not stack.startswith("<module> (run.py") or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        ours = [f for f in frames if "finpersona" in f and "bench/run.py" not in f]
        for function in {_LINE_NO.sub(")", f) for f in ours}:
            inclusive[function] += count  # per function, counted once per stack
        if ours:
            own[ours[-1]] += count  # deepest finpersona line: where our code spends the time
        leaf[_LINE_NO.sub(")", frames[-1])] += count

    by_kind: Counter[str] = Counter()
    for frame, count in leaf.items():
        by_kind[_leaf_kind(frame)] += count

    def share(counter: Counter[str]) -> list[Result]:
        return [{"frame": k, "share": v / total} for k, v in counter.most_common(top)]

    return {"samples": total, "inclusive": share(inclusive), "deepest_finpersona": share(own),
            "leaf": share(leaf), "by_kind": share(by_kind)}


def bench_scale(customers: int, out: Path, keep: bool, profile: bool, stamp: str,
                repeat: int = 1, rss_limit_gb: float = 1e9) -> Result:
    work = out / "work" / f"{stamp}-{customers}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    print(f"scale {customers:,} customers → {work}", file=sys.stderr)
    demo, source = work / "demo", work / "demo" / "source"
    stages: Result = {}
    failed: str | None = None
    profile_result: Result | None = None
    try:
        stages["synth"] = run_stage("synth", {"out": str(demo), "customers": customers},
                                    work, "synth", rss_limit_gb=rss_limit_gb)
        stages["ingest"] = run_stage("ingest", {"workspace": str(work / "ws"),
                                                "directory": str(source)}, work, "ingest",
                                     rss_limit_gb=rss_limit_gb)
        stages["build"] = run_stage("build", {"workspace": str(work / "ws")}, work, "build",
                                    rss_limit_gb=rss_limit_gb)
        groups, excluded = reference_groups(source)
        stages["reference"] = run_stage("reference", {"groups": groups,
                                                      "database": str(work / "ref.duckdb")},
                                        work, "reference", rss_limit_gb=rss_limit_gb)
        stages["reference"]["excluded_files"] = excluded
        txn_dir = work / "transactions_only"
        txn_files = link_table_files(source, txn_dir, "transactions")
        stages["ingest_transactions"] = best_of(
            repeat, "ingest", {"workspace": str(work / "ws_txn"), "directory": str(txn_dir)},
            work, "ingest_transactions", rss_limit_gb)
        stages["ingest_transactions"]["files"] = txn_files
        txn_groups, _ = reference_groups(source, only="transactions")
        stages["reference_transactions"] = best_of(
            repeat, "reference", {"groups": txn_groups,
                                  "database": str(work / "ref_txn.duckdb")},
            work, "reference_transactions", rss_limit_gb)
        if profile:
            raw = out / "profiles" / f"{stamp}-{customers}-ingest.txt"
            raw.parent.mkdir(parents=True, exist_ok=True)
            run_stage("ingest", {"workspace": str(work / "ws_profile"),
                                 "directory": str(source)}, work, "ingest (py-spy)",
                      profile_to=raw, rss_limit_gb=rss_limit_gb)
            profile_result = {"raw": str(raw), **profile_summary(raw)}
    except StageError as exc:
        print(f"\n  {exc}", file=sys.stderr)
        failed = exc.label
        stages[exc.label.split(".")[0]] = exc.info
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    result: Result = {"customers": customers, "stages": stages, "headline": None,
                      "failed": failed, "kept_data": str(work) if keep else None}
    if profile_result:
        result["profile"] = profile_result
    if failed:
        return result
    fp, ref = stages["ingest_transactions"], stages["reference_transactions"]
    result["headline"] = {
        "transactions_rows": fp["transactions_rows"],
        "finpersona_transactions_seconds": fp["seconds"],
        "finpersona_transactions_rows_per_s": fp["transactions_rows"] / fp["seconds"],
        "duckdb_transactions_seconds": ref["seconds"],
        "duckdb_transactions_rows_per_s": ref["rows"] / ref["seconds"],
        "transactions_ratio": fp["seconds"] / ref["seconds"],
        "ingest_rows_per_s": stages["ingest"]["rows_per_s"],
        "all_tables_ratio": stages["ingest"]["seconds"] / stages["reference"]["seconds"],
    }
    return result


def machine_facts() -> Result:
    try:
        import ibis
        ibis_version = ibis.__version__
    except ImportError:
        ibis_version = "missing"
    disk = shutil.disk_usage(BENCH_DIR)
    return {**shared_machine_facts(), "ibis": ibis_version,
            "disk_free_gb": round(disk.free / 2**30, 1)}


# --------------------------------------------------------------------------- reporting
def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _load_note(scale: Result, cores: int | None) -> list[str]:
    loads = [x for r in scale["stages"].values() for x in r.get("load_avg", [])]
    if not loads or not cores or max(loads) <= cores:
        return []
    return [f"_The 1-minute load average reached {max(loads):.1f} on {cores} cores during "
            "this run: other processes competed for the CPU, so wall times are pessimistic; "
            "CPU s is the steadier figure._", ""]


def scale_table(scale: Result, cores: int | None = None) -> str:
    s, h = scale["stages"], scale.get("headline")
    excluded = s.get("reference", {}).get("excluded_files", [])
    ref_note = "all tables except " + ", ".join(excluded) if excluded else "all tables"
    ing = s.get("ingest", {})
    ingest_note = ("all tables; rows read" if "error" in ing or not ing else
                   f"all tables; rows read ({ing['transactions_rows']:,} transactions; "
                   f"{ing['quarantined']:,} quarantined, {ing['duplicates']:,} duplicates)")
    as_of = s.get("build", {}).get("as_of", "the last day")
    rows = [
        ("synth", "generate_demo_bank (seed 7, dirty 0.02, 12 months); rows written", "synth"),
        ("ingest", ingest_note, "ingest"),
        ("build", f"daily_summary as of {as_of}; rows written", "build"),
        ("DuckDB plain load", f"{ref_note}; rows loaded", "reference"),
        ("ingest, transactions only", "FinPersona ingest of transactions_* files",
         "ingest_transactions"),
        ("DuckDB read_csv, transactions only", "CREATE TABLE AS read_csv(all_varchar, "
         "ignore_errors)", "reference_transactions"),
    ]
    lines = [f"### {scale['customers']:,} customers", "",
             "| stage | what | wall s | CPU s | rows | rows/s | peak RSS MB | load |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, what, key in rows:
        r = s.get(key)
        if r is None:
            lines.append(f"| {name} | {what} | not run | | | | | |")
            continue
        load = "–".join(f"{x:.1f}" for x in r.get("load_avg", [])) or "–"
        if "error" in r:
            lines.append(f"| {name} | **failed: {r['error']}** | "
                         f"{_num(r.get('process_seconds'), 0)} (process) | | | | "
                         f"{_num(r.get('sampled_peak_rss_mb'))} (sampled) | {load} |")
            continue
        lines.append(f"| {name} | {what} | {_num(r['seconds'], 2)} | "
                     f"{_num(r.get('cpu_seconds'), 1)} | {_num(r['rows'])} | "
                     f"{_num(r['rows_per_s'])} | {_num(r['peak_rss_mb'])} | {load} |")
    lines += ["", *_load_note(scale, cores)]
    if not h:
        return "\n".join(lines)
    lines += [
              f"**Transactions end to end: {_num(h['finpersona_transactions_rows_per_s'])} rows/s "
              f"with FinPersona vs {_num(h['duckdb_transactions_rows_per_s'])} rows/s with plain "
              f"DuckDB read_csv — FinPersona takes {h['transactions_ratio']:.1f}× as long.** "
              f"All tables: ingest {_num(h['ingest_rows_per_s'])} rows/s, "
              f"{h['all_tables_ratio']:.1f}× the plain DuckDB load.", ""]
    if "profile" in scale:
        lines += ["Where ingest time goes (py-spy, share of samples; inclusive, "
                  "finpersona functions):", ""]
        for item in scale["profile"]["inclusive"][:10]:
            lines.append(f"- {item['share']:.0%} `{item['frame']}`")
        lines += ["", "Innermost frame of each sample, by kind:", ""]
        for item in scale["profile"]["by_kind"]:
            lines.append(f"- {item['share']:.0%} {item['frame']}")
        lines += ["", "Deepest finpersona line on the stack (where our code waits or works):", ""]
        for item in scale["profile"]["deepest_finpersona"][:6]:
            lines.append(f"- {item['share']:.0%} `{item['frame']}`")
        lines.append("")
    return "\n".join(lines)


def machine_table(machine: Result) -> str:
    keys = [("CPU", "cpu"), ("cores (os.cpu_count)", "cores"), ("RAM GB", "ram_gb"),
            ("OS", "os"), ("Python", "python"), ("duckdb", "duckdb"), ("pyarrow", "pyarrow"),
            ("ibis", "ibis"), ("git commit", "git_commit")]
    lines = ["| | |", "|---|---|"]
    for label, key in keys:
        value = machine.get(key, "?")
        if key == "git_commit" and machine.get("git_dirty"):
            value = f"{value} (src/ had uncommitted changes)"
        lines.append(f"| {label} | {value} |")
    return "\n".join(lines)


def markdown_stdout(doc: Result) -> str:
    return "\n".join([machine_table(doc["machine"]), "",
                      *(scale_table(s, doc["machine"].get("cores")) for s in doc["scales"])])


def _scale_text(n: int) -> str:
    """1000000 → 1e6, 25000 → 25000."""
    digits = str(n)
    zeros = len(digits) - len(digits.rstrip("0"))
    return f"{digits[:-zeros]}e{zeros}" if zeros >= 3 else digits


def benchmarks_doc(docs: Sequence[Result], pending: Sequence[int],
                   notes: Sequence[str] = ()) -> str:
    scales = sorted((s | {"_machine": d["machine"], "_started": d["started_at"]}
                     for d in docs for s in d["scales"]), key=lambda s: s["customers"])
    machine = docs[0]["machine"]
    parts = [
        "# Benchmarks",
        "",
        "Generated by `bench/run.py` (see `bench/README.md`); do not edit the figures by hand.",
        "",
        "## Machine",
        "",
        machine_table(machine),
        "",
        "## What is measured",
        "",
        "Scale = number of customers given to `generate_demo_bank` (seed 7, dirty rate 0.02, "
        "12 months). Each stage runs in a fresh Python process; *wall s* is timed inside "
        "that process around the call (interpreter start-up and imports excluded) and "
        "*peak RSS* is the process's `ru_maxrss`: it includes the imported libraries "
        "(about 50 MB for DuckDB alone, 140 MB with finpersona, ibis and pyarrow). "
        "*CPU s* is user + system time of all the process's threads; "
        "*load* is the 1-minute load average before and after the stage.",
        "",
        "- **synth**: `generate_demo_bank` writing the source files and hidden truth; rows = "
        "rows written to source files.",
        "- **ingest**: `ingest_directory` of the whole source folder into a new DuckDB "
        "workspace (read, decode, clean, validate, quarantine, encrypt and pseudonymise, "
        "deduplicate, stitch identities, write Parquet); rows = rows read over all tables.",
        "- **build**: `build` for the last day with data; rows = rows written "
        "(`daily_summary`).",
        "- **DuckDB plain load** (the reference): one DuckDB process loading the same files "
        "into an on-disk database with `CREATE TABLE t AS SELECT * FROM read_csv([...], "
        "all_varchar=true, ignore_errors=true, header=true)` (CSV), "
        "`read_json([...], format='newline_delimited', ignore_errors=true)` (JSON lines) and "
        "`read_parquet([...])`. The GBK-encoded `customers_branch_*.csv` file is left out: "
        "DuckDB cannot decode it without its encodings extension. `ignore_errors` silently "
        "drops malformed rows that FinPersona quarantines instead, so the reference loads "
        "slightly fewer rows. It does no cleaning, typing, validation, deduplication or "
        "privacy work: it is the floor for just getting the bytes into a table.",
        "- **ingest, transactions only** and **DuckDB read_csv, transactions only**: the same "
        "two paths on the `transactions_*` files alone (FinPersona reads a folder of "
        "symlinks to them). The headline ratio is FinPersona's time divided by DuckDB's time "
        "on the same files.",
        "",
        "## Results",
        "",
    ]
    for s in scales:
        parts += [f"_Run {s['_started']}, commit {s['_machine'].get('git_commit')}._", "",
                  scale_table(s, s["_machine"].get("cores"))]
    for n in pending:
        parts += [f"### {n:,} customers", "",
                  f"Pending: run `python bench/run.py --scale {_scale_text(n)}` "
                  "(check `df -h` first: it needs tens of GB of disk under bench/results/work, "
                  "and see the memory note below), then add its JSON with `--render`.", ""]
    for note in notes:
        parts += [note, ""]
    parts += [
        "## Rerun",
        "",
        "```sh",
        ".venv/bin/python bench/run.py --scale 1e4 1e5 --markdown docs/benchmarks.md",
        "# or merge saved runs into this page:",
        ".venv/bin/python bench/run.py --render bench/results/<a>.json bench/results/<b>.json "
        "--markdown docs/benchmarks.md",
        "```",
        "",
        "## Other benchmarks",
        "",
        "- Tag build against hand-written DuckDB SQL: [benchmarks-tags.md](benchmarks-tags.md) "
        "(`bench/tag_build.py`).",
        "- Audience counts, bitmap index against DuckDB scans at 1e6 / 1e7 customers: "
        "[benchmarks-audiences.md](benchmarks-audiences.md) (`bench/audience_count.py`).",
        "",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- main
def _scale(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"scale must be a whole number of customers: {text}")
    return int(value)


def _default_rss_limit_gb() -> float:
    import psutil

    total: int = psutil.virtual_memory().total
    return round(0.75 * total / 2**30, 1)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        _child_main(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", nargs="+", type=_scale, default=[],
                        help="customer counts, e.g. 1e4 1e5")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results",
                        help="results folder (JSON, profiles, work/)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the generated data and workspaces under OUT/work")
    parser.add_argument("--markdown", type=Path, help="rewrite this page (docs/benchmarks.md)")
    parser.add_argument("--profile", action="store_true",
                        help="also run ingest once more under py-spy and summarise the frames")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the two transactions-only stages N times and keep the fastest")
    parser.add_argument("--rss-limit-gb", type=float, default=_default_rss_limit_gb(),
                        help="kill a stage whose process tree passes this RSS "
                        "(default: 75%% of RAM)")
    parser.add_argument("--render", nargs="+", type=Path, default=[],
                        help="render saved result JSON files instead of running")
    parser.add_argument("--pending", nargs="*", type=_scale, default=[],
                        help="scales to list as pending in the Markdown page")
    parser.add_argument("--note", action="append", default=[],
                        help="a paragraph to add after the results on the Markdown page")
    args = parser.parse_args(argv)
    if not args.scale and not args.render:
        parser.error("give --scale or --render")
    docs: list[Result] = [json.loads(p.read_text(encoding="utf-8")) for p in args.render]
    if args.scale:
        out = args.out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        doc: Result = {"started_at": stamp, "machine": machine_facts(),
                       "settings": {"seed": SEED, "dirty_rate": DIRTY_RATE, "months": MONTHS,
                                    "repeat": args.repeat},
                       "scales": []}
        path = out / f"{stamp}.json"
        for n in args.scale:
            doc["scales"].append(bench_scale(n, out, args.keep_data, args.profile, stamp,
                                             args.repeat, args.rss_limit_gb))
            path.write_text(json.dumps(doc, indent=2), encoding="utf-8")  # saved as we go
        doc["finished_at"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        print(f"results: {path}", file=sys.stderr)
        docs.append(doc)
    for doc in docs:
        print(markdown_stdout(doc))
    if args.markdown:
        args.markdown.write_text(benchmarks_doc(docs, args.pending, args.note),
                                 encoding="utf-8")
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
