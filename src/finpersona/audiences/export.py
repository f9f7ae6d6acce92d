"""Exporting an audience, within what each customer agreed to (docs/audiences.md).

The rules, by purpose. Each selected customer left out is counted once, under
the first reason that applies in :data:`REASONS` order:

1. ``closed`` - the customer's status is closed (marketing, service)
2. ``do_not_disturb`` - the latest marketing consent on channel ``any`` is a
   refusal (marketing, service)
3. ``channel_refused`` - the latest marketing consent on the export's channel is
   a refusal; it wins over a grant on ``any`` (marketing)
4. ``no_consent`` - neither the channel nor ``any`` has a marketing grant (marketing)
5. ``contact_cap`` - ``contact_cap_30d`` or more marketing touches were sent in the
   30 local days up to the as-of date, on any channel (marketing)

``risk`` (credit risk management, a legitimate purpose without consent) excludes
no one. Consent records count when recorded on or before the as-of date (a local
day in the workspace's zone); the latest record per customer, purpose and channel
is in force. Selection and exclusions run in the engine; Python writes the final
keys as they stream out.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.appdb import AppDatabase, export_log, open_app_database
from finpersona.appdb.schema import utcnow
from finpersona.audiences.errors import AudienceError, ReidentificationError
from finpersona.audiences.policy import contact_cap_30d, reidentify_users
from finpersona.audiences.saved import load_audience
from finpersona.audiences.selection import KEY, Selector, open_selector
from finpersona.config import Workspace
from finpersona.engine import Engine
from finpersona.tags.expression import to_text
from finpersona.tags.types import TagSignature
from finpersona.warehouse import Warehouse

Purpose = Literal["marketing", "risk", "service"]
Channel = Literal["sms", "phone", "email", "app_push", "wechat"]
Format = Literal["csv", "parquet", "xlsx"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
CHANNELS: tuple[str, ...] = get_args(Channel)
FORMATS: tuple[str, ...] = get_args(Format)
ANY_CHANNEL = "any"
CONSENT_PURPOSE = "marketing"
CAP_DAYS = 30

REASONS = ("closed", "do_not_disturb", "channel_refused", "no_consent", "contact_cap")
RULES: dict[str, tuple[str, ...]] = {
    "marketing": REASONS,
    "service": ("closed", "do_not_disturb"),
    "risk": (),
}
# Display forms added on re-identification; raw identifiers stay in the vault.
DISPLAY_COLUMNS = ("name_masked", "phone_masked")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, minus the header


@dataclass(frozen=True)
class ExportResult:
    log_id: int
    audience: str
    expression: str
    purpose: str
    channel: str | None
    format: str
    as_of: date
    path: str
    actor: str
    at: datetime
    selected: int
    exported: int
    excluded: dict[str, int] = field(default_factory=dict)
    reidentified: bool = False


def export(workspace: Workspace, name: str, purpose: str, channel: str | None = None, *,
           format: str, out: Path, actor: str, reidentify: bool = False,
           as_of: date | str | None = None, overwrite: bool = False,
           signatures: Mapping[str, TagSignature] | None = None) -> ExportResult:
    """Write the saved audience's customers that may be used for ``purpose`` to ``out``.

    Every export is recorded in the append-only export log.
    """
    _check_request(workspace, purpose, channel, format, out, actor, reidentify, overwrite)
    with open_app_database(workspace) as db:
        audience = load_audience(db, name)
        with open_selector(workspace, as_of, signatures=signatures) as selector:
            definition = selector.define(audience.expression, audience.members)
            engine = selector.engine
            reasoned = _with_reasons(selector, selector.selected_of(definition).select(KEY),
                                     purpose, channel)
            # Computed once: both the tally and the file read it.
            staged = f"_fp_export_{uuid.uuid4().hex[:12]}"
            flagged = engine.materialize(reasoned, staged)
            try:
                exported, excluded = _tally(engine, flagged)
                if format == "xlsx" and exported > XLSX_MAX_ROWS:
                    raise AudienceError(f"{exported:,} rows exceed an Excel sheet "
                                        f"({XLSX_MAX_ROWS:,}); export csv or parquet")
                rows = flagged.filter(flagged.reason.isnull()).select(KEY)
                if reidentify:
                    rows = _with_display_forms(selector, rows)
                result = ExportResult(
                    log_id=0, audience=name, purpose=purpose,
                    expression=(audience.expression if definition.node is None
                                else to_text(definition.node)),
                    channel=channel, format=format, as_of=selector.as_of, path=str(out),
                    actor=actor, at=utcnow(), selected=exported + sum(excluded.values()),
                    exported=exported, excluded=excluded, reidentified=reidentify)
                log_id = _write_and_log(db, engine, rows.order_by(KEY), result, out)
            finally:
                engine.release(staged)
            return replace(result, log_id=log_id)


def _tally(engine: Engine, flagged: ir.Table) -> tuple[int, dict[str, int]]:
    """Customers exported, and excluded by reason (every reason, in order)."""
    grouped = flagged.group_by("reason").aggregate(n=flagged.count())
    counts = {row["reason"]: int(row["n"]) for row in engine.to_arrow(grouped).to_pylist()}
    return counts.pop(None, 0), {r: counts.get(r, 0) for r in REASONS}


def _write_and_log(db: AppDatabase, engine: Engine, rows: ir.Table, result: ExportResult,
                   out: Path) -> int:
    """Write the file beside ``out``, log it, and move it into place; returns the log id."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _write(engine, rows, result.format, tmp)
        record = {k: v for k, v in asdict(result).items() if k != "log_id"}
        with db.begin() as con:
            inserted = con.execute(export_log.insert().values(**record)).inserted_primary_key
            assert inserted is not None
            # Moved inside the transaction: a failed rename rolls the log row back, so the
            # log never names a file that was not written.
            tmp.replace(out)
        return int(inserted[0])
    finally:
        tmp.unlink(missing_ok=True)


def _check_request(workspace: Workspace, purpose: str, channel: str | None, format: str,
                   out: Path, actor: str, reidentify: bool, overwrite: bool) -> None:
    """Refuse a bad request before any data is read."""
    if purpose not in PURPOSES:
        raise AudienceError(f"unknown purpose {purpose!r}: choose {', '.join(PURPOSES)}")
    if purpose == "marketing" and channel is None:
        raise AudienceError("a marketing export needs a channel: "
                            f"{', '.join(CHANNELS)}")
    if channel is not None and purpose != "marketing":
        raise AudienceError(f"--channel applies to marketing exports only, not {purpose}")
    if channel is not None and channel not in CHANNELS:
        raise AudienceError(f"unknown channel {channel!r}: choose {', '.join(CHANNELS)}")
    if format not in FORMATS:
        raise AudienceError(f"unknown format {format!r}: choose {', '.join(FORMATS)}")
    if format == "xlsx":
        _openpyxl()
    if not actor.strip():
        raise AudienceError("an export needs an actor (who is exporting)")
    if reidentify and actor not in reidentify_users(workspace.settings):
        raise ReidentificationError(
            f"{actor} does not hold the re-identification right; ask an administrator to "
            "add the user to FINPERSONA_REIDENTIFY_USERS, or export without --reidentify")
    if out.is_dir():
        raise AudienceError(f"{out} is a folder; give a file path")
    if out.exists() and not overwrite:
        raise AudienceError(f"{out} exists; choose another path or pass --overwrite")


# -- the rules, as engine expressions ---------------------------------------------------


def _local_midnight_utc(day: date, zone: str) -> datetime:
    """The UTC instant a local day starts, zone-less like the warehouse's timestamps."""
    local = datetime.combine(day, time(), tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def _attach(left: ir.Table, right: ir.Table) -> ir.Table:
    """Left-join per-customer columns (``right`` has one row per customer_key)."""
    right = right.rename(_fp_key=KEY)
    return left.left_join(right, left[KEY] == right["_fp_key"]).drop("_fp_key")


def _table(warehouse: Warehouse, engine: Engine, name: str, needed_for: str) -> ir.Table:
    if not warehouse.has_table(name):
        raise AudienceError(f"the warehouse has no {name} table, needed for {needed_for}; "
                            "ingest it first")
    return warehouse.read(engine, name)


def _latest_consents(consents: ir.Table, channels: list[str], before: datetime) -> ir.Table:
    """Per customer: latest marketing decision on each channel as 1 / 0, null if none."""
    c = consents.filter(
        (consents.purpose == CONSENT_PURPOSE) & consents.channel.isin(channels)
        & (consents.recorded_at < ibis.literal(before)) & consents[KEY].notnull())
    # A refusal wins a tie between records of the same instant.
    window = ibis.window(group_by=[c[KEY], c.channel],
                         order_by=[ibis.desc(c.recorded_at), c.granted])
    c = c.mutate(_fp_rank=ibis.row_number().over(window))
    c = c.filter(c._fp_rank == 0)
    granted = c.granted.cast("int64")
    columns = {f"_fp_{ch}": granted.max(where=c.channel == ch) for ch in channels}
    return c.group_by(KEY).aggregate(**columns)


def _with_reasons(selector: Selector, keys: ir.Table, purpose: str,
                  channel: str | None) -> ir.Table:
    """The selected keys with ``reason``: why each is excluded, null when exported."""
    rules = RULES[purpose]
    if not rules:
        return keys.mutate(reason=ibis.null("string"))
    warehouse, engine = selector.warehouse, selector.engine
    zone = selector.workspace.settings.timezone
    day_after = _local_midnight_utc(selector.as_of + timedelta(days=1), zone)
    t = keys
    customers = _table(warehouse, engine, "customers", "the closed-account rule")
    closed = customers.filter(customers.status == "closed").select(KEY).distinct()
    t = _attach(t, closed.mutate(_fp_closed=ibis.literal(1)))
    channels = [ANY_CHANNEL] + ([channel] if channel else [])
    consents = _table(warehouse, engine, "consents", f"{purpose} exports (consent)")
    t = _attach(t, _latest_consents(consents, channels, day_after))
    if purpose == "marketing":
        touches = _touch_counts(selector, day_after)
        # With no touches table nobody has been contacted through FinPersona yet.
        t = (t.mutate(_fp_touches=ibis.literal(0, "int64")) if touches is None
             else _attach(t, touches))
    on_any = t[f"_fp_{ANY_CHANNEL}"]
    cases: list[tuple[ir.BooleanValue, str]] = [
        (t._fp_closed.notnull(), "closed"),
        ((on_any == 0).fill_null(False), "do_not_disturb"),
    ]
    if purpose == "marketing":
        assert channel is not None
        on_channel = t[f"_fp_{channel}"]
        granted = (on_channel == 1).fill_null(False) | (
            on_channel.isnull() & (on_any == 1).fill_null(False))
        cap = contact_cap_30d(selector.workspace.settings)
        cases += [((on_channel == 0).fill_null(False), "channel_refused"),
                  (~granted, "no_consent"),
                  (t._fp_touches.fill_null(0) >= cap, "contact_cap")]
    reason = ibis.cases(*cases, else_=ibis.null("string"))
    return t.select(KEY, reason=reason.cast("string"))


def _touch_counts(selector: Selector, day_after: datetime) -> ir.Table | None:
    """Marketing touches sent to each customer in the 30 local days up to the as-of date."""
    if not selector.warehouse.has_table("marketing_touches"):
        return None
    m = selector.warehouse.read(selector.engine, "marketing_touches")
    start = day_after - timedelta(days=CAP_DAYS)
    m = m.filter(m.sent.fill_null(False) & (m.sent_at >= ibis.literal(start))
                 & (m.sent_at < ibis.literal(day_after)) & m[KEY].notnull())
    return m.group_by(KEY).aggregate(_fp_touches=m.count())


def _with_display_forms(selector: Selector, rows: ir.Table) -> ir.Table:
    customers = _table(selector.warehouse, selector.engine, "customers", "re-identification")
    forms = customers.filter(customers[KEY].notnull()).group_by(KEY).aggregate(
        **{c: customers[c].max() for c in DISPLAY_COLUMNS})
    return _attach(rows, forms).select(KEY, *DISPLAY_COLUMNS)


# -- writing ------------------------------------------------------------------------------


def _batches(engine: Engine, rows: ir.Table) -> Iterator[pa.RecordBatch]:
    for batch in engine.to_arrow_batches(rows):
        if batch.num_rows:
            yield batch


def _schema(rows: ir.Table) -> pa.Schema:
    return pa.schema([pa.field(c, pa.string()) for c in rows.columns])


def _write(engine: Engine, rows: ir.Table, format: str, path: Path) -> None:
    schema = _schema(rows)
    if format == "csv":
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(quoting_style="needed")
        with pacsv.CSVWriter(str(path), schema, write_options=options) as writer:
            for batch in _batches(engine, rows):
                writer.write_batch(batch.cast(schema))
    elif format == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(str(path), schema) as writer:
            for batch in _batches(engine, rows):
                writer.write_batch(batch.cast(schema))
    else:
        openpyxl = _openpyxl()
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("audience")
        sheet.append(list(schema.names))
        for batch in _batches(engine, rows):
            for record in batch.to_pylist():
                sheet.append([record[c] for c in schema.names])
        book.save(str(path))


def _openpyxl() -> Any:
    try:
        # Imported by name: an optional package without type stubs.
        return importlib.import_module("openpyxl")
    except ImportError as exc:
        raise AudienceError("xlsx export needs the openpyxl package (pip install openpyxl); "
                            "or export csv or parquet") from exc
