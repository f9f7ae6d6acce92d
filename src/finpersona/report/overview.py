"""The overview report: every section computed in the engine, drawn as one HTML file.

``write_report`` runs each section on the workspace's engine. A section that
cannot be computed (a source never ingested, too little history) is shown
with the reason instead of failing the whole report. Counts in distribution
charts below the workspace's k-anonymity floor are suppressed, as in
audience profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from plotly.graph_objects import Figure

from finpersona import __version__
from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import AnalyticsData, open_analytics
from finpersona.config import Workspace
from finpersona.report import charts
from finpersona.report.page import Section, Table, render_page
from finpersona.tags.catalogue import Catalogue, load_catalogue
from finpersona.tags.stats import tag_stats
from finpersona.tags.types import ValueType
from finpersona.warehouse import WarehouseError

# Tags drawn in the distributions section, in this order.
OVERVIEW_TAGS = ("age_band", "city_tier", "aum_tier", "lifecycle_stage", "rfm_segment",
                 "credit_utilisation_band", "m_bucket", "preferred_channel_90d",
                 "digital_engagement_90d", "tenure_band")


@dataclass
class ReportContext:
    data: AnalyticsData
    catalogue: Catalogue
    as_of: date
    k: int  # cells with fewer customers are suppressed


@dataclass
class ReportSummary:
    path: Path
    as_of: date
    sections: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    bytes: int = 0


SectionBuilder = Callable[[ReportContext], Section]


def _suppress(count: int, k: int) -> int | None:
    return None if count < k else count


def customer_base(ctx: ReportContext) -> Section:
    snap = ctx.data.tags(ctx.as_of)
    cols = [c for c in ("is_digital_active", "has_credit_card", "has_loan", "has_wealth",
                        "is_high_value") if c in snap.columns]
    metrics = {"customers": snap.count()}
    for c in cols:
        metrics[c] = snap[c].cast("int64").sum()
    if "aum" in snap.columns:
        metrics["aum_total"] = snap.aum.cast("float64").sum()
    row = ctx.data.engine.to_arrow(snap.aggregate(**metrics)).to_pylist()[0]
    n = int(row["customers"])
    table_rows: list[list[object]] = [["客户数 · customers", n, 1.0]]
    for c in cols:
        tag = ctx.catalogue.tags[c]
        value = int(row[c] or 0)
        table_rows.append([f"{tag.title_zh} · {tag.title_en}", value, value / n if n else 0.0])
    if "aum_total" in row:
        table_rows.append(["管理资产合计 · total AUM (CNY)", float(row["aum_total"] or 0), None])
    section = Section("base", "客户基础", "Customer base",
                      f"截至 {ctx.as_of} 的标签快照。", f"From the tag snapshot of {ctx.as_of}.",
                      tables=[Table(["指标 · measure", "客户 · customers", "占比 · share"],
                                    table_rows)])
    for name in ("gender", "age_band", "city_tier"):
        if name in ctx.catalogue.tags and name in snap.columns:
            section.figures.append(_distribution_chart(ctx, name))
    return section


def _distribution_chart(ctx: ReportContext, name: str) -> Figure:
    tag = ctx.catalogue.tags[name]
    stats = tag_stats(ctx.data.engine, ctx.data.warehouse, tag, ctx.as_of.isoformat())
    title = f"{tag.title_zh} · {tag.title_en}"
    if tag.type in (ValueType.CATEGORY, ValueType.BOOL) or not stats.histogram:
        values = stats.values
        if tag.values:  # declared order reads better than frequency order for bands
            order = {v: i for i, v in enumerate(tag.values)}
            values = sorted(values, key=lambda v: order.get(v["value"], len(order)))
        counts = [_suppress(int(v["customers"]), ctx.k) for v in values]
        return charts.bars(title, [str(v["value"]) for v in values],
                           [c or 0 for c in counts], value_label="customers",
                           text=[f"{c:,}" if c is not None else f"<{ctx.k}" for c in counts])
    labels = [f"{h['from']:,.0f}–{h['to']:,.0f}" for h in stats.histogram]
    counts = [_suppress(int(h["customers"]), ctx.k) for h in stats.histogram]
    return charts.bars(title, labels, [c or 0 for c in counts], value_label="customers",
                       text=[f"{c:,}" if c is not None else f"<{ctx.k}" for c in counts])


def tag_distributions(ctx: ReportContext) -> Section:
    snap_cols = set(ctx.data.tags(ctx.as_of).columns)
    section = Section("tags", "标签分布", "Tag distributions",
                      f"部分关键标签的分布；少于 {ctx.k} 位客户的格子不显示。",
                      f"Distributions of key tags; cells under {ctx.k} customers are "
                      "suppressed.")
    for name in OVERVIEW_TAGS:
        if name in ctx.catalogue.tags and name in snap_cols:
            section.figures.append(_distribution_chart(ctx, name))
    return section


def _sections() -> list[SectionBuilder]:
    from finpersona.report import behaviour as b

    # The overview first (base, tags, RFM, funnel, retention, paths, the consumption
    # heat map, vintages), then every other analysis.
    return [customer_base, tag_distributions, b.rfm_classes, b.main_funnel,
            b.retention_matrix, b.paths_sankey, b.consumption_heatmap, b.vintage_curves,
            b.sessions_dwell, b.lifecycle_bars, b.stickiness_bars, b.association_rules,
            b.spend_trend, b.roll_rates_and_dpd]


Progress = Callable[[str, int, int], None]


def build_sections(ctx: ReportContext, builders: list[SectionBuilder],
                   progress: Progress | None = None) -> list[Section]:
    out = []
    for n, builder in enumerate(builders):
        if progress is not None:
            progress(builder.__name__.replace("_", " "), n, len(builders))
        try:
            out.append(builder(ctx))
        except (AnalysisError, WarehouseError) as exc:
            name = builder.__name__
            out.append(Section(name, name, name.replace("_", " "), missing=str(exc)))
    return out


def write_report(workspace: Workspace, out: Path, *, engine: str | None = None,
                 as_of: date | None = None, progress: Progress | None = None) -> ReportSummary:
    """Compute the overview on the workspace's engine and write one HTML file."""
    with open_analytics(workspace, engine) as data:
        dates = data.snapshot_dates()
        if not dates:
            raise AnalysisError("no tag snapshot yet: run `finpersona build` first")
        chosen = as_of or dates[-1]
        if chosen not in dates:  # a wrong date is the user's mistake, not a missing section
            known = ", ".join(d.isoformat() for d in dates[-5:])
            raise AnalysisError(f"no tag snapshot for {chosen}; latest builds: {known}")
        ctx = ReportContext(data, load_catalogue(workspace.tags_dir), chosen,
                            workspace.settings.k_anonymity)
        sections = build_sections(ctx, _sections(), progress)
        engine_name = data.engine.name
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f"as of {chosen} · engine {engine_name} · time zone "
            f"{workspace.settings.timezone} · generated {generated}")
    page = render_page("客户分析报告", "Customer analytics report", meta, sections,
                       f"FinPersona {__version__}. Pseudonymous keys only; no personal data.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return ReportSummary(out, chosen, [s.key for s in sections if s.missing is None],
                         {s.key: s.missing for s in sections if s.missing is not None},
                         out.stat().st_size)
