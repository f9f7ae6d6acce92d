"""Workspace settings: one typed object, read from the workspace file and the environment.

A workspace is a folder holding ``settings.yaml``, the embedded warehouse
(``warehouse/``), run records (``runs/``) and secrets (``secrets/``).
Environment variables ``FINPERSONA_<FIELD>`` override the file, so a scheduler
can switch the engine without editing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_WORKSPACE = Path("finpersona-workspace")
SETTINGS_FILE = "settings.yaml"
ENV_PREFIX = "FINPERSONA_"
RFM_CUTS = 4  # fixed RFM scoring: four cuts make the five scores


class ConfigError(Exception):
    """The workspace settings are missing, malformed or inconsistent."""


class Settings(BaseModel):
    """Everything a run may be configured with; the defaults run embedded on one machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["duckdb", "spark"] = "duckdb"
    timezone: str = "Asia/Shanghai"
    # Spark: a local[N] session by default, a cluster URL in production.
    spark_master: str = "local[2]"
    spark_conf: dict[str, str] = Field(default_factory=dict)
    duckdb_threads: int | None = None
    duckdb_memory_limit: str | None = None
    # Identity stitching: a device seen with more customers than this is not linked.
    max_customers_per_device: int = Field(default=3, ge=1)
    # Parquet codec for warehouse files ("zstd", "snappy" or "none").
    parquet_compression: Literal["zstd", "snappy", "none"] = "zstd"
    # Audiences: aggregate cells smaller than this are suppressed (k-anonymity floor).
    k_anonymity: int = Field(default=10, ge=1)
    # Marketing exports leave out customers contacted this often in the last 30 days.
    contact_cap_30d: int = Field(default=4, ge=1)
    # Behaviour analysis: an inactivity gap longer than this starts a new session.
    session_gap_minutes: int = Field(default=30, ge=1)
    # RFM (the r/f/m_score tags and `finpersona analyze rfm`): the window in days up to the
    # as-of date and the scoring; fixed scoring uses four ascending cuts per measure.
    rfm_window_days: int = Field(default=365, ge=1)
    rfm_scoring: Literal["quantile", "fixed"] = "quantile"
    rfm_recency_cuts: list[int] = Field(default_factory=lambda: [30, 60, 90, 180])
    rfm_frequency_cuts: list[int] = Field(default_factory=lambda: [2, 6, 12, 24])
    rfm_monetary_cuts: list[float] = Field(
        default_factory=lambda: [1000.0, 5000.0, 20000.0, 100000.0])
    # Users allowed to export masked display forms with an audience (comma-separated).
    reidentify_users: str = ""
    # The application database (audiences, export log); default: SQLite in the workspace.
    app_database_url: str | None = None
    # Models (issue 5). Outcome windows after the feature snapshot, in days.
    churn_horizon_days: int = Field(default=90, ge=1)
    propensity_horizon_days: int = Field(default=90, ge=1)
    credit_horizon_days: int = Field(default=180, ge=1)
    # Customer lifetime value: horizon, annual discount rate, loss given default for the
    # expected credit loss (PD x LGD x EAD) netted off the value of credit holders.
    clv_horizon_months: int = Field(default=12, ge=1)
    clv_discount_rate: float = Field(default=0.10, ge=0.0, lt=1.0)
    clv_lgd: float = Field(default=0.45, ge=0.0, le=1.0)
    # Annual margins the bank earns on a customer's balances while she stays: the spread on
    # her AUM (deposits, wealth, funds, insurance) and on the credit she owes (EAD).
    clv_deposit_margin: float = Field(default=0.015, ge=0.0, lt=1.0)
    clv_lending_margin: float = Field(default=0.03, ge=0.0, lt=1.0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone = ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        # Timestamps are shifted by one fixed offset; a zone with daylight saving would
        # put an hour of data on the wrong side of midnight twice a year.
        offsets = {zone.utcoffset(datetime(2025, month, 15)) for month in range(1, 13)}
        if len(offsets) != 1:
            raise ValueError(f"time zone {value!r} observes daylight saving; "
                             "use a fixed-offset zone such as Asia/Shanghai or Etc/GMT-8")
        return value

    @field_validator("rfm_recency_cuts", "rfm_frequency_cuts", "rfm_monetary_cuts",
                     mode="before")
    @classmethod
    def _cuts_from_text(cls, value: Any) -> Any:
        # An environment variable can only hold text: FINPERSONA_RFM_FREQUENCY_CUTS=2,6,12,24
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rfm_recency_cuts", "rfm_frequency_cuts", "rfm_monetary_cuts")
    @classmethod
    def _four_ascending_cuts(cls, value: list[Any]) -> list[Any]:
        # Four cuts split a measure into the five scores 1-5.
        if len(value) != RFM_CUTS or any(v < 0 for v in value) or any(
                a >= b for a, b in pairwise(value)):
            raise ValueError(f"give {RFM_CUTS} strictly ascending, non-negative cuts, "
                             f"got {value}")
        return value


def _env_overrides() -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None and name != "spark_conf":
            overrides[name] = raw
    return overrides


@dataclass(frozen=True)
class Workspace:
    """A workspace folder and its settings."""

    root: Path
    settings: Settings

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def models_dir(self) -> Path:
        """The model registry: every trained version with its card (``finpersona model``)."""
        return self.root / "models"

    @property
    def tags_dir(self) -> Path:
        """The workspace's own tag definitions (YAML), added to the packaged catalogue."""
        return self.root / "tags"

    def with_engine(self, engine: str | None) -> Workspace:
        """The same workspace run on another engine (the ``--engine`` option)."""
        if engine is None or engine == self.settings.engine:
            return self
        try:
            settings = self.settings.model_copy(update={"engine": engine})
            Settings.model_validate(settings.model_dump())
        except ValidationError as exc:
            raise ConfigError(f"invalid engine {engine!r}: choose duckdb or spark") from exc
        return Workspace(self.root, settings)


def resolve_workspace_path(option: Path | None) -> Path:
    """``--workspace`` wins, then ``FINPERSONA_WORKSPACE``, then ./finpersona-workspace."""
    if option is not None:
        return option
    env = os.environ.get(ENV_PREFIX + "WORKSPACE")
    return Path(env) if env else DEFAULT_WORKSPACE


def read_settings(root: Path) -> Settings:
    """The settings of the workspace folder ``root`` (its file, then the environment).

    Creates nothing: a folder without a settings file has the defaults.
    """
    settings_path = root / SETTINGS_FILE
    file_values: dict[str, Any] = {}
    if settings_path.exists():
        try:
            loaded = yaml.safe_load(settings_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{settings_path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{settings_path}: expected a mapping of setting: value")
        file_values = loaded
    try:
        return Settings.model_validate({**file_values, **_env_overrides()})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings ({settings_path}): {problems}") from exc


def open_workspace(path: Path | None = None, *, create: bool = True) -> Workspace:
    """Open (and on first use create) a workspace, validating its settings."""
    root = resolve_workspace_path(path).resolve()
    settings_path = root / SETTINGS_FILE
    if not root.exists():
        if not create:
            raise ConfigError(f"no workspace at {root}; run `finpersona ingest` or `demo` first")
        root.mkdir(parents=True)
    settings = read_settings(root)
    if not settings_path.exists():
        settings_path.write_text(
            "# FinPersona workspace settings; FINPERSONA_<NAME> environment variables override.\n"
            + yaml.safe_dump(Settings().model_dump(), sort_keys=True, allow_unicode=True),
            encoding="utf-8",
        )
    return Workspace(root=root, settings=settings)
