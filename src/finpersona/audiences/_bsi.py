"""A bit-sliced index (BSI) over one integer column, with exact range queries.

Values are stored as unsigned offsets from the column's minimum, one bitmap per
bit (slice ``i`` holds the rows whose offset has bit ``i`` set), plus the set of
rows that have a value at all. Range queries follow O'Neil and Quass ("Improved
query performance with variant indexes", SIGMOD 1997): walk the slices from the
most significant bit down, narrowing the set of rows still equal to the
constant's prefix and moving rows that fall strictly below (or above) it into the
answer.

On ten million rows that walk costs two or three set operations per bit on sets
of millions of rows, too slow for counts while a marketer types. So the rows are
also cut into a few equi-depth bins (value ranges holding about the same number
of rows; a value that fills several bins gets one of its own), kept cumulatively
(bin ``j`` stores every row up to its largest value, as in range encoding). The
bins a range covers whole then cost one difference, and the slices are walked
only inside the (at most two) bins it cuts, and only from the highest bit on which
that bin's smallest and largest values differ: above it every row of the bin, and
the bound, share their bits. Skewed counts (most customers at 0 or 1) then mostly
need no walk at all.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

_U64 = np.uint64
BINS = 16  # more bins: shorter walks, but each costs up to one bit per row


def frozen_from_positions(positions: np.ndarray) -> FrozenBitMap:
    """A bitmap of sorted row positions.

    Going through ``array('I')`` lets pyroaring read the buffer in one call; handing
    it a numpy array makes it iterate element by element, about ten times slower.
    """
    buffer = array("I")
    buffer.frombytes(np.ascontiguousarray(positions, dtype=np.uint32).tobytes())
    return FrozenBitMap(buffer)  # optimize=True: run containers where they are smaller


def _low_bits_all_ones(value: int, bit: int) -> bool:
    mask = (1 << (bit + 1)) - 1
    return value & mask == mask


def _low_bits_all_zero(value: int, bit: int) -> bool:
    return value & ((1 << (bit + 1)) - 1) == 0


@dataclass(frozen=True)
class Bin:
    """Offsets ``low..high`` (the smallest and largest present) form this bin; ``upto``
    holds the rows of this bin and of every bin before it."""

    low: int
    high: int
    upto: FrozenBitMap


@dataclass(frozen=True)
class BitSlicedIndex:
    """Slices of ``value - base`` for the rows in ``present``; rows outside it are null."""

    base: int
    max_offset: int
    slices: tuple[FrozenBitMap, ...]
    present: FrozenBitMap
    bins: tuple[Bin, ...]  # a partition of ``present`` by value, in value order

    @classmethod
    def build(cls, values: np.ndarray, present: np.ndarray) -> BitSlicedIndex:
        """``values`` int64 (ignored where ``present`` is false), ``present`` bool, same length."""
        positions = np.flatnonzero(present)
        if len(positions) == 0:
            return cls(0, 0, (), FrozenBitMap(), ())
        kept = np.asarray(values, dtype=np.int64)[positions]
        base = int(kept.min())
        # Unsigned wrap-around gives the true difference even when max - min exceeds
        # the int64 range (for instance a column holding both int64 extremes).
        offsets = kept.view(_U64) - _U64(base % (1 << 64))
        del kept
        max_offset = int(offsets.max())
        depth = max_offset.bit_length()
        if depth <= 32:
            offsets = offsets.astype(np.uint32)
        slices = []
        for bit in range(depth):
            one = offsets.dtype.type(1 << bit)
            slices.append(frozen_from_positions(positions[(offsets & one) != 0]))
        return cls(base, max_offset, tuple(slices), frozen_from_positions(positions),
                   _build_bins(offsets, positions))

    def between(self, low: int | None, high: int | None,
                within: AbstractBitMap | None = None) -> AbstractBitMap:
        """Rows (of ``within``, if given) with ``low <= value <= high``; ``None`` leaves
        that end open. Exact.

        Narrowing ``within`` first is what makes a range cheap inside an AND: the walk
        then only touches the rows still in play.
        """
        lo = 0 if low is None else max(low - self.base, 0)
        hi = self.max_offset if high is None else min(high - self.base, self.max_offset)
        if lo > hi:
            return BitMap()
        if lo == 0 and hi == self.max_offset:
            return self.present if within is None else within & self.present
        bins = self.bins
        first = next(j for j, b in enumerate(bins) if b.high >= lo)
        last = next(j for j in range(len(bins) - 1, -1, -1) if bins[j].low <= hi)
        if first > last:  # the range falls between two bins
            return BitMap()
        parts: list[AbstractBitMap] = []
        # Bins first..last meet the range; only those two may be cut by it.
        start = first if bins[first].low >= lo else first + 1
        stop = last if bins[last].high <= hi else last - 1
        if start <= stop:
            covered = self._upto(stop, within)
            parts.append(covered - bins[start - 1].upto if start else covered)
        for j in sorted({first, last} - set(range(start, stop + 1))):
            b = bins[j]
            # The walk updates its working set in place, so it gets its own copy.
            eq = _owned(self._upto(j, within))
            if j:
                eq -= bins[j - 1].upto
            if not eq:
                continue
            top = (b.low ^ b.high).bit_length() - 1
            if b.low < lo and hi < b.high:
                parts.append(self._within(lo, hi, eq, top))
            elif b.low < lo:
                parts.append(self._at_least(lo, eq, top))
            else:
                parts.append(self._at_most(hi, eq, top))
        return union(parts)

    def _upto(self, j: int, within: AbstractBitMap | None) -> AbstractBitMap:
        upto = self.bins[j].upto
        return upto if within is None else within & upto

    def equal(self, value: int, within: AbstractBitMap | None = None) -> AbstractBitMap:
        return self.between(value, value, within)

    def _within(self, lo: int, hi: int, eq: BitMap, top: int) -> BitMap:
        # Above the highest bit where lo and hi differ both bounds ask for the same
        # prefix, so that part of the walk is shared; below it the rows split into
        # those that must still be >= lo and those that must still be <= hi.
        split = (lo ^ hi).bit_length() - 1
        for bit in range(top, split, -1):
            if (lo >> bit) & 1:
                eq &= self.slices[bit]
            else:
                eq -= self.slices[bit]
            if not eq:
                return eq
        if lo == hi:
            return eq
        s = self.slices[split]
        lower_half = eq - s  # bit `split` is 0 here, as in lo
        eq &= s  # bit `split` is 1 here, as in hi
        result = self._at_least(lo, lower_half, split - 1)
        result |= self._at_most(hi, eq, split - 1)
        return result

    def _at_most(self, value: int, eq: BitMap, top: int) -> BitMap:
        """Rows of ``eq`` whose bits ``top..0`` are <= those of ``value`` (consumes ``eq``)."""
        below = BitMap()
        for bit in range(top, -1, -1):
            if _low_bits_all_ones(value, bit):
                break
            s = self.slices[bit]
            if (value >> bit) & 1:
                below |= eq - s
                eq &= s
            else:
                eq -= s
            if not eq:
                return below
        below |= eq
        return below

    def _at_least(self, value: int, eq: BitMap, top: int) -> BitMap:
        """Rows of ``eq`` whose bits ``top..0`` are >= those of ``value`` (consumes ``eq``)."""
        above = BitMap()
        for bit in range(top, -1, -1):
            if _low_bits_all_zero(value, bit):
                break
            s = self.slices[bit]
            if (value >> bit) & 1:
                eq &= s
            else:
                above |= eq & s
                eq -= s
            if not eq:
                return above
        above |= eq
        return above


def _build_bins(offsets: np.ndarray, positions: np.ndarray) -> tuple[Bin, ...]:
    """Split the rows at (up to ``BINS - 1``) quantiles of their values."""
    n = len(offsets)
    kth = sorted({(n - 1) * j // BINS for j in range(1, BINS)})
    cuts = np.unique(np.partition(offsets, kth)[kth])
    # Bin j holds offsets in (cuts[j-1], cuts[j]]; the last one everything above.
    number = np.searchsorted(cuts, offsets, side="left").astype(np.int8)
    # A stable sort on 8-bit keys is a radix sort in numpy, and it keeps positions
    # ascending inside each bin, as the bitmaps want them.
    order = np.argsort(number, kind="stable")
    starts = np.searchsorted(number[order], np.arange(len(cuts) + 2))
    bins: list[Bin] = []
    upto = BitMap()
    for start, end in pairwise(starts):
        if start == end:
            continue
        members = order[start:end]
        values = offsets[members]
        upto |= frozen_from_positions(positions[members])
        upto.run_optimize()
        bins.append(Bin(int(values.min()), int(values.max()), FrozenBitMap(upto)))
    return tuple(bins)


def union(parts: Sequence[AbstractBitMap]) -> AbstractBitMap:
    if not parts:
        return BitMap()
    if len(parts) == 1:
        return parts[0]
    return BitMap.union(BitMap(), *parts)


def _owned(bitmap: AbstractBitMap) -> BitMap:
    return bitmap if isinstance(bitmap, BitMap) else BitMap(bitmap)
