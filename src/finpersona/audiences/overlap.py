"""How two or three saved audiences overlap: the size of every region of their Venn diagram.

Regions are exclusive: ``(a, b)`` counts customers in a and b and in no other
listed audience. Regions of 1 to k-1 customers are suppressed (count null).
Uses the bitmap index when the build made one for the as-of date, else one
grouped count in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING

from finpersona.appdb import open_app_database
from finpersona.audiences.errors import AudienceError
from finpersona.audiences.policy import k_anonymity
from finpersona.audiences.saved import load_audience
from finpersona.audiences.selection import Method, open_selector
from finpersona.config import Workspace
from finpersona.tags.types import TagSignature

if TYPE_CHECKING:
    from pyroaring import BitMap


@dataclass(frozen=True)
class OverlapRegion:
    members: tuple[str, ...]  # the audiences this region is inside (and no others)
    count: int | None  # None when suppressed
    suppressed: bool


@dataclass(frozen=True)
class Overlap:
    audiences: tuple[str, ...]
    as_of: date
    method: Method
    k: int
    sizes: dict[str, int]
    regions: list[OverlapRegion]


def _regions(names: Sequence[str]) -> list[tuple[int, ...]]:
    """Every non-empty subset of positions: singles first, then pairs, then all three."""
    return [c for r in range(1, len(names) + 1) for c in combinations(range(len(names)), r)]


def overlap(workspace: Workspace, names: Sequence[str], *, as_of: date | str | None = None,
            signatures: Mapping[str, TagSignature] | None = None) -> Overlap:
    if not 2 <= len(names) <= 3:
        raise AudienceError("overlap compares two or three audiences")
    if len(set(names)) != len(names):
        raise AudienceError("overlap needs different audiences")
    with open_app_database(workspace) as db:
        saved = [load_audience(db, n) for n in names]
    k = k_anonymity(workspace.settings)
    with open_selector(workspace, as_of, signatures=signatures) as selector:
        definitions = [selector.define(a.expression, a.members) for a in saved]
        nodes = [d.node for d in definitions]
        counts: dict[tuple[int, ...], int] = {}
        index = selector.index
        if index is not None and all(n is not None for n in nodes):
            method: Method = "index"
            maps: list[BitMap] = [selector.on_index(index.select, n) for n in nodes
                                  if n is not None]
            sizes = [len(m) for m in maps]
            for region in _regions(names):
                inside = maps[region[0]].intersection(*[maps[i] for i in region[1:]])
                outside = [maps[i] for i in range(len(maps)) if i not in region]
                counts[region] = len(inside.difference(*outside)) if outside else len(inside)
        else:
            method = "scan"
            t = selector.table
            flags = {f"_s{i}": selector.flag_of(d) for i, d in enumerate(definitions)}
            flagged = t.select(**flags)
            either = flagged[next(iter(flags))]
            for name in list(flags)[1:]:
                either = either | flagged[name]
            members = flagged.filter(either)
            grouped = members.group_by(list(flags)).aggregate(n=members.count())
            sizes = [0] * len(names)
            for row in selector.engine.to_arrow(grouped).to_pylist():
                region = tuple(i for i in range(len(names)) if row[f"_s{i}"])
                counts[region] = int(row["n"])
                for i in region:
                    sizes[i] += int(row["n"])
        regions = []
        for region in _regions(names):
            n = counts.get(region, 0)
            hidden = 0 < n < k
            regions.append(OverlapRegion(tuple(names[i] for i in region),
                                         None if hidden else n, hidden))
        return Overlap(audiences=tuple(names), as_of=selector.as_of, method=method, k=k,
                       sizes=dict(zip(names, sizes, strict=True)), regions=regions)
