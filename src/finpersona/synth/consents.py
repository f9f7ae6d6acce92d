"""Consent records by purpose and channel, and suitability risk questionnaires."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpersona.synth import formatting as fmt
from finpersona.synth import personas as ps
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk, expand

# (purpose, channel) pairs a bank records; marketing is asked per channel (PIPL 单独同意).
PAIRS = (("analytics", "any"), ("credit_reporting", "any"), ("third_party_sharing", "any"),
         ("marketing", "sms"), ("marketing", "phone"), ("marketing", "email"),
         ("marketing", "app_push"), ("marketing", "wechat"))
ASKED = np.array([1.0, 0.5, 0.3, 0.8, 0.5, 0.3, 0.7, 0.5])
SOURCES = ("app", "web", "branch", "phone")


@dataclass
class ConsentChunk:
    columns: fmt.Columns
    marketing_ok: np.ndarray  # per customer: granted marketing on at least one channel


def make_consents(chunk: Chunk, cust: CustomerChunk) -> ConsentChunk:
    rng = chunk.rng("consents")
    n = cust.n
    asked = rng.random((n, len(PAIRS))) < ASKED
    cust_idx, pair_idx = np.nonzero(asked)
    k = len(cust_idx)
    is_mkt = pair_idx >= 3
    p_grant = np.where(is_mkt, ps.table("marketing_consent")[cust.persona[cust_idx]], 0.92)
    granted = rng.random(k) < p_grant
    recorded = (cust.registered[cust_idx].astype("datetime64[s]")
                + rng.integers(8 * 3600, 20 * 3600, k).astype("timedelta64[s]"))
    ok = np.zeros(n, dtype=bool)
    ok[cust_idx[is_mkt & granted]] = True
    # Some grants are withdrawn later in the period: a new, later record that says false.
    withdraw = granted & is_mkt & (rng.random(k) < 0.06)
    w = np.flatnonzero(withdraw)
    span = (chunk.end - np.datetime64(chunk.start, "D")).astype(int)
    w_time = (np.datetime64(chunk.start, "s") + (rng.integers(0, span, len(w)) * 86400
              + rng.integers(8 * 3600, 22 * 3600, len(w))).astype("timedelta64[s]"))
    w_time = np.maximum(w_time, recorded[w] + np.timedelta64(86400, "s"))
    keep = w_time <= chunk.end.astype("datetime64[s]") + np.timedelta64(86399, "s")
    w, w_time = w[keep], w_time[keep]
    c = np.concatenate([cust_idx, cust_idx[w]])
    pr = np.concatenate([pair_idx, pair_idx[w]])
    g = np.concatenate([granted, np.zeros(len(w), bool)])
    t = np.concatenate([recorded, w_time])
    src = np.concatenate([rng.integers(0, 4, k), np.zeros(len(w), np.int64)])
    order = np.lexsort((pr, c))
    c, pr, g, t, src = c[order], pr[order], g[order], t[order], src[order]
    columns: fmt.Columns = {
        "customer_id": fmt.take(cust.customer_id, c),
        "purpose": fmt.codes(pr, [a for a, _ in PAIRS]),
        "channel": fmt.codes(pr, [b for _, b in PAIRS]),
        "granted": fmt.booleans(g),
        "recorded_at": fmt.timestamps(t),
        "source": fmt.codes(src, SOURCES),
    }
    return ConsentChunk(columns, ok)


def make_risk_assessments(chunk: Chunk, cust: CustomerChunk) -> fmt.Columns:
    """Questionnaires of wealth customers; answers follow each person's risk appetite."""
    rng = chunk.rng("risk")
    takes = ps.table("has_wealth")[cust.persona] + 0.1
    count = (rng.random(cust.n) < takes).astype(np.int64) + (rng.random(cust.n) < 0.1)
    owner, _ = expand(count)
    k = len(owner)
    answers = np.clip(np.round(cust.risk_appetite[owner][:, None] - 1
                               + rng.normal(0, 0.8, (k, 8))), 0, 4).astype(np.int64)
    days = chunk.days
    when = (days[rng.integers(0, len(days), k)].astype("datetime64[s]")
            + rng.integers(9 * 3600, 21 * 3600, k).astype("timedelta64[s]"))
    columns: fmt.Columns = {
        "assessment_id": chunk.ids("RA", k, 11),
        "customer_id": fmt.take(cust.customer_id, owner),
        "assessed_at": fmt.timestamps(when),
    }
    for q in range(8):
        columns[f"q{q + 1}"] = fmt.codes(answers[:, q], ("A", "B", "C", "D", "E"))
    columns["total_score"] = fmt.integers(np.round(answers.sum(axis=1) * 100 / 32))
    return columns
