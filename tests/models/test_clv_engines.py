"""The clv features are one engine expression: Spark computes what DuckDB computes."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from finpersona.analytics.data import open_analytics
from finpersona.models.clv_spec import SPEC
from finpersona.models.data import to_frame
from tests.conftest import FIRST_AS_OF, SPARK_MARKS, Ingested

pytestmark = [*SPARK_MARKS,
              pytest.mark.filterwarnings("ignore::ResourceWarning")]  # py4j sockets on Spark


def _features(ingested: Ingested) -> pd.DataFrame:
    with open_analytics(ingested.workspace) as ctx:
        return to_frame(ctx, SPEC.features(ctx, FIRST_AS_OF))


def test_clv_features_are_equal_on_duckdb_and_spark(
        ingest_with: Callable[[str], Ingested]) -> None:
    duck = _features(ingest_with("duckdb"))
    spark = _features(ingest_with("spark"))
    assert len(duck) > 500 and (duck.frequency > 0).sum() > 300
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False, rtol=1e-9)
