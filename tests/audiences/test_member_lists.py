"""Fixed-list audiences: the customers an analysis found (e.g. a funnel's drop-outs).

They are saved from an engine table of keys and then behave like any audience:
refresh counts the members present in the snapshot, profile and overlap compare
them, export applies the same consent rules, and the export log names the source.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from finpersona.audiences import (
    AudienceError,
    export,
    overlap,
    profile,
    refresh_audiences,
    save_audience,
    save_member_audience,
    show_audience,
)
from finpersona.engine import connect

from ._bank import SIGNATURES, build_bank, reference_export

SOURCE = "funnel product_view → loan_apply_start: dropped after step 1"


def _members(keys: list[str | None]) -> ibis.Table:
    return ibis.memtable(pa.table({"customer_key": pa.array(keys, pa.string())}))


@pytest.mark.parametrize("index", [False, True])
def test_a_member_list_is_an_audience(tmp_path: Path, index: bool) -> None:
    bank = build_bank(tmp_path, index=index)
    rows = bank.rows()
    listed = [r["customer_key"] for r in rows[::7]]
    # Duplicates, nulls and keys no longer in the snapshot are not members twice or at all.
    keys = [*listed, listed[0], None, "gone-customer"]
    engine = connect(bank.workspace.settings)
    try:
        saved = save_member_audience(bank.workspace, "dropouts", _members(keys), engine,
                                     SOURCE, "loan funnel drop-outs", actor="alice")
    finally:
        engine.close()
    assert saved.is_list and saved.expression == SOURCE and saved.created_by == "alice"

    [result] = refresh_audiences(bank.workspace, ["dropouts"], signatures=SIGNATURES)
    assert result.count == len(set(listed)) and result.method == "scan"
    assert show_audience(bank.workspace, "dropouts").sizes[-1].count == len(set(listed))

    prof = profile(bank.workspace, "dropouts", signatures=SIGNATURES)
    assert prof.audience_size == len(set(listed)) and prof.base_size == len(rows)
    assert prof.expression == SOURCE

    save_audience(bank.workspace, "adults", "age >= 18", signatures=SIGNATURES)
    both = overlap(bank.workspace, ["dropouts", "adults"], signatures=SIGNATURES)
    adults = {r["customer_key"] for r in rows if r["age"] is not None and r["age"] >= 18}
    assert both.method == "scan"
    assert both.sizes == {"dropouts": len(set(listed)), "adults": len(adults)}

    out = tmp_path / "dropouts.csv"
    got = export(bank.workspace, "dropouts", "marketing", "sms", format="csv", out=out,
                 actor="alice", signatures=SIGNATURES)
    expected = reference_export(bank, set(listed), "marketing", "sms", 4)
    kept = sorted(k for k, reason in expected.items() if reason is None)
    assert pacsv.read_csv(out).column("customer_key").to_pylist() == kept
    assert got.selected == len(set(listed)) and got.expression == SOURCE


def test_a_list_needs_keys_and_a_free_name(tmp_path: Path) -> None:
    bank = build_bank(tmp_path)
    engine = connect(bank.workspace.settings)
    try:
        with pytest.raises(AudienceError, match="customer_key"):
            save_member_audience(bank.workspace, "bad", ibis.memtable({"x": [1]}), engine,
                                 SOURCE)
        save_member_audience(bank.workspace, "drop", _members(["c001"]), engine, SOURCE)
        with pytest.raises(AudienceError, match="exists"):
            save_member_audience(bank.workspace, "drop", _members(["c002"]), engine, SOURCE)
        again = save_member_audience(bank.workspace, "drop", _members(["c002", "c003"]),
                                     engine, SOURCE, replace=True)
    finally:
        engine.close()
    [result] = refresh_audiences(bank.workspace, ["drop"], signatures=SIGNATURES)
    assert again.is_list and result.count == 2
    # Redefined as an expression, it is no longer a list.
    plain = save_audience(bank.workspace, "drop", "age >= 18", signatures=SIGNATURES,
                          replace=True)
    assert not plain.is_list
