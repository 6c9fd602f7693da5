"""Sparsity generators: patterns hold exactly where they promise to, densities hold in
expectation, and the shortcut for whole layers draws from the same distribution as
materialising the activations would."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accel.config import ArrayConfig
from accel.encode import act_pattern, unpack_blocks
from accel.errors import AccelError
from accel.workloads.layer import Layer
from accel.workloads.sparsity import (
    WeightSparsity,
    layer_act_pattern,
    layer_weight_pattern,
    parse_pattern,
    random_acts,
    random_weights,
    weight_nonzeros,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sigmas(observed: float, expected: float, sd: float) -> float:
    return abs(observed - expected) / sd


# -- parse_pattern -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "density", "expected"),
    [
        ("unstructured", None, WeightSparsity("unstructured", 1.0)),
        ("unstructured", 0.3, WeightSparsity("unstructured", 0.3)),
        ("  Unstructured ", 0.0, WeightSparsity("unstructured", 0.0)),
        ("channel", 0.25, WeightSparsity("channel", 0.25)),
        ("CHANNEL", None, WeightSparsity("channel", 1.0)),
        ("2:4", None, WeightSparsity("nm", 0.5, 2, 4)),
        ("2:4", 0.5, WeightSparsity("nm", 0.5, 2, 4)),
        (" 1:8 ", None, WeightSparsity("nm", 0.125, 1, 8)),
        ("1:64", None, WeightSparsity("nm", 1 / 64, 1, 64)),
    ],
)
def test_parse_pattern_accepts(pattern, density, expected):
    assert parse_pattern(pattern, density) == expected


def test_labels():
    assert parse_pattern("2:4", None).label == "2:4"
    assert parse_pattern("channel", 0.5).label == "channel"
    assert parse_pattern("unstructured", 0.5).label == "unstructured"


@pytest.mark.parametrize(
    ("pattern", "density", "needle"),
    [
        ("3:2", None, "'3:2'"),
        ("0:4", None, "'0:4'"),
        ("3:3", None, "1 <= N < M"),  # keeping every weight is no pattern (as prune --nm)
        ("1:65", None, "'1:65'"),
        ("-1:4", None, "'-1:4'"),
        ("a:b", None, "'a:b'"),
        ("2:4:8", None, "'2:4:8'"),
        ("2:", None, "'2:'"),
        ("blocky", None, "'blocky'"),
        ("", None, "''"),
        ("2:4", 0.3, "0.3"),
        ("unstructured", 1.5, "1.5"),
        ("unstructured", -0.1, "-0.1"),
        ("channel", math.nan, "nan"),
        ("unstructured", True, "True"),
    ],
)
def test_parse_pattern_rejects_naming_the_value(pattern, density, needle):
    with pytest.raises(AccelError) as info:
        parse_pattern(pattern, density)
    assert needle in str(info.value)


def test_weight_sparsity_validates():
    with pytest.raises(AccelError, match="'blocky'"):
        WeightSparsity("blocky", 0.5)
    with pytest.raises(AccelError, match="2.0"):
        WeightSparsity("unstructured", 2.0)


# -- weight_nonzeros -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m"), [(1, 4), (2, 4), (3, 8), (1, 2), (4, 4), (5, 16)])
@pytest.mark.parametrize("K", [16, 21, 3, 64 + 7])
def test_nm_holds_exactly_in_every_group(n, m, K):
    nz = weight_nonzeros(_rng(n * 100 + m + K), (3, 37, K), WeightSparsity("nm", n / m, n, m))
    assert nz.shape == (3, 37, K) and nz.dtype == bool
    full, tail = divmod(K, m)
    if full:
        per_group = nz[..., : full * m].reshape(3, 37, full, m).sum(axis=-1)
        assert (per_group == n).all()
    if tail:
        assert (nz[..., full * m :].sum(axis=-1) <= n).all()


def test_nm_positions_are_spread_over_the_group():
    nz = weight_nonzeros(_rng(1), (2000, 64), WeightSparsity("nm", 0.5, 2, 4))
    freq = nz.reshape(2000, 16, 4).mean(axis=(0, 1))  # P(position j kept) = 1/2 each
    sd = math.sqrt(0.25 / (2000 * 16))
    assert all(_sigmas(f, 0.5, sd) < 6 for f in freq)


@pytest.mark.parametrize(("density", "M"), [(0.3, 10), (0.5, 7), (0.0, 9), (1.0, 5), (0.26, 50)])
def test_channel_keeps_exactly_round_d_m_whole_rows(density, M):
    nz = weight_nonzeros(_rng(2), (4, M, 13), WeightSparsity("channel", density))
    assert nz.shape == (4, M, 13)
    rows = nz.any(axis=-1)
    assert (nz.all(axis=-1) == rows).all()  # whole rows only
    assert (rows.sum(axis=-1) == round(density * M)).all()  # in every group


def test_channel_picks_different_rows_per_group():
    nz = weight_nonzeros(_rng(3), (8, 64, 4), WeightSparsity("channel", 0.5))
    rows = nz[..., 0]
    assert len({tuple(r) for r in rows}) > 1


@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 0.77, 1.0])
def test_unstructured_density_within_tolerance(density):
    shape = (4, 200, 250)
    nz = weight_nonzeros(_rng(4), shape, WeightSparsity("unstructured", density))
    assert nz.shape == shape
    count = nz.size
    observed = nz.mean()
    if density in (0.0, 1.0):
        assert observed == density
    else:
        assert _sigmas(observed, density, math.sqrt(density * (1 - density) / count)) < 5
        # independent positions: the density does not drift along K or M
        sd_half = math.sqrt(density * (1 - density) * 2 / count)
        assert _sigmas(nz[..., :125].mean(), density, sd_half) < 5


# -- random_weights / random_acts -------------------------------------------------------------


@pytest.mark.parametrize("w_bits", [8, 4, 2])
def test_random_weights_ranges_signs_and_pattern(w_bits):
    sparsity = WeightSparsity("nm", 0.5, 2, 4)
    W = random_weights(_rng(5), (64, 128), sparsity, w_bits)
    hi = (1 << (w_bits - 1)) - 1
    assert W.dtype == np.int64 and W.shape == (64, 128)
    assert W.min() >= -hi and W.max() <= hi
    assert (W < 0).any() and (W > 0).any()
    per_group = (W != 0).reshape(64, 32, 4).sum(axis=-1)
    assert (per_group == 2).all()  # kept weights are never zero
    assert _sigmas((W < 0).sum() / (W != 0).sum(), 0.5, math.sqrt(0.25 / (W != 0).sum())) < 5


def test_random_weights_unstructured_density():
    W = random_weights(_rng(6), (300, 300), WeightSparsity("unstructured", 0.2))
    assert _sigmas(np.count_nonzero(W) / W.size, 0.2, math.sqrt(0.16 / W.size)) < 5
    assert np.abs(W).max() == 127  # the whole magnitude range is used


@pytest.mark.parametrize(("density", "a_bits"), [(0.4, 8), (0.9, 4), (0.0, 8), (1.0, 3)])
def test_random_acts_relu_like(density, a_bits):
    X = random_acts(_rng(7), (300, 200), density, a_bits)
    hi = (1 << (a_bits - 1)) - 1
    assert X.dtype == np.int64 and X.shape == (300, 200)
    assert X.min() >= 0 and X.max() <= hi
    observed = np.count_nonzero(X) / X.size
    if density in (0.0, 1.0):
        assert observed == density
    else:
        assert _sigmas(observed, density, math.sqrt(density * (1 - density) / X.size)) < 5
        assert X.max() == hi


@pytest.mark.parametrize("density", [-0.1, 1.01, math.nan, "0.5", None])
def test_random_acts_rejects_bad_density(density):
    with pytest.raises(AccelError) as info:
        random_acts(_rng(), (4, 4), density)
    assert "activation density" in str(info.value) and repr(density) in str(info.value)


def test_seeds_reproduce_and_differ():
    s = WeightSparsity("unstructured", 0.5)
    a = random_weights(_rng(11), (32, 32), s)
    assert np.array_equal(a, random_weights(_rng(11), (32, 32), s))
    assert not np.array_equal(a, random_weights(_rng(12), (32, 32), s))
    x = random_acts(_rng(11), (32, 32), 0.5)
    assert np.array_equal(x, random_acts(_rng(11), (32, 32), 0.5))
    assert not np.array_equal(x, random_acts(_rng(12), (32, 32), 0.5))


# -- layer patterns ---------------------------------------------------------------------------


def test_layer_weight_pattern_per_group():
    layer = Layer("dw", M=32, K=9, N=100, groups=8)
    cfg = ArrayConfig(rows=4, cols=4, block=8)
    wp = layer_weight_pattern(_rng(8), layer, cfg, WeightSparsity("nm", 0.5, 1, 2))
    assert wp.masks.shape == (8, 4, 2) and wp.col_nnz.shape == (8, 9)
    # K = 9 with 1:2: four full groups (one kept each) and a tail of one (at most one)
    assert 4 * 4 <= wp.nnz / 8 <= 5 * 4


def _stats(ap, block: int, C: int, N: int):
    """Mask-bit frequency in full and tail column tiles, and the row_nnz moments."""
    G, ntn, nb = ap.masks.shape
    bits = unpack_blocks(ap.masks, block, ap.K)  # [G, ntn, K]
    full_tiles = N // C
    return (
        bits[:, :full_tiles].mean(),
        bits[:, full_tiles:].mean() if N % C else None,
        ap.row_nnz.mean(),
        ap.row_nnz.var(),
    )


@pytest.mark.parametrize("density", [0.03, 0.3, 0.85])
def test_layer_act_pattern_matches_materialised_acts_in_distribution(density):
    """Against theory and against ``act_pattern(random_acts(...))``: per-window-row
    activity P(any of C nonzero) = 1 - (1 - p)**C (tail tile with N mod C columns), and
    per-K-row nonzero counts Binomial(N, p) in mean and variance."""
    C, B, G, K = 8, 16, 4, 1024
    N = 25 * C + 3  # a partial last column tile of 3
    cfg = ArrayConfig(rows=4, cols=C, block=B)
    layer = Layer("x", M=4 * G, K=K, N=N, groups=G)
    drawn = layer_act_pattern(_rng(9), layer, cfg, density)
    X = random_acts(_rng(10), (G, K, N), density)
    made = act_pattern(X, B, C)
    assert drawn.masks.shape == made.masks.shape == (G, 26, K // B)
    assert drawn.row_nnz.shape == made.row_nnz.shape == (G, K)
    assert (drawn.K, drawn.N, drawn.block, drawn.cols) == (K, N, B, C)

    q_full = 1 - (1 - density) ** C
    q_tail = 1 - (1 - density) ** 3
    n_full, n_tail = G * 25 * K, G * K
    rows = G * K
    mean_nnz, var_nnz = N * density, N * density * (1 - density)
    for ap in (drawn, made):
        full, tail, m, v = _stats(ap, B, C, N)
        assert _sigmas(full, q_full, math.sqrt(q_full * (1 - q_full) / n_full) + 1e-12) < 5
        assert _sigmas(tail, q_tail, math.sqrt(q_tail * (1 - q_tail) / n_tail) + 1e-12) < 5
        assert _sigmas(m, mean_nnz, math.sqrt(var_nnz / rows)) < 5
        # sd of a sample variance is about var * sqrt(2 / rows); 1.2 covers the kurtosis
        assert _sigmas(v, var_nnz, var_nnz * math.sqrt(2 / rows) * 1.2) < 5
        # mean mask popcount per (tile, block), what the timing depends on
        pop = np.bitwise_count(ap.masks[:, :25]).mean()
        sd_pop = math.sqrt(B * q_full * (1 - q_full) / (G * 25 * (K // B))) + 1e-12
        assert _sigmas(pop, B * q_full, sd_pop) < 5
    # and the two against each other
    assert abs(drawn.density - made.density) < 6 * math.sqrt(2 * density / (G * K * N))


@pytest.mark.parametrize(("density", "expect"), [(0.0, 0), (1.0, 1)])
def test_layer_act_pattern_extremes(density, expect):
    C, B = 4, 8
    layer = Layer("x", M=4, K=20, N=10, groups=1)
    ap = layer_act_pattern(_rng(), layer, ArrayConfig(rows=4, cols=C, block=B), density)
    bits = unpack_blocks(ap.masks, B, 20)
    assert (bits == bool(expect)).all()
    assert (ap.row_nnz == expect * 10).all()
    assert ap.density == density


def test_layer_act_pattern_rejects_bad_density():
    layer = Layer("x", M=4, K=20, N=10)
    with pytest.raises(AccelError, match="1.5"):
        layer_act_pattern(_rng(), layer, ArrayConfig(), 1.5)


def test_layer_patterns_reproduce_by_seed():
    layer = Layer("x", M=16, K=64, N=50, groups=2)
    cfg = ArrayConfig(rows=4, cols=4, block=16)
    s = WeightSparsity("unstructured", 0.4)
    a1 = layer_act_pattern(_rng(3), layer, cfg, 0.4)
    a2 = layer_act_pattern(_rng(3), layer, cfg, 0.4)
    a3 = layer_act_pattern(_rng(4), layer, cfg, 0.4)
    assert np.array_equal(a1.masks, a2.masks) and np.array_equal(a1.row_nnz, a2.row_nnz)
    assert not np.array_equal(a1.row_nnz, a3.row_nnz)
    w1 = layer_weight_pattern(_rng(3), layer, cfg, s)
    w2 = layer_weight_pattern(_rng(3), layer, cfg, s)
    w3 = layer_weight_pattern(_rng(4), layer, cfg, s)
    assert np.array_equal(w1.masks, w2.masks) and np.array_equal(w1.col_nnz, w2.col_nnz)
    assert not np.array_equal(w1.masks, w3.masks)
