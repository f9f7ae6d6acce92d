"""Association rules: products held together and merchant categories used together.

A **basket** is one customer's set of items (docs/analytics.md, "Association rules"):

- ``products``: the product types of the accounts the customer holds on the as-of date
  (opened on or before it, not closed by it); ``product-ids`` the same with product codes;
- ``mcc``: the merchant category codes of the customer's successful purchases on local
  days in the window (default 365 days up to the as-of date).

Itemsets are counted **in the engine**: the customer x item pairs are joined with
themselves on the customer, each item to the items after it (``item_1 < item_2 < ...``,
plain string order), and grouped; only itemsets whose every shorter prefix was frequent
are extended (Apriori pruning), up to ``max_len`` items. The baskets never leave the
engine; only the frequent itemsets and their counts do. Rules are then derived from
those counts (every split of a frequent itemset into antecedent -> consequent):

- support(X) = baskets containing X / baskets (customers with at least one item);
- confidence(A -> C) = support(A u C) / support(A);
- lift = confidence / support(C); leverage = support(A u C) - support(A) x support(C);
- conviction = (1 - support(C)) / (1 - confidence), None (infinite) when confidence is 1.

An itemset is frequent when support >= min_support, i.e. its count is at least
ceil(min_support x baskets); rules are kept when confidence >= min_confidence and
lift >= min_lift, ranked by lift, confidence, support (then items, for a stable order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from itertools import combinations
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import AnalysisError, collect, local_time, require_columns
from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.rfm import default_as_of, window_days
from finpersona.engine import Engine

MAX_ITEMSET_SIZE = 4  # self-joins grow with the size; longer sets are rarely actionable
DEFAULT_WINDOW_DAYS = 365
_FLOAT_SLACK = 1e-12  # min_support x baskets within float error of a whole count


class ItemKind(StrEnum):
    PRODUCTS = "products"
    PRODUCT_IDS = "product-ids"
    MCC = "mcc"

    @classmethod
    def parse(cls, value: str | ItemKind) -> ItemKind:
        try:
            return cls(str(value).lower())
        except ValueError:
            known = ", ".join(k.value for k in cls)
            raise AnalysisError(f"unknown items {value!r}: use one of {known}") from None


@dataclass(frozen=True)
class Itemset:
    items: tuple[str, ...]  # in string order
    count: int  # baskets containing every item
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {"items": list(self.items), "count": self.count, "support": self.support}


@dataclass(frozen=True)
class AssociationRule:
    antecedent: tuple[str, ...]
    consequent: tuple[str, ...]
    count: int  # baskets containing both sides
    support: float
    confidence: float
    lift: float
    leverage: float
    conviction: float | None  # None: infinite (confidence 1)
    antecedent_support: float
    consequent_support: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "antecedent": list(self.antecedent),
                "consequent": list(self.consequent)}

    def rank_key(self) -> tuple[float, float, float, tuple[str, ...], tuple[str, ...]]:
        return (-self.lift, -self.confidence, -self.support, self.antecedent, self.consequent)


@dataclass(frozen=True)
class AssociationResult:
    """Frequent itemsets and ranked rules; ``recommend`` serves the recommendations."""

    items: str
    baskets: int
    min_support: float
    min_count: int
    min_confidence: float
    min_lift: float
    max_len: int
    itemsets: tuple[Itemset, ...]  # by size, then count (descending), then items
    rules: tuple[AssociationRule, ...]  # ranked, at most ``top``
    rules_found: int  # before the top cut
    as_of: date | None = None
    window_days: int | None = None  # mcc baskets only

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "baskets": self.baskets, "min_support": self.min_support,
                "min_count": self.min_count, "min_confidence": self.min_confidence,
                "min_lift": self.min_lift, "max_len": self.max_len,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "window_days": self.window_days, "rules_found": self.rules_found,
                "rules": [r.to_dict() for r in self.rules],
                "itemsets": [s.to_dict() for s in self.itemsets]}

    def recommend(self, held: Iterable[str], top: int | None = None) -> list[AssociationRule]:
        """Rules that apply to a customer holding ``held``: the whole antecedent is held and
        nothing of the consequent is, best first."""
        have = set(held)
        fits = [r for r in self.rules
                if set(r.antecedent) <= have and not have.intersection(r.consequent)]
        return fits[:top] if top is not None else fits


# -- baskets ------------------------------------------------------------------------------------

def product_baskets(accounts: ir.Table, products: ir.Table | None, *, as_of: date | None,
                    by_id: bool = False) -> ir.Table:
    """(customer_key, item): the product types (or ids) of accounts held on ``as_of``.

    Held: opened on or before the day and not closed by it (no closed date, or a later one;
    a ``closed`` status without a date counts as closed). Without ``as_of``: every account
    not closed.
    """
    require_columns(accounts, ("customer_key", "product_id", "opened_date", "closed_date",
                               "status"), "product baskets")
    a = accounts.filter(accounts.customer_key.notnull() & accounts.product_id.notnull())
    closed_undated = (a.status == "closed") & a.closed_date.isnull()
    if as_of is None:
        held = a.closed_date.isnull() & ~closed_undated
    else:
        day = ibis.literal(as_of)
        held = ((a.opened_date <= day) & (a.closed_date.isnull() | (a.closed_date > day))
                & ~closed_undated)
    a = a.filter(held)
    if by_id:
        return a.select("customer_key", item=a.product_id).distinct()
    if products is None:
        raise AnalysisError("product types need the products table: ingest it, or use "
                            "--items product-ids")
    # min(): one type per product id even if the products table repeats an id.
    types = products.group_by("product_id").aggregate(item=products.product_type.min())
    joined = a.join(types, "product_id")
    return joined.filter(joined["item"].notnull()).select("customer_key", "item").distinct()


def mcc_baskets(transactions: ir.Table, *, as_of: date, days: int,
                offset_hours: float) -> ir.Table:
    """(customer_key, item): merchant category codes of successful purchases on the local
    days ``as_of - days + 1`` to ``as_of``."""
    require_columns(transactions, ("customer_key", "txn_time", "txn_type", "status", "mcc"),
                    "merchant-category baskets")
    if days < 1:
        raise AnalysisError(f"the window must be at least one day, got {days}")
    t = transactions
    day = local_time(t.txn_time, offset_hours).date()
    first = as_of - timedelta(days=days - 1)
    t = t.filter(t.customer_key.notnull() & t.mcc.notnull() & (t.txn_type == "purchase")
                 & (t.status == "success") & (day >= ibis.literal(first))
                 & (day <= ibis.literal(as_of)))
    return t.select("customer_key", item=t.mcc).distinct()


# -- itemsets in the engine --------------------------------------------------------------------

def _item_columns(size: int) -> list[str]:
    return [f"item_{i}" for i in range(1, size + 1)]


def frequent_itemsets(baskets: ir.Table, min_count: int, max_len: int) -> ir.Table:
    """Itemsets of 1 to ``max_len`` items in at least ``min_count`` baskets, as one table:
    ``size``, ``item_1`` ... ``item_<max_len>`` (null beyond the size, items ascending), ``n``.
    """
    if not 1 <= max_len <= MAX_ITEMSET_SIZE:
        raise AnalysisError(f"itemsets can have 1 to {MAX_ITEMSET_SIZE} items, got {max_len}")
    b = baskets.filter(baskets.customer_key.notnull() & baskets["item"].notnull()).select(
        "customer_key", item=baskets["item"].cast("string")).distinct()
    singles = b.group_by("item").aggregate(n=b.count())
    singles = singles.filter(singles.n >= min_count)
    held = b.semi_join(singles, "item")  # an infrequent item is in no frequent itemset
    level = held.select("customer_key", item_1=held["item"])
    levels = [singles.select(item_1=singles["item"], n=singles.n)]
    for size in range(2, max_len + 1):
        level = _extend(level, held, size)
        counts = level.group_by(_item_columns(size)).aggregate(n=level.count())
        counts = counts.filter(counts.n >= min_count)
        levels.append(counts)
        # Apriori: a customer's k-itemset can only grow into a frequent one if it is frequent.
        level = level.semi_join(counts, _item_columns(size))
    return ibis.union(*(_padded(t, size + 1, max_len) for size, t in enumerate(levels)))


def _extend(level: ir.Table, held: ir.Table, size: int) -> ir.Table:
    """Each customer's (size-1)-itemsets joined with each of their items after the last."""
    right = held.select(_key=held.customer_key, _next=held["item"]).view()
    last = level[f"item_{size - 1}"]
    joined = level.join(right, [level.customer_key == right._key, last < right._next])
    return joined.select("customer_key", *_item_columns(size - 1),
                         **{f"item_{size}": joined._next})


def _padded(counts: ir.Table, size: int, max_len: int) -> ir.Table:
    nulls = {c: ibis.null("string") for c in _item_columns(max_len)[size:]}
    padded = counts.mutate(size=ibis.literal(size, "int64"), n=counts.n.cast("int64"), **nulls)
    return padded.select("size", *_item_columns(max_len), "n")


def min_count_for(min_support: float, baskets: int) -> int:
    """The fewest baskets an itemset needs for support >= min_support (at least 1)."""
    if not 0 < min_support <= 1:
        raise AnalysisError(f"minimum support must be in (0, 1], got {min_support}")
    return max(1, math.ceil(min_support * baskets * (1 - _FLOAT_SLACK)))


def count_itemsets(engine: Engine, baskets: ir.Table, min_support: float,
                   max_len: int) -> tuple[int, int, tuple[Itemset, ...]]:
    """(baskets, min_count, frequent itemsets) of a (customer_key, item) table."""
    valid = baskets.filter(baskets.customer_key.notnull() & baskets["item"].notnull())
    n = int(engine.scalar(valid.customer_key.nunique()) or 0)
    min_count = min_count_for(min_support, n)
    if n == 0:
        return 0, min_count, ()
    rows = collect(engine, frequent_itemsets(baskets, min_count, max_len))
    found = [Itemset(tuple(str(r[c]) for c in _item_columns(int(r["size"]))), int(r["n"]),
                     int(r["n"]) / n) for r in rows]
    found.sort(key=lambda s: (len(s.items), -s.count, s.items))
    return n, min_count, tuple(found)


# -- rules -----------------------------------------------------------------------------------------

def derive_rules(itemsets: Sequence[Itemset], baskets: int, min_confidence: float = 0.0,
                 min_lift: float = 0.0) -> list[AssociationRule]:
    """Every rule A -> C from a frequent itemset A u C (both sides non-empty), ranked."""
    if not 0 <= min_confidence <= 1:
        raise AnalysisError(f"minimum confidence must be in [0, 1], got {min_confidence}")
    if min_lift < 0:
        raise AnalysisError(f"minimum lift must not be negative, got {min_lift}")
    count = {s.items: s.count for s in itemsets}
    rules = []
    for s in itemsets:
        for k in range(1, len(s.items)):
            for antecedent in combinations(s.items, k):
                consequent = tuple(i for i in s.items if i not in antecedent)
                rule = _rule(antecedent, consequent, s.count, count[antecedent],
                             count[consequent], baskets)
                if rule.confidence >= min_confidence and rule.lift >= min_lift:
                    rules.append(rule)
    return sorted(rules, key=AssociationRule.rank_key)


def _rule(antecedent: tuple[str, ...], consequent: tuple[str, ...], both: int, left: int,
          right: int, baskets: int) -> AssociationRule:
    # From the whole counts, so equal quantities (the lift of A -> C and C -> A) are equal
    # floats and the ranking does not depend on rounding.
    support, left_support, right_support = both / baskets, left / baskets, right / baskets
    confidence = both / left
    return AssociationRule(
        antecedent=antecedent, consequent=consequent, count=both, support=support,
        confidence=confidence, lift=both * baskets / (left * right),
        leverage=(both * baskets - left * right) / baskets**2,
        conviction=(1 - right_support) / (1 - confidence) if both < left else None,
        antecedent_support=left_support, consequent_support=right_support)


def mine_rules(engine: Engine, baskets: ir.Table, *, items: str = "custom",
               min_support: float = 0.01, min_confidence: float = 0.2, min_lift: float = 1.0,
               max_len: int = 3, top: int | None = 20, as_of: date | None = None,
               window: int | None = None) -> AssociationResult:
    """Frequent itemsets (in the engine) and ranked rules of a (customer_key, item) table."""
    if top is not None and top < 1:
        raise AnalysisError(f"--top must be at least 1, got {top}")
    n, min_count, itemsets = count_itemsets(engine, baskets, min_support, max_len)
    rules = derive_rules(itemsets, n, min_confidence, min_lift) if n else []
    return AssociationResult(
        items=items, baskets=n, min_support=min_support, min_count=min_count,
        min_confidence=min_confidence, min_lift=min_lift, max_len=max_len, itemsets=itemsets,
        rules=tuple(rules[:top] if top is not None else rules), rules_found=len(rules),
        as_of=as_of, window_days=window)


def compute_rules(data: AnalyticsData, *, items: str | ItemKind = ItemKind.PRODUCTS,
                  min_support: float = 0.01, min_confidence: float = 0.2,
                  min_lift: float = 1.0, max_len: int = 3, top: int | None = 20,
                  as_of: date | None = None,
                  window: str | timedelta | int | None = None) -> AssociationResult:
    """Association rules of the workspace's customers (as of the latest build by default)."""
    kind = ItemKind.parse(items)
    day = as_of or default_as_of(data)
    days = None
    if kind is ItemKind.MCC:
        days = window_days(window) if window is not None else DEFAULT_WINDOW_DAYS
        baskets = mcc_baskets(data.transactions(), as_of=day, days=days,
                              offset_hours=data.offset_hours)
    else:
        if window is not None:
            raise AnalysisError("--window applies to --items mcc only; products are those "
                                "held on the as-of date")
        products = data.table("products") if data.warehouse.has_table("products") else None
        baskets = product_baskets(data.table("accounts"), products, as_of=day,
                                  by_id=kind is ItemKind.PRODUCT_IDS)
    return mine_rules(data.engine, baskets, items=kind.value, min_support=min_support,
                      min_confidence=min_confidence, min_lift=min_lift, max_len=max_len,
                      top=top, as_of=day, window=days)


__all__ = ["AssociationResult", "AssociationRule", "ItemKind", "Itemset", "compute_rules",
           "count_itemsets", "derive_rules", "frequent_itemsets", "mcc_baskets",
           "min_count_for", "mine_rules", "product_baskets"]
