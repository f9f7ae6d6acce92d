"""The self-contained HTML overview report (``finpersona report``)."""

from __future__ import annotations

from finpersona.report.overview import ReportSummary, write_report

__all__ = ["ReportSummary", "write_report"]
