"""Campaigns, randomised marketing touches and the true uplift behind them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finpersona.synth import formatting as fmt
from finpersona.synth import personas as ps
from finpersona.synth.catalogue import CAMPAIGNS, campaign_dates
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk

TOUCH_CHANNELS = ("sms", "phone", "email", "app_push", "wechat")
OBJECTIVES = ("acquisition", "cross_sell", "activation", "retention", "winback")


@dataclass
class MarketingChunk:
    touches: fmt.Columns
    uplift: pa.Table  # customer_id, campaign_id, true_uplift, arm


def campaign_rows(chunk: Chunk) -> fmt.Columns:
    spans = [campaign_dates(c, chunk.start, chunk.months) for c in CAMPAIGNS]
    return {
        "campaign_id": fmt.text([c.campaign_id for c in CAMPAIGNS]),
        "campaign_name": fmt.text([c.name for c in CAMPAIGNS]),
        "product_id": fmt.text([c.product_id for c in CAMPAIGNS]),
        "objective": fmt.text([c.objective for c in CAMPAIGNS]),
        "channel": fmt.text([c.channel for c in CAMPAIGNS]),
        "start_date": fmt.dates(np.array([a for a, _ in spans], dtype="datetime64[D]")),
        "end_date": fmt.dates(np.array([b for _, b in spans], dtype="datetime64[D]")),
        "control_share": fmt.decimals(np.array([c.control_share for c in CAMPAIGNS]), 2),
        "cost_per_contact": fmt.decimals(np.array([c.cost_per_contact for c in CAMPAIGNS]), 2),
    }


def make_marketing(chunk: Chunk, cust: CustomerChunk,
                   consent_marketing: np.ndarray) -> MarketingChunk:
    """Touches for customers who allow marketing: treatment is sent, control is held out."""
    rng = chunk.rng("marketing")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "cust", "camp", "treat", "sent_at", "uplift", "conv", "opened", "clicked", "conv_at",
        "revenue")}
    for ci, camp in enumerate(CAMPAIGNS):
        first, last = campaign_dates(camp, chunk.start, chunk.months)
        reach = np.array(camp.reach)[cust.persona]
        who = np.flatnonzero((rng.random(cust.n) < reach) & consent_marketing)
        k = len(who)
        p = cust.persona[who]
        treat = rng.random(k) >= camp.control_share
        days = (np.datetime64(last) - np.datetime64(first)).astype(int) + 1
        sent_at = (np.datetime64(first, "s") + (rng.integers(0, days, k) * 86400
                   + rng.integers(9 * 3600, 20 * 3600, k)).astype("timedelta64[s]"))
        base = ps.table("base_conversion")[p] * (0.5 + cust.activity[who] / 2)
        uplift = (camp.base_uplift * np.array(camp.affinity)[p] * ps.table("uplift_scale")[p]
                  + rng.normal(0, 0.01, k))
        uplift = np.clip(uplift, -base, 0.5)
        conv = rng.random(k) < np.clip(base + np.where(treat, uplift, 0), 0, 1)
        opened = treat & (rng.random(k) < 0.35)
        clicked = opened & (rng.random(k) < 0.3)
        conv_at = sent_at + rng.integers(600, 14 * 86400, k).astype("timedelta64[s]")
        conv_at = np.minimum(conv_at, chunk.end.astype("datetime64[s]") + np.timedelta64(86399,
                                                                                          "s"))
        for key, val in (("cust", who), ("camp", np.full(k, ci)), ("treat", treat),
                         ("sent_at", sent_at), ("uplift", uplift), ("conv", conv),
                         ("opened", opened), ("clicked", clicked), ("conv_at", conv_at),
                         ("revenue", camp.revenue * rng.lognormal(0, 0.5, k))):
            parts[key].append(val)
    a = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(a["sent_at"], kind="stable")
    a = {k: v[order] for k, v in a.items()}
    n = len(a["cust"])
    camp_idx = a["camp"]
    treat, conv = a["treat"], a["conv"]
    cost = np.array([c.cost_per_contact for c in CAMPAIGNS])[camp_idx] * treat
    campaign_ids = [c.campaign_id for c in CAMPAIGNS]
    channels = np.array([TOUCH_CHANNELS.index(c.channel) for c in CAMPAIGNS])[camp_idx]
    customer_id = fmt.take(cust.customer_id, a["cust"])
    touches: fmt.Columns = {
        "touch_id": chunk.ids("MT", n, 11),
        "campaign_id": fmt.codes(camp_idx, campaign_ids),
        "customer_id": customer_id,
        "channel": fmt.codes(channels, TOUCH_CHANNELS),
        "arm": fmt.codes(np.where(treat, 0, 1), ("treatment", "control")),
        "sent_at": fmt.timestamps(a["sent_at"]),
        "sent": fmt.booleans(treat),
        "opened": fmt.booleans(a["opened"], missing=~treat),
        "clicked": fmt.booleans(a["clicked"], missing=~treat),
        "converted": fmt.booleans(conv),
        "converted_at": fmt.timestamps(a["conv_at"], missing=~conv),
        "revenue": fmt.decimals(a["revenue"], missing=~conv),
        "cost": fmt.decimals(cost),
    }
    uplift = pa.table({
        "customer_id": customer_id,
        "campaign_id": fmt.codes(camp_idx, campaign_ids),
        "true_uplift": pa.array(a["uplift"]),
        "arm": touches["arm"],
    })
    return MarketingChunk(touches, uplift)
