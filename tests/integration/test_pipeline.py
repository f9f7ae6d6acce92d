"""End to end on the synthetic bank, on every engine, checked against the hidden truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd
import pytest

from finpersona.build import BuildError, build
from finpersona.privacy import load_or_create_secrets, pseudonym
from finpersona.schema import Pii
from finpersona.synth import SynthSummary
from tests.conftest import FIRST_AS_OF, Ingested

from .helpers import catalog, quarantined_locations, read_snapshot, read_table, truth

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark


def test_every_row_is_accounted_for(ingested: Ingested, bank: SynthSummary) -> None:
    for name, counts in ingested.report.tables.items():
        assert counts.read == counts.accepted + counts.quarantined + counts.duplicates, name
        written = bank.rows[name]
        assert counts.read == written, f"{name}: read {counts.read}, written {written}"
    assert set(ingested.report.tables) == set(bank.rows)


def test_quarantine_matches_planted_invalid_rows(ingested: Ingested, bank: SynthSummary) -> None:
    corruptions = truth(bank.truth_dir, "corruptions")
    planted = {(r.table, r.file, int(r.line)) for r in corruptions.itertuples()
               if r.family == "invalid"}
    got = quarantined_locations(ingested.workspace)
    hits = planted & set(got)
    assert len(planted) > 300  # the test is meaningless without enough planted rows
    precision, recall = len(hits) / len(got), len(hits) / len(planted)
    assert precision >= 0.99, sorted(set(got) - planted)[:10]
    assert recall >= 0.99, sorted(planted - set(got))[:10]


def test_planted_duplicates_are_counted_not_loaded(ingested: Ingested, bank: SynthSummary) -> None:
    corruptions = truth(bank.truth_dir, "corruptions")
    planted = corruptions[corruptions.family == "duplicate"].groupby("table").size()
    for name, expected in planted.items():
        assert ingested.report.tables[name].duplicates == expected, name
    for name, counts in ingested.report.tables.items():
        table = read_table(ingested.workspace, name)
        assert table.num_rows == counts.accepted


def test_identity_stitching_against_truth(ingested: Ingested, bank: SynthSummary) -> None:
    from finpersona.engine import connect
    from finpersona.ingest.identity import resolved_events
    from finpersona.warehouse import Warehouse

    ws = ingested.workspace
    key = load_or_create_secrets(ws.secrets_dir).pseudonym_key
    with connect(ws.settings) as engine:
        events = engine.to_arrow(resolved_events(engine, Warehouse(ws.warehouse_dir)).select(
            "event_id", "customer_key", "resolved_customer_key", "anonymous_key",
            "session_id")).to_pandas()
    ids = truth(bank.truth_dir, "identity")
    ids["true_key"] = ids.true_customer_id.map(
        lambda v: None if v is None or pd.isna(v) else pseudonym(v, Pii.CUSTOMER_REF, key))
    merged = events.merge(ids, on="event_id", how="inner")
    assert len(merged) == len(events)
    anonymous = merged[merged.customer_key.isna()]  # what stitching had to attribute
    attributed = anonymous[anonymous.resolved_customer_key.notna()]
    correct = attributed[attributed.resolved_customer_key == attributed.true_key]
    # Linkable: the true customer logged in on the same device or in the same session.
    # Events on a device that never saw a login carry no evidence anyone could use.
    logins = merged[merged.customer_key.notna()]
    seen_pairs = set(zip(logins.anonymous_key, logins.customer_key, strict=True))
    seen_sessions = set(zip(logins.session_id, logins.customer_key, strict=True))
    has_evidence = pd.Series([
        (a, t) in seen_pairs or (s, t) in seen_sessions
        for a, s, t in zip(anonymous.anonymous_key, anonymous.session_id, anonymous.true_key,
                           strict=True)], index=anonymous.index)
    linkable = anonymous[anonymous.true_key.notna() & has_evidence]
    assert len(linkable) > 1000
    precision = len(correct) / len(attributed)
    recall = len(correct[correct.index.isin(linkable.index)]) / len(linkable)
    assert precision >= 0.99, precision
    assert recall >= 0.95, recall
    junk = merged[merged.anonymous_id.isin(["0", "-1", "anonymous", "null"])]
    assert len(junk) > 0
    assert junk.anonymous_key.isna().all()  # junk device ids never link anybody


def _raw_identifiers(bank: SynthSummary) -> set[bytes]:
    """Every personal identifier in the source files, as the bytes they would be stored as."""
    values: set[str] = set()
    customers = truth(bank.truth_dir, "customers")
    values |= set(customers.customer_id)
    for path in sorted(bank.source_dir.glob("customers_*.csv")):
        encoding = "gb18030" if "branch" in path.name else "utf-8-sig"
        frame = pd.read_csv(path, dtype=str, encoding=encoding, on_bad_lines="skip")
        for col in ("name", "phone", "id_number", "email"):
            values |= {v.strip() for v in frame[col].dropna()}
    for path in sorted(bank.source_dir.glob("accounts_*.csv")):
        frame = pd.read_csv(path, dtype=str, on_bad_lines="skip")
        values |= {v.strip() for v in frame["card_number"].dropna()}
    ids = truth(bank.truth_dir, "identity")
    values |= set(ids.anonymous_id[ids.device_kind != "junk"].dropna())
    return {v.encode("utf-8") for v in values if len(v.encode("utf-8")) >= 6}


def test_no_raw_identifier_reaches_the_warehouse(ingested: Ingested, bank: SynthSummary) -> None:
    raw = _raw_identifiers(bank)
    assert len(raw) > 2000
    scanned = 0
    for path in sorted(ingested.workspace.warehouse_dir.rglob("*")):
        if not path.is_file():
            continue
        blob = path.read_bytes()
        scanned += len(blob)
        found = [v for v in raw if v in blob]
        assert not found, f"{path} holds raw identifiers such as {found[:3]}"
    assert scanned > 1_000_000


def test_reingesting_the_same_files_adds_nothing(
    engine_name: str, bank: SynthSummary, tmp_path_factory: pytest.TempPathFactory,
    shared_secrets: object,
) -> None:
    from finpersona.ingest import ingest_directory
    from tests.conftest import make_workspace

    src = tmp_path_factory.mktemp("subset")
    for name in ("customers_part0000.csv", "transactions_part0000.csv"):
        (src / name).write_bytes((bank.source_dir / name).read_bytes())
    ws = make_workspace(tmp_path_factory.mktemp(f"re-{engine_name}"), engine_name)
    first = ingest_directory(ws, src)
    again = ingest_directory(ws, src)
    for name, counts in again.tables.items():
        assert counts.accepted == 0 and counts.quarantined == 0, name
        assert counts.duplicates == counts.read == first.tables[name].read, name
    # A new delivery that overlaps the old one: only its new rows are accepted.
    old_lines = (src / "transactions_part0000.csv").read_text(encoding="utf-8").splitlines()
    header, body = old_lines[0], old_lines[1:]
    fresh = [line.replace("TX", "TY", 1) for line in body[:50] if line.startswith("TX")]
    (src / "transactions_overlap.csv").write_text(
        "\n".join([header, *body[:200], *fresh]) + "\n", encoding="utf-8")
    third = ingest_directory(ws, src)
    txn = third.tables["transactions"]
    assert txn.accepted == len(fresh)
    assert txn.read == txn.accepted + txn.quarantined + txn.duplicates


def _reference_daily_summary(ingested: Ingested, as_of: date) -> pd.DataFrame:
    """Plain pandas over the warehouse tables, with its own identity resolution."""
    ws = ingested.workspace
    txn = read_table(ws, "transactions").to_pandas()
    txn["day"] = (txn.txn_time + timedelta(hours=8)).dt.date
    txn = txn[(txn.day <= as_of) & (txn.status.isna() | (txn.status == "success"))]
    txn_daily = txn.groupby(["customer_key", "day"]).agg(
        txn_count=("txn_id", "size"),
        txn_amount_cny=("amount", lambda s: sum(s[txn.loc[s.index, "currency"] == "CNY"]))
    )
    ev = read_table(ws, "events").to_pandas()
    linked = ev[ev.anonymous_key.notna() & ev.customer_key.notna()]
    per_device = linked.groupby("anonymous_key").customer_key.agg(["nunique", "min"])
    single = per_device[per_device["nunique"] == 1]["min"]
    blocked = set(per_device[per_device["nunique"] > ws.settings.max_customers_per_device].index)
    logged = ev[ev.customer_key.notna() & ev.session_id.notna()]
    per_session = logged.groupby("session_id").customer_key.agg(["nunique", "min"])
    session_owner = per_session[per_session["nunique"] == 1]["min"]

    def owner(row: pd.Series) -> object:
        if pd.notna(row.customer_key):
            return row.customer_key
        if row.anonymous_key not in blocked and row.session_id in session_owner.index:
            return session_owner[row.session_id]
        return single.get(row.anonymous_key)

    ev["who"] = ev.apply(owner, axis=1)
    ev = ev[ev.who.notna()]
    ev["day"] = (ev.event_time + timedelta(hours=8)).dt.date
    ev = ev[ev.day <= as_of]
    ev_daily = ev.groupby(["who", "day"]).agg(event_count=("event_id", "size"),
                                               session_count=("session_id", "nunique"))
    ev_daily.index = ev_daily.index.set_names(["customer_key", "day"])
    out = txn_daily.join(ev_daily, how="outer").fillna(0)
    return out.reset_index()


def test_daily_summary_matches_a_brute_force_reference(ingested: Ingested) -> None:
    got = read_snapshot(ingested.workspace, "daily_summary", FIRST_AS_OF.isoformat()).to_pandas()
    ref = _reference_daily_summary(ingested, FIRST_AS_OF)
    assert len(got) == len(ref)
    merged = got.merge(ref, on=["customer_key", "day"], suffixes=("", "_ref"))
    assert len(merged) == len(ref)
    for col in ("txn_count", "event_count", "session_count"):
        assert (merged[col].astype(int) == merged[f"{col}_ref"].astype(int)).all(), col
    diff = (merged.txn_amount_cny.astype(float) - merged.txn_amount_cny_ref.astype(float)).abs()
    assert diff.max() < 1e-6
    assert (got.day <= FIRST_AS_OF).all()


def test_failed_build_leaves_the_previous_snapshot(ingested: Ingested) -> None:
    ws = ingested.workspace
    before = (ws.warehouse_dir / "catalog.json").read_bytes()
    dirs_before = set((ws.warehouse_dir / "snapshots").rglob("*"))
    with pytest.raises(BuildError, match="injected"):
        build(ws, FIRST_AS_OF - timedelta(days=30), fail_after="daily_summary")
    assert (ws.warehouse_dir / "catalog.json").read_bytes() == before
    assert set((ws.warehouse_dir / "snapshots").rglob("*")) == dirs_before
    still = read_snapshot(ws, "daily_summary", FIRST_AS_OF.isoformat())
    assert still.num_rows == ingested.built.tables["daily_summary"]


def test_failed_ingest_publishes_nothing(ingested: Ingested, bank: SynthSummary) -> None:
    from finpersona.ingest import ingest_directory

    ws = ingested.workspace
    before = (ws.warehouse_dir / "catalog.json").read_bytes()
    src = bank.source_dir.parent / f"one-file-{ingested.engine}"
    src.mkdir(exist_ok=True)
    (src / "products.csv").write_bytes((bank.source_dir / "products.csv").read_bytes())
    with pytest.raises(RuntimeError, match="injected"):
        ingest_directory(ws, src, fail_before_publish=True)
    assert (ws.warehouse_dir / "catalog.json").read_bytes() == before
    assert "daily_summary" in catalog(ws)["snapshots"]


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_engines_produce_identical_tables(ingest_with: Callable[[str], Ingested]) -> None:
    from .helpers import canonical

    duck, spark = ingest_with("duckdb"), ingest_with("spark")
    for name, counts in duck.report.tables.items():
        other = spark.report.tables[name]
        assert (counts.read, counts.accepted, counts.quarantined, counts.duplicates) == (
            other.read, other.accepted, other.quarantined, other.duplicates), name
        assert counts.quarantined_by_reason == other.quarantined_by_reason, name
        left = canonical(read_table(duck.workspace, name))
        right = canonical(read_table(spark.workspace, name))
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=name)
    for name in ("identity_devices", "identity_sessions"):
        pd.testing.assert_frame_equal(canonical(read_table(duck.workspace, name)),
                                      canonical(read_table(spark.workspace, name)), obj=name)
    day = FIRST_AS_OF.isoformat()
    pd.testing.assert_frame_equal(
        canonical(read_snapshot(duck.workspace, "daily_summary", day)),
        canonical(read_snapshot(spark.workspace, "daily_summary", day)), check_dtype=False)
