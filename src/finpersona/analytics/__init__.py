"""Behaviour analysis over the warehouse, on any engine (docs/analytics.md).

Every analysis builds Ibis expressions over warehouse tables, so DuckDB and
Spark run the same code; only the small aggregated answer comes back to Python.
"""

from __future__ import annotations

from finpersona.analytics.base import AnalysisError, Period, parse_duration
from finpersona.analytics.data import AnalyticsData, open_analytics

__all__ = ["AnalysisError", "AnalyticsData", "Period", "open_analytics", "parse_duration"]
