"""A large synthetic app event log for the analytics benchmark, written as Parquet.

The demo bank would need about 2e5 customers to reach 2e7 events and hours of
ingestion; the analytics benchmark only needs an events table with the
warehouse's columns and realistic structure, so this writes one directly:
actors with sessions, each session a Markov walk over the app's event names
(open → login → browse → product view → apply → submit → close), so funnels
convert part of the way, paths repeat and customers come back week after week.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENTS = ("app_open", "login", "page_view", "click", "search", "product_view",
          "loan_apply_start", "loan_apply_submit", "purchase_start", "purchase_submit",
          "transfer", "bill_pay", "message_open", "logout", "app_close")
PAGES = ("home", "login", "account_overview", "wealth_market", "loan_center", "card_center",
         "activity", "product_detail", "loan_apply", "wealth_purchase", "transfer",
         "bill_pay", "message_center", "search")
# Next-event probabilities (rows: current event). Funnel steps are likelier in order.
_T = np.full((len(EVENTS), len(EVENTS)), 0.02)
_STEER = {"app_open": {"login": 3.0, "page_view": 1.0}, "login": {"page_view": 3.0},
          "page_view": {"page_view": 2.0, "click": 1.5, "product_view": 1.0, "search": 0.5},
          "click": {"page_view": 1.5, "product_view": 1.0},
          "search": {"product_view": 1.5, "page_view": 1.0},
          "product_view": {"loan_apply_start": 0.8, "purchase_start": 0.8, "page_view": 1.0},
          "loan_apply_start": {"loan_apply_submit": 1.5, "page_view": 1.0},
          "loan_apply_submit": {"page_view": 1.0, "app_close": 1.0},
          "purchase_start": {"purchase_submit": 1.5, "page_view": 1.0},
          "purchase_submit": {"page_view": 1.0, "app_close": 1.0},
          "transfer": {"page_view": 1.0}, "bill_pay": {"page_view": 1.0},
          "message_open": {"page_view": 1.0}, "logout": {"app_close": 3.0},
          "app_close": {"app_open": 1.0}}
for _src, _dst in _STEER.items():
    for _name, _w in _dst.items():
        _T[EVENTS.index(_src), EVENTS.index(_name)] += _w
_T /= _T.sum(axis=1, keepdims=True)
_PAGE_OF = {"app_open": "home", "login": "login", "search": "search",
            "product_view": "product_detail", "loan_apply_start": "loan_apply",
            "loan_apply_submit": "loan_apply", "purchase_start": "wealth_purchase",
            "purchase_submit": "wealth_purchase", "transfer": "transfer", "bill_pay": "bill_pay",
            "message_open": "message_center", "logout": "home", "app_close": "home"}
_BROWSE = np.array([PAGES.index(p) for p in ("home", "account_overview", "wealth_market",
                                              "loan_center", "card_center", "activity")])
SCHEMA = pa.schema([("event_id", pa.string()), ("anonymous_key", pa.string()),
                    ("customer_key", pa.string()), ("session_id", pa.string()),
                    ("event_time", pa.timestamp("us")), ("event_name", pa.string()),
                    ("page", pa.string()), ("platform", pa.string()),
                    ("properties", pa.string()), ("dwell_ms", pa.int64())])
START = datetime(2025, 7, 1)
DAYS = 91


def _chunk(rng: np.random.Generator, first_actor: int, actors: int, first_event: int
           ) -> pa.Table:
    sessions_per = rng.poisson(9, actors) + 1
    actor = np.repeat(np.arange(first_actor, first_actor + actors), sessions_per)
    n_sessions = len(actor)
    length = np.minimum(rng.geometric(1 / 11, n_sessions), 60)
    start = (rng.integers(0, DAYS * 86_400, n_sessions)).astype(np.int64)
    # Walk the chain position by position across all sessions at once.
    names = np.zeros((n_sessions, int(length.max())), dtype=np.int64)
    cumulative = _T.cumsum(axis=1)
    for pos in range(1, names.shape[1]):
        u = rng.random(n_sessions)
        names[:, pos] = (u[:, None] > cumulative[names[:, pos - 1]]).sum(axis=1)
    mask = np.arange(names.shape[1])[None, :] < length[:, None]
    sess_idx = np.nonzero(mask)[0]
    name = names[mask]
    gaps = rng.exponential(40, len(name)).astype(np.int64) + 1
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(length) - length]
                                         - gaps[np.cumsum(length) - length], length)
    seconds = start[sess_idx] + offset
    ev_actor = actor[sess_idx]
    known = (ev_actor % 10) != 0  # a tenth of devices never log in
    page = np.array([PAGES.index(_PAGE_OF.get(e, "home")) for e in EVENTS])[name]
    browse = (name == EVENTS.index("page_view")) | (name == EVENTS.index("click"))
    page[browse] = _BROWSE[rng.integers(0, len(_BROWSE), int(browse.sum()))]
    n = len(name)
    ids = np.arange(first_event, first_event + n)
    time = (np.datetime64(START, "s") + seconds.astype("timedelta64[s]")).astype(
        "datetime64[us]")
    cust = pa.array([f"c{a:08d}" for a in ev_actor], pa.string())
    return pa.table({
        "event_id": pa.array([f"e{i:010d}" for i in ids], pa.string()),
        "anonymous_key": pa.array([f"d{a:08d}" for a in ev_actor], pa.string()),
        "customer_key": pa.compute.if_else(pa.array(known), cust,
                                           pa.nulls(n, pa.string())),
        "session_id": pa.array([f"s{first_actor}-{s}" for s in sess_idx], pa.string()),
        "event_time": pa.array(time),
        "event_name": pa.array(np.array(EVENTS)[name]),
        "page": pa.array(np.array(PAGES)[page]),
        "platform": pa.array(np.array(("ios", "android", "web"))[ev_actor % 3]),
        "properties": pa.nulls(n, pa.string()),
        "dwell_ms": pa.array(rng.integers(200, 120_000, n)),
    }, schema=SCHEMA)


def write_event_log(out: Path, events: int, seed: int = 11) -> int:
    """Write about ``events`` events as Parquet files into ``out``; return the exact count."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_actor = 10 * 11  # sessions × events per session, on average
    actors_per_chunk = 20_000
    written, actor, part = 0, 0, 0
    while written < events:
        want = min(actors_per_chunk, max(1, (events - written) // per_actor + 1))
        table = _chunk(rng, actor, want, written)
        table = table.slice(0, min(table.num_rows, events - written))
        pq.write_table(table, out / f"part-{part:04d}.parquet")
        written += table.num_rows
        actor += want
        part += 1
    return written
