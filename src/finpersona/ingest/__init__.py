"""Ingestion: readers, cleaning, validation, quarantine, dedup, identity and privacy at the door."""

from finpersona.ingest.runner import IngestReport, TableCounts, ingest_directory

__all__ = ["IngestReport", "TableCounts", "ingest_directory"]
