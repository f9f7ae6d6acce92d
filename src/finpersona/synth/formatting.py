"""Turn generated numpy columns into the canonical source text, in Arrow.

Source files carry text, so every value is formatted once here with Arrow
compute kernels (no per-row Python). A missing value is an Arrow null: an empty
CSV field, a JSON null, a Parquet null.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Columns = dict[str, pa.Array]


def _null_where(arr: pa.Array, missing: np.ndarray | None) -> pa.Array:
    if missing is None or not missing.any():
        return arr
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), arr)


def text(values: np.ndarray | Sequence[str], missing: np.ndarray | None = None) -> pa.Array:
    return _null_where(pa.array(np.asarray(values), pa.string()), missing)


def take(values: pa.Array, index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Rows of an already formatted column, e.g. each transaction's customer id."""
    return _null_where(values.take(pa.array(index.astype(np.int64))), missing)


def codes(index: np.ndarray, labels: Sequence[str] | np.ndarray,
          missing: np.ndarray | None = None) -> pa.Array:
    """Labels looked up by integer code, without building a Python string per row."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)),
                                                pa.array([str(x) for x in labels], pa.string()))
    return _null_where(dictionary.cast(pa.string()), missing)


def integers(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return _null_where(pa.array(values.astype(np.int64)).cast(pa.string()), missing)


def decimals(values: np.ndarray, places: int = 2, missing: np.ndarray | None = None) -> pa.Array:
    """Fixed-point text such as ``1234.50``; values are rounded half away from zero."""
    scale = 10**places
    scaled = np.round(np.asarray(values, dtype=float) * scale).astype(np.int64)
    sign = np.where(scaled < 0, "-", "")
    whole = pa.array(np.abs(scaled) // scale).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(np.abs(scaled) % scale).cast(pa.string()), places, "0")
    out = pc.binary_join_element_wise(pa.array(sign, pa.string()), whole, "")
    out = pc.binary_join_element_wise(out, frac, ".")
    return _null_where(out, missing)


def dates(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(values.astype("datetime64[D]"))
    return _null_where(arr.cast(pa.string()), missing)


def timestamps(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(values.astype("datetime64[s]"))
    return _null_where(arr.cast(pa.string()), missing)


def booleans(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return codes(values.astype(np.int64), ("false", "true"), missing)


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Identifiers like ``T000000012345``: a prefix and a zero-padded running number."""
    digits = pc.utf8_lpad(pa.array(numbers.astype(np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def concat(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")
