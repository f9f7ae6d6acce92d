"""The same Ibis expressions on PySpark give the same results as Python."""

from __future__ import annotations

from typing import Any

import pytest

from finpersona.privacy import (
    id_check_digit_valid,
    id_check_digit_valid_expr,
    mask,
    mask_expr,
    pseudonym_expr,
    pseudonym_or_none,
)
from finpersona.schema.model import Pii

from ._helpers import TRICKY, random_values
from .test_idcard import sample_ids

KEY = bytes(range(32))




@pytest.mark.spark
@pytest.mark.xdist_group("spark")
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j's sockets, not ours
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_pseudonym_mask_and_id_check_on_spark(spark: Any) -> None:
    import ibis
    import pandas as pd

    values = [*TRICKY, *random_values(seed=11, count=200), *sample_ids(seed=3, count=100)]
    frame = pd.DataFrame({"i": range(len(values)), "v": pd.Series(values, dtype=object)})
    schema = "i long, v string"
    spark.createDataFrame(frame, schema=schema).createOrReplaceTempView("privacy_values")
    con = ibis.pyspark.connect(spark)
    table = con.table("privacy_values")
    columns: dict[str, Any] = {"ok": id_check_digit_valid_expr(table.v)}
    for kind in Pii:
        columns[f"p_{kind.value}"] = pseudonym_expr(table.v, kind, KEY)
        columns[f"m_{kind.value}"] = mask_expr(table.v, kind)
    # Collected through Spark itself: ibis's own to_pyarrow goes through pandas, which warns.
    sql = con.compile(table.select("i", **columns).order_by("i"))
    rows = spark.sql(sql).collect()
    result = {name: [row[name] for row in rows] for name in columns}

    assert result["ok"] == [None if v is None else id_check_digit_valid(v) for v in values]
    for kind in Pii:
        assert result[f"p_{kind.value}"] == [pseudonym_or_none(v, kind, KEY) for v in values], kind
        assert result[f"m_{kind.value}"] == [mask(v, kind) for v in values], kind
