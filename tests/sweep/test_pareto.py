"""Pareto masks and hypervolumes against independent brute force: pairwise dominance,
inclusion-exclusion over subsets and unit-cell counts on the integer grid."""

from __future__ import annotations

from itertools import combinations
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from accel.sweep import pareto
from accel.sweep.pareto import hypervolume, non_dominated, normalised, reference_point

FAST = settings(max_examples=60, deadline=None)


def int_points(d: int, max_n: int, hi: int = 4):
    """Integer-valued point sets with small coordinates, so ties and duplicates are common."""
    return st.integers(0, max_n).flatmap(
        lambda n: hnp.arrays(np.int64, (n, d), elements=st.integers(0, hi)).map(
            lambda a: a.astype(float)
        )
    )


def brute_non_dominated(p: np.ndarray) -> np.ndarray:
    keep = []
    for i in range(len(p)):
        dominated = False
        for j in range(len(p)):
            weakly = all(p[j][k] <= p[i][k] for k in range(p.shape[1]))
            strictly = any(p[j][k] < p[i][k] for k in range(p.shape[1]))
            if weakly and strictly:
                dominated = True
                break
        keep.append(not dominated)
    return np.array(keep, dtype=bool)


def inclusion_exclusion(p: np.ndarray, ref: np.ndarray) -> float:
    """Volume of the union of the boxes [p_i, ref] by inclusion-exclusion (n <= 6)."""
    total = 0.0
    for size in range(1, len(p) + 1):
        for subset in combinations(range(len(p)), size):
            corner = np.max(p[list(subset)], axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(ref - corner, 0, None)))
    return total


def grid_count(p: np.ndarray, ref: np.ndarray) -> int:
    """Unit cells of the integer grid in [0, ref) with some point at or below the cell's
    lower corner: exact for non-negative integer points and an integer reference."""
    cells = np.indices(tuple(int(r) for r in ref)).reshape(len(ref), -1).T
    if len(p) == 0:
        return 0
    covered = (p[None, :, :] <= cells[:, None, :]).all(axis=2).any(axis=1)
    return int(covered.sum())


# ---------------------------------------------------------------- non_dominated


@FAST
@given(st.data())
def test_non_dominated_matches_pairwise_check(data):
    d = data.draw(st.sampled_from([1, 2, 3, 4]))
    p = data.draw(int_points(d, 25))
    np.testing.assert_array_equal(non_dominated(p), brute_non_dominated(p))


@FAST
@given(st.data())
def test_non_dominated_across_block_boundaries(data):
    """Tiny blocks and chunks, so points are checked against fronts carried over from earlier
    blocks in pieces; d = 2 also takes the blockwise path here (via the private helper)."""
    d = data.draw(st.sampled_from([2, 3, 4, 5]))
    p = data.draw(int_points(d, 25))
    block = data.draw(st.integers(1, 5))
    chunk = data.draw(st.integers(1, 20))
    with mock.patch.object(pareto, "_BLOCK", block), mock.patch.object(pareto, "_HV_CHUNK", chunk):
        np.testing.assert_array_equal(non_dominated(p), brute_non_dominated(p))
        if len(p):
            u = np.unique(p, axis=0)
            general = pareto._dominated_unique(np.pad(u, ((0, 0), (0, 1))), block)
            np.testing.assert_array_equal(~general, brute_non_dominated(u))


@pytest.mark.parametrize("d", [3, 4, 5])
def test_non_dominated_many_points_with_ties(d):
    """More points than one block, so later blocks meet the front carried over."""
    rng = np.random.default_rng(d)
    p = rng.integers(0, 12, size=(1200, d)).astype(float)
    dom = (p[:, None, :] <= p[None, :, :]).all(2) & (p[:, None, :] < p[None, :, :]).any(2)
    expected = ~dom.any(axis=0)
    np.testing.assert_array_equal(non_dominated(p), expected)
    with mock.patch.object(pareto, "_HV_CHUNK", 1000):  # front comparisons in pieces
        np.testing.assert_array_equal(non_dominated(p), expected)


def test_non_dominated_small_cases():
    assert non_dominated(np.empty((0, 3))).shape == (0,)
    assert non_dominated([]).shape == (0,)
    assert non_dominated([[5.0, 1.0, 2.0]]).tolist() == [True]
    dup = [[1.0, 2.0], [1.0, 2.0], [2.0, 2.0], [0.0, 3.0]]
    assert non_dominated(dup).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="NaN"):
        non_dominated([[1.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        non_dominated([1.0, 2.0])


# ---------------------------------------------------------------- hypervolume


@FAST
@given(st.data())
def test_hypervolume_matches_inclusion_exclusion(data):
    d = data.draw(st.sampled_from([1, 2, 3, 4]))
    p = data.draw(
        st.integers(0, 6).flatmap(
            lambda n: hnp.arrays(
                float, (n, d), elements=st.floats(0, 10, allow_nan=False, width=32)
            )
        )
    )
    ref = np.array(data.draw(st.lists(st.floats(0, 12, width=32), min_size=d, max_size=d)))
    assert hypervolume(p, ref) == pytest.approx(inclusion_exclusion(p, ref), rel=1e-9, abs=1e-9)


@FAST
@given(st.data())
def test_hypervolume_matches_grid_count(data):
    d = data.draw(st.sampled_from([2, 3]))
    p = data.draw(int_points(d, 40, hi=7))
    ref = np.array(data.draw(st.lists(st.integers(3, 8), min_size=d, max_size=d)), float)
    chunk = data.draw(st.sampled_from([1, 5, 64, pareto._HV_CHUNK]))  # ~elements per sweep step
    expected = grid_count(p, ref)
    with mock.patch.object(pareto, "_HV_CHUNK", chunk):
        assert hypervolume(p, ref) == expected
    # the sweep itself also takes dominated points (all strictly below the reference)
    assert pareto._hv_sorted(p[(p < ref).all(axis=1)], ref) == expected


def test_hypervolume_large_front_matches_grid_count():
    """A 231-point front (the integer points with x + y + z = 20) among 600 dominated ones."""
    grid = np.indices((21, 21, 21)).reshape(3, -1).T
    front = grid[grid.sum(axis=1) == 20]
    rng = np.random.default_rng(3)
    worse = front[rng.integers(0, len(front), 600)] + rng.integers(0, 3, size=(600, 3))
    p = rng.permutation(np.concatenate([front, worse])).astype(float)
    ref = np.array([21.0, 22.0, 21.0])
    expected = grid_count(p, ref)
    assert hypervolume(p, ref) == expected
    with mock.patch.object(pareto, "_HV_CHUNK", 300):  # the 3-D sweep in several steps
        assert hypervolume(p, ref) == expected
    # the front and its exact copies (unshifted "worse" points), nothing else
    np.testing.assert_array_equal(non_dominated(p), p.sum(axis=1) == 20)


def test_hypervolume_closed_forms():
    assert hypervolume([[1.0, 2.0]], [4.0, 5.0]) == 9.0
    assert hypervolume([[1.0, 2.0, 3.0]], [2.0, 4.0, 7.0]) == 8.0
    # two 2-D points: two boxes minus their overlap, 3*2 + 1*4 - 1*2
    assert hypervolume([[1.0, 3.0], [3.0, 1.0]], [4.0, 5.0]) == 8.0
    # two 3-D points: 2*2*1 + 1*1*3 - 1*1*1
    assert hypervolume([[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]], [2.0, 2.0, 3.0]) == 6.0
    # on or beyond the reference: nothing
    assert hypervolume([[4.0, 1.0], [1.0, 6.0]], [4.0, 5.0]) == 0.0
    assert hypervolume([[np.inf, 1.0]], [4.0, 5.0]) == 0.0


def test_hypervolume_empty_and_bad_input():
    assert hypervolume(np.empty((0, 3)), [1.0, 1.0, 1.0]) == 0.0
    assert hypervolume([], [1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="objectives"):
        hypervolume([[1.0, 2.0]], [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[1.0, 2.0]], [3.0, np.inf])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[1.0, np.nan]], [3.0, 3.0])


@FAST
@given(st.data())
def test_hypervolume_invariant_to_order_and_dominated_points(data):
    d = data.draw(st.sampled_from([2, 3]))
    p = data.draw(int_points(d, 20, hi=9))
    ref = np.full(d, 10.0)
    base = hypervolume(p, ref)
    perm = data.draw(st.permutations(range(len(p))))
    assert hypervolume(p[list(perm)], ref) == base
    if len(p):
        idx = data.draw(st.lists(st.integers(0, len(p) - 1), max_size=10))
        shift = data.draw(
            hnp.arrays(np.int64, (len(idx), d), elements=st.integers(0, 3)).map(
                lambda a: a.astype(float)
            )
        )
        worse = p[idx] + shift  # each is dominated by (or equal to) a point already there
        assert hypervolume(np.concatenate([p, worse]), ref) == base


@FAST
@given(st.data())
def test_hypervolume_monotone(data):
    d = data.draw(st.sampled_from([2, 3]))
    p = data.draw(int_points(d, 15, hi=9))
    q = np.array([data.draw(st.lists(st.integers(0, 11), min_size=d, max_size=d))], float)
    ref = np.full(d, 10.0)
    before, after = hypervolume(p, ref), hypervolume(np.concatenate([p, q]), ref)
    assert after >= before
    # strictly more whenever q is inside the box and no point weakly dominates it
    if (q < ref).all() and not (p <= q).all(axis=1).any():
        assert after > before


# ---------------------------------------------------------------- reference_point, normalised


def test_reference_point():
    p = np.array([[1.0, 10.0, 0.0], [4.0, 2.0, 0.0]])
    np.testing.assert_allclose(reference_point(p), [4.4, 11.0, 0.0])
    np.testing.assert_allclose(reference_point(p, margin=0.0), [4.0, 10.0, 0.0])
    assert hypervolume(p[:, :2], reference_point(p[:, :2], margin=0.0)) == 0.0
    assert hypervolume(p[:, :2], reference_point(p[:, :2])) > 0.0
    with pytest.raises(ValueError, match="at least one"):
        reference_point(np.empty((0, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        reference_point([[-1.0, 2.0]])
    with pytest.raises(ValueError, match="margin"):
        reference_point(p, margin=-0.5)


@FAST
@given(st.data())
def test_normalised_scales_hypervolume_by_the_box(data):
    d = data.draw(st.sampled_from([2, 3]))
    p = data.draw(int_points(d, 12, hi=9))
    lo = np.array(data.draw(st.lists(st.integers(-3, 0), min_size=d, max_size=d)), float)
    span = np.array(data.draw(st.lists(st.integers(1, 20), min_size=d, max_size=d)), float)
    hi, ref = lo + span, np.full(d, 10.0)
    scaled = hypervolume(normalised(p, lo, hi), normalised(ref[None], lo, hi)[0])
    assert scaled * np.prod(span) == pytest.approx(hypervolume(p, ref), rel=1e-9, abs=1e-9)


def test_normalised_bounds():
    p = np.array([[2.0, 5.0], [4.0, 15.0]])
    np.testing.assert_allclose(normalised(p, [2.0, 5.0], [4.0, 15.0]), [[0, 0], [1, 1]])
    assert normalised(np.empty((0, 2)), [0, 0], [1, 1]).shape == (0, 2)
    with pytest.raises(ValueError, match="hi > lo"):
        normalised(p, [0.0, 5.0], [1.0, 5.0])
    with pytest.raises(ValueError, match="per objective"):
        normalised(p, [0.0], [1.0])
