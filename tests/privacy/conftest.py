"""Fixtures shared by the privacy tests."""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import pytest

from ._helpers import Evaluator, make_evaluator


@pytest.fixture(scope="session")
def duckdb_eval() -> Iterator[Evaluator]:
    con = ibis.duckdb.connect()
    yield make_evaluator(con)
    con.disconnect()
