"""Association rules: itemsets counted in the engine against brute force and mlxtend."""

from __future__ import annotations

import json
import math
import warnings
from datetime import date, timedelta
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlxtend.frequent_patterns import association_rules, fpgrowth
from typer.testing import CliRunner

from finpersona.analytics.association import (
    AssociationResult,
    ItemKind,
    compute_rules,
    derive_rules,
    frequent_itemsets,
    mcc_baskets,
    min_count_for,
    mine_rules,
    product_baskets,
)
from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import open_analytics
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics.conftest import examples_for
from tests.analytics.reference_patterns import (
    AS_OF,
    ref_itemsets,
    ref_mcc_baskets,
    ref_product_baskets,
    ref_rules,
    transactions,
    warehouse_rows,
)
from tests.conftest import FIRST_AS_OF, Ingested

# py4j leaves its sockets to the garbage collector on Spark: not ours to close.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

Baskets = dict[str, set[str]]
ITEMS = ("a", "b", "c", "d", "e", "f", "é", "B")  # upper case and accents: string order


def basket_table(baskets: Baskets, extra: list[tuple[str | None, str | None]] = ()) -> Any:
    pairs = [(k, i) for k, items in baskets.items() for i in items] + list(extra)
    return ibis.memtable(pa.table({"customer_key": pa.array([p[0] for p in pairs], pa.string()),
                                   "item": pa.array([p[1] for p in pairs], pa.string())}))


def mlxtend_reference(baskets: Baskets, min_count: int, max_len: int,
                      min_confidence: float) -> tuple[dict[tuple[str, ...], int], pd.DataFrame]:
    """FP-growth itemsets (as counts) and association_rules from mlxtend."""
    n = len(baskets)
    items = sorted({i for b in baskets.values() for i in b})
    onehot = pd.DataFrame([[i in b for i in items] for b in baskets.values()], columns=items)
    # mlxtend's threshold is ceil(min_support x n); half a basket below min_count hits it.
    found = fpgrowth(onehot, min_support=(min_count - 0.5) / n, use_colnames=True,
                     max_len=max_len)
    counts = {tuple(sorted(s)): round(sup * n) for s, sup in
              zip(found["itemsets"], found["support"], strict=True)}
    with warnings.catch_warnings():  # mlxtend divides by zero for some metrics we ignore
        warnings.simplefilter("ignore")
        rules = (association_rules(found, num_itemsets=n, metric="confidence",
                                   min_threshold=min_confidence)
                 if any(len(s) > 1 for s in counts) else pd.DataFrame())
    return counts, rules


def check(engine: Engine, baskets: Baskets, min_count: int, max_len: int,
          min_confidence: float, min_lift: float = 0.0) -> AssociationResult:
    n = len(baskets)
    result = mine_rules(engine, basket_table(baskets), min_support=min_count / n,
                        min_confidence=min_confidence, min_lift=min_lift, max_len=max_len,
                        top=None)
    assert (result.baskets, result.min_count) == (n, min_count)
    got = {s.items: s.count for s in result.itemsets}
    expected = ref_itemsets(baskets, min_count, max_len)
    assert got == expected
    for s in result.itemsets:
        assert s.support == s.count / n
    rules = {(r.antecedent, r.consequent): r for r in result.rules}
    want = ref_rules(expected, n, min_confidence, min_lift)
    assert set(rules) == set(want)
    for key, r in rules.items():
        assert r.count == want[key]["count"]
        assert r.confidence == pytest.approx(want[key]["confidence"])
        assert r.lift == pytest.approx(want[key]["lift"])
    assert list(result.rules) == sorted(result.rules, key=lambda r: r.rank_key())
    json.dumps(result.to_dict())
    return result


def check_mlxtend(result: AssociationResult, baskets: Baskets, max_len: int,
                  min_confidence: float) -> None:
    counts, rules = mlxtend_reference(baskets, result.min_count, max_len, min_confidence)
    assert {s.items: s.count for s in result.itemsets} == counts
    mine = {(r.antecedent, r.consequent): r for r in result.rules}
    theirs = {(tuple(sorted(a)), tuple(sorted(c))): row for a, c, row in zip(
        rules.get("antecedents", []), rules.get("consequents", []),
        rules.to_dict("records"), strict=True)}
    assert set(mine) == set(theirs)
    for key, row in theirs.items():
        r = mine[key]
        for name, value in (("support", r.support), ("confidence", r.confidence),
                            ("lift", r.lift), ("leverage", r.leverage),
                            ("antecedent support", r.antecedent_support),
                            ("consequent support", r.consequent_support)):
            assert value == pytest.approx(row[name], abs=1e-12), name
        if r.conviction is None:
            assert math.isinf(row["conviction"])
        else:
            assert r.conviction == pytest.approx(row["conviction"])


basket_lists = st.dictionaries(
    st.text(alphabet="uvwxyz", min_size=1, max_size=3),
    st.sets(st.sampled_from(ITEMS), min_size=1, max_size=6), min_size=1, max_size=25)
# Confidences that are no ratio of small counts: the float rounding of mlxtend and of
# this code cannot put a rule on different sides of the threshold.
CONFIDENCES = st.sampled_from([0.0, 0.1234567, 0.3333337, 0.5000001, 0.7777777])


def test_itemsets_and_rules_match_brute_force_and_mlxtend(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(baskets=basket_lists, share=st.floats(0.01, 0.6), max_len=st.integers(1, 4),
           min_confidence=CONFIDENCES)
    def run(baskets: Baskets, share: float, max_len: int, min_confidence: float) -> None:
        min_count = max(1, round(share * len(baskets)))
        result = check(engine, baskets, min_count, max_len, min_confidence)
        check_mlxtend(result, baskets, max_len, min_confidence)

    run()


def test_lift_filter_top_and_recommendations(engine: Engine) -> None:
    baskets = {"u1": {"card", "fund"}, "u2": {"card", "fund"}, "u3": {"card", "loan"},
               "u4": {"fund"}, "u5": {"card", "fund", "loan"}, "u6": {"loan"}}
    result = check(engine, baskets, 2, 3, 0.0, min_lift=1.0)
    assert all(r.lift >= 1 for r in result.rules)
    best = result.rules[0]
    assert result.recommend(best.antecedent)[0] == best
    assert all(not set(r.consequent) & {"card", "fund"}
               for r in result.recommend({"card", "fund"}))
    short = mine_rules(engine, basket_table(baskets), min_support=2 / 6, min_confidence=0.0,
                       min_lift=0.0, top=2)
    assert len(short.rules) == 2 and short.rules_found > 2


def test_null_keys_items_and_repeated_pairs_are_ignored(engine: Engine) -> None:
    baskets = {"u1": {"a", "b"}, "u2": {"a", "b"}, "u3": {"a"}}
    noise = [(None, "a"), ("u4", None), ("u1", "a"), ("u1", "b")]
    result = mine_rules(engine, basket_table(baskets, noise), min_support=0.5,
                        min_confidence=0.0, min_lift=0.0, top=None)
    assert result.baskets == 3
    assert {s.items: s.count for s in result.itemsets} == {("a",): 3, ("b",): 2,
                                                           ("a", "b"): 2}


def test_empty_baskets_and_a_single_basket(engine: Engine) -> None:
    empty = mine_rules(engine, basket_table({}), min_support=0.1)
    assert (empty.baskets, empty.itemsets, empty.rules) == (0, (), ())
    one = check(engine, {"u": {"a", "b", "c"}}, 1, 3, 0.0)
    assert len(one.itemsets) == 7
    assert all(r.confidence == 1 and r.conviction is None for r in one.rules)


def test_min_count_is_the_exact_ceiling() -> None:
    assert min_count_for(0.1, 30) == 3  # 0.1 x 30 is 3.0000000000000004 in floats
    assert min_count_for(0.01, 2989) == 30
    assert min_count_for(1.0, 7) == 7
    assert min_count_for(0.001, 10) == 1
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(AnalysisError):
            min_count_for(bad, 10)


def test_bad_parameters_are_refused(engine: Engine) -> None:
    table = basket_table({"u": {"a"}})
    with pytest.raises(AnalysisError, match="1 to 4"):
        frequent_itemsets(table, 1, 5)
    with pytest.raises(AnalysisError, match="confidence"):
        derive_rules([], 1, min_confidence=1.5)
    with pytest.raises(AnalysisError, match="lift"):
        derive_rules([], 1, min_lift=-1)
    with pytest.raises(AnalysisError, match="--top"):
        mine_rules(engine, table, top=0)
    with pytest.raises(AnalysisError, match="unknown items"):
        ItemKind.parse("merchants")


# -- baskets from warehouse tables ------------------------------------------------------------

ACCOUNT_DATES = st.one_of(st.none(), st.builds(lambda d: AS_OF + timedelta(days=d),
                                               st.integers(-5, 5)))


@st.composite
def accounts(draw: st.DrawFn) -> list[dict[str, Any]]:
    row = st.fixed_dictionaries({
        "customer_key": st.one_of(st.sampled_from(["c1", "c2", "c3"]), st.none()),
        "product_id": st.one_of(st.sampled_from(["P1", "P2", "P3", "P9"]), st.none()),
        "opened_date": st.builds(lambda d: AS_OF + timedelta(days=d), st.integers(-5, 2)),
        "closed_date": ACCOUNT_DATES,
        "status": st.sampled_from(["active", "dormant", "closed"]),
    })
    return draw(st.lists(row, max_size=15))


PRODUCTS = [{"product_id": "P1", "product_type": "fund"},
            {"product_id": "P2", "product_type": "credit_card"},
            {"product_id": "P2", "product_type": "fund"},  # a repeated id: the smallest type wins
            {"product_id": "P3", "product_type": "fund"}]


def _table_baskets(engine: Engine, table: Any) -> Baskets:
    out: Baskets = {}
    for r in engine.to_arrow(table).to_pylist():
        out.setdefault(r["customer_key"], set()).add(r["item"])
    return out


def test_baskets_match_the_brute_force(engine: Engine) -> None:
    # Only the columns baskets read: Ibis cannot register a null decimal column on Spark.
    products = ibis.memtable(warehouse_rows("products", PRODUCTS).select(
        ["product_id", "product_type"]))

    @settings(max_examples=examples_for(engine, duckdb=30, spark=3), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=accounts(), as_of=st.one_of(st.none(), st.just(AS_OF)), by_id=st.booleans(),
           txns=transactions(), days=st.integers(1, 30), offset=st.sampled_from([8.0, 0.0]))
    def run(rows: list[dict[str, Any]], as_of: date | None, by_id: bool,
            txns: list[dict[str, Any]], days: int, offset: float) -> None:
        table = ibis.memtable(warehouse_rows("accounts", rows))
        got = _table_baskets(engine, product_baskets(table, products, as_of=as_of,
                                                     by_id=by_id))
        assert got == ref_product_baskets(rows, PRODUCTS, as_of, by_id)
        t = ibis.memtable(warehouse_rows("transactions", txns))
        got = _table_baskets(engine, mcc_baskets(t, as_of=AS_OF, days=days,
                                                 offset_hours=offset))
        assert got == ref_mcc_baskets(txns, AS_OF, days, offset)

    run()


def test_product_types_need_the_products_table(engine: Engine) -> None:
    table = ibis.memtable(warehouse_rows("accounts", []))
    with pytest.raises(AnalysisError, match="products table"):
        product_baskets(table, None, as_of=None)
    with pytest.raises(AnalysisError, match="at least one day"):
        mcc_baskets(ibis.memtable(warehouse_rows("transactions", [])), as_of=AS_OF, days=0,
                    offset_hours=8.0)


# -- the synthetic bank --------------------------------------------------------------------------

def _warehouse_rows(data: Any, name: str) -> list[dict[str, Any]]:
    return list(data.engine.to_arrow(data.table(name)).to_pylist())


@pytest.mark.parametrize("items", list(ItemKind))
def test_the_synthetic_bank_against_mlxtend(ingested: Ingested, items: ItemKind) -> None:
    with open_analytics(ingested.workspace) as data:
        result = compute_rules(data, items=items, min_support=0.02, min_confidence=0.3000001,
                               min_lift=0.0, top=None)
        if items is ItemKind.MCC:
            baskets = ref_mcc_baskets(_warehouse_rows(data, "transactions"), FIRST_AS_OF, 365,
                                      data.offset_hours)
        else:
            baskets = ref_product_baskets(_warehouse_rows(data, "accounts"),
                                          _warehouse_rows(data, "products"), FIRST_AS_OF,
                                          items is ItemKind.PRODUCT_IDS)
    assert result.as_of == FIRST_AS_OF and result.baskets == len(baskets) > 500
    assert any(len(s.items) == 3 for s in result.itemsets) and result.rules
    check_mlxtend(result, baskets, 3, 0.3000001)


def test_cli_json(ingested: Ingested) -> None:
    if ingested.engine != "duckdb":
        pytest.skip("the command line is engine-independent; DuckDB is enough")
    runner = CliRunner()
    ws = str(ingested.workspace.root)
    result = runner.invoke(app, ["analyze", "rules", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["items"] == "products" and doc["min_support"] == 0.01
    assert 0 < len(doc["rules"]) <= 20 and doc["rules_found"] >= len(doc["rules"])
    lifts = [r["lift"] for r in doc["rules"]]
    assert lifts == sorted(lifts, reverse=True) and min(lifts) >= 1
    mcc = runner.invoke(app, ["analyze", "rules", "-w", ws, "--json", "--items", "mcc",
                              "--min-support", "0.05", "--min-confidence", "0.4", "--top", "5",
                              "--window", "90d", "--as-of", "2025-10-31"])
    assert mcc.exit_code == 0, mcc.output
    doc = json.loads(mcc.stdout)
    assert (doc["window_days"], doc["as_of"]) == (90, "2025-10-31")
    assert all(r["confidence"] >= 0.4 for r in doc["rules"]) and len(doc["rules"]) <= 5
    text = runner.invoke(app, ["analyze", "rules", "-w", ws])
    assert text.exit_code == 0 and "baskets" in text.output
    for bad in (["--items", "merchants"], ["--min-support", "0"], ["--max-len", "9"],
                ["--window", "30d"], ["--top", "0"]):
        failed = runner.invoke(app, ["analyze", "rules", "-w", ws, *bad])
        assert failed.exit_code == 1, bad
        assert "Traceback" not in failed.output
