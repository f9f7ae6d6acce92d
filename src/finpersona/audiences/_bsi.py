"""A bit-sliced index (BSI) over one integer column, with exact range queries.

Values are stored as unsigned offsets from the column's minimum, one bitmap per
bit (slice ``i`` holds the rows whose offset has bit ``i`` set), plus the set of
rows that have a value at all. Range queries follow O'Neil and Quass ("Improved
query performance with variant indexes", SIGMOD 1997): walk the slices from the
most significant bit down, narrowing the set of rows still equal to the
constant's prefix and moving rows that fall strictly below (or above) it into the
answer.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

_U64 = np.uint64


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
class BitSlicedIndex:
    """Slices of ``value - base`` for the rows in ``present``; rows outside it are null."""

    base: int
    max_offset: int
    slices: tuple[FrozenBitMap, ...]
    present: FrozenBitMap

    @classmethod
    def build(cls, values: np.ndarray, present: np.ndarray) -> BitSlicedIndex:
        """``values`` int64 (ignored where ``present`` is false), ``present`` bool, same length."""
        positions = np.flatnonzero(present)
        if len(positions) == 0:
            return cls(0, 0, (), FrozenBitMap())
        kept = np.asarray(values, dtype=np.int64)[positions]
        base = int(kept.min())
        # Unsigned wrap-around gives the true difference even when max - min exceeds
        # the int64 range (for instance a column holding both int64 extremes).
        offsets = kept.view(_U64) - _U64(base % (1 << 64))
        max_offset = int(offsets.max())
        depth = max_offset.bit_length()
        if depth <= 32:
            offsets = offsets.astype(np.uint32)
        slices = []
        for bit in range(depth):
            one = offsets.dtype.type(1 << bit)
            slices.append(frozen_from_positions(positions[(offsets & one) != 0]))
        return cls(base, max_offset, tuple(slices), frozen_from_positions(positions))

    def between(self, low: int | None, high: int | None,
                within: AbstractBitMap | None = None) -> AbstractBitMap:
        """Rows (of ``within``, if given) with ``low <= value <= high``; ``None`` leaves
        that end open. Exact.

        Narrowing ``within`` first is what makes a range cheap inside an AND: the walk
        then only touches the rows still in play.
        """
        lo = None if low is None else low - self.base
        hi = None if high is None else high - self.base
        if lo is not None and lo <= 0:
            lo = None
        if hi is not None and hi >= self.max_offset:
            hi = None
        if ((lo is not None and lo > self.max_offset) or (hi is not None and hi < 0)
                or (lo is not None and hi is not None and lo > hi)):
            return BitMap()
        if lo is None and hi is None:
            return self.present if within is None else within & self.present
        # The walk below updates its working set in place, so it gets its own copy.
        eq = BitMap(self.present) if within is None else _owned(within & self.present)
        top = len(self.slices) - 1
        if lo is None:
            assert hi is not None
            return self._at_most(hi, eq, top)
        if hi is None:
            return self._at_least(lo, eq, top)
        return self._within(lo, hi, eq)

    def equal(self, value: int, within: AbstractBitMap | None = None) -> AbstractBitMap:
        return self.between(value, value, within)

    def _within(self, lo: int, hi: int, eq: BitMap) -> BitMap:
        # Above the highest bit where lo and hi differ both bounds ask for the same
        # prefix, so that part of the walk is shared; below it the rows split into
        # those that must still be >= lo and those that must still be <= hi.
        split = (lo ^ hi).bit_length() - 1
        for bit in range(len(self.slices) - 1, split, -1):
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


def _owned(bitmap: AbstractBitMap) -> BitMap:
    return bitmap if isinstance(bitmap, BitMap) else BitMap(bitmap)
