"""Tag build benchmark: the catalogue compiler against hand-written DuckDB SQL.

Usage::

    python bench/tag_build.py --workspace WS [--as-of 2025-12-31] [--json OUT]

WS is an ingested workspace (e.g. one kept by ``bench/run.py --keep-data``). Three
timings, each in the same process on the same warehouse files:

1. the full tag build: every online tag of the catalogue compiled to one snapshot
   and written as Parquet (history and index excluded: see ``bench/run.py``'s build);
2. a 24-tag subset (transactions, events, latest holdings, repayments) compiled by
   FinPersona and written as Parquet;
3. the same 24 tags written by hand as one DuckDB SQL statement, as a DuckDB expert
   would (one pass per source with FILTER clauses), written as Parquet.

The ratio (2) / (3) is the figure; the two outputs are compared cell by cell.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from finpersona.config import open_workspace
from finpersona.engine import connect
from finpersona.ingest.clean import utc_offset_hours
from finpersona.tags.catalogue import Catalogue, load_catalogue
from finpersona.tags.compiler import compile_snapshot
from finpersona.tags.context import TagContext
from finpersona.tags.sources import SourceLoader
from finpersona.warehouse import Warehouse

SUBSET = (
    "txn_count_7d", "txn_count_30d", "txn_count_90d", "txn_count_365d",
    "txn_amount_sum_7d", "txn_amount_sum_30d", "txn_amount_sum_90d", "txn_amount_sum_365d",
    "purchase_count_90d", "purchase_amount_sum_90d", "avg_ticket_90d", "max_ticket_90d",
    "distinct_cities_365d", "cash_withdrawal_count_90d", "days_since_last_txn",
    "sessions_30d", "sessions_90d", "events_30d", "active_days_30d", "login_count_30d",
    "aum", "deposit_balance", "wealth_balance", "max_dpd_365d",
)


def hand_sql(files: dict[str, list[str]], as_of: date, offset_hours: float) -> str:
    """The subset in plain DuckDB SQL (what a DuckDB expert writes for these tags)."""
    d = f"DATE '{as_of.isoformat()}'"

    def since(days: int) -> str:
        return f"DATE '{(as_of - timedelta(days=days - 1)).isoformat()}'"

    def src(name: str) -> str:
        return "read_parquet([" + ", ".join(f"'{f}'" for f in files[name]) + "])"

    ok = "direction = 'debit' AND status = 'success'"
    cny = f"{ok} AND currency = 'CNY'"
    buy = "txn_type = 'purchase' AND status = 'success'"
    shift = f"INTERVAL {round(offset_hours * 3600)} SECOND"
    holding = "('demand_deposit', 'time_deposit', 'wealth_management', 'fund', 'insurance')"
    return f"""
WITH base AS (
  SELECT DISTINCT ON (customer_key) customer_key FROM {src('customers')}
  WHERE customer_key IS NOT NULL AND (registered_at IS NULL OR registered_at <= {d})),
t AS (
  SELECT *, CAST(txn_time + {shift} AS DATE) AS ld FROM {src('transactions')}
  WHERE customer_key IS NOT NULL),
tx AS (
  SELECT customer_key,
    count(*) FILTER (WHERE {ok} AND ld >= {since(7)}) AS txn_count_7d,
    count(*) FILTER (WHERE {ok} AND ld >= {since(30)}) AS txn_count_30d,
    count(*) FILTER (WHERE {ok} AND ld >= {since(90)}) AS txn_count_90d,
    count(*) FILTER (WHERE {ok} AND ld >= {since(365)}) AS txn_count_365d,
    sum(amount) FILTER (WHERE {cny} AND ld >= {since(7)}) AS txn_amount_sum_7d,
    sum(amount) FILTER (WHERE {cny} AND ld >= {since(30)}) AS txn_amount_sum_30d,
    sum(amount) FILTER (WHERE {cny} AND ld >= {since(90)}) AS txn_amount_sum_90d,
    sum(amount) FILTER (WHERE {cny} AND ld >= {since(365)}) AS txn_amount_sum_365d,
    count(*) FILTER (WHERE {buy} AND ld >= {since(90)}) AS purchase_count_90d,
    sum(amount) FILTER (WHERE {buy} AND currency = 'CNY' AND ld >= {since(90)})
      AS purchase_amount_sum_90d,
    avg(amount) FILTER (WHERE {buy} AND currency = 'CNY' AND ld >= {since(90)})
      AS avg_ticket_90d,
    max(amount) FILTER (WHERE {buy} AND currency = 'CNY' AND ld >= {since(90)})
      AS max_ticket_90d,
    count(DISTINCT city) FILTER (WHERE {ok} AND ld >= {since(365)}) AS distinct_cities_365d,
    count(*) FILTER (WHERE txn_type = 'cash_withdrawal' AND status = 'success'
                     AND ld >= {since(90)}) AS cash_withdrawal_count_90d,
    {d} - max(ld) FILTER (WHERE {ok}) AS days_since_last_txn
  FROM t WHERE ld IS NULL OR ld <= {d} GROUP BY customer_key),
devices AS (SELECT * FROM {src('identity_devices')}),
sessions_map AS (SELECT * FROM {src('identity_sessions')}),
e AS (
  SELECT coalesce(ev.customer_key,
                  CASE WHEN dv.status IS NULL OR dv.status <> 'blocked'
                       THEN s.customer_key END,
                  CASE WHEN dv.status = 'linked' THEN dv.customer_key END) AS ck,
         ev.session_id, ev.event_name, CAST(ev.event_time + {shift} AS DATE) AS ld
  FROM {src('events')} ev
  LEFT JOIN sessions_map s ON ev.session_id = s.session_id
  LEFT JOIN devices dv ON ev.anonymous_key = dv.anonymous_key),
ev AS (
  SELECT ck AS customer_key,
    count(DISTINCT session_id) FILTER (WHERE ld >= {since(30)}) AS sessions_30d,
    count(DISTINCT session_id) AS sessions_90d,
    count(*) FILTER (WHERE ld >= {since(30)}) AS events_30d,
    count(DISTINCT ld) FILTER (WHERE ld >= {since(30)}) AS active_days_30d,
    count(*) FILTER (WHERE event_name = 'login' AND ld >= {since(30)}) AS login_count_30d
  FROM e WHERE ck IS NOT NULL AND ld <= {d} AND ld >= {since(90)} GROUP BY ck),
p AS (SELECT DISTINCT ON (product_id) product_id, product_type FROM {src('products')}),
h AS (
  SELECT h.*, p.product_type,
         row_number() OVER (PARTITION BY account_id ORDER BY snapshot_date DESC) AS rn
  FROM {src('holdings')} h LEFT JOIN p USING (product_id)
  WHERE h.customer_key IS NOT NULL AND h.snapshot_date <= {d}),
hl AS (
  SELECT customer_key,
    sum(balance) FILTER (WHERE product_type IN {holding}) AS aum,
    sum(balance) FILTER (WHERE product_type IN ('demand_deposit', 'time_deposit'))
      AS deposit_balance,
    sum(balance) FILTER (WHERE product_type = 'wealth_management') AS wealth_balance
  FROM h WHERE rn = 1 GROUP BY customer_key),
r AS (
  SELECT customer_key, max(days_past_due) AS max_dpd_365d FROM {src('repayments')}
  WHERE customer_key IS NOT NULL AND due_date <= {d} AND due_date >= {since(365)}
  GROUP BY customer_key)
SELECT base.customer_key,
  coalesce(txn_count_7d, 0) AS txn_count_7d, coalesce(txn_count_30d, 0) AS txn_count_30d,
  coalesce(txn_count_90d, 0) AS txn_count_90d, coalesce(txn_count_365d, 0) AS txn_count_365d,
  round(coalesce(txn_amount_sum_7d, 0), 4) AS txn_amount_sum_7d,
  round(coalesce(txn_amount_sum_30d, 0), 4) AS txn_amount_sum_30d,
  round(coalesce(txn_amount_sum_90d, 0), 4) AS txn_amount_sum_90d,
  round(coalesce(txn_amount_sum_365d, 0), 4) AS txn_amount_sum_365d,
  coalesce(purchase_count_90d, 0) AS purchase_count_90d,
  round(coalesce(purchase_amount_sum_90d, 0), 4) AS purchase_amount_sum_90d,
  round(avg_ticket_90d, 2) AS avg_ticket_90d, round(max_ticket_90d, 4) AS max_ticket_90d,
  coalesce(distinct_cities_365d, 0) AS distinct_cities_365d,
  coalesce(cash_withdrawal_count_90d, 0) AS cash_withdrawal_count_90d, days_since_last_txn,
  coalesce(sessions_30d, 0) AS sessions_30d, coalesce(sessions_90d, 0) AS sessions_90d,
  coalesce(events_30d, 0) AS events_30d, coalesce(active_days_30d, 0) AS active_days_30d,
  coalesce(login_count_30d, 0) AS login_count_30d,
  round(coalesce(aum, 0), 4) AS aum, round(coalesce(deposit_balance, 0), 4) AS deposit_balance,
  round(coalesce(wealth_balance, 0), 4) AS wealth_balance, max_dpd_365d
FROM base LEFT JOIN tx USING (customer_key) LEFT JOIN ev USING (customer_key)
LEFT JOIN hl USING (customer_key) LEFT JOIN r USING (customer_key)
"""


def _files(wh: Warehouse, name: str) -> list[str]:
    return [str(p) for d in wh.table_dirs(name) for p in sorted(d.glob("*.parquet"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--repeat", type=int, default=1,
                        help="time the subset and the hand SQL this many times, alternately, "
                        "and keep the best of each (a shared machine is noisy)")
    args = parser.parse_args()
    ws = open_workspace(args.workspace, create=False)
    wh = Warehouse(ws.warehouse_dir)
    offset = utc_offset_hours(ws.settings.timezone)
    full = load_catalogue()
    subset = Catalogue(tags={n: full.tags[n] for n in SUBSET})
    out: dict[str, Any] = {"workspace": str(args.workspace), "as_of": args.as_of.isoformat()}
    with tempfile.TemporaryDirectory() as tmp, connect(ws.settings) as engine:
        def ours(label: str, cat: Catalogue) -> float:
            ctx = TagContext(engine, args.as_of, offset, SourceLoader(wh))
            start = time.perf_counter()
            engine.write_parquet(compile_snapshot(ctx, cat), Path(tmp) / label)
            return time.perf_counter() - start

        out["full_seconds"] = ours("full", full)
        out["full_tags"] = len(full.snapshot_tags())
        out["subset_tags"] = len(SUBSET)
        files = {n: _files(wh, n) for n in ("customers", "transactions", "events", "products",
                                            "holdings", "repayments", "identity_devices",
                                            "identity_sessions")}
        con = duckdb.connect()
        target = Path(tmp) / "hand.parquet"
        sql = hand_sql(files, args.as_of, offset)
        subset_times, hand_times = [], []
        for _ in range(max(1, args.repeat)):
            subset_times.append(ours("subset", subset))
            start = time.perf_counter()
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
            hand_times.append(time.perf_counter() - start)
        out["subset_seconds"], out["hand_sql_seconds"] = min(subset_times), min(hand_times)
        out["subset_runs"], out["hand_sql_runs"] = subset_times, hand_times
        ours = pq.read_table(next((Path(tmp) / "subset").glob("*.parquet"))).to_pandas()
        hand = pq.read_table(target).to_pandas()
        out["customers"] = len(ours)
        ours = ours.set_index("customer_key").sort_index()
        hand = hand.set_index("customer_key").sort_index()
        mismatched = []
        for col in SUBSET:
            a, b = ours[col].astype("float64"), hand[col].astype("float64")
            # avg_ticket_90d is rounded to cents: a tie may round apart by one cent
            # (double vs decimal rounding), so allow one unit of the last place.
            tolerance = 0.0101 if col == "avg_ticket_90d" else 1e-3
            if not ((a - b).abs().fillna(0).le(tolerance) & (a.isna() == b.isna())).all():
                mismatched.append(col)
        out["mismatched_columns"] = mismatched
    out["ratio"] = out["subset_seconds"] / out["hand_sql_seconds"]
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
