"""Moving model data between the engine and Python: frames, splits and fingerprints."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from finpersona.models.spec import KEY, ModelContext, ModelError


def to_frame(ctx: ModelContext, expr: ir.Table) -> pd.DataFrame:
    """An engine expression as a pandas frame indexed by customer_key (sorted, so stable)."""
    if KEY not in expr.columns:
        raise ModelError(f"a model's feature/label expression must have a {KEY} column")
    frame = ctx.engine.to_arrow(expr).to_pandas()
    if frame[KEY].isna().any():
        raise ModelError("feature/label rows without a customer_key")
    if frame[KEY].duplicated().any():
        dup = frame.loc[frame[KEY].duplicated(), KEY].iloc[0]
        raise ModelError(f"more than one feature/label row for customer {dup}")
    indexed: pd.DataFrame = frame.set_index(KEY).sort_index()
    return indexed


def last_data_day(ctx: ModelContext) -> date:
    """The last local day with transactions: outcome windows must end by then."""
    t = ctx.transactions()
    shifted = t.txn_time + ibis.interval(seconds=round(ctx.offset_hours * 3600))
    last = ctx.engine.scalar(shifted.date().max())
    if last is None:
        raise ModelError("no transactions in the warehouse: ingest data first")
    day: date = last.date() if hasattr(last, "date") else last
    return day


@dataclass(frozen=True)
class SplitPlan:
    """Which snapshot trains and how the held-out data is chosen."""

    train_as_of: date
    test_as_of: date | None  # a later snapshot (time-based split), or None: random holdout
    description: str


def plan_split(snapshots: list[date], last_day: date, outcome_days: int,
               requested: date | None = None, holdout: float = 0.25) -> SplitPlan:
    """Time-based when the data allows it: train at D, test at T >= D + window.

    Both outcome windows must have ended by ``last_day``. Without a later snapshot
    whose window has matured, a random share of the training customers is held out.
    """
    if not snapshots:
        raise ModelError("no tag snapshot yet: run `finpersona build` first")
    window = timedelta(days=outcome_days)
    if requested is not None and requested not in snapshots:
        known = ", ".join(d.isoformat() for d in snapshots)
        raise ModelError(f"no tag snapshot for {requested}; snapshots: {known}")
    if outcome_days == 0:
        chosen = requested or snapshots[-1]
        return SplitPlan(chosen, None, f"random {holdout:.0%} of customers held out")
    matured = [d for d in snapshots if d + window <= last_day]
    if requested is not None and requested not in matured:
        raise ModelError(
            f"the {outcome_days}-day outcome window after {requested} ends "
            f"{requested + window}, after the last data day {last_day}: choose an earlier "
            f"snapshot ({', '.join(d.isoformat() for d in matured) or 'none has matured'})")
    if not matured:
        raise ModelError(
            f"no snapshot is old enough: the outcome window is {outcome_days} days and the data "
            f"ends {last_day}; build an earlier date (`finpersona build --as-of ...`)")
    candidates = [requested] if requested is not None else list(reversed(matured))
    for train in candidates:
        later = [t for t in matured if t >= train + window]
        if later:
            test = later[-1]
            return SplitPlan(train, test, (
                f"time-based: trained on the snapshot of {train} with outcomes to "
                f"{train + window}; tested on the snapshot of {test} with outcomes to "
                f"{test + window}"))
    train = candidates[0]
    return SplitPlan(train, None, (
        f"random {holdout:.0%} of customers held out (no later snapshot whose "
        f"{outcome_days}-day outcome window has ended; build one for a time-based test)"))


def holdout_mask(index: pd.Index, share: float, seed: int = 20) -> np.ndarray:
    """A reproducible random holdout: the same customers whatever the row order."""
    digest = pd.util.hash_pandas_object(pd.Series(index.astype(str)), index=False)
    rng = np.random.default_rng(seed)
    salt = int(rng.integers(0, 2**31))
    return np.asarray(((digest.to_numpy() ^ salt) % 10_000) < share * 10_000)


def fingerprint(X: pd.DataFrame, y: pd.Series | None) -> str:
    """SHA-256 of the training data, independent of row order and of the process."""
    h = hashlib.sha256()
    h.update(",".join(map(str, X.columns)).encode())
    ordered = X.sort_index()
    h.update(pd.util.hash_pandas_object(ordered, index=True).to_numpy().tobytes())
    if y is not None:
        h.update(pd.util.hash_pandas_object(y.sort_index(), index=True).to_numpy().tobytes())
    return h.hexdigest()
