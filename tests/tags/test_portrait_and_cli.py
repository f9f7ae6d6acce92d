"""The 360° portrait and the ``tags`` / ``customer`` commands on the synthetic bank."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from finpersona.cli import app
from finpersona.engine import connect
from finpersona.portrait import CustomerNotFoundError, build_portrait
from finpersona.synth import SynthSummary
from finpersona.tags.catalogue import load_catalogue
from tests.conftest import FIRST_AS_OF, Ingested
from tests.integration.helpers import read_snapshot, truth

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _some_customer(ingested: Ingested) -> str:
    snap = read_snapshot(ingested.workspace, "tag_snapshot", FIRST_AS_OF.isoformat())
    frame = snap.to_pandas().sort_values("customer_key")
    # Keys are keyed pseudonyms, new with every test session's secrets: choose by what
    # the portrait is asked to show (transactions and app sessions), not by luck.
    active = frame[(frame.txn_count_90d > 0) & (frame.sessions_90d > 0)]
    return str(active.customer_key.iloc[0])


def test_portrait_groups_every_tag_and_masks_identity(ingested: Ingested,
                                                       bank: SynthSummary) -> None:
    ws = ingested.workspace
    key = _some_customer(ingested)
    catalogue = load_catalogue()
    with connect(ws.settings) as engine:
        p = build_portrait(ws, engine, catalogue, key)
    assert p.as_of == FIRST_AS_OF.isoformat() and p.looked_up_by == "customer_key"
    shown = {v.name for values in p.categories.values() for v in values}
    assert shown == {t.name for t in catalogue.snapshot_tags()}
    snap = read_snapshot(ws, "tag_snapshot", FIRST_AS_OF.isoformat()).to_pandas()
    row = snap[snap.customer_key == key].iloc[0]
    values = {v.name: v.value for vs in p.categories.values() for v in vs}
    assert values["txn_count_90d"] == row.txn_count_90d
    assert {"transaction", "session"} <= {i.kind for i in p.timeline}
    assert all(a.at >= b.at for a, b in zip(p.timeline, p.timeline[1:], strict=False))
    text = json.dumps(p.to_json(), ensure_ascii=False)
    customers = truth(bank.truth_dir, "customers")
    raw = customers[customers.columns.intersection(["name", "phone", "id_number", "email"])]
    leaked = [v for col in raw.columns for v in raw[col].dropna() if str(v) in text]
    assert not leaked
    assert "*" in str(p.personal.get("phone_masked"))


def test_portrait_looks_up_raw_identifiers_through_their_pseudonym(
        ingested: Ingested, bank: SynthSummary) -> None:
    ws = ingested.workspace
    snap = read_snapshot(ws, "tag_snapshot", FIRST_AS_OF.isoformat()).to_pandas()
    first = sorted(bank.source_dir.glob("customers_part*.csv"))[0]
    customers = pd.read_csv(first, dtype=str, encoding="utf-8-sig", on_bad_lines="skip")
    catalogue = load_catalogue()
    matched = 0
    with connect(ws.settings) as engine:
        for row in customers.head(30).itertuples():
            for given, label in ((row.customer_id, "customer_id"), (row.phone, "phone")):
                try:
                    p = build_portrait(ws, engine, catalogue, str(given), recent=1)
                except CustomerNotFoundError:
                    continue  # quarantined or ambiguous rows: not every source row got in
                assert p.looked_up_by == label
                assert p.customer_key in set(snap.customer_key)
                matched += 1
        with pytest.raises(CustomerNotFoundError):
            build_portrait(ws, engine, catalogue, "nobody-at-all")
    assert matched >= 40


def test_tags_commands(ingested: Ingested) -> None:
    if ingested.engine != "duckdb":
        pytest.skip("the commands are engine-independent; the engine path is covered above")
    ws = str(ingested.workspace.root)
    listed = json.loads(invoke("tags", "list", "--json", "-w", ws).stdout)
    assert len(listed["tags"]) >= 90
    shown = json.loads(invoke("tags", "show", "txn_amount_sum_90d", "--json", "-w", ws).stdout)
    assert shown["definition"]["source"] == "transactions" and shown["title_zh"]
    stats = json.loads(invoke("tags", "stats", "city_tier", "--json", "-w", ws).stdout)
    assert stats["customers"] > 500 and stats["as_of"] == FIRST_AS_OF.isoformat()
    snap = read_snapshot(ingested.workspace, "tag_snapshot", FIRST_AS_OF.isoformat()).to_pandas()
    assert stats["null_share"] == pytest.approx(snap.city_tier.isna().mean())
    hist = sum(h["customers"] for h in stats["histogram"])
    assert hist == snap.city_tier.notna().sum()
    bad = invoke("tags", "show", "txn_amount_sum_90", "-w", ws)
    assert bad.exit_code == 1 and "txn_amount_sum_90d" in bad.output
    key = _some_customer(ingested)
    portrait = json.loads(invoke("customer", "show", key, "--json", "-w", ws).stdout)
    assert portrait["customer_key"] == key and portrait["categories"]
    human = invoke("customer", "show", key, "-w", ws)
    assert human.exit_code == 0 and "recent activity" in human.stdout
    missing = invoke("customer", "show", "no-such-customer", "-w", ws)
    assert missing.exit_code == 1 and "no customer matches" in missing.output


def test_tags_doc_is_generated_from_the_catalogue() -> None:
    from finpersona.tags.docs import DOC_PATH, render

    assert DOC_PATH.read_text(encoding="utf-8") == render(load_catalogue()), (
        "docs/tags.md is stale: run python -m finpersona.tags.docs")


