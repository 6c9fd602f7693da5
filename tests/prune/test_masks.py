"""Each mask's invariant: exact counts, the smallest go first, structure is whole."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.errors import AccelError
from accel.prune import (
    apply_mask,
    block_mask,
    channel_mask,
    global_magnitude_masks,
    magnitude_mask,
    nm_mask,
)

FAST = settings(max_examples=60, deadline=None)

shapes = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(1, 40)),
    st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3)),
)
fractions = st.floats(0.0, 1.0, allow_nan=False)


def weights(shape, seed, zeros=0.0, dtype=np.float64):
    r = np.random.default_rng(seed)
    w = r.normal(size=shape)
    w[r.random(shape) < zeros] = 0.0
    if np.dtype(dtype).kind == "i":
        return np.round(w * 20).astype(dtype)
    return w.astype(dtype)


# ---- magnitude ----------------------------------------------------------------------


@FAST
@given(shapes, fractions, st.integers(0, 2**16), st.sampled_from([0.0, 0.3]))
def test_magnitude_removes_exactly_round_s_times_size_smallest_first(shape, s, seed, zeros):
    w = weights(shape, seed, zeros)
    mask = magnitude_mask(w, s)
    assert mask.shape == w.shape and mask.dtype == np.bool_
    assert np.count_nonzero(~mask) == round(s * w.size)
    if mask.any() and (~mask).any():
        assert np.abs(w[~mask]).max() <= np.abs(w[mask]).min()


def test_magnitude_ties_go_by_flat_index_and_zeros_count_as_smallest():
    w = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    # the two zeros go first, then the first 1.0 in flat order
    assert magnitude_mask(w, 3 / 8).tolist() == [
        [False, False, True, False],
        [True, True, True, True],
    ]
    assert np.array_equal(magnitude_mask(w, 3 / 8), magnitude_mask(w.copy(), 3 / 8))


def test_magnitude_of_int8_minus_128_is_the_largest():
    w = np.array([[-128, 1, -2, 127]], dtype=np.int8)
    assert magnitude_mask(w, 0.75).tolist() == [[True, False, False, False]]


def test_round_is_half_to_even():
    assert np.count_nonzero(~magnitude_mask(np.arange(1.0, 6.0), 0.5)) == 2  # round(2.5)
    assert np.count_nonzero(~magnitude_mask(np.arange(1.0, 8.0), 0.5)) == 4  # round(3.5)


# ---- global -------------------------------------------------------------------------


@FAST
@given(st.lists(shapes, min_size=1, max_size=4), fractions, st.integers(0, 2**16))
def test_global_uses_one_threshold_and_an_exact_total(shape_list, s, seed):
    ws = {f"t{i}": weights(shape, seed + i) * (i + 1) for i, shape in enumerate(shape_list)}
    masks = global_magnitude_masks(ws, s)
    assert list(masks) == list(ws)
    total = sum(w.size for w in ws.values())
    assert sum(np.count_nonzero(~m) for m in masks.values()) == round(s * total)
    removed = np.concatenate([np.abs(ws[k][~masks[k]]) for k in ws])
    kept = np.concatenate([np.abs(ws[k][masks[k]]) for k in ws])
    if removed.size and kept.size:
        assert removed.max() <= kept.min()


def test_global_is_not_per_layer():
    ws = {"small": np.full((2, 4), 0.1), "large": np.full((2, 4), 5.0)}
    masks = global_magnitude_masks(ws, 0.5)
    assert not masks["small"].any() and masks["large"].all()
    assert np.count_nonzero(~magnitude_mask(ws["large"], 0.5)) == 4


def test_global_ranks_int_and_float_tensors_together():
    ws = {"i": np.array([[3, -1]], dtype=np.int8), "f": np.array([[0.5, 2.0]], np.float32)}
    masks = global_magnitude_masks(ws, 0.5)
    assert masks["i"].tolist() == [[True, False]] and masks["f"].tolist() == [[False, True]]


# ---- N:M ----------------------------------------------------------------------------


@st.composite
def nm_cases(draw):
    m = draw(st.integers(1, 9))
    n = draw(st.integers(0, m - 1))
    return draw(shapes), n, m, draw(st.integers(0, 2**16))


@FAST
@given(nm_cases())
def test_nm_keeps_the_n_largest_of_every_group_along_k(case):
    shape, n, m, seed = case
    w = weights(shape, seed, zeros=0.2)
    mask = nm_mask(w, n, m)
    assert mask.shape == w.shape
    view, keep = w.reshape(w.shape[0], -1), mask.reshape(w.shape[0], -1)
    K = view.shape[1]
    for k0 in range(0, K, m):  # groups start at 0; the last may be partial
        g = min(m, K - k0)
        kept = keep[:, k0 : k0 + g]
        assert np.all(kept.sum(axis=1) == min(n, g))
        a = np.abs(view[:, k0 : k0 + g])
        lo = np.where(kept, a, np.inf).min(axis=1)
        hi = np.where(kept, -np.inf, a).max(axis=1)
        assert np.all(hi <= lo)


def test_nm_groups_run_along_k_in_in_channel_kh_kw_order():
    w = np.arange(1.0, 1 + 2 * 2 * 2 * 2).reshape(2, 2, 2, 2)  # K = 8, increasing
    mask = nm_mask(w, 1, 4)
    # per output channel, K positions 3 and 7 (the largest of each group of 4)
    assert mask.reshape(2, 8).tolist() == [[False, False, False, True] * 2] * 2
    assert mask[0, 0, 1, 1] and mask[0, 1, 1, 1] and not mask[0, 1, 0, 0]


def test_nm_partial_last_group_keeps_min_n_g():
    w = np.array([[5.0, 4.0, 3.0, 2.0, 9.0, 8.0, 7.0, 1.0, 6.0]])  # K = 9, m = 4
    assert nm_mask(w, 2, 4).tolist() == [[1, 1, 0, 0, 1, 1, 0, 0, 1]]
    assert nm_mask(w, 3, 4).sum() == 3 + 3 + 1


@pytest.mark.parametrize(
    ("n", "m", "needles"),
    [
        (4, 2, ["n", "4", "m=2"]),
        (2, 2, ["n", "2"]),
        (1, 0, ["m", "0"]),
        (-1, 4, ["n", "-1"]),
        (True, 4, ["n", "True"]),
        (2, 4.0, ["m", "4.0"]),
    ],
)
def test_nm_argument_errors_name_the_parameter(n, m, needles):
    with pytest.raises(AccelError) as info:
        nm_mask(np.ones((2, 8)), n, m)
    for needle in needles:
        assert needle in str(info.value)


# ---- channel ------------------------------------------------------------------------


@FAST
@given(shapes, fractions, st.integers(0, 2**16), st.sampled_from(["l1", "l2"]))
def test_channel_removes_whole_rows_of_smallest_norm(shape, s, seed, norm):
    w = weights(shape, seed)
    mask = channel_mask(w, s, norm)
    rows = mask.reshape(w.shape[0], -1)
    assert np.all(rows.all(axis=1) | ~rows.any(axis=1))  # whole channels
    gone = ~rows.any(axis=1)
    assert np.count_nonzero(gone) == round(s * w.shape[0])
    a = np.abs(w.reshape(w.shape[0], -1))
    score = a.sum(axis=1) if norm == "l1" else np.sqrt((a * a).sum(axis=1))
    if gone.any() and (~gone).any():
        assert score[gone].max() <= score[~gone].min()


def test_channel_norm_changes_the_choice():
    w = np.array([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.5]])  # l1: 3 < 3.5; l2: 3 > 2.06
    assert channel_mask(w, 0.5, "l1")[:, 0].tolist() == [False, True]
    assert channel_mask(w, 0.5, "l2")[:, 0].tolist() == [True, False]
    with pytest.raises(AccelError, match="norm.*'linf'"):
        channel_mask(w, 0.5, "linf")


# ---- block --------------------------------------------------------------------------


@FAST
@given(
    shapes,
    fractions,
    st.integers(0, 2**16),
    st.tuples(st.integers(1, 4), st.integers(1, 8)),
)
def test_block_removes_whole_tiles_exactly(shape, s, seed, block):
    w = weights(shape, seed)
    mask = block_mask(w, s, block)
    view = mask.reshape(w.shape[0], -1)
    O, K = view.shape
    tiles, removed = 0, 0
    for r0 in range(0, O, block[0]):
        for c0 in range(0, K, block[1]):
            tile = view[r0 : r0 + block[0], c0 : c0 + block[1]]
            assert tile.all() or not tile.any()
            tiles += 1
            removed += not tile.any()
    assert (
        removed == round(s * tiles) == round(s * math.ceil(O / block[0]) * math.ceil(K / block[1]))
    )


def test_block_ranks_by_mean_so_edge_tiles_are_not_favoured():
    w = np.array([[1.0, 1.0, 1.0, 1.0, 2.0]])  # tiles (1, 4): sum 4 mean 1; edge sum 2 mean 2
    assert block_mask(w, 0.5, (1, 4)).tolist() == [[False] * 4 + [True]]


@pytest.mark.parametrize("block", [(0, 4), (1,), "1x16", (1, 2.5), (True, 4)])
def test_block_shape_errors_name_block(block):
    with pytest.raises(AccelError, match="block"):
        block_mask(np.ones((4, 8)), 0.5, block)


# ---- sparsity arguments and apply_mask ------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5", None, np.bool_(False)])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: magnitude_mask(np.ones((2, 2)), s),
        lambda s: global_magnitude_masks({"a": np.ones((2, 2))}, s),
        lambda s: channel_mask(np.ones((2, 2)), s),
        lambda s: block_mask(np.ones((2, 2)), s),
    ],
    ids=["magnitude", "global", "channel", "block"],
)
def test_sparsity_errors_name_the_parameter_and_value(call, bad):
    with pytest.raises(AccelError) as info:
        call(bad)
    assert "sparsity" in str(info.value) and repr(bad) in str(info.value)


def test_numpy_numbers_are_numbers():
    assert np.count_nonzero(~magnitude_mask(np.arange(10.0), np.float32(0.5))) == 5


@pytest.mark.parametrize("bad", [np.array([[1.0, np.nan]]), np.array([["a", "b"]])])
def test_weights_that_cannot_be_ranked_are_refused(bad):
    with pytest.raises(AccelError):
        magnitude_mask(bad, 0.5)


def test_apply_mask_keeps_dtype_and_zeroes_only_removed():
    w = np.array([[-3, 2], [1, -4]], dtype=np.int8)
    out = apply_mask(w, np.array([[True, False], [False, True]]))
    assert out.dtype == np.int8 and out.tolist() == [[-3, 0], [0, -4]]
    assert w.tolist() == [[-3, 2], [1, -4]]  # a new array
    with pytest.raises(AccelError, match="mask"):
        apply_mask(w, np.ones((2, 3), dtype=bool))
    with pytest.raises(AccelError, match="mask"):
        apply_mask(w, np.ones((2, 2)))
