"""Trends: a named metric per day / week / month, with a forecast and anomaly flags.

A metric (:data:`METRICS`) says which table it reads, which rows count, which time
column places a row in time and how rows are aggregated. The engine groups the
rows by local period (and breakdown) and returns only the small series; Python
fills the periods without rows with zero, fits a forecast with statsmodels and
flags anomalies on that small series.

Definitions (docs/analytics.md, "Trends and forecasts"):

* A row belongs to the period its time falls in, in local time (``offset_hours``;
  date columns such as ``disbursed_date`` are already local calendar dates).
  Weeks are ISO weeks starting on Monday; months are calendar months.
* The observed range is ``since`` .. ``until`` (local dates, inclusive); without
  them, the first and last local date of any row of the metric's source table.
  Every period of the range is in the series (zero when nothing happened); a
  period that is not wholly inside the range is marked ``partial``.
* The forecast is fitted on the complete periods only; see :func:`fit_forecast`.
* Anomalies are history points whose robust z-score exceeds a threshold; see
  :func:`anomaly_scores`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from statistics import median
from typing import Any

import ibis.expr.types as ir
import numpy as np

from finpersona.analytics.base import (
    DEFAULT_OFFSET_HOURS,
    NO_VALUE,
    AnalysisError,
    Period,
    collect,
    local_time,
    period_start,
    with_breakdown,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.engine import Engine

DEFAULT_LEVEL = 0.95
DEFAULT_ANOMALY_THRESHOLD = 3.5  # Iglewicz & Hoaglin's cut-off for the modified z-score
MIN_FORECAST_POINTS = 3
MIN_TREND_POINTS = 10  # below this a trend is not worth its two extra parameters
HAMPEL_HALF_WINDOW = 2  # the rolling median of a non-seasonal series spans 5 periods
SEASON_LENGTH = {Period.DAY: 7, Period.WEEK: 52, Period.MONTH: 12}
MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation
MEAN_AD_TO_SD = math.sqrt(math.pi / 2)  # the same for the mean absolute deviation


# -- metrics ------------------------------------------------------------------------------


class Aggregate(StrEnum):
    COUNT = "count"  # rows
    CUSTOMERS = "customers"  # distinct non-null customer_key
    SUM = "sum"  # sum of value_column


Filter = Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class Metric:
    """What a trend counts: rows of ``source`` placed in time by ``time_column``."""

    name: str
    description: str
    source: str  # "events", "transactions", "customers" or a warehouse table name
    time_column: str
    aggregate: Aggregate
    value_column: str | None = None
    where: Filter | None = None


def _successful(t: ir.Table) -> ir.BooleanValue:
    # Failed and reversed postings never moved money; a missing status is taken as posted.
    return t.status.isnull() | (t.status == "success")


def _purchases(t: ir.Table) -> ir.BooleanValue:
    return _successful(t) & (t.direction == "debit") & (t.txn_type == "purchase")


METRICS: Mapping[str, Metric] = {m.name: m for m in (
    Metric("active_customers", "customers with at least one app/web event (DAU/WAU/MAU)",
           "events", "event_time", Aggregate.CUSTOMERS),
    Metric("events", "app/web events, logged in or not", "events", "event_time",
           Aggregate.COUNT),
    Metric("logins", "login events", "events", "event_time", Aggregate.COUNT,
           where=lambda t: t.event_name == "login"),
    Metric("transactions", "successful transactions (status success or missing)",
           "transactions", "txn_time", Aggregate.COUNT, where=_successful),
    Metric("spend", "amount of successful debit purchases", "transactions", "txn_time",
           Aggregate.SUM, "amount", where=_purchases),
    Metric("spenders", "customers with a successful debit purchase", "transactions",
           "txn_time", Aggregate.CUSTOMERS, where=_purchases),
    Metric("new_customers", "customers by registration date", "customers", "registered_at",
           Aggregate.COUNT),
    Metric("loan_applications", "credit applications submitted", "loan_applications",
           "applied_at", Aggregate.COUNT),
    Metric("loans_disbursed", "loans by disbursement date", "loans", "disbursed_date",
           Aggregate.COUNT),
    Metric("disbursed_amount", "principal disbursed", "loans", "disbursed_date",
           Aggregate.SUM, "principal"),
    Metric("service_tickets", "service contacts opened", "service_tickets", "opened_at",
           Aggregate.COUNT),
    Metric("complaints", "formal complaints (is_complaint) opened", "service_tickets",
           "opened_at", Aggregate.COUNT, where=lambda t: t.is_complaint.fill_null(False)),
)}


def get_metric(name: str | Metric) -> Metric:
    if isinstance(name, Metric):
        return name
    try:
        return METRICS[name]
    except KeyError:
        raise AnalysisError(f"unknown metric {name!r}; known metrics: "
                            f"{', '.join(sorted(METRICS))}") from None


def metric_source(data: AnalyticsData, metric: Metric) -> ir.Table:
    """The table a metric reads (events come identity-resolved)."""
    readers: dict[str, Callable[[], ir.Table]] = {
        "events": data.events, "transactions": data.transactions, "customers": data.customers}
    reader = readers.get(metric.source)
    return reader() if reader is not None else data.table(metric.source)


# -- results ------------------------------------------------------------------------------


def _json_number(value: float) -> int | float:
    """Counts print as whole numbers."""
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class TrendPoint:
    period_start: date
    value: float
    partial: bool  # the period reaches outside the observed range
    anomaly: bool
    score: float | None  # robust z-score of the residual; None where not scored

    def to_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "value": _json_number(self.value),
                "partial": self.partial, "anomaly": self.anomaly,
                "score": None if self.score is None else round(self.score, 4)}


@dataclass(frozen=True)
class ForecastPoint:
    period_start: date
    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "value": round(self.value, 6),
                "lower": round(self.lower, 6), "upper": round(self.upper, 6)}


@dataclass(frozen=True)
class ForecastFit:
    """A forecast of the next values of a series, before dates are attached."""

    model: str  # e.g. "ETS(A,Ad,A) m=7", or why there is no forecast
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class Forecast:
    model: str
    level: float
    points: tuple[ForecastPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "level": self.level,
                "points": [p.to_dict() for p in self.points]}


@dataclass(frozen=True)
class TrendSeries:
    breakdown: str
    points: tuple[TrendPoint, ...]
    forecast: Forecast | None

    def to_dict(self) -> dict[str, Any]:
        return {"breakdown": self.breakdown,
                "points": [p.to_dict() for p in self.points],
                "forecast": None if self.forecast is None else self.forecast.to_dict()}


@dataclass(frozen=True)
class Trend:
    metric: str
    description: str
    period: Period
    offset_hours: float
    breakdown: str | None
    first_day: date | None  # the observed range (local dates)
    last_day: date | None
    anomaly_threshold: float
    series: tuple[TrendSeries, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "description": self.description,
                "period": self.period.value, "offset_hours": self.offset_hours,
                "breakdown": self.breakdown,
                "first_day": None if self.first_day is None else self.first_day.isoformat(),
                "last_day": None if self.last_day is None else self.last_day.isoformat(),
                "anomaly_threshold": self.anomaly_threshold,
                "series": [s.to_dict() for s in self.series]}


# -- the engine part ----------------------------------------------------------------------


def _local_day(table: ir.Table, metric: Metric, offset_hours: float) -> ir.DateValue:
    if metric.time_column not in table.columns:
        raise AnalysisError(f"metric {metric.name} needs column {metric.time_column} in "
                            f"{metric.source}; the input has {', '.join(table.columns)}")
    when = table[metric.time_column]
    if when.type().is_date():
        return when
    return local_time(when, offset_hours).date()


def _with_group(rows: ir.Table, breakdown: str | None, tags: ir.Table | None,
                source: str) -> ir.Table:
    """A ``breakdown`` column: a column of the source table first, else a tag."""
    if breakdown is None:
        return with_breakdown(rows, None, None)
    if breakdown in rows.columns:
        return rows.mutate(breakdown=rows[breakdown].cast("string").fill_null(NO_VALUE))
    if tags is None or breakdown not in tags.columns:
        raise AnalysisError(f"unknown breakdown {breakdown!r}: neither a column of {source} "
                            f"({', '.join(c for c in rows.columns if not c.startswith('_'))}) "
                            "nor a tag")
    return with_breakdown(rows, tags, breakdown)


def _aggregate(rows: ir.Table, metric: Metric) -> ir.Scalar:
    if metric.aggregate is Aggregate.CUSTOMERS:
        return rows.customer_key.nunique()
    if metric.aggregate is Aggregate.SUM:
        assert metric.value_column is not None
        return rows[metric.value_column].sum()
    return rows.count()


def trend_table(source: ir.Table, metric: str | Metric, *, period: str | Period = Period.DAY,
                offset_hours: float = DEFAULT_OFFSET_HOURS, breakdown: str | None = None,
                tags: ir.Table | None = None, since: date | None = None,
                until: date | None = None) -> ir.Table:
    """``period_start``, ``breakdown``, ``value``: the metric per local period (no zeros)."""
    m, p = get_metric(metric), Period.parse(period)
    rows = source.mutate(_local_day=_local_day(source, m, offset_hours))
    if m.where is not None:
        rows = rows.filter(m.where(rows))
    if m.aggregate is Aggregate.CUSTOMERS:
        rows = rows.filter(rows.customer_key.notnull())
    if since is not None:
        rows = rows.filter(rows._local_day >= since)
    if until is not None:
        rows = rows.filter(rows._local_day <= until)
    rows = _with_group(rows, breakdown, tags, m.source)
    rows = rows.mutate(period_start=period_start(rows._local_day, p))
    return rows.group_by(["period_start", "breakdown"]).aggregate(value=_aggregate(rows, m))


def _observed_range(engine: Engine, source: ir.Table, metric: Metric, offset_hours: float,
                    since: date | None, until: date | None) -> tuple[date | None, date | None]:
    if since is not None and until is not None:
        return since, until
    day = _local_day(source, metric, offset_hours)
    row = collect(engine, source.aggregate(first=day.min(), last=day.max()))[0]
    return since or row["first"], until or row["last"]


# -- periods in Python (the small series) --------------------------------------------------


def floor_period(day: date, period: Period) -> date:
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: date, period: Period) -> date:
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def period_range(first: date, last: date, period: Period) -> list[date]:
    """Every period start from ``first``'s period to ``last``'s."""
    starts, current = [], floor_period(first, period)
    while current <= last:
        starts.append(current)
        current = next_period(current, period)
    return starts


# -- forecast -----------------------------------------------------------------------------


def _candidates(n: int, season: int) -> list[tuple[str | None, bool, str | None]]:
    """(trend, damped, seasonal) ETS forms worth fitting on ``n`` points."""
    forms: list[tuple[str | None, bool, str | None]] = [(None, False, None)]
    if n >= MIN_TREND_POINTS:
        forms += [("add", False, None), ("add", True, None)]
    if n >= 2 * season + 2:
        forms += [(None, False, "add"), ("add", False, "add"), ("add", True, "add")]
    return forms


def _model_name(trend: str | None, damped: bool, seasonal: str | None, season: int) -> str:
    t = "N" if trend is None else ("Ad" if damped else "A")
    return f"ETS(A,{t},{'A' if seasonal else 'N'})" + (f" m={season}" if seasonal else "")


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run numpy's linear algebra on one thread while fitting.

    The matrices of a small state-space model are tiny: extra BLAS threads only fight
    each other (and the engine) for the cores, which makes fitting up to ten times slower
    on a busy machine. threadpoolctl comes with scikit-learn; without it nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - installed with scikit-learn (mlxtend)
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _fit_ets(values: Sequence[float], trend: str | None, damped: bool, seasonal: str | None,
             season: int) -> Any:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series([float(v) for v in values], dtype="float64")
    model = ETSModel(series, error="add", trend=trend, damped_trend=damped, seasonal=seasonal,
                     seasonal_periods=season if seasonal else None)
    # The optimiser warns about convergence on short or flat series; the fit is still
    # usable and the AICc comparison below decides whether it is chosen.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(disp=False)


def _flat_fit(value: float, horizon: int, n: int) -> ForecastFit:
    # A constant history has no error to estimate: its forecast is the constant, exactly.
    same = (value,) * horizon
    return ForecastFit(f"constant (n={n})", same, same, same)


def fit_forecast(values: Sequence[float], season: int, horizon: int,
                 level: float = DEFAULT_LEVEL) -> ForecastFit:
    """The next ``horizon`` values with a ``level`` prediction interval.

    Exponential smoothing state-space models (ETS with additive errors, statsmodels'
    ``ETSModel``) are fitted by maximum likelihood and the one with the smallest AICc
    is kept, as R's ``forecast::ets`` does. Candidates: simple exponential smoothing
    ETS(A,N,N) always (at least 3 points); with 10+ points also a linear trend
    ETS(A,A,N) and a damped trend ETS(A,Ad,N); with two full seasons plus two points
    (``season`` = 7 for days, 52 for weeks, 12 for months) the same three with
    additive seasonality. Intervals are the model's analytic prediction intervals.
    Forecasts and bounds are clipped at zero because every metric is non-negative.
    """
    if horizon <= 0:
        return ForecastFit("none", (), (), ())
    n = len(values)
    if n < MIN_FORECAST_POINTS:
        return ForecastFit(f"none: {n} complete periods, at least {MIN_FORECAST_POINTS} "
                           "needed", (), (), ())
    if max(values) == min(values):
        return _flat_fit(float(values[0]), horizon, n)
    best: tuple[float, str, Any] | None = None
    with _one_blas_thread():
        for trend, damped, seasonal in _candidates(n, season):
            try:
                result = _fit_ets(values, trend, damped, seasonal, season)
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                continue
            aicc = float(result.aicc)
            # -inf is a perfect fit (no error left), which is the best there is.
            if not math.isnan(aicc) and aicc < math.inf and (best is None or aicc < best[0]):
                best = (aicc, _model_name(trend, damped, seasonal, season), result)
    if best is None:
        return ForecastFit("none: no model could be fitted", (), (), ())
    _, name, result = best
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = result.get_prediction(start=n, end=n + horizon - 1).summary_frame(
            alpha=1 - level)
    mean = [max(0.0, float(v)) for v in frame["mean"]]
    low = [max(0.0, float(v)) for v in frame["pi_lower"]]
    high = [max(0.0, float(v)) for v in frame["pi_upper"]]
    return ForecastFit(name, tuple(mean), tuple(low), tuple(high))


# -- anomalies ----------------------------------------------------------------------------


def _rolling_median(values: Sequence[float], width: int) -> list[float]:
    """Centred rolling median; at the ends the first/last full window (never a partial one,
    which would see only part of a season)."""
    n, half = len(values), width // 2
    starts = [min(max(0, i - half), n - width) for i in range(n)]
    return [median(values[s:s + width]) for s in starts]


def baseline_residuals(values: Sequence[float], season: int | None) -> list[float]:
    """What a robust baseline leaves unexplained: value - trend - seasonal effect.

    The trend is a centred rolling median (one season wide, made odd; five periods
    without a season); the seasonal effect of a position in the season is the median
    of the detrended values at that position. Medians make one spike unable to move
    the baseline that judges it.
    """
    width = (season | 1) if season else 2 * HAMPEL_HALF_WINDOW + 1
    trend = _rolling_median(values, width)
    detrended = [v - t for v, t in zip(values, trend, strict=True)]
    if not season:
        return detrended
    effects = [median(detrended[k::season]) for k in range(season)]
    return [d - effects[i % season] for i, d in enumerate(detrended)]


def robust_z(residuals: Sequence[float]) -> list[float]:
    """(r - median) / scale, scale = 1.4826 x MAD (mean absolute deviation if MAD is 0)."""
    centre = median(residuals)
    deviations = [abs(r - centre) for r in residuals]
    scale = MAD_TO_SD * median(deviations)
    if scale == 0:
        scale = MEAN_AD_TO_SD * sum(deviations) / len(deviations)
    if scale == 0:
        return [0.0] * len(residuals)
    return [(r - centre) / scale for r in residuals]


def anomaly_scores(values: Sequence[float], season: int) -> list[float] | None:
    """Robust z-scores of each point's residual from a robust baseline.

    The baseline (:func:`baseline_residuals`) has a seasonal effect when the series
    spans two full seasons, otherwise it is a rolling median of five periods (a
    Hampel filter). Scores need at least 5 points.
    """
    if len(values) < 2 * HAMPEL_HALF_WINDOW + 1:
        return None
    seasonal = season if len(values) >= 2 * season else None
    return robust_z(baseline_residuals(values, seasonal))


# -- putting it together -------------------------------------------------------------------


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _complete_span(points: Sequence[tuple[date, float, bool]]) -> tuple[int, int]:
    """Index range [start, end) of the points without leading/trailing partial periods."""
    start, end = 0, len(points)
    while start < end and points[start][2]:
        start += 1
    while end > start and points[end - 1][2]:
        end -= 1
    return start, end


def _scored_points(raw: Sequence[tuple[date, float, bool]], lo: int, hi: int, season: int,
                   threshold: float) -> tuple[TrendPoint, ...]:
    """The history with anomaly scores on its complete part ``raw[lo:hi]``."""
    scores = anomaly_scores([v for _, v, _ in raw[lo:hi]], season)
    points = []
    for i, (start, value, partial) in enumerate(raw):
        score = scores[i - lo] if scores is not None and lo <= i < hi else None
        points.append(TrendPoint(start, value, partial,
                                 score is not None and abs(score) > threshold, score))
    return tuple(points)


def _forecast_after(last_complete: date, complete: Sequence[float], period: Period,
                    horizon: int, level: float) -> Forecast:
    fit = fit_forecast(complete, SEASON_LENGTH[period], horizon, level)
    dates, current = [], last_complete
    for _ in fit.mean:
        current = next_period(current, period)
        dates.append(current)
    return Forecast(fit.model, level, tuple(
        ForecastPoint(d, m, low, up)
        for d, m, low, up in zip(dates, fit.mean, fit.lower, fit.upper, strict=True)))


def _series(name: str, values: dict[date, float], starts: list[date], first: date, last: date,
            period: Period, horizon: int, level: float, threshold: float) -> TrendSeries:
    raw = [(s, values.get(s, 0.0), s < first or next_period(s, period) - timedelta(days=1) > last)
           for s in starts]
    lo, hi = _complete_span(raw)
    points = _scored_points(raw, lo, hi, SEASON_LENGTH[period], threshold)
    forecast = None
    if horizon > 0:
        # With no complete period the fit has no data and says so; dates start after `last`.
        last_complete = raw[hi - 1][0] if hi > lo else floor_period(last, period)
        forecast = _forecast_after(last_complete, [v for _, v, _ in raw[lo:hi]], period,
                                   horizon, level)
    return TrendSeries(name, points, forecast)


def compute_trend(engine: Engine, source: ir.Table, metric: str | Metric, *,
                  period: str | Period = Period.DAY,
                  offset_hours: float = DEFAULT_OFFSET_HOURS, breakdown: str | None = None,
                  tags: ir.Table | None = None, since: date | None = None,
                  until: date | None = None, forecast: int = 0, level: float = DEFAULT_LEVEL,
                  anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD) -> Trend:
    """The metric per period and breakdown group, zero-filled, with forecast and anomalies.

    ``source`` is the metric's table (:func:`metric_source`); ``breakdown`` is a column
    of it or, failing that, a tag of ``tags``; ``forecast`` is the number of periods
    to forecast (0: none).
    """
    m, p = get_metric(metric), Period.parse(period)
    _check(forecast, level, anomaly_threshold, since, until)
    rows = collect(engine, trend_table(source, m, period=p, offset_hours=offset_hours,
                                       breakdown=breakdown, tags=tags, since=since,
                                       until=until))
    first, last = _observed_range(engine, source, m, offset_hours, since, until)
    groups: dict[str, dict[date, float]] = {}
    for row in rows:
        groups.setdefault(row["breakdown"], {})[row["period_start"]] = _number(row["value"])
    series: list[TrendSeries] = []
    if first is not None and last is not None:
        starts = period_range(first, last, p)
        names = sorted(groups, key=lambda g: (-sum(groups[g].values()), g))
        if not names and breakdown is None:
            names = ["all"]
        series = [_series(g, groups.get(g, {}), starts, first, last, p, forecast, level,
                          anomaly_threshold) for g in names]
    return Trend(m.name, m.description, p, offset_hours, breakdown, first, last,
                 anomaly_threshold, tuple(series))


def _check(forecast: int, level: float, threshold: float, since: date | None,
           until: date | None) -> None:
    if forecast < 0:
        raise AnalysisError(f"the forecast horizon must be 0 or more periods, got {forecast}")
    if not 0 < level < 1:
        raise AnalysisError(f"the interval level must be between 0 and 1, got {level}")
    if threshold <= 0:
        raise AnalysisError(f"the anomaly threshold must be positive, got {threshold}")
    if since is not None and until is not None and since > until:
        raise AnalysisError(f"--since {since} is after --until {until}")


def analyze_trend(data: AnalyticsData, metric: str | Metric, *,
                  period: str | Period = Period.DAY, breakdown: str | None = None,
                  since: date | None = None, until: date | None = None, forecast: int = 0,
                  level: float = DEFAULT_LEVEL,
                  anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD) -> Trend:
    """:func:`compute_trend` on a workspace: the metric's table, the latest tag snapshot."""
    m = get_metric(metric)
    source = metric_source(data, m)
    tags = None
    if breakdown is not None and breakdown not in source.columns:
        tags = data.tags()
    return compute_trend(data.engine, source, m, period=period, offset_hours=data.offset_hours,
                         breakdown=breakdown, tags=tags, since=since, until=until,
                         forecast=forecast, level=level, anomaly_threshold=anomaly_threshold)


__all__ = ["METRICS", "Aggregate", "Forecast", "ForecastFit", "ForecastPoint", "Metric",
           "Trend", "TrendPoint", "TrendSeries", "analyze_trend", "anomaly_scores",
           "compute_trend", "fit_forecast", "get_metric", "metric_source", "period_range",
           "robust_z", "trend_table"]
