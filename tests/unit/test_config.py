"""Workspace settings: the file, environment overrides, validation and workspace lookup."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from finpersona.cli import app
from finpersona.config import (
    DEFAULT_WORKSPACE,
    ENV_PREFIX,
    SETTINGS_FILE,
    ConfigError,
    Settings,
    open_workspace,
    resolve_workspace_path,
)


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_settings(root: Path, text: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / SETTINGS_FILE).write_text(text, encoding="utf-8")


# -- creation -------------------------------------------------------------------------


def test_creating_a_workspace_writes_default_settings(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "a" / "ws")
    assert ws.root == (tmp_path / "a" / "ws").resolve()
    path = ws.root / SETTINGS_FILE
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#")  # a comment saying how to override
    assert yaml.safe_load(text) == Settings().model_dump()
    assert ws.settings == Settings()
    assert (ws.warehouse_dir, ws.secrets_dir, ws.runs_dir) == (
        ws.root / "warehouse", ws.root / "secrets", ws.root / "runs")


def test_reopening_reads_the_file_and_does_not_rewrite_it(tmp_path: Path) -> None:
    write_settings(tmp_path / "ws", "engine: spark\ntimezone: UTC\nmax_customers_per_device: 5\n")
    ws = open_workspace(tmp_path / "ws")
    assert (ws.settings.engine, ws.settings.timezone, ws.settings.max_customers_per_device) == (
        "spark", "UTC", 5)
    assert (tmp_path / "ws" / SETTINGS_FILE).read_text(encoding="utf-8").startswith("engine")


def test_empty_settings_file_means_defaults(tmp_path: Path) -> None:
    write_settings(tmp_path / "ws", "")
    assert open_workspace(tmp_path / "ws").settings == Settings()


def test_missing_workspace_is_not_created_when_asked_not_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no workspace at"):
        open_workspace(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


# -- environment overrides ------------------------------------------------------------


def test_engine_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_settings(tmp_path / "ws", "engine: duckdb\n")
    monkeypatch.setenv("FINPERSONA_ENGINE", "spark")
    assert open_workspace(tmp_path / "ws").settings.engine == "spark"
    monkeypatch.setenv("FINPERSONA_ENGINE", "duckdb")
    write_settings(tmp_path / "ws", "engine: spark\n")
    assert open_workspace(tmp_path / "ws").settings.engine == "duckdb"


def test_environment_override_is_not_written_to_a_new_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPERSONA_ENGINE", "spark")
    ws = open_workspace(tmp_path / "ws")
    assert ws.settings.engine == "spark"
    assert yaml.safe_load((ws.root / SETTINGS_FILE).read_text(encoding="utf-8"))[
        "engine"] == "duckdb"


def test_numeric_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPERSONA_MAX_CUSTOMERS_PER_DEVICE", "7")
    monkeypatch.setenv("FINPERSONA_SPARK_CONF", "ignored")  # a mapping cannot come from env
    settings = open_workspace(tmp_path / "ws").settings
    assert settings.max_customers_per_device == 7
    assert settings.spark_conf == {}


@pytest.mark.parametrize(("env", "value", "key"), [
    ("FINPERSONA_ENGINE", "oracle", "engine"),
    ("FINPERSONA_TIMEZONE", "Mars/Olympus", "timezone"),
    ("FINPERSONA_MAX_CUSTOMERS_PER_DEVICE", "0", "max_customers_per_device"),
    ("FINPERSONA_PARQUET_COMPRESSION", "lz4", "parquet_compression"),
])
def test_invalid_environment_override_names_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=rf"invalid settings .*\b{key}: "):
        open_workspace(tmp_path / "ws")


# -- invalid files --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key", "detail"), [
    ("engine: duckdb\ncolour: blue\n", "colour", "Extra inputs are not permitted"),
    ("timezone: Mars/Olympus\n", "timezone", "unknown time zone 'Mars/Olympus'"),
    ("timezone: ''\n", "timezone", "unknown time zone"),
    ("timezone: 8\n", "timezone", "string"),
    ("engine: oracle\n", "engine", "'duckdb' or 'spark'"),
    ("spark_conf: {a: [1]}\n", "spark_conf.a", "string"),
])
def test_invalid_settings_name_the_key(tmp_path: Path, text: str, key: str, detail: str) -> None:
    write_settings(tmp_path / "ws", text)
    with pytest.raises(ConfigError) as info:
        open_workspace(tmp_path / "ws")
    message = str(info.value)
    assert str(tmp_path / "ws" / SETTINGS_FILE) in message
    assert f"{key}: " in message
    assert detail in message


@pytest.mark.parametrize(("text", "detail"), [
    ("engine: [unclosed\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    ("just text\n", "expected a mapping"),
])
def test_malformed_settings_files(tmp_path: Path, text: str, detail: str) -> None:
    write_settings(tmp_path / "ws", text)
    with pytest.raises(ConfigError, match=detail):
        open_workspace(tmp_path / "ws")


def test_with_engine(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    assert ws.with_engine(None) is ws
    assert ws.with_engine("duckdb") is ws
    spark = ws.with_engine("spark")
    assert (spark.settings.engine, spark.root) == ("spark", ws.root)
    assert ws.settings.engine == "duckdb"  # settings are frozen, not changed in place
    with pytest.raises(ConfigError, match="invalid engine 'oracle'"):
        ws.with_engine("oracle")


# -- which workspace ------------------------------------------------------------------


def test_workspace_option_beats_environment_beats_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_workspace_path(None) == DEFAULT_WORKSPACE
    monkeypatch.setenv("FINPERSONA_WORKSPACE", str(tmp_path / "from-env"))
    assert resolve_workspace_path(None) == tmp_path / "from-env"
    assert resolve_workspace_path(tmp_path / "from-option") == tmp_path / "from-option"
    monkeypatch.setenv("FINPERSONA_WORKSPACE", "")
    assert resolve_workspace_path(None) == DEFAULT_WORKSPACE


def test_cli_workspace_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    for name in ("default", "env", "option"):
        open_workspace(tmp_path / name if name != "default" else tmp_path / DEFAULT_WORKSPACE)

    def status_root(*args: str) -> str:
        result = runner.invoke(app, ["status", "--json", *args])
        assert result.exit_code == 0, result.output
        return str(json.loads(result.stdout)["workspace"])

    assert status_root() == str((tmp_path / DEFAULT_WORKSPACE).resolve())
    monkeypatch.setenv("FINPERSONA_WORKSPACE", str(tmp_path / "env"))
    assert status_root() == str((tmp_path / "env").resolve())
    assert status_root("--workspace", str(tmp_path / "option")) == str(
        (tmp_path / "option").resolve())
    assert status_root("-w", str(tmp_path / "option")) == str((tmp_path / "option").resolve())


def test_every_setting_is_documented_in_the_user_guide() -> None:
    from finpersona.config import Settings

    guide = (Path(__file__).resolve().parents[2] / "docs" / "user-guide.md").read_text(
        encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in guide]
    assert not missing, f"settings missing from docs/user-guide.md: {missing}"
