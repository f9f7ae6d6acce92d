"""Compile the catalogue into a few grouped engine passes that produce the tag snapshot.

Declarative fact tags that share a source view and a window become one
``group_by(customer_key).aggregate(...)`` with a conditional aggregate per tag
(each tag's filter is the aggregate's ``where``), so 90 tags over five sources
cost about a dozen scans, not 90. ``mode``, ``first`` and ``last`` need a
ranking and get one pass each. Python tags run once per function. Rule tags are
then added level by level over the joined wide table. Everything stays an Ibis
expression: the same plan runs on DuckDB and on Spark.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.tags.catalogue import Catalogue, rule_nodes, rule_order
from finpersona.tags.context import LOCAL_DATE, TagContext
from finpersona.tags.expression import compile_expression, to_ibis
from finpersona.tags.expression.ast import tags_used
from finpersona.tags.model import FactDefinition, Measure, TagDefinition, Transform
from finpersona.tags.sources import VIEWS, view_signatures, whole_months, whole_years
from finpersona.tags.types import TagKind, ValueType

KEY = "customer_key"
PHYSICAL = {ValueType.BOOL: "boolean", ValueType.INT: "int64", ValueType.DECIMAL: "float64",
            ValueType.CATEGORY: "string", ValueType.DATE: "date"}
RANKED = (Measure.MODE, Measure.FIRST, Measure.LAST)


def _condition(text: str | None, view: str, table: ir.Table) -> ir.BooleanValue | None:
    if not text:
        return None
    node = compile_expression(text, view_signatures(view))
    return to_ibis(node, lambda name: table[name])


def _columns_used(fact: FactDefinition) -> set[str]:
    """The view columns a fact tag reads: its measured column and its filters' names."""
    used = {fact.column} if fact.column else set()
    for text in (fact.filter, fact.where):
        if text:
            used |= tags_used(compile_expression(text, view_signatures(fact.source)))
    return used


def _both(a: ir.BooleanValue | None, b: ir.BooleanValue | None) -> ir.BooleanValue | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _aggregate(fact: FactDefinition, t: ir.Table,
               in_window: ir.BooleanValue | None) -> ir.Value:
    """One conditional aggregate; rows outside the tag's window or filter do not count."""
    f = _both(in_window, _condition(fact.filter, fact.source, t))
    m = fact.measure
    if m in (Measure.COUNT, Measure.EXISTS):
        return t.count(where=f)
    if m is Measure.SHARE:
        hits = t.count(where=_both(f, _condition(fact.where, fact.source, t)))
        total = t.count(where=f)
        return ibis.ifelse(total == 0, ibis.null("float64"),
                           hits.cast("float64") / total.cast("float64"))
    assert fact.column is not None
    col = t[fact.column]
    plain: dict[Measure, Callable[[], ir.Value]] = {
        Measure.SUM: lambda: col.sum(where=f),
        Measure.AVG: lambda: col.cast("float64").mean(where=f),
        Measure.MIN: lambda: col.min(where=f),
        Measure.MAX: lambda: col.max(where=f),
        Measure.COUNT_DISTINCT: lambda: col.nunique(where=f),
    }
    if m not in plain:
        raise ValueError(f"measure {m} is not a plain aggregate")
    return plain[m]()


def _window_condition(ctx: TagContext, view: ir.Table, fact: FactDefinition,
                      widest: int | None) -> ir.BooleanValue | None:
    """Rows of the tag's own window, or None when the view is already cut to it."""
    days = fact.window_days
    if days is None or days == widest:
        return None
    return view[LOCAL_DATE] >= ctx.window_start(days)


def _ranked_pass(tag: TagDefinition, t: ir.Table) -> ir.Table:
    """mode / first / last: rank candidate rows per customer and keep the first."""
    fact = tag.fact
    assert fact is not None and fact.column is not None
    f = _condition(fact.filter, fact.source, t)
    if f is not None:
        t = t.filter(f)
    col = t[fact.column]
    t = t.filter(col.notnull())
    if fact.measure is Measure.MODE:
        counted = t.group_by([KEY, fact.column]).aggregate(_n=ibis._.count())
        order = [ibis.desc(counted._n), ibis.asc(counted[fact.column])]
        w = ibis.window(group_by=counted[KEY], order_by=order)
        ranked = counted.mutate(_rn=ibis.row_number().over(w))
    else:
        time_col = VIEWS[fact.source].time_column
        if time_col is None:
            raise ValueError(f"{tag.name}: first/last need a source with a time column")
        t = t.filter(t[time_col].notnull())
        if fact.measure is Measure.FIRST:
            order = [ibis.asc(t[time_col]), ibis.asc(t[fact.column])]
        else:
            order = [ibis.desc(t[time_col]), ibis.desc(t[fact.column])]
        w = ibis.window(group_by=t[KEY], order_by=order)
        ranked = t.mutate(_rn=ibis.row_number().over(w))
    return ranked.filter(ranked._rn == 0).select(KEY, **{tag.name: ranked[fact.column]})


def _finish(tag: TagDefinition, value: ir.Value, ctx: TagContext) -> ir.Value:
    """Transform, round, band, default and cast one fact tag's raw aggregate."""
    fact = tag.fact
    assert fact is not None
    if fact.measure is Measure.EXISTS:
        value = value > 0
    if value.type().is_timestamp():  # timestamps are UTC; tags speak in local dates
        ts: ir.TimestampValue = value
        value = (ts + ibis.interval(seconds=round(ctx.offset_hours * 3600))).date()
    if fact.transform is not None:
        as_of = ctx.as_of_literal()
        day: ir.DateValue = value
        if fact.transform is Transform.DAYS_TO_AS_OF:
            value = as_of.delta(day, unit="day")
        elif fact.transform is Transform.MONTHS_TO_AS_OF:
            value = whole_months(day, as_of)
        else:
            value = whole_years(day, as_of)
    if tag.bands:
        value = _band(tag, value)
    elif tag.type is ValueType.DECIMAL and not _exact_at(value, fact.round):
        value = value.cast("decimal(38, 8)").round(fact.round)
    elif tag.type is ValueType.INT and fact.measure in (Measure.AVG, Measure.SUM):
        value = value.round(0)
    if fact.default is not None:
        value = value.fill_null(_literal(fact.default, tag))
    return value.cast(PHYSICAL[tag.type])


def _exact_at(value: ir.Value, places: int) -> bool:
    """Whether ``value`` is a decimal with at most ``places`` places: rounding is a no-op.

    Sums, minima and maxima of money columns stay decimals of the column's scale on
    every engine, so the cast-and-round (costly in 128-bit arithmetic) is skipped.
    """
    kind = value.type()
    return bool(kind.is_decimal() and kind.scale is not None and kind.scale <= places)


def _band(tag: TagDefinition, value: ir.Value) -> ir.Value:
    num: ir.NumericValue = value.cast("float64")
    branches = [(num < float(b.upto), b.value) for b in tag.bands if b.upto is not None]
    banded = ibis.cases(*branches, else_=tag.bands[-1].value) if branches else ibis.literal(
        tag.bands[-1].value)
    return ibis.ifelse(num.isnull(), ibis.null(str), banded)


def _literal(value: Any, tag: TagDefinition) -> ir.Value:
    if tag.type is ValueType.DECIMAL:
        return ibis.literal(float(Decimal(str(value))), type="float64")
    if tag.type is ValueType.INT:
        return ibis.literal(int(value), type="int64")
    if tag.type is ValueType.BOOL:
        return ibis.literal(bool(value), type="boolean")
    return ibis.literal(str(value), type=PHYSICAL[tag.type])


def _join_all(base: ir.Table, parts: list[ir.Table]) -> ir.Table:
    """Left-join every part to the base on the key as one join chain, selected once.

    Selecting after each join would re-resolve every column gathered so far, which
    costs Ibis time quadratic in the number of parts (seconds for the full catalogue).
    """
    joined = base
    picked: list[ir.Value] = [base[KEY]]
    for i, part in enumerate(parts):
        right = part.rename({f"_k{i}": KEY})
        joined = joined.left_join(right, base[KEY] == right[f"_k{i}"])
        picked += [right[c] for c in part.columns if c != KEY]
    return joined.select(*picked) if parts else base


def compile_snapshot(ctx: TagContext, catalogue: Catalogue) -> ir.Table:
    """The wide tag snapshot for ``ctx.as_of``: one row per customer, one column per tag."""
    base = ctx.view("customers").select(KEY)
    parts: list[ir.Table] = []
    facts = [t for t in catalogue.computed() if t.fact is not None]
    # One pass per source view: each tag's window becomes part of its aggregate's
    # condition, and the view is cut once at the widest window any of its tags needs.
    by_source: dict[str, list[TagDefinition]] = defaultdict(list)
    for tag in facts:
        assert tag.fact is not None
        if tag.fact.measure is not Measure.VALUE:
            by_source[tag.fact.source].append(tag)
    for source, tags in by_source.items():
        days = [t.fact.window_days for t in tags if t.fact is not None]
        widest = None if None in days else max(d for d in days if d is not None)
        needs = frozenset().union(*(_columns_used(t.fact) for t in tags if t.fact is not None))
        view = ctx.view(source, widest, needs)
        plain = {t.name: _aggregate(t.fact, view, _window_condition(ctx, view, t.fact, widest))
                 for t in tags if t.fact is not None and t.fact.measure not in RANKED}
        if plain:
            parts.append(view.group_by(KEY).aggregate(**plain))
        for t in tags:
            if t.fact is not None and t.fact.measure in RANKED:
                parts.append(_ranked_pass(t, ctx.in_window(view, t.fact.window_days)))
    values = [t for t in facts if t.fact is not None and t.fact.measure is Measure.VALUE]
    if values:
        customers = ctx.view("customers")
        parts.append(customers.select(KEY, **{
            t.name: customers[t.fact.column] for t in values  # type: ignore[union-attr]
        }))
    python_parts = _python_tag_parts(ctx, catalogue)
    model_parts, absent = _model_tag_parts(catalogue, ctx)
    wide = _join_all(base, [*parts, *python_parts, *model_parts])
    finished = {tag.name: _finish(tag, wide[tag.name], ctx) for tag in facts}
    wide = wide.select(KEY, *(wide[c] for c in wide.columns if c != KEY and c not in finished),
                       **finished)
    if absent:
        wide = wide.mutate(**{t.name: ibis.null(PHYSICAL[t.type]) for t in absent})
    for level in rule_order(catalogue):
        wide = wide.mutate(**{t.name: _rule_value(t, wide, catalogue) for t in level})
    ordered = [t.name for t in catalogue.snapshot_tags()]
    return wide.select(KEY, *ordered).mutate(as_of=ctx.as_of_literal())


def _python_tag_parts(ctx: TagContext, catalogue: Catalogue) -> list[ir.Table]:
    """The tables of the Python-defined tags (one per function), key plus their tags."""
    by_function: dict[str, list[TagDefinition]] = defaultdict(list)
    for tag in catalogue.computed():
        if tag.python is not None:
            by_function[tag.python].append(tag)
    parts = []
    for ref, tags in by_function.items():
        module, name = ref.split(":", 1)
        func: Callable[[TagContext], ir.Table] = getattr(importlib.import_module(module), name)
        part = func(ctx)
        missing = [t.name for t in tags if t.name not in part.columns]
        if missing or KEY not in part.columns:
            raise ValueError(f"python tag function {ref} returned columns {part.columns}; "
                             f"expected {KEY} and {', '.join(t.name for t in tags)}")
        parts.append(part.select(KEY, *(part[t.name].cast(PHYSICAL[t.type]).name(t.name)
                                        for t in tags)))
    return parts


def _model_tag_parts(catalogue: Catalogue, ctx: TagContext
                     ) -> tuple[list[ir.Table], list[TagDefinition]]:
    """Model tags from the model's scores of this date, and those with no scores (null).

    Scores are published by ``finpersona model score`` (models.scoring); rule tags
    computed after this step may use them.
    """
    by_model: dict[str, list[TagDefinition]] = defaultdict(list)
    for t in catalogue.snapshot_tags():
        if t.kind is TagKind.MODEL:
            by_model[t.model or ""].append(t)
    parts, absent = [], []
    for model, tags in by_model.items():
        scores = ctx.model_scores(model) if ctx.model_scores and model else None
        present = [t for t in tags if scores is not None and t.name in scores.columns]
        if scores is not None and present:
            parts.append(scores.select(KEY, *(scores[t.name].cast(PHYSICAL[t.type]).name(t.name)
                                              for t in present)))
        absent += [t for t in tags if t not in present]
    return parts, absent


def _rule_value(tag: TagDefinition, wide: ir.Table, catalogue: Catalogue) -> ir.Value:
    assert tag.rule is not None
    nodes = rule_nodes(tag, catalogue.signatures())
    conditions = [to_ibis(n, lambda name: wide[name]) for n in nodes]
    if tag.rule.expression is not None:
        return conditions[0].cast("boolean")
    branches = [(c, _literal(case.then, tag))
                for c, case in zip(conditions, tag.rule.cases, strict=True)]
    otherwise = (_literal(tag.rule.otherwise, tag) if tag.rule.otherwise is not None
                 else ibis.null(PHYSICAL[tag.type]))
    return ibis.cases(*branches, else_=otherwise).cast(PHYSICAL[tag.type])


__all__ = ["LOCAL_DATE", "compile_snapshot"]
