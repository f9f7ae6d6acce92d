"""Random streams and vectorised sampling helpers.

Every chunk and table draws from its own stream derived from the seed and a
fixed spawn key, so a file's content never depends on what else was generated
before it, or on the order the chunks ran in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

STREAMS = ("customers", "accounts", "holdings", "transactions", "events", "credit", "marketing",
           "service", "social", "consents", "risk", "mess", "catalogue", "resend", "identity",
           # Appended, so the streams above keep their spawn keys.
           "attrition", "acquisition")


def stream(seed: int, chunk: int, name: str) -> np.random.Generator:
    """The generator for one chunk (or -1 for global tables) and one named purpose."""
    key = (chunk + 1, STREAMS.index(name))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def by_group(rng: np.random.Generator, groups: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row, using the probability row of each row's group."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(groups))
    out = np.zeros(len(groups), dtype=np.int64)
    for g in range(probs.shape[0]):
        idx = np.flatnonzero(groups == g)
        if len(idx):
            out[idx] = np.searchsorted(cum[g], u[idx], side="right")
    return np.asarray(np.minimum(out, probs.shape[1] - 1))


def weighted(rng: np.random.Generator, n: int, weights: np.ndarray | list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner index and position-within-owner for ``counts[i]`` rows per owner ``i``."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(owner)) - np.repeat(starts, counts)
    return owner, pos


@dataclass(frozen=True)
class Chunk:
    """Where one chunk of customers sits in the run: seed, number and period."""

    seed: int
    number: int
    start: date
    months: int

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.number, name)

    @property
    def days(self) -> np.ndarray:
        from finpersona.synth.calendar import period_days

        return period_days(self.start, self.months)

    @property
    def end(self) -> np.datetime64:
        return np.datetime64(self.days[-1], "D")

    def ids(self, prefix: str, count: int, width: int = 11) -> pa.Array:
        """Globally unique ids: the chunk number is part of the running number."""
        from finpersona.synth.formatting import prefixed_ids

        return prefixed_ids(prefix, np.arange(count, dtype=np.int64) + self.number * 10**8, width)
