"""What sets an audience apart: every tag compared between the audience and the whole base.

For a bool or category tag each value is a cell; for a numeric tag the cells
are quantile bands of the base (quintiles by default), so a band holds about the
same share of the base and a skew shows directly. For every cell:

- audience share = customers of the audience in the cell / audience size
- base share = customers of the base in the cell / base size
- TGI = audience share / base share x 100 (100: as common as in the base)

Missing values are a cell of their own (value ``None``). Tags are ranked by the
**share gap**: the largest ``|audience share - base share|`` over the tag's
shown cells, which equals ``|TGI - 100|`` weighted by the base share. Unlike the
raw TGI it does not let a value held by a handful of customers top the list.

Cells with fewer than k customers (setting ``k_anonymity``) are suppressed:
counts, shares and TGI are null. A cell is suppressed when its audience count,
its base count, or the base customers outside the audience in it, is between 1
and k-1; when a tag then has exactly one suppressed cell, the next smallest cell
is suppressed too, so the first cannot be recovered from the audience size.

Computed in the engine with two queries (quantile cut points and means, then one
grouped count over all tags); Python only sees the cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.appdb import open_app_database
from finpersona.audiences.errors import AudienceError
from finpersona.audiences.policy import k_anonymity
from finpersona.audiences.saved import load_audience
from finpersona.audiences.selection import Selector, open_selector
from finpersona.config import Workspace
from finpersona.tags.bands import band_labels
from finpersona.tags.expression import to_text
from finpersona.tags.types import TagSignature, ValueType

MEASURE = "share gap: max |audience share - base share| over a tag's shown cells"
_SEL = "_fp_sel"


@dataclass(frozen=True)
class ProfileCell:
    value: str | None  # category value, "true"/"false", or a band label; None = missing
    audience_count: int | None
    base_count: int | None
    audience_share: float | None
    base_share: float | None
    tgi: float | None
    suppressed: bool


@dataclass(frozen=True)
class TagProfile:
    tag: str
    type: str
    score: float | None  # the share gap; None when every cell is suppressed
    cells: list[ProfileCell]
    audience_mean: float | None = None  # numeric tags only
    base_mean: float | None = None


@dataclass(frozen=True)
class Profile:
    audience: str | None
    expression: str
    as_of: date
    audience_size: int
    base_size: int
    k: int
    measure: str
    tags: list[TagProfile]


@dataclass
class _Cell:
    key: str | None
    label: str | None
    aud: int
    base: int
    suppressed: bool = False


def profile(workspace: Workspace, name: str | None = None, *, expression: str | None = None,
            top: int = 20, bands: int = 5, as_of: date | str | None = None,
            include_defining: bool = False,
            signatures: Mapping[str, TagSignature] | None = None) -> Profile:
    """Profile a saved audience (``name``) or an ad-hoc ``expression`` against the base.

    Tags the expression itself uses are left out unless ``include_defining``: that
    customers selected by ``age > 50`` are older says nothing new.
    """
    if (name is None) == (expression is None):
        raise AudienceError("profile needs either an audience name or an expression")
    if top < 1 or not 2 <= bands <= 20:
        raise AudienceError("top must be at least 1 and bands between 2 and 20")
    text, members = expression, None
    if name is not None:
        with open_app_database(workspace) as db:
            saved = load_audience(db, name)
        text, members = saved.expression, saved.members
    assert text is not None
    k = k_anonymity(workspace.settings)
    with open_selector(workspace, as_of, signatures=signatures) as selector:
        definition = selector.define(text, members)
        skip = set() if include_defining else definition.tags_used()
        columns = [c for c in selector.tag_columns() if c not in skip]
        sigs = selector.signatures
        numeric = [c for c in columns if sigs[c].type.is_numeric]
        categorical = [c for c in columns
                       if sigs[c].type in (ValueType.BOOL, ValueType.CATEGORY)]
        flag = selector.flag_of(definition)
        stats = _numeric_stats(selector, flag, numeric, bands)
        base_n, aud_n = int(stats["_base_n"]), int(stats["_aud_n"] or 0)
        cuts = {c: _cuts(stats[f"_q_{c}"], sigs[c].type) for c in numeric}
        grouped = _grouped_counts(selector, flag, categorical, cuts)
        profiles = []
        for c in categorical:
            cells = [_Cell(v, v, a, b) for v, (a, b) in grouped.get(c, {}).items()]
            cells.sort(key=_category_order(sigs[c]))
            profiles.append(_tag_profile(c, sigs[c].type, cells, aud_n, base_n, k))
        for c in numeric:
            labels = band_labels(cuts[c], _num)
            cells = [_Cell(v, None if v is None else labels[int(v)], a, b)
                     for v, (a, b) in grouped.get(c, {}).items()]
            cells.sort(key=lambda cell: math.inf if cell.key is None else int(cell.key))
            means = (_mean(stats[f"_am_{c}"], stats[f"_an_{c}"], k),
                     _mean(stats[f"_bm_{c}"], stats[f"_bn_{c}"], k))
            profiles.append(_tag_profile(c, sigs[c].type, cells, aud_n, base_n, k, means))
        profiles.sort(key=lambda p: (p.score is None, -(p.score or 0.0), p.tag))
        shown = text if definition.node is None else to_text(definition.node)
        return Profile(audience=name, expression=shown, as_of=selector.as_of,
                       audience_size=aud_n, base_size=base_n, k=k, measure=MEASURE,
                       tags=profiles[:top])


def _numeric_stats(selector: Selector, flag: ir.BooleanValue, numeric: Sequence[str],
                   bands: int) -> dict[str, Any]:
    t = selector.table
    probs = [i / bands for i in range(1, bands)]
    metrics: dict[str, ir.Scalar] = {"_base_n": t.count(), "_aud_n": t.count(where=flag)}
    for c in numeric:
        col = t[c].cast("float64")
        metrics[f"_q_{c}"] = col.quantile(probs)
        metrics[f"_bm_{c}"] = col.mean()
        metrics[f"_am_{c}"] = col.mean(where=flag)
        metrics[f"_bn_{c}"] = col.count()
        metrics[f"_an_{c}"] = col.count(where=flag)
    row: dict[str, Any] = selector.engine.to_arrow(t.aggregate(**metrics)).to_pylist()[0]
    return row


def _cuts(quantiles: Sequence[float | None] | None, vtype: ValueType) -> list[float]:
    """Distinct band edges; whole numbers for int tags so labels read ``(2, 5]``."""
    values = [q for q in (quantiles or []) if q is not None]
    if vtype is ValueType.INT:
        values = [float(math.floor(q)) for q in values]
    return sorted(set(values))


def _band(col: ir.NumericValue, cuts: Sequence[float]) -> ir.StringValue:
    branches = [(col <= cut, i) for i, cut in enumerate(cuts)]
    band = ibis.cases((col.isnull(), ibis.null("int64")), *branches, else_=len(cuts))
    return band.cast("int64").cast("string")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:,.2f}".replace(",", "")


def _grouped_counts(selector: Selector, flag: ir.BooleanValue, categorical: Sequence[str],
                    cuts: Mapping[str, Sequence[float]]
                    ) -> dict[str, dict[str | None, tuple[int, int]]]:
    """{tag: {value: (audience count, base count)}} from one pass over the snapshot."""
    if not categorical and not cuts:
        return {}
    t = selector.table
    wide: dict[str, ir.Value] = {_SEL: flag.cast("int64")}
    for c in categorical:
        wide[c] = t[c].cast("string")
    for c, edges in cuts.items():
        wide[c] = _band(t[c].cast("float64"), edges)
    long = t.select(**wide).pivot_longer(list(wide)[1:], names_to="tag", values_to="value")
    grouped = long.group_by(["tag", "value"]).aggregate(
        aud=long[_SEL].sum(), base=long.count())
    out: dict[str, dict[str | None, tuple[int, int]]] = {}
    for row in selector.engine.to_arrow(grouped).to_pylist():
        out.setdefault(row["tag"], {})[row["value"]] = (int(row["aud"] or 0), int(row["base"]))
    return out


def _category_order(sig: TagSignature) -> Any:
    declared = {v: i for i, v in enumerate(sig.values or ("true", "false"))}

    def key(cell: _Cell) -> tuple[int, int, str]:
        if cell.key is None:
            return (2, 0, "")
        if cell.key in declared:
            return (0, declared[cell.key], "")
        return (1, 0, cell.key)

    return key


def _small(n: int, k: int) -> bool:
    return 0 < n < k


def _suppress(cells: list[_Cell], k: int) -> None:
    for cell in cells:
        cell.suppressed = (_small(cell.aud, k) or _small(cell.base, k)
                           or _small(cell.base - cell.aud, k))
    hidden = [c for c in cells if c.suppressed]
    shown = [c for c in cells if not c.suppressed]
    if len(hidden) == 1 and shown:
        min(shown, key=lambda c: (c.aud, c.base)).suppressed = True


def _mean(value: float | None, n: int | None, k: int) -> float | None:
    if value is None or n is None or n < k:
        return None
    return round(float(value), 4)


def _tag_profile(tag: str, vtype: ValueType, cells: list[_Cell], aud_n: int, base_n: int,
                 k: int, means: tuple[float | None, float | None] = (None, None)
                 ) -> TagProfile:
    _suppress(cells, k)
    out: list[ProfileCell] = []
    gaps: list[float] = []
    for cell in cells:
        if cell.suppressed:
            out.append(ProfileCell(cell.label, None, None, None, None, None, True))
            continue
        aud_share = cell.aud / aud_n if aud_n else None
        base_share = cell.base / base_n if base_n else None
        tgi = (aud_share / base_share * 100
               if aud_share is not None and base_share else None)
        if aud_share is not None and base_share is not None:
            gaps.append(abs(aud_share - base_share))
        out.append(ProfileCell(cell.label, cell.aud, cell.base,
                               None if aud_share is None else round(aud_share, 4),
                               None if base_share is None else round(base_share, 4),
                               None if tgi is None else round(tgi, 1), False))
    score = round(max(gaps), 4) if gaps else None
    return TagProfile(tag=tag, type=str(vtype), score=score, cells=out,
                      audience_mean=means[0], base_mean=means[1])
