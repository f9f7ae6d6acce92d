"""Report sections drawn from the behaviour analyses (``finpersona.analytics``).

Each builder runs one analysis with the defaults an overview needs and turns its
result into charts; the analysis itself is exactly what ``finpersona analyze``
runs, so a number in the report can be reproduced from the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finpersona.analytics.association import compute_rules
from finpersona.analytics.credit import (
    compute_dpd_distribution,
    compute_roll_rates,
    compute_vintage,
    default_as_of,
)
from finpersona.analytics.funnel import FunnelSpec, analyze_funnel
from finpersona.analytics.lifecycle import (
    LifecycleQuery,
    analyze_lifecycle,
    analyze_stickiness,
)
from finpersona.analytics.paths import path_report
from finpersona.analytics.patterns import compute_patterns
from finpersona.analytics.retention import RetentionQuery, analyze_retention
from finpersona.analytics.rfm import compute_rfm
from finpersona.analytics.sessions import session_report
from finpersona.analytics.trends import analyze_trend
from finpersona.report import charts
from finpersona.report.page import Section, Table

if TYPE_CHECKING:
    from finpersona.report.overview import ReportContext

MAIN_FUNNEL = ("product_view", "loan_apply_start", "loan_apply_submit")
RETENTION_WEEKS = 12
WEEKDAYS = ("一 Mon", "二 Tue", "三 Wed", "四 Thu", "五 Fri", "六 Sat", "日 Sun")
VINTAGE_COHORTS = 12  # the latest disbursement months drawn


def paths_sankey(ctx: ReportContext) -> Section:
    report = path_report(ctx.data, steps=4, top=10)
    names = [f"{n.step + 1}. {n.name}" for n in report.sankey.nodes]
    index = {(n.step, n.name): i for i, n in enumerate(report.sankey.nodes)}
    links = [(index[(link.step, link.source)], index[(link.step + 1, link.target)],
              float(link.sessions)) for link in report.sankey.links
             if (link.step, link.source) in index and (link.step + 1, link.target) in index]
    section = Section("paths", "操作路径", "Operation paths",
                      f"会话内前 {report.steps} 步的页面流向（{report.sessions:,} 个会话）。",
                      f"Page flow over the first {report.steps} steps of "
                      f"{report.sessions:,} sessions.")
    section.figures.append(charts.sankey("页面路径 · Page paths (sessions)", names, links))
    section.tables.append(Table(["路径 · path", "会话 · sessions", "占比 · share"],
                                [[" → ".join(p.steps), p.sessions, p.share]
                                 for p in report.paths]))
    return section


def retention_matrix(ctx: ReportContext) -> Section:
    query = RetentionQuery(start_event="login", return_event="login",
                           periods=RETENTION_WEEKS)
    result = analyze_retention(ctx.data, query)
    cohorts = list(result.cohorts)[-RETENTION_WEEKS:]
    z = [[cell.rate if cell.complete else None for cell in c.cells] for c in cohorts]
    y = [f"{c.cohort_start} ({c.size:,})" for c in cohorts]
    x = [f"W{k}" for k in range(result.periods)]
    section = Section("retention", "留存矩阵", "Retention matrix",
                      "首次登录所在周为群组，之后每周再次登录的比例；未结束的周留空。",
                      "Cohorts by the week of a customer's first login; the share who "
                      "log in again in each later week. Incomplete weeks are blank.")
    section.figures.append(charts.heatmap("周留存 · Weekly login retention", z, x, y,
                                          x_label="week", y_label="cohort (size)",
                                          percent=True))
    return section


def lifecycle_bars(ctx: ReportContext) -> Section:
    result = analyze_lifecycle(ctx.data, LifecycleQuery())
    periods = [p for p in result.periods if p.complete]
    x = [p.period_start for p in periods]
    fig = charts.grouped_bars(
        "客户生命周期 · Lifecycle (weekly)", [str(d) for d in x],
        {"新增 new": [p.new for p in periods], "留存 returning": [p.returning for p in periods],
         "回流 resurrecting": [p.resurrecting for p in periods],
         "沉睡 dormant": [p.dormant for p in periods]}, value_label="customers")
    fig.update_layout(barmode="relative")
    return Section("lifecycle", "生命周期", "Lifecycle",
                   "每周新增、留存、回流和沉睡（负值）的客户。",
                   "New, returning, resurrecting and dormant (negative) customers per week.",
                   figures=[fig])


def vintage_curves(ctx: ReportContext) -> Section:
    loans, repayments = ctx.data.table("loans"), ctx.data.table("repayments")
    as_of = default_as_of(ctx.data.engine, loans, repayments)
    result = compute_vintage(ctx.data.engine, loans, repayments, as_of=as_of, threshold=30)
    cohorts = list(result.cohorts)[-VINTAGE_COHORTS:]
    mobs = sorted({p.mob for c in cohorts for p in c.points})
    series = {f"{c.cohort} ({c.loans:,})": [next((p.rate for p in c.points if p.mob == m), None)
                                            for m in mobs] for c in cohorts}
    section = Section("vintage", "账龄分析", "Vintage curves",
                      "按放款月份分组，截至各账龄月曾逾期 30 天以上的贷款占比。",
                      "Share of each disbursement month's loans that have ever been 30+ "
                      "days past due, by months on book.")
    section.figures.append(charts.lines("Vintage 30+ · 账龄曲线", mobs, series,
                                        value_label="ever 30+ DPD", x_label="months on book",
                                        percent=True))
    return section


def spend_trend(ctx: ReportContext) -> Section:
    trend = analyze_trend(ctx.data, "spend", period="day", forecast=28)
    series = trend.series[0]
    points = [p for p in series.points if not p.partial]
    section = Section("trend", "消费趋势与预测", "Spend trend and forecast",
                      "每日消费金额，未来 28 天预测及区间，异常日以 × 标出。",
                      "Daily spend, a 28-day forecast with its interval, and anomalous "
                      "days marked ×.")
    fc = series.forecast
    fx = [p.period_start for p in fc.points] if fc else []
    section.figures.append(charts.band(
        "每日消费 · Daily spend (CNY)", [p.period_start for p in points],
        [p.value for p in points], fx, [p.value for p in fc.points] if fc else [],
        [p.lower for p in fc.points] if fc else [], [p.upper for p in fc.points] if fc else [],
        [(p.period_start, p.value) for p in points if p.anomaly],
        labels=("实际 actual", "预测 forecast", "区间 interval", "异常 anomaly"),
        value_label="CNY"))
    if fc is not None:
        section.tables.append(Table(["模型 · model", "区间 · level"], [[fc.model, fc.level]]))
    return section


def rfm_classes(ctx: ReportContext) -> Section:
    result = compute_rfm(ctx.data, as_of=ctx.as_of)
    names = [c.name for c in result.classes]
    counts = [c.customers if c.customers >= ctx.k else 0 for c in result.classes]
    shown = [f"{c.customers:,}" if c.customers >= ctx.k else f"<{ctx.k}"
             for c in result.classes]
    section = Section("rfm", "RFM 客户价值分类", "RFM classes",
                      f"近 {result.window_days} 天的最近消费、消费频次和金额，"
                      f"按{'分位数' if result.scoring == 'quantile' else '固定阈值'}评分。",
                      f"Recency, frequency and monetary value over {result.window_days} days, "
                      f"{result.scoring} scoring; {result.active_customers:,} of "
                      f"{result.customers:,} customers spent in the window.")
    section.figures.append(charts.bars("RFM 八类客户 · The eight RFM classes", names, counts,
                                       value_label="customers", text=shown))
    section.figures.append(charts.bars("各类消费总额 · Spend by class (CNY)", names,
                                       [c.total_monetary for c in result.classes],
                                       value_label="CNY"))
    section.tables.append(Table(
        ["类别 · class", "客户 · customers", "占比 · share", "平均间隔(天) · mean recency",
         "平均频次 · mean frequency", "平均金额 · mean spend"],
        [[c.name, c.customers if c.customers >= ctx.k else f"<{ctx.k}", c.share,
          c.mean_recency_days, c.mean_frequency, c.mean_monetary] for c in result.classes]))
    return section


def consumption_heatmap(ctx: ReportContext) -> Section:
    result = compute_patterns(ctx.data, views=["heatmap", "festivals", "channels"])
    section = Section("heatmap", "消费时间与渠道", "When and where customers spend",
                      "按当地时间的星期 × 小时统计的消费笔数；节日与平日对比；渠道构成。",
                      "Purchases by local weekday and hour; festivals against ordinary "
                      "days; the channel mix.")
    if result.heatmap is not None:
        z = [[0.0] * 24 for _ in range(7)]
        for cell in result.heatmap.cells:
            z[cell.weekday - 1][cell.hour] = float(cell.transactions)
        section.figures.append(charts.heatmap(
            "消费热力图 · Purchases by weekday × hour", z, list(range(24)), list(WEEKDAYS),
            x_label="hour (local)", y_label="weekday", colorscale="YlOrRd", annotate=False))
    if result.festivals is not None:
        rows = [r for r in result.festivals.rows if r.channel == "all"]
        section.figures.append(charts.bars(
            "节日与平日（日均笔数）· Festivals vs ordinary days (purchases per day)",
            [r.occasion for r in rows], [r.transactions_per_day or 0.0 for r in rows],
            value_label="purchases per day",
            text=[f"{r.transactions_per_day or 0:,.0f} (×{r.lift:.2f})" if r.lift else
                  f"{r.transactions_per_day or 0:,.0f}" for r in rows]))
    if result.channels is not None:
        mix = result.channels.rows
        section.figures.append(charts.bars(
            "渠道构成 · Channel mix (share of purchases)", [m.key for m in mix],
            [m.share_of_transactions for m in mix], value_label="share",
            text=[f"{m.share_of_transactions:.1%}" for m in mix]))
    return section


def main_funnel(ctx: ReportContext) -> Section:
    spec = FunnelSpec.parse(list(MAIN_FUNNEL), "14d", "ordered")
    result = analyze_funnel(ctx.data, spec, period="month")
    steps = list(result.steps)
    section = Section("funnel", "贷款申请漏斗", "Loan application funnel",
                      "浏览产品 → 开始申请 → 提交申请，14 天转化窗口，按顺序。",
                      "Product view → application started → submitted, in order within "
                      "14 days of the first step.")
    section.figures.append(charts.funnel(
        "贷款漏斗 · Loan funnel", [s.name for s in steps], [s.count for s in steps],
        [s.conversion_from_first or 0.0 for s in steps]))
    periods = [p for p in result.over_time if p.complete and p.conversion is not None]
    if periods:
        section.figures.append(charts.lines(
            "月度转化率 · Conversion by month of entry", [p.period_start for p in periods],
            {"提交/浏览 submitted / viewed": [p.conversion for p in periods]},
            value_label="conversion", percent=True))
    section.tables.append(Table(
        ["步骤 · step", "客户 · customers", "较首步 · from first", "较上步 · from previous",
         "转化用时中位数(秒) · median seconds"],
        [[s.name, s.count, s.conversion_from_first, s.conversion_from_previous,
          s.time_to_convert.median_seconds if s.time_to_convert else None] for s in steps]))
    return section


def sessions_dwell(ctx: ReportContext) -> Section:
    report = session_report(ctx.data, by=["platform", "page"], top=12)
    platforms = list(report.platforms)
    pages = list(report.pages)[:12]
    total = report.totals[0] if report.totals else None
    section = Section("sessions", "访问与停留", "Sessions and dwell time",
                      "30 分钟无操作即切分会话；按设备平台统计会话，按页面统计停留时间。",
                      "Sessions cut by 30 minutes of inactivity, by platform; time on "
                      "page (to the next event).")
    section.figures.append(charts.bars(
        "各平台会话数 · Sessions by platform", [p.group for p in platforms],
        [p.sessions for p in platforms], value_label="sessions"))
    section.figures.append(charts.bars(
        "页面平均停留(秒) · Mean time on page (s)", [p.name for p in pages],
        [p.avg_seconds_to_next or 0.0 for p in pages], value_label="seconds",
        horizontal=True))
    if total is not None:
        section.tables.append(Table(
            ["会话 · sessions", "中位时长(秒) · median s", "页数/会话 · pages per session",
             "跳出率 · bounce rate"],
            [[total.sessions, total.median_duration_seconds, total.pages_per_session,
              total.bounce_rate]]))
    return section


def stickiness_bars(ctx: ReportContext) -> Section:
    result = analyze_stickiness(ctx.data, LifecycleQuery())
    periods = [p for p in result.periods if p.complete][-12:]
    days = max((len(p.distribution) for p in periods), default=7)
    series = {f"{n} 天 days": [p.distribution[n - 1] if n <= len(p.distribution) else 0
                              for p in periods] for n in range(1, days + 1)}
    fig = charts.grouped_bars("每周活跃天数 · Active days per week",
                              [str(p.period_start) for p in periods], series,
                              value_label="customers")
    fig.update_layout(barmode="stack")
    return Section("stickiness", "粘性", "Stickiness",
                   "活跃客户在一周内有几天活跃。",
                   "How many days of each week the active customers were active.",
                   figures=[fig])


def association_rules(ctx: ReportContext) -> Section:
    result = compute_rules(ctx.data, items="products", min_support=0.02, top=10)
    rules = list(result.rules)
    section = Section("rules", "产品关联规则", "Products held together",
                      "客户同时持有的产品：支持度、置信度、提升度。",
                      "Products customers hold together: support, confidence and lift.")
    if rules:
        labels = [f"{' + '.join(r.antecedent)} → {' + '.join(r.consequent)}" for r in rules]
        section.figures.append(charts.bars("提升度 · Lift of the top rules", labels,
                                           [r.lift for r in rules], value_label="lift",
                                           horizontal=True))
        section.tables.append(Table(
            ["规则 · rule", "支持度 · support", "置信度 · confidence", "提升度 · lift"],
            [[label, r.support, r.confidence, r.lift] for label, r in zip(
                labels, rules, strict=True)]))
    return section


def roll_rates_and_dpd(ctx: ReportContext) -> Section:
    loans, repayments = ctx.data.table("loans"), ctx.data.table("repayments")
    as_of = default_as_of(ctx.data.engine, loans, repayments)
    rolls = compute_roll_rates(ctx.data.engine, loans, repayments, as_of=as_of)
    dpd = compute_dpd_distribution(ctx.data.engine, loans, repayments, as_of=as_of)
    pooled = rolls.pooled
    section = Section("credit", "迁徙率与逾期分布", "Roll rates and days past due",
                      "月末逾期状态之间的迁徙（各月合计）与最新月末的逾期分布。",
                      "Moves between month-end delinquency states (all months pooled) and "
                      "the distribution of days past due at the latest month end.")
    section.figures.append(charts.heatmap(
        "迁徙率 · Roll rates (from → to)", [list(row) for row in pooled.shares],
        list(pooled.states), list(pooled.states), x_label="to", y_label="from",
        percent=True))
    buckets = list(dpd.buckets)
    section.figures.append(charts.bars(
        "逾期分布 · Open loans by DPD bucket", [b.bucket for b in buckets],
        [b.loans for b in buckets], value_label="loans"))
    return section
