"""The customers behind a funnel step, saved from the command line as an audience."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from finpersona.analytics import open_analytics
from finpersona.analytics.funnel import FunnelSpec, funnel_customers
from finpersona.audiences import refresh_audiences, show_audience
from finpersona.cli import app
from finpersona.config import open_workspace
from tests.conftest import Ingested

STEPS = "product_view,loan_apply_start,loan_apply_submit"


def test_drop_outs_of_a_step_become_an_audience(ingest_with: Callable[[str], Ingested],
                                                tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(ingest_with("duckdb").workspace.root, root)  # saving writes to it
    ws = open_workspace(root, create=False)
    args = ["analyze", "funnel", "--steps", STEPS, "--workspace", str(root), "--json",
            "--save-audience", "loan_dropouts", "--at-step", "2", "--outcome", "dropped_off"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    dropped = body["steps"][1]["dropped_off"]
    assert body["saved_audience"]["name"] == "loan_dropouts"
    assert "dropped off after step 2" in body["saved_audience"]["source"]

    # The list holds exactly the analysis's drop-outs; refresh counts those in the snapshot.
    with open_analytics(ws) as data:
        spec = FunnelSpec.parse(STEPS)
        keys = data.engine.to_arrow(funnel_customers(data.events(), spec, 2, "dropped_off",
                                                     offset_hours=data.offset_hours))
        snapshot = set(data.engine.to_arrow(data.tags(columns=[])).column(
            "customer_key").to_pylist())
    members = set(keys.column("customer_key").to_pylist())
    assert len(members) == dropped > 0
    [refreshed] = refresh_audiences(ws, ["loan_dropouts"])
    assert refreshed.count == len(members & snapshot)
    assert show_audience(ws, "loan_dropouts").is_list

    again = CliRunner().invoke(app, args)  # the name is taken
    assert again.exit_code == 1 and "exists" in again.output
    replaced = CliRunner().invoke(app, [*args, "--replace"])
    assert replaced.exit_code == 0, replaced.output
    bad = CliRunner().invoke(app, [*args[:-6], "--save-audience", "x", "--outcome", "maybe"])
    assert bad.exit_code == 1 and "unknown outcome" in bad.output
