"""App and web events (埋点) with devices, sessions, logins and the loan funnel.

Identity is what makes events hard: events before a login carry no customer
id, one device can serve two family members, fraud rings share emulators,
outside visitors never log in and SDKs emit junk device ids. The true owner of
every event goes to the hidden truth so identity stitching can be scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finpersona.synth import formatting as fmt
from finpersona.synth import personas as ps
from finpersona.synth.attrition import Attrition
from finpersona.synth.calendar import day_weights, sample_times
from finpersona.synth.catalogue import LOAN_PRODUCTS, PRODUCT_IDS
from finpersona.synth.credit import Funnel
from finpersona.synth.customers import CustomerChunk
from finpersona.synth.draw import Chunk, by_group, expand
from finpersona.synth.identities import device_ids

EVENT_NAMES = ("app_open", "login", "logout", "page_view", "click", "search", "product_view",
               "loan_apply_start", "loan_apply_submit", "purchase_start", "purchase_submit",
               "transfer", "bill_pay", "message_open", "app_close")
E = {name: i for i, name in enumerate(EVENT_NAMES)}
# What a logged-in customer does in the middle of a session, and before logging in.
FUNNEL_PATH = np.array([E[x] for x in ("app_open", "login", "page_view", "product_view",
                                       "loan_apply_start", "loan_apply_submit", "app_close")])
MIDDLE = np.array([[0, 0, .02, .34, .2, .07, .12, 0, 0, .04, .03, .09, .05, .04, 0]])
BROWSE = np.array([[0, 0, 0, .55, .25, .1, .1, 0, 0, 0, 0, 0, 0, 0, 0]])
PAGES = ("home", "login", "profile", "account_overview", "wealth_market", "loan_center",
         "card_center", "activity", "product_detail", "loan_apply", "wealth_purchase",
         "transfer", "bill_pay", "message_center", "search")
BROWSE_PAGES = (0, 3, 4, 5, 6, 7)
# Page of each event name (-1: the page is drawn from BROWSE_PAGES, -2: no page).
EVENT_PAGE = np.array([0, 1, 2, -1, -1, 14, 8, 9, 9, 10, 10, 11, 12, 13, -2])
DEVICE_KINDS = ("personal", "shared", "fraud", "junk", "visitor")
JUNK_IDS = ("0", "-1", "anonymous", "null", "")
KEYWORDS = ("理财", "基金", "贷款", "信用卡", "定期", "转账", "黄金", "保险", "积分", "年终奖")


@dataclass
class EventChunk:
    columns: fmt.Columns
    anonymous_id: pa.Array
    true_customer: pa.Array  # null for outside visitors
    device_kind: pa.Array


@dataclass
class Sessions:
    """One row per session; customer is -1 for outside visitors."""

    customer: np.ndarray
    device: np.ndarray
    kind: np.ndarray  # index into DEVICE_KINDS
    start: np.ndarray  # datetime64[s]
    length: np.ndarray
    login_at: np.ndarray  # position of the login event, -1 when it never happens
    platform: np.ndarray  # index into personas.PLATFORMS
    scripted: np.ndarray  # loan funnel or fraud-ring session with a fixed path
    view: np.ndarray  # datetime64[s] of the scripted product view
    applied: np.ndarray  # datetime64[s] of the scripted submit
    product: np.ndarray  # product looked at in a scripted session, -1 otherwise


def _devices(rng: np.random.Generator, cust: CustomerChunk) -> tuple[np.ndarray, ...]:
    """Each customer's devices: own first and second (-1) and a shared family device (-1)."""
    n = cust.n
    first = np.arange(n)
    second = np.where(rng.random(n) < 0.3, n + np.arange(n), -1)
    shared = np.full(n, -1)
    borrowers = np.flatnonzero(rng.random(n) < 0.02)
    shared[borrowers] = rng.integers(0, n, len(borrowers))  # a family member's first device
    shared[shared == np.arange(n)] = -1
    return first, second, shared


def _sessions(rng: np.random.Generator, chunk: Chunk, cust: CustomerChunk,
              funnel: Funnel) -> Sessions:
    n = cust.n
    p = cust.persona
    first, second, shared = _devices(rng, cust)
    count = rng.poisson(ps.table("sessions_per_year")[p] * cust.activity * chunk.months / 12)
    owner, _ = expand(count)
    u = rng.random(len(owner))
    device = np.where((second[owner] >= 0) & (u < 0.4), second[owner], first[owner])
    on_shared = (shared[owner] >= 0) & (u > 0.6)
    device = np.where(on_shared, shared[owner], device)

    # Fraud rings: a few emulators, each used by at least ten customers to try for a loan.
    n_fraud = max(1, n // 5000)
    ring_size = rng.integers(10, 21, n_fraud)
    ring_member = rng.integers(0, n, int(ring_size.sum()))
    ring_device = np.repeat(2 * n + np.arange(n_fraud), ring_size)
    visitors = int(n * 0.25)
    v_dev, _ = expand(rng.integers(1, 4, visitors))
    nf, nr, nv = len(funnel.customer), len(ring_member), len(v_dev)

    customer = np.concatenate([owner, funnel.customer, ring_member, np.full(nv, -1)])
    kind = np.concatenate([np.where(on_shared, 1, 0), np.zeros(nf, np.int64),
                           np.full(nr, 2), np.full(nv, 4)])
    device = np.concatenate([device, first[funnel.customer], ring_device, 3 * n + v_dev])
    total = len(customer)
    known = np.maximum(customer, 0)
    profile_of = np.array([ps.HOUR_PROFILE_NAMES.index(x.hour_profile) for x in ps.PERSONAS])
    prof = np.where(customer >= 0, profile_of[p[known]], 0)
    start = sample_times(rng, chunk.days, day_weights(chunk.days, "app"), prof)
    scripted = np.concatenate([np.zeros(len(owner), bool), np.ones(nf + nr, bool),
                               np.zeros(nv, bool)])
    view = start + np.timedelta64(90, "s")
    applied = view + np.timedelta64(600, "s")
    fr = slice(len(owner), len(owner) + nf)
    view[fr], applied[fr] = funnel.view_time, funnel.applied
    start[fr] = funnel.view_time - np.timedelta64(90, "s")
    # Funnel sessions end after the furthest step reached; ring sessions stop at the start.
    steps = np.full(nf + nr, 6)
    steps[:nf] = np.where(funnel.submitted, 7, np.where(funnel.started, 6, 5))
    length = 2 + rng.poisson(3.0, total)
    logs_in = rng.random(total) < np.where(customer >= 0, ps.table("login_prob")[p[known]], 0.0)
    login_at = np.where(logs_in, np.where(rng.random(total) < 0.7, 1, 2), -1)
    login_at[scripted] = 1
    length = np.maximum(length, login_at + 2)
    length[scripted] = steps
    platform = by_group(rng, p[known], ps.prob_table("platform_probs"))
    device_platform = np.zeros(int(device.max()) + 1, dtype=np.int64)
    device_platform[device] = platform  # a device keeps one platform: the last draw wins
    platform = device_platform[device]
    fweb = np.flatnonzero(funnel.web)
    platform[len(owner) + fweb] = 2
    product = np.full(total, -1)
    product[fr] = funnel.product
    product[len(owner) + nf: len(owner) + nf + nr] = np.array(
        [list(PRODUCT_IDS).index(x) for x in LOAN_PRODUCTS])[rng.integers(0, 5, nr)]
    return Sessions(customer, device, kind, start, length, login_at, platform, scripted, view,
                    applied, product)


def _event_names(rng: np.random.Generator, s: Sessions, sess: np.ndarray,
                 pos: np.ndarray) -> np.ndarray:
    n = len(sess)
    zeros = np.zeros(n, dtype=np.int64)
    names = by_group(rng, zeros, MIDDLE)
    before_login = (s.login_at[sess] < 0) | (pos < s.login_at[sess])
    names = np.where(before_login, by_group(rng, zeros, BROWSE), names)
    names = np.where(pos == s.login_at[sess], E["login"], names)
    last = pos == s.length[sess] - 1
    names = np.where(last & (rng.random(n) < 0.6), E["app_close"], names)
    names = np.where(pos == 0, E["app_open"], names)
    # Loan funnel and fraud-ring sessions follow a fixed path until they drop off.
    scripted = s.scripted[sess]
    path = FUNNEL_PATH[np.minimum(pos, len(FUNNEL_PATH) - 1)]
    path = np.where(last, E["app_close"], path)
    return np.where(scripted, path, names)


def _event_times(rng: np.random.Generator, s: Sessions, sess: np.ndarray,
                 pos: np.ndarray) -> np.ndarray:
    gap = np.round(rng.exponential(25, len(sess)) + 2).astype(np.int64)
    gap[pos == 0] = 0
    offset = np.cumsum(gap)
    offset -= np.repeat(offset[pos == 0], s.length)
    when = s.start[sess] + offset.astype("timedelta64[s]")
    # Scripted steps: browse up to the product view, the submit at the application's time.
    scripted = s.scripted[sess]
    view, applied = s.view[sess], s.applied[sess]
    span = (applied - view).astype(np.int64)
    last = pos == s.length[sess] - 1
    step = np.where(last, pos - 1, pos)
    at = np.where(step <= 3, view + ((step - 3) * 30).astype("timedelta64[s]"),
                  view + (span * np.minimum(step - 3, 2) // 2).astype("timedelta64[s]"))
    at = np.where(last, at + np.timedelta64(40, "s"), at)
    return np.asarray(np.where(scripted, at, when))


def make_events(chunk: Chunk, cust: CustomerChunk, funnel: Funnel, dirty_rate: float,
                leaving: Attrition) -> EventChunk:
    """Sessions and their events; none of a customer's once they have left.

    ``funnel`` is every loan look drawn, before those after leaving were dropped,
    so the draws (and everybody else's events) stay the same.
    """
    rng = chunk.rng("events")
    s = _sessions(rng, chunk, cust, funnel)
    sess, pos = expand(s.length)
    names = _event_names(rng, s, sess, pos)
    when = _event_times(rng, s, sess, pos)
    order = np.lexsort((pos, sess, when))
    sess, pos, names, when = sess[order], pos[order], names[order], when[order]
    n = len(sess)

    platform = s.platform[sess]
    names = np.where((names == E["app_open"]) & (platform == 2), E["page_view"], names)
    page = EVENT_PAGE[names]
    page = np.where(page == -1, np.array(BROWSE_PAGES)[rng.integers(0, len(BROWSE_PAGES), n)],
                    page)
    logged_in = (s.login_at[sess] >= 0) & (pos >= s.login_at[sess])
    who = s.customer[sess]
    dwell = np.round(rng.lognormal(9.5, 1.0, n)).astype(np.int64)
    has_dwell = np.isin(names, [E["page_view"], E["product_view"], E["loan_apply_start"]])

    junk = rng.random(len(s.customer)) < dirty_rate
    junk_token = rng.integers(0, len(JUNK_IDS), len(s.customer))
    device_text = fmt.text(device_ids(rng, int(s.device.max()) + 1))
    anon = fmt.take(device_text, s.device[sess])
    anon = pc.if_else(pa.array(junk[sess]), fmt.codes(junk_token[sess], JUNK_IDS), anon)
    kind = np.where(junk[sess], 3, s.kind[sess])
    customer_text = fmt.take(cust.customer_id, np.maximum(who, 0))
    columns: fmt.Columns = {
        "event_id": chunk.ids("E", n, 12),
        "anonymous_id": anon,
        "customer_id": pc.if_else(pa.array(logged_in), customer_text,
                                  pa.scalar(None, pa.string())),
        "session_id": fmt.take(chunk.ids("S", len(s.customer), 12), sess),
        "event_time": fmt.timestamps(when),
        "event_name": fmt.codes(names, EVENT_NAMES),
        "page": fmt.codes(np.maximum(page, 0), PAGES, missing=page < 0),
        "platform": fmt.codes(platform, ps.PLATFORMS),
        "properties": _properties(rng, s, sess, names),
        "dwell_ms": fmt.integers(dwell, missing=~has_dwell),
    }
    true_customer = pc.if_else(pa.array(who >= 0), customer_text, pa.scalar(None, pa.string()))
    # A session is gone when its customer left before it began (a loan session: before
    # the product view, as the credit funnel decides).
    moment = np.where(s.scripted, s.view, s.start)
    gone = (s.customer >= 0) & leaving.after_churn(np.maximum(s.customer, 0), moment)
    stays = pa.array(~gone[sess])
    return EventChunk({name: values.filter(stays) for name, values in columns.items()},
                      anon.filter(stays), true_customer.filter(stays),
                      fmt.codes(kind, DEVICE_KINDS).filter(stays))


def _properties(rng: np.random.Generator, s: Sessions, sess: np.ndarray,
                names: np.ndarray) -> pa.Array:
    """A small JSON object per event, built as text without a per-row json.dumps."""
    n = len(names)
    product = np.where(s.product[sess] >= 0, s.product[sess],
                       rng.integers(0, len(PRODUCT_IDS), n))
    kind = np.select([np.isin(names, [E["product_view"], E["loan_apply_start"],
                                      E["loan_apply_submit"], E["purchase_start"],
                                      E["purchase_submit"]]),
                      np.isin(names, [E["transfer"], E["bill_pay"]]),
                      names == E["search"]], [0, 1, 2], 3)
    value = pc.if_else(pa.array(kind == 0), fmt.codes(product, PRODUCT_IDS),
                       pc.if_else(pa.array(kind == 1),
                                  fmt.decimals(rng.lognormal(6, 1.2, n)),
                                  fmt.codes(rng.integers(0, len(KEYWORDS), n), KEYWORDS)))
    head = fmt.codes(kind, ('{"product_id":"', '{"amount":', '{"keyword":"', "{"))
    tail = fmt.codes(kind, ('"}', "}", '"}', "}"))
    value = pc.if_else(pa.array(kind == 3), pa.scalar(""), value)
    return fmt.concat(head, value, tail)
