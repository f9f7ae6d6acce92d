"""Derived per-customer tables built from the warehouse."""

from finpersona.summary.daily import DAILY_SUMMARY, daily_summary

__all__ = ["DAILY_SUMMARY", "daily_summary"]
