"""Byte-row packing of beats against Python's own integer arithmetic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.hw.packing import from_ints, pack_fields, to_ints, unpack_fields


def _reference(row: list[int], width: int) -> int:
    """Fields concatenated with field 0 lowest, as Amaranth packs an array layout."""
    out = 0
    for i, v in enumerate(row):
        out |= (v & ((1 << width) - 1)) << (i * width)
    return out


@st.composite
def fields(draw):
    width = draw(st.integers(2, 64))
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 9))
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = draw(st.lists(st.lists(st.integers(lo, hi), min_size=k, max_size=k),
                           min_size=n, max_size=n))  # fmt: skip
    return width, values


@settings(max_examples=200, deadline=None)
@given(fields())
def test_pack_is_the_integer_concatenation_and_unpack_inverts_it(case):
    width, values = case
    rows = pack_fields(np.array(values, dtype=np.int64), width)
    assert to_ints(rows) == [_reference(r, width) for r in values]
    k = len(values[0])
    assert unpack_fields(rows, width, k).tolist() == values


@settings(max_examples=100, deadline=None)
@given(fields(), st.integers(0, 13))
def test_unpack_from_an_offset(case, offset):
    width, values = case
    k = len(values[0])
    beats = [(_reference(r, width) << offset) | ((1 << offset) - 1) for r in values]
    rows = from_ints(beats, offset + k * width)
    assert unpack_fields(rows, width, k, offset).tolist() == values
