"""Profiles (shares, TGI, quantile bands, k-suppression) against a hand computation,
and overlaps against Python sets."""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finpersona.audiences import (
    AudienceError,
    Profile,
    TagProfile,
    overlap,
    profile,
    save_audience,
)
from finpersona.tags.expression import compile_expression, evaluate
from finpersona.tags.types import ValueType

from ._bank import SIGNATURES, Bank, build_bank, tuned

EXPRESSION = "aum > 30000 OR has_credit_card"


def selected_keys(bank: Bank, expression: str) -> set[str]:
    node = compile_expression(expression, SIGNATURES)
    return {r["customer_key"] for r in bank.rows() if evaluate(node, r) is True}


def _label(cuts: list[float], band: int) -> str:
    def num(x: float) -> str:
        return str(int(x)) if x == int(x) else f"{x:.2f}"

    if band == 0:
        return f"<= {num(cuts[0])}"
    if band == len(cuts):
        return f"> {num(cuts[-1])}"
    return f"({num(cuts[band - 1])}, {num(cuts[band])}]"


def hand_cells(bank: Bank, keys: set[str], tag: str, k: int, bands: int = 5
               ) -> list[tuple[str | None, int | None, int | None, float | None, bool]]:
    """(value, audience, base, TGI, suppressed) per cell, computed from the rows."""
    rows = bank.rows()
    vtype = SIGNATURES[tag].type

    def value_of(row: dict[str, Any]) -> str | None:
        v = row[tag]
        if v is None:
            return None
        if vtype is ValueType.BOOL:
            return "true" if v else "false"
        if vtype in (ValueType.INT, ValueType.DECIMAL):
            present = [float(r[tag]) for r in rows if r[tag] is not None]
            qs = np.quantile(present, [i / bands for i in range(1, bands)])
            if vtype is ValueType.INT:
                qs = np.floor(qs)
            cuts = sorted({float(q) for q in qs})
            band = next((i for i, c in enumerate(cuts) if v <= c), len(cuts))
            return _label(cuts, band)
        return str(v)

    base = Counter(value_of(r) for r in rows)
    aud = Counter(value_of(r) for r in rows if r["customer_key"] in keys)
    small = lambda n: 0 < n < k  # noqa: E731
    hidden = {v for v in base if small(aud[v]) or small(base[v]) or small(base[v] - aud[v])}
    if len(hidden) == 1 and len(base) > 1:
        hidden.add(min((v for v in base if v not in hidden), key=lambda v: (aud[v], base[v])))
    out = []
    for v in base:
        if v in hidden:
            out.append((v, None, None, None, True))
            continue
        tgi = (aud[v] / len(keys)) / (base[v] / len(rows)) * 100
        out.append((v, aud[v], base[v], round(tgi, 1), False))
    return out


def cells_of(result: TagProfile) -> list[tuple[str | None, int | None, int | None,
                                               float | None, bool]]:
    return [(c.value, c.audience_count, c.base_count, c.tgi, c.suppressed)
            for c in result.cells]


def by_tag(result: Profile) -> dict[str, TagProfile]:
    return {t.tag: t for t in result.tags}


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j's sockets on Spark, not ours
def test_profile_matches_a_hand_computation(engine_name: str, tmp_path: Path) -> None:
    bank = build_bank(tmp_path / "ws", engine_name)
    keys = selected_keys(bank, EXPRESSION)
    result = profile(bank.workspace, expression=EXPRESSION, signatures=SIGNATURES)
    assert (result.audience_size, result.base_size, result.k) == (len(keys), 240, 10)
    tags = by_tag(result)
    # The defining tags and the date tag are left out; the rest are all there.
    assert set(tags) == {"age", "segment", "gender", "txn_count_30d"}
    for tag, got in tags.items():
        assert sorted(cells_of(got), key=str) == sorted(hand_cells(bank, keys, tag, 10),
                                                        key=str), tag
    # One cell by hand: women.
    women = sum(1 for r in bank.rows() if r["gender"] == "F")
    women_in = sum(1 for r in bank.rows() if r["gender"] == "F" and r["customer_key"] in keys)
    cell = next(c for c in tags["gender"].cells if c.value == "F")
    assert cell.tgi == round((women_in / len(keys)) / (women / 240) * 100, 1)
    assert cell.audience_share == round(women_in / len(keys), 4)
    # Means of numeric tags, and the ranking measure.
    ages = [r["age"] for r in bank.rows() if r["age"] is not None]
    ages_in = [r["age"] for r in bank.rows() if r["age"] is not None
               and r["customer_key"] in keys]
    assert tags["age"].base_mean == pytest.approx(sum(ages) / len(ages), abs=1e-4)
    assert tags["age"].audience_mean == pytest.approx(sum(ages_in) / len(ages_in), abs=1e-4)
    for t in result.tags:
        shown = [c for c in t.cells if not c.suppressed]
        assert t.score == pytest.approx(max(abs(c.audience_share - c.base_share)  # type: ignore[operator]
                                            for c in shown), abs=2e-4)
    scores = [t.score for t in result.tags]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_small_cells_are_suppressed(tmp_path: Path) -> None:
    bank = build_bank(tmp_path / "ws")
    result = profile(bank.workspace, expression="age >= 18", signatures=SIGNATURES)
    segment = by_tag(result)["segment"]
    vip = next(c for c in segment.cells if c.value == "vip")
    assert vip.suppressed and vip.audience_count is None and vip.tgi is None
    # vip alone could be recovered from the audience size: a second cell goes too.
    assert sum(c.suppressed for c in segment.cells) >= 2
    # With k = 1 nothing is hidden and the three vip customers show.
    loose = profile(tuned(bank.workspace, k_anonymity=1), expression="age >= 18",
                    signatures=SIGNATURES)
    vip_loose = next(c for c in by_tag(loose)["segment"].cells if c.value == "vip")
    assert not vip_loose.suppressed and vip_loose.base_count == 3
    assert loose.k == 1
    # A tiny audience: every non-empty cell is suppressed, and so are the means.
    tiny = profile(bank.workspace, expression="age >= 18 AND segment = 'vip'",
                   signatures=SIGNATURES, include_defining=True)
    for tag in tiny.tags:
        assert all(c.suppressed or c.audience_count == 0 for c in tag.cells), tag.tag
        assert tag.audience_mean is None


def test_profile_options_and_saved_audiences(tmp_path: Path) -> None:
    bank = build_bank(tmp_path / "ws")
    ws = bank.workspace
    save_audience(ws, "cards", "has_credit_card", signatures=SIGNATURES)
    by_name = profile(ws, "cards", signatures=SIGNATURES, top=2)
    assert by_name.audience == "cards" and len(by_name.tags) == 2
    full = profile(ws, "cards", signatures=SIGNATURES, include_defining=True, bands=10)
    assert "has_credit_card" in by_tag(full)
    assert len(by_tag(full)["aum"].cells) == 11  # ten deciles plus missing
    nobody = profile(ws, expression="age > 200", signatures=SIGNATURES)
    assert nobody.audience_size == 0
    assert all(t.score is None for t in nobody.tags)
    with pytest.raises(AudienceError, match="either an audience name or an expression"):
        profile(ws, "cards", expression="age > 1", signatures=SIGNATURES)


# -- overlap -------------------------------------------------------------------------------
AUDIENCES = {"adults": "age >= 18", "rich": "aum > 30000", "cards": "has_credit_card",
             "vip": "segment = 'vip'"}


def expected_regions(bank: Bank, names: list[str], k: int = 10
                     ) -> dict[tuple[str, ...], int | None]:
    sets = {n: selected_keys(bank, AUDIENCES[n]) for n in names}
    out: dict[tuple[str, ...], int | None] = {}
    for size in range(1, len(names) + 1):
        for members in combinations(names, size):
            inside = set.intersection(*(sets[m] for m in members))
            others = [sets[n] for n in names if n not in members]
            n = len(inside - set().union(*others))
            out[members] = None if 0 < n < k else n
    return out


@pytest.mark.parametrize("index", [False, True], ids=["scan", "index"])
def test_overlap_regions_match_python_sets(tmp_path: Path, index: bool) -> None:
    bank = build_bank(tmp_path / "ws", index=index)
    for name, expression in AUDIENCES.items():
        save_audience(bank.workspace, name, expression, signatures=SIGNATURES)
    for names in (["rich", "cards"], ["adults", "rich", "cards"], ["cards", "vip"]):
        result = overlap(bank.workspace, names, signatures=SIGNATURES)
        assert result.method == ("index" if index else "scan")
        assert {r.members: r.count for r in result.regions} == expected_regions(bank, names)
        assert all(r.suppressed == (r.count is None) for r in result.regions)
        assert result.sizes == {n: len(selected_keys(bank, AUDIENCES[n])) for n in names}
        assert len(result.regions) == 2 ** len(names) - 1
    # vip has 3 customers: its own regions are hidden at k = 10.
    assert any(r.suppressed for r in overlap(bank.workspace, ["cards", "vip"],
                                             signatures=SIGNATURES).regions)


def test_overlap_refuses_bad_requests(tmp_path: Path) -> None:
    bank = build_bank(tmp_path / "ws")
    save_audience(bank.workspace, "rich", "aum > 30000", signatures=SIGNATURES)
    for names, message in ((["rich"], "two or three"), (["rich", "rich"], "different"),
                           (["rich", "poor"], "no saved audience 'poor'"),
                           (["a", "b", "c", "d"], "two or three")):
        with pytest.raises(AudienceError, match=message):
            overlap(bank.workspace, names, signatures=SIGNATURES)
