"""Audience counts (人群圈选): the bitmap tag index against DuckDB scans of the same snapshot.

Usage::

    python bench/audience_count.py --scale 1e6 1e7 [--queries 60] [--out bench/results]
                                   [--markdown docs/benchmarks-audiences.md] [--keep-data]
    python bench/audience_count.py --render bench/results/audience-A.json [B.json ...] \\
                                   --markdown docs/benchmarks-audiences.md

For each scale, three stages run, each in its own fresh Python process (so peak RSS
is the stage's own):

1. **generate** a synthetic tag snapshot (55 tags: category, bool, int, decimal, date,
   some with nulls) with seeded, vectorised numpy, written as one Parquet file;
2. **build** the ``TagIndex`` from that Parquet (read, build, save): seconds, index bytes
   on disk, peak RSS;
3. **query**: load the index, draw random 4-predicate expressions (seeded), and time
   ``index.count`` (after a warm-up call), DuckDB ``count(*)`` over ``read_parquet`` and
   DuckDB ``count(*)`` over an in-memory table loaded from the Parquet. Every count of
   every method must agree; the run aborts on the first disagreement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from machine import machine_facts as shared_machine_facts

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED = 20251231
QUERY_SEED = 4
TIMED_RUNS = 3  # per expression and method, after one warm-up; the median is kept
CHUNK_ROWS = 1_000_000
MIN_AVAILABLE_GB = 1.5  # stop a stage before the machine's out-of-memory killer acts
AS_OF = date(2025, 12, 31)
Result = dict[str, Any]

# --------------------------------------------------------------------------- the tags
RFM = ["重要价值", "重要发展", "重要保持", "重要挽留",
       "一般价值", "一般发展", "一般保持", "一般挽留"]
PROVINCES = ["北京", "上海", "天津", "重庆", "广东", "江苏", "浙江", "山东", "河南", "四川",
             "湖北", "湖南", "河北", "福建", "安徽", "辽宁", "陕西", "江西", "广西", "云南",
             "山西", "贵州", "吉林", "黑龙江", "内蒙古", "新疆", "甘肃", "海南", "宁夏", "青海",
             "西藏"]
# name -> (values, weights or None for uniform, null rate)
CATEGORIES: dict[str, tuple[list[str], list[float] | None, float]] = {
    "city_tier": (["一线", "新一线", "二线", "三线", "四线及以下"], [15, 20, 25, 22, 18], 0.0),
    "gender": (["男", "女"], [51, 49], 0.02),
    "occupation": (["企业职员", "公务员", "教师", "医生", "个体工商户", "自由职业", "学生",
                    "退休", "农民", "工程师", "金融从业者", "其他"], None, 0.15),
    "income_band": (["<5k", "5k-10k", "10k-20k", "20k-50k", "50k-100k", ">=100k"],
                    [30, 32, 22, 11, 4, 1], 0.10),
    "rfm_class": (RFM, [8, 10, 9, 7, 14, 16, 18, 18], 0.0),
    "lifecycle_stage": (["新客", "成长期", "成熟期", "衰退期", "流失"], [12, 25, 35, 18, 10], 0.0),
    "risk_preference": (["C1", "C2", "C3", "C4", "C5"], [20, 30, 30, 15, 5], 0.10),
    "education": (["初中及以下", "高中", "大专", "本科", "硕士", "博士"], [15, 22, 25, 28, 8, 2],
                  0.12),
    "marital_status": (["未婚", "已婚", "离异", "丧偶"], [30, 60, 8, 2], 0.08),
    "province": (PROVINCES, None, 0.0),
    "channel_preference": (["手机银行", "网点", "微信银行", "电话银行", "网上银行"],
                           [45, 20, 20, 5, 10], 0.05),
    "customer_level": (["普通", "金卡", "白金", "钻石", "私人银行"], [70, 18, 8, 3, 1], 0.0),
    "age_band": (["18-25", "26-35", "36-45", "46-55", "56-65", "65+"], None, 0.0),
    "product_preference": (["存款", "理财", "基金", "保险", "贵金属", "贷款"], None, 0.06),
    "churn_risk": (["低", "中", "高"], [60, 30, 10], 0.05),
}
# name -> (share true, null rate)
BOOLS: dict[str, tuple[float, float]] = {
    "has_credit_card": (0.45, 0.0), "has_mortgage": (0.18, 0.0), "has_car_loan": (0.08, 0.0),
    "has_wealth_product": (0.25, 0.05), "has_fund": (0.2, 0.05), "has_insurance": (0.15, 0.05),
    "is_payroll": (0.35, 0.0), "is_mobile_active": (0.6, 0.0), "is_vip": (0.05, 0.0),
    "opted_in_marketing": (0.55, 0.1),
}
Draw = Callable[[Any, int], Any]  # (numpy Generator, n) -> array


def _nb(r: float, p: float) -> Draw:
    return lambda rng, n: rng.negative_binomial(r, p, n)


INTS: dict[str, tuple[Draw, float]] = {
    "age": (lambda rng, n: rng.integers(18, 81, n), 0.0),
    "tenure_months": (lambda rng, n: rng.integers(0, 361, n), 0.0),
    "txn_count_30d": (_nb(2, 0.1), 0.0),
    "txn_count_90d": (_nb(2, 0.04), 0.0),
    "login_count_30d": (_nb(1, 0.08), 0.1),
    "product_count": (lambda rng, n: 1 + rng.binomial(9, 0.2, n), 0.0),
    "card_count": (lambda rng, n: rng.binomial(6, 0.25, n), 0.0),
    "complaint_count_1y": (_nb(0.1, 0.5), 0.0),
    "overdue_count_1y": (_nb(0.2, 0.4), 0.05),
    "branch_visits_90d": (_nb(0.8, 0.3), 0.0),
    "atm_withdrawals_30d": (_nb(1, 0.3), 0.0),
    "transfer_count_30d": (_nb(1.5, 0.15), 0.0),
    "fund_purchase_count_1y": (_nb(0.3, 0.1), 0.05),
    "credit_score": (lambda rng, n: rng.normal(650, 80, n).clip(300, 850).round(), 0.2),
    "dependents": (lambda rng, n: rng.binomial(5, 0.25, n), 0.08),
    "days_since_last_txn": (lambda rng, n: rng.exponential(20, n).clip(0, 3650).round(), 0.05),
    "days_since_last_login": (lambda rng, n: rng.exponential(15, n).clip(0, 3650).round(), 0.1),
    "mobile_sessions_30d": (_nb(1, 0.05), 0.1),
    "campaign_responses_1y": (_nb(0.3, 0.4), 0.0),
    "referral_count": (_nb(0.05, 0.5), 0.0),
}


def _money(mean: float, sigma: float, share_zero: float = 0.0) -> Draw:
    def draw(rng: Any, n: int) -> Any:
        values = rng.lognormal(mean, sigma, n).round(2)
        if share_zero:
            values[rng.random(n) < share_zero] = 0.0
        return values
    return draw


DECIMALS: dict[str, tuple[Draw, float]] = {
    "aum": (_money(10, 1.6), 0.0),
    "avg_balance_90d": (_money(9.5, 1.5), 0.0),
    "spend_30d": (_money(7.5, 1.2, 0.1), 0.0),
    "spend_90d": (_money(8.6, 1.2, 0.05), 0.0),
    "income_monthly": (_money(9, 0.6), 0.15),
    "loan_balance": (_money(12, 1.0, 0.7), 0.1),
    "credit_limit": (_money(10, 0.7, 0.55), 0.0),
    "credit_utilization": (lambda rng, n: rng.beta(1.2, 3, n).round(4), 0.2),
}
DATES: dict[str, tuple[Draw, float]] = {
    "first_open_date": (lambda rng, n: rng.integers(0, 31 * 365, n), 0.0),  # days after 1995
    "last_txn_date": (lambda rng, n: rng.exponential(25, n).clip(0, 3650), 0.05),  # days back
}


def tag_types() -> dict[str, str]:
    types = dict.fromkeys(CATEGORIES, "category") | dict.fromkeys(BOOLS, "bool")
    types |= dict.fromkeys(INTS, "int") | dict.fromkeys(DECIMALS, "decimal")
    return types | dict.fromkeys(DATES, "date")


# --------------------------------------------------------------------------- generate
def _chunk_table(rng: Any, start: int, n: int) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def nulls(rate: float) -> Any:
        return rng.random(n) < rate if rate else None

    ids = pa.array(np.arange(start, start + n, dtype=np.int64)).cast(pa.string())
    columns: dict[str, Any] = {
        "customer_key": pc.binary_join_element_wise("C", pc.utf8_lpad(ids, 10, "0"), "")}
    for name, (values, weights, rate) in CATEGORIES.items():
        p = None if weights is None else np.asarray(weights, float) / sum(weights)
        codes = rng.choice(len(values), n, p=p).astype(np.int32)
        mask = nulls(rate)
        indices = pa.array(codes, mask=mask)
        columns[name] = pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(
            pa.string())
    for name, (share, rate) in BOOLS.items():
        columns[name] = pa.array(rng.random(n) < share, mask=nulls(rate))
    for name, (draw, rate) in INTS.items():
        columns[name] = pa.array(np.asarray(draw(rng, n)).astype(np.int64), mask=nulls(rate))
    for name, (draw, rate) in DECIMALS.items():
        columns[name] = pa.array(np.asarray(draw(rng, n), dtype=np.float64), mask=nulls(rate))
    epoch = np.datetime64("1970-01-01")
    first = (np.datetime64("1995-01-01") - epoch).astype(int)
    last = (np.datetime64(AS_OF.isoformat()) - epoch).astype(int)
    for name, (draw, rate) in DATES.items():
        offset = np.asarray(draw(rng, n)).astype(np.int32)
        days = first + offset if name == "first_open_date" else last - offset
        columns[name] = pa.array(days.astype(np.int32), mask=nulls(rate)).cast(pa.date32())
    return pa.table(columns)


def _work_generate(p: Result) -> Result:
    import numpy as np
    import pyarrow.parquet as pq

    start = time.perf_counter()
    customers, path = p["customers"], Path(p["parquet"])
    writer = None
    try:
        for chunk, first in enumerate(range(0, customers, CHUNK_ROWS)):
            rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(chunk,)))
            table = _chunk_table(rng, first, min(CHUNK_ROWS, customers - first))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=CHUNK_ROWS)
    finally:
        if writer is not None:
            writer.close()
    return {"seconds": time.perf_counter() - start, "rows": customers,
            "parquet_bytes": path.stat().st_size, "tags": len(tag_types())}


# --------------------------------------------------------------------------- build
def _work_build(p: Result) -> Result:
    import pyarrow.parquet as pq

    from finpersona.audiences.index import TagIndex
    from finpersona.tags.types import TagSignature, ValueType

    start = time.perf_counter()
    table = pq.read_table(p["parquet"])
    read = time.perf_counter() - start
    signatures = {name: TagSignature(name, ValueType(kind)) for name, kind in tag_types().items()}
    start = time.perf_counter()
    index = TagIndex.build(table, signatures)
    built = time.perf_counter() - start
    del table
    start = time.perf_counter()
    index.save(Path(p["index"]))
    saved = time.perf_counter() - start
    return {"seconds": built, "read_seconds": read, "save_seconds": saved, "rows": index.size,
            "index_bytes": _dir_bytes(Path(p["index"])), "tags": len(index.tags())}


# --------------------------------------------------------------------------- query
SHAPES = ["and4", "and2_or2", "and_not_or", "or_of_ands", "and_or_notor", "not_and"]


def _literal_pools(parquet: str, rng: Any) -> dict[str, list[Any]]:
    """Candidate literals per tag, taken from a seeded sample of real values."""
    import numpy as np
    import pyarrow.parquet as pq

    sample = pq.ParquetFile(parquet).read_row_group(0)
    picks = rng.choice(sample.num_rows, min(5000, sample.num_rows), replace=False)
    sample = sample.take(np.sort(picks))
    pools: dict[str, list[Any]] = {}
    for name in tag_types():
        values = [v for v in sample.column(name).to_pylist() if v is not None]
        pools[name] = values or [None]
    return pools


LIKE_TAGS = ("rfm_class", "occupation", "province", "lifecycle_stage", "education",
             "channel_preference")


def _predicate(rng: Any, pools: dict[str, list[Any]]) -> Any:
    from finpersona.tags.expression import ast

    types = tag_types()
    kind = str(rng.choice(["category", "bool", "int", "decimal", "date"],
                          p=[0.32, 0.16, 0.26, 0.18, 0.08]))
    name = str(rng.choice([n for n, k in types.items() if k == kind]))
    tag = ast.Tag(name, 0)
    if rng.random() < 0.04:
        return ast.IsNull(tag, 0, negated=bool(rng.random() < 0.5))
    if kind == "bool":
        return (ast.Truthy(tag, 0) if rng.random() < 0.7
                else ast.Compare(tag, ast.CompareOp.EQ, False, 0))
    if kind == "category":
        return _category_predicate(rng, tag, sorted(set(pools[name])))
    return _ordered_predicate(rng, tag, kind, pools[name])


def _category_predicate(rng: Any, tag: Any, distinct: list[str]) -> Any:
    from finpersona.tags.expression import ast

    r = rng.random()
    value = distinct[int(rng.integers(len(distinct)))]
    if r < 0.2 and tag.name in LIKE_TAGS:
        pattern = value[:2] + "%" if rng.random() < 0.5 else "%" + value[-2:]
        return ast.Like(tag, pattern, 0, negated=bool(rng.random() < 0.2))
    if r < 0.6:
        k = int(rng.integers(1, min(4, len(distinct)) + 1))
        values = tuple(str(v) for v in rng.choice(distinct, k, replace=False))
        return ast.InList(tag, values, 0, negated=bool(rng.random() < 0.25))
    return ast.Compare(tag, ast.CompareOp.EQ if r < 0.9 else ast.CompareOp.NE, value, 0)


def _ordered_predicate(rng: Any, tag: Any, kind: str, pool: list[Any]) -> Any:
    from finpersona.tags.expression import ast

    def pick() -> Any:
        value = pool[int(rng.integers(len(pool)))]
        # Money as a marketer types it: 2 decimals, exact (Decimal, never float).
        return Decimal(str(round(value, 2))) if kind == "decimal" else value

    r = rng.random()
    if r < 0.45:
        low, high = sorted([pick(), pick()])
        return ast.Between(tag, low, high, 0, negated=bool(rng.random() < 0.15))
    if r < 0.55 and kind == "int":
        values = tuple(sorted({pick() for _ in range(int(rng.integers(1, 4)))}))
        return ast.InList(tag, values, 0)
    op = rng.choice([ast.CompareOp.LT, ast.CompareOp.LE, ast.CompareOp.GT, ast.CompareOp.GE,
                     ast.CompareOp.NE], p=[0.22, 0.22, 0.22, 0.22, 0.12])
    return ast.Compare(tag, ast.CompareOp(op), pick(), 0)


def _expression(rng: Any, pools: dict[str, list[Any]]) -> tuple[str, Any]:
    from finpersona.tags.expression.ast import And, Not, Or

    p1, p2, p3, p4 = (_predicate(rng, pools) for _ in range(4))
    shape = str(rng.choice(SHAPES))
    shapes: dict[str, Any] = {
        "and4": And((p1, p2, p3, p4), 0),
        "and2_or2": And((p1, p2, Or((p3, p4), 0)), 0),
        "and_not_or": And((p1, Not(p2, 0), Or((p3, p4), 0)), 0),
        "or_of_ands": Or((And((p1, p2), 0), And((p3, Not(p4, 0)), 0)), 0),
        "and_or_notor": And((Or((p1, p2), 0), Not(Or((p3, p4), 0), 0)), 0),
        "not_and": And((Not(And((p1, p2), 0), 0), p3, p4), 0),
    }
    node = shapes[shape]
    return shape, node


def to_sql(node: Any, params: list[Any] | None) -> str:
    """A WHERE clause: literals bound as ``?`` into ``params``, or shown inline if None."""
    from finpersona.tags.expression import ast

    def lit(value: Any) -> str:
        if params is not None:
            params.append(value)
            return "?"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, date):
            return f"DATE '{value.isoformat()}'"
        return str(value).upper() if isinstance(value, bool) else str(value)

    def go(n: Any) -> str:  # noqa: PLR0911 - one return per node kind
        if isinstance(n, ast.Not):
            return f"NOT ({go(n.operand)})"
        if isinstance(n, ast.And | ast.Or):
            glue = " AND " if isinstance(n, ast.And) else " OR "
            return "(" + glue.join(go(o) for o in n.operands) + ")"
        col = '"' + n.tag.name.replace('"', '""') + '"'
        neg = "NOT " if getattr(n, "negated", False) else ""
        if isinstance(n, ast.IsNull):
            return f"{col} IS {neg}NULL"
        if isinstance(n, ast.Truthy):
            return str(col)
        if isinstance(n, ast.Compare):
            return f"{col} {n.op.value} {lit(n.value)}"
        if isinstance(n, ast.Between):
            return f"{col} {neg}BETWEEN {lit(n.low)} AND {lit(n.high)}"
        if isinstance(n, ast.InList):
            return f"{col} {neg}IN ({', '.join(lit(v) for v in n.values)})"
        return f"{col} {neg}LIKE {lit(n.pattern)}"

    return go(node)


def _timed(call: Callable[[], int], runs: int) -> tuple[int, float, list[float]]:
    """Warm up once, then time ``runs`` calls; the count and the median in ms."""
    expected = call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        got = call()
        times.append((time.perf_counter() - start) * 1e3)
        if got != expected:
            raise SystemExit(f"ABORT: the same call returned {expected} then {got}")
    return expected, statistics.median(times), times


def _work_query(p: Result) -> Result:
    import duckdb
    import numpy as np
    import psutil

    from finpersona.audiences.index import TagIndex

    out: Result = {}
    start = time.perf_counter()
    index = TagIndex.load(Path(p["index"]))
    out["index_load_seconds"] = time.perf_counter() - start
    out["rss_after_index_load_mb"] = psutil.Process().memory_info().rss / 2**20
    rng = np.random.default_rng(QUERY_SEED)
    pools = _literal_pools(p["parquet"], rng)
    expressions = [_expression(rng, pools) for _ in range(p["queries"])]

    # A memory limit and a spill folder keep DuckDB's share of a shared machine bounded.
    con = duckdb.connect(config={"memory_limit": f"{p['duckdb_memory_gb']}GB",
                                 "temp_directory": str(Path(p["index"]).parent / "duckdb_tmp")})
    out["duckdb_settings"] = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('memory_limit', 'threads', 'temp_directory')").fetchall())
    parquet_sql = "read_parquet('" + p["parquet"].replace("'", "''") + "')"
    start = time.perf_counter()
    con.execute(f"CREATE TABLE snap AS SELECT * FROM {parquet_sql}")
    out["duckdb_table_load_seconds"] = time.perf_counter() - start
    out["rss_after_duckdb_load_mb"] = psutil.Process().memory_info().rss / 2**20

    def duck(source: str, node: Any) -> Callable[[], int]:
        params: list[Any] = []
        sql = f"SELECT count(*) FROM {source} WHERE {to_sql(node, params)}"

        def call() -> int:
            row = con.execute(sql, params).fetchone()
            assert row is not None
            return int(row[0])
        return call

    rows: list[Result] = []
    for number, (shape, node) in enumerate(expressions):
        counts: dict[str, int] = {}
        times: dict[str, float] = {}

        def by_index(n: Any = node) -> int:
            return index.count(n)

        counts["index"], times["index"], _ = _timed(by_index, TIMED_RUNS)
        counts["duckdb_parquet"], times["duckdb_parquet"], _ = _timed(
            duck(parquet_sql, node), TIMED_RUNS)
        counts["duckdb_memory"], times["duckdb_memory"], _ = _timed(duck("snap", node),
                                                                    TIMED_RUNS)
        if len(set(counts.values())) != 1:
            raise SystemExit(f"ABORT: counts disagree on expression {number} ({shape}): "
                             f"{counts}\n  {to_sql(node, None)}")
        rows.append({"shape": shape, "sql": to_sql(node, None), "count": counts["index"],
                     "ms": times})
        print(f"    {number:3d} {shape:13s} {counts['index']:>10,} "
              + "  ".join(f"{k} {v:8.2f} ms" for k, v in times.items()), flush=True)
    out["expressions"] = rows
    out["summary"] = {method: _stats([r["ms"][method] for r in rows])
                      for method in ("index", "duckdb_parquet", "duckdb_memory")}
    out["rows"] = index.size
    out["seconds"] = sum(sum(r["ms"].values()) for r in rows) / 1e3
    return out


def _stats(values: Sequence[float]) -> Result:
    import numpy as np

    a = np.asarray(values)
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max()), "min_ms": float(a.min()), "mean_ms": float(a.mean())}


# --------------------------------------------------------------------------- child side
def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _peak_rss_mb() -> float:
    """Peak RSS of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


WORKERS: dict[str, Callable[[Result], Result]] = {
    "generate": _work_generate, "build": _work_build, "query": _work_query}


def _child_main(kind: str, params_path: str, result_path: str) -> None:
    import psutil

    import finpersona.audiences.index  # noqa: F401 - import cost is start-up, not the stage

    params = json.loads(Path(params_path).read_text(encoding="utf-8"))
    result = WORKERS[kind](params)
    result["baseline_note"] = "peak includes numpy, pyarrow, pyroaring and duckdb imports"
    result["peak_rss_mb"] = _peak_rss_mb()
    result["final_rss_mb"] = psutil.Process().memory_info().rss / 2**20
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


# --------------------------------------------------------------------------- parent side
def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINPERSONA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"),
                                                      env.get("PYTHONPATH", "")]))
    return env


def run_stage(kind: str, params: Result, work: Path, rss_limit_gb: float) -> Result:
    """Run one stage in a fresh interpreter, killing it if its RSS passes the limit or
    the machine runs short of memory (other work shares it)."""
    import psutil

    params_path, result_path = work / f"{kind}.params.json", work / f"{kind}.result.json"
    params_path.write_text(json.dumps(params), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    # Through a small shell, so the child's ru_maxrss does not start from this process's
    # peak (Linux carries it over fork + exec); no `exec`, so the shell really forks.
    cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable,
           str(Path(__file__).resolve()), "--child", kind, str(params_path), str(result_path)]
    print(f"  {kind} ...", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_child_env(), cwd=work)
    peak, killed = 0.0, False
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            tree = [root, *root.children(recursive=True)]
            rss = sum(t.memory_info().rss for t in tree)
            peak = max(peak, rss / 2**20)
            if (rss > rss_limit_gb * 2**30
                    or psutil.virtual_memory().available < MIN_AVAILABLE_GB * 2**30):
                for t in reversed(tree):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        t.kill()
                killed = True
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    if killed:
        raise SystemExit(f"stage {kind} killed at {peak:,.0f} MB: above --rss-limit-gb "
                         f"{rss_limit_gb} or under {MIN_AVAILABLE_GB} GB available")
    if proc.returncode != 0 or not result_path.exists():
        raise SystemExit(f"stage {kind} failed with exit code {proc.returncode}")
    result: Result = json.loads(result_path.read_text(encoding="utf-8"))
    result |= {"process_seconds": elapsed, "sampled_peak_rss_mb": peak,
               "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(f"  {kind}: {result['seconds']:.2f}s, peak {result['peak_rss_mb']:,.0f} MB, "
          f"load {result['load_avg']}", file=sys.stderr)
    return result


def bench_scale(customers: int, out: Path, stamp: str, queries: int, keep: bool,
                rss_limit_gb: float, duckdb_memory_gb: float) -> Result:
    work = out / "work" / f"audience-{stamp}-{customers}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"scale {customers:,} customers -> {work}", file=sys.stderr)
    parquet, index = work / "snapshot.parquet", work / "index"
    try:
        stages = {
            "generate": run_stage("generate", {"customers": customers, "parquet": str(parquet)},
                                  work, rss_limit_gb),
            "build": run_stage("build", {"parquet": str(parquet), "index": str(index)}, work,
                               rss_limit_gb),
            "query": run_stage("query", {"parquet": str(parquet), "index": str(index),
                                         "queries": queries,
                                         "duckdb_memory_gb": duckdb_memory_gb},
                               work, rss_limit_gb),
        }
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return {"customers": customers, "stages": stages}


def machine_facts() -> Result:
    import numpy
    import pyroaring

    return {**shared_machine_facts("bench/audience_count.py"),
            "pyroaring": pyroaring.__version__, "numpy": numpy.__version__}


# --------------------------------------------------------------------------- reporting
METHODS = [("index", "TagIndex.count (bitmaps in memory)"),
           ("duckdb_memory", "DuckDB count(*) on an in-memory table"),
           ("duckdb_parquet", "DuckDB count(*) on read_parquet")]


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def scale_section(scale: Result, machine: Result, started: str) -> str:
    g, b, q = (scale["stages"][k] for k in ("generate", "build", "query"))
    s = q["summary"]
    n = len(q["expressions"])
    lines = [f"### {scale['customers']:,} customers", "",
             f"_Run {started}, commit {machine.get('git_commit')}"
             + (" (working tree had uncommitted changes)" if machine.get("git_dirty") else "")
             + "._", "",
             f"Snapshot: {g['tags']} tags, Parquet (zstd) {_mb(g['parquet_bytes'])} MB, "
             f"generated in {g['seconds']:.1f} s.", "",
             "| step | seconds | peak RSS MB | notes |", "|---|---:|---:|---|",
             f"| read Parquet into Arrow | {b['read_seconds']:.2f} | | |",
             f"| **build index** | **{b['seconds']:.2f}** | {b['peak_rss_mb']:,.0f} | "
             f"peak of the whole build process (Arrow table + index) |",
             f"| save index | {b['save_seconds']:.2f} | | **{_mb(b['index_bytes'])} MB** on disk |",
             f"| load index | {q['index_load_seconds']:.2f} | | "
             f"RSS after load {q['rss_after_index_load_mb']:,.0f} MB |",
             f"| DuckDB: load Parquet into an in-memory table | "
             f"{q['duckdb_table_load_seconds']:.2f} | {q['peak_rss_mb']:,.0f} | "
             f"peak of the query process (index + DuckDB table) |", "",
             "DuckDB settings in the query process: " + ", ".join(
                 f"{k} = {v}" for k, v in sorted(q.get("duckdb_settings", {}).items())
                 if k != "temp_directory") + " (spilling to a temporary folder beyond that).",
             "",
             f"Count latency over {n} random 4-predicate expressions (each: one warm-up call, "
             f"then the median of {TIMED_RUNS} timed calls):", "",
             "| method | median ms | p95 ms | max ms | min ms |", "|---|---:|---:|---:|---:|"]
    for key, label in METHODS:
        st = s[key]
        lines.append(f"| {label} | {st['median_ms']:.2f} | {st['p95_ms']:.2f} | "
                     f"{st['max_ms']:.2f} | {st['min_ms']:.2f} |")
    ratio_mem = s["duckdb_memory"]["median_ms"] / s["index"]["median_ms"]
    ratio_pq = s["duckdb_parquet"]["median_ms"] / s["index"]["median_ms"]
    counts = sorted(e["count"] for e in q["expressions"])
    loads = [x for st in scale["stages"].values() for x in st.get("load_avg", [])]
    lines += ["", f"Median: the index is {ratio_mem:.0f}× faster than DuckDB on an in-memory "
              f"table and {ratio_pq:.0f}× faster than DuckDB on Parquet. All "
              f"{n} counts agreed across the three methods (selected customers: median "
              f"{counts[len(counts) // 2]:,}, range {counts[0]:,}–{counts[-1]:,}).", ""]
    if loads and max(loads) > (machine.get("cores") or 0):
        lines += [f"_The 1-minute load average reached {max(loads):.1f} on "
                  f"{machine.get('cores')} cores during this run: other processes competed "
                  "for the CPU, so latencies (DuckDB's especially, as it uses every core) "
                  "are pessimistic._", ""]
    slow = sorted(q["expressions"], key=lambda e: -e["ms"]["index"])[:3]
    lines += ["Slowest expressions for the index:", ""]
    for e in slow:
        lines.append(f"- {e['ms']['index']:.2f} ms, {e['count']:,} customers: `{e['sql']}`")
    lines.append("")
    return "\n".join(lines)


def machine_table(machine: Result) -> str:
    keys = [("CPU", "cpu"), ("cores (os.cpu_count)", "cores"), ("RAM GB", "ram_gb"),
            ("OS", "os"), ("Python", "python"), ("duckdb", "duckdb"), ("pyarrow", "pyarrow"),
            ("pyroaring", "pyroaring"), ("numpy", "numpy"), ("git commit", "git_commit")]
    return "\n".join(["| | |", "|---|---|",
                      *(f"| {label} | {machine.get(key, '?')} |" for label, key in keys)])


def page(docs: Sequence[Result], pending: Sequence[int]) -> str:
    scales = sorted(((s, d["machine"], d["started_at"]) for d in docs for s in d["scales"]),
                    key=lambda t: t[0]["customers"])
    ex = scales[0][0]["stages"]["query"]["expressions"][0]["sql"] if scales else ""
    parts = [
        "# Benchmarks: audience counts (人群圈选)", "",
        "Generated by `bench/audience_count.py`; do not edit the figures by hand.", "",
        "## Machine", "", machine_table(docs[0]["machine"]) if docs else "", "",
        "## What is measured", "",
        "The question a marketer asks while building an audience: *how many customers match "
        "this expression over their tags?* Target: median ≤ 10 ms for a 4-predicate "
        "expression on 10 million customers with ≥ 50 tags.", "",
        f"- **Snapshot**: one row per customer, {len(tag_types())} tags generated with seeded, "
        f"vectorised numpy: {len(CATEGORIES)} category tags (city tier, gender, occupation, "
        "income band, the eight Chinese RFM classes, lifecycle stage, risk preference C1–C5, "
        f"province, …), {len(BOOLS)} bool tags (has_credit_card, …), {len(INTS)} int tags "
        "(age 18–80, skewed counts from negative binomials, credit score, …), "
        f"{len(DECIMALS)} decimal tags (AUM and balances lognormal with 2 decimals, a "
        f"utilisation ratio with 4) and {len(DATES)} date tags; 2–20 % nulls on 25 of them. "
        "Written as one zstd Parquet file.",
        "- **Build**: in a fresh process, `pyarrow.parquet.read_table` then `TagIndex.build` "
        "(category/bool tags: a bitmap per value; int/decimal/date tags: a bit-sliced "
        "index plus 16 cumulative equi-depth bins that spare most of the O'Neil/Quass "
        "walk; a null bitmap each) then `save`. Peak RSS is the process's `ru_maxrss` "
        "and includes the Arrow table it was built from.",
        "- **Expressions**: seeded random trees of exactly 4 predicates in six shapes "
        "(`p1 AND p2 AND p3 AND p4`, `p1 AND p2 AND (p3 OR p4)`, "
        "`p1 AND NOT p2 AND (p3 OR p4)`, `(p1 AND p2) OR (p3 AND NOT p4)`, "
        "`(p1 OR p2) AND NOT (p3 OR p4)`, `NOT (p1 AND p2) AND p3 AND p4`); predicates are "
        "IN / NOT IN, =, !=, LIKE / NOT LIKE on categories, bare bools and `= FALSE`, "
        "BETWEEN / NOT BETWEEN, <, <=, >, >=, !=, IN on numbers and dates, and "
        "IS [NOT] NULL, with literals drawn from a seeded sample of the data. "
        f"Example: `{ex}`.",
        "- **Methods**, all in one fresh process: `TagIndex.count` on the index loaded "
        "from disk; DuckDB `SELECT count(*) FROM read_parquet(...) WHERE ...` (literals bound "
        "as parameters) on the Parquet file; the same query on a DuckDB in-memory table "
        "created from the Parquet (`CREATE TABLE snap AS SELECT * FROM read_parquet(...)`). "
        "Each expression runs once to warm up and then "
        f"{TIMED_RUNS} times per method; its latency is the median of those. The tables "
        "give the median, 95th percentile and maximum of that over the expressions. "
        "The counts of all three methods must agree on every expression, or the run aborts.",
        "", "## Results", ""]
    for scale, machine, started in scales:
        parts.append(scale_section(scale, machine, started))
    for n in pending:
        parts += [f"### {n:,} customers", "",
                  f"Pending: run `.venv/bin/python bench/audience_count.py --scale "
                  f"{_scale_text(n)}` when at least ~12 GB of memory is free (`free -g`), "
                  "then re-render this page with `--render` and every result JSON.", ""]
    parts += ["## Rerun", "", "```sh",
              ".venv/bin/python bench/audience_count.py --scale 1e6 1e7 "
              "--markdown docs/benchmarks-audiences.md",
              "# merge saved runs into this page:",
              ".venv/bin/python bench/audience_count.py --render bench/results/audience-A.json "
              "bench/results/audience-B.json --markdown docs/benchmarks-audiences.md",
              "```", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- main
def _scale_text(n: int) -> str:
    """1000000 -> 1e6, 25000 -> 25000."""
    digits = str(n)
    zeros = len(digits) - len(digits.rstrip("0"))
    return f"{digits[:-zeros]}e{zeros}" if zeros >= 3 else digits


def _scale(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"scale must be a whole number of customers: {text}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        _child_main(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", nargs="+", type=_scale, default=[],
                        help="customer counts, e.g. 1e6 1e7")
    parser.add_argument("--queries", type=int, default=60, help="random expressions per scale")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results",
                        help="results folder (JSON; Parquet and index under OUT/work)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the Parquet snapshot and the index under OUT/work")
    parser.add_argument("--markdown", type=Path, help="rewrite this page")
    parser.add_argument("--render", nargs="+", type=Path, default=[],
                        help="render saved result JSON files instead of running")
    parser.add_argument("--pending", nargs="*", type=_scale, default=[],
                        help="scales to list as pending on the page")
    parser.add_argument("--rss-limit-gb", type=float, default=10.0,
                        help="kill a stage whose process tree passes this RSS (default 10)")
    parser.add_argument("--duckdb-memory-gb", type=float, default=6.0,
                        help="DuckDB memory_limit in the query stage (default 6)")
    args = parser.parse_args(argv)
    if not args.scale and not args.render:
        parser.error("give --scale or --render")
    docs: list[Result] = [json.loads(p.read_text(encoding="utf-8")) for p in args.render]
    if args.scale:
        out = args.out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        doc: Result = {"started_at": stamp, "machine": machine_facts(),
                       "settings": {"seed": SEED, "query_seed": QUERY_SEED,
                                    "queries": args.queries, "timed_runs": TIMED_RUNS,
                                    "duckdb_memory_gb": args.duckdb_memory_gb},
                       "scales": []}
        path = out / f"audience-{stamp}.json"
        for n in args.scale:
            doc["scales"].append(bench_scale(n, out, stamp, args.queries, args.keep_data,
                                             args.rss_limit_gb, args.duckdb_memory_gb))
            path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        doc["finished_at"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"results: {path}", file=sys.stderr)
        docs.append(doc)
    text = page(docs, args.pending)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
