"""Readable labels of numeric bands, shared by audience and segment profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise


def band_labels(cuts: Sequence[float], number: Callable[[float], str]) -> list[str]:
    """Labels of the bands cut at ``cuts``: ``<= a``, ``(a, b]``, ..., ``> z``."""
    if not cuts:
        return ["all"]
    labels = [f"<= {number(cuts[0])}"]
    labels += [f"({number(lo)}, {number(hi)}]" for lo, hi in pairwise(cuts)]
    labels.append(f"> {number(cuts[-1])}")
    return labels
