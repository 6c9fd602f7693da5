"""The contract's encodings (section 4) against direct computations written here.

Masks are checked bit by bit against Python integers built from the matrices, never
against another function of ``accel.encode``; round trips check that nothing is lost.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.config import ArrayConfig
from accel.encode import (
    act_pattern,
    decode_acts,
    decode_weights,
    encode_acts,
    encode_weights,
    pack_blocks,
    unpack_blocks,
    weight_pattern,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def sparse_ints(rng: np.random.Generator, shape: tuple[int, ...], density: float, bits: int):
    """Signed ``bits``-bit integers, nonzero with probability ``density`` (exactly 0 or 1
    give all-zero or fully dense matrices)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    values[values == 0] = 1
    keep = rng.random(shape) < density
    return np.where(keep, values, 0)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def masks_by_hand(nz: list[list[bool]], block: int) -> list[list[int]]:
    """``nz[row][k]`` to per-block masks as Python ints, bit j = position j of the block."""
    out = []
    for row in nz:
        K = len(row)
        out.append(
            [
                sum(1 << j for j in range(block) if b * block + j < K and row[b * block + j])
                for b in range(ceil_div(K, block))
            ]
        )
    return out


@st.composite
def configs(draw) -> ArrayConfig:
    block = draw(st.integers(1, 64))
    return ArrayConfig(
        rows=draw(st.integers(1, 8)),
        cols=draw(st.integers(1, 8)),
        block=block,
        queue_depth=draw(st.integers(1, 4)),
        lanes=draw(st.integers(1, min(4, block))),
        skip_weights=draw(st.booleans()),
        skip_acts=draw(st.booleans()),
    )


# -- pack / unpack ------------------------------------------------------------------------


@SETTINGS
@given(
    block=st.integers(1, 64),
    lead=st.lists(st.integers(1, 3), max_size=2),
    K=st.integers(0, 150),
    density=densities,
    seed=st.integers(0, 2**32 - 1),
)
def test_pack_blocks_matches_bits_and_round_trips(block, lead, K, density, seed):
    rng = np.random.default_rng(seed)
    bits = rng.random(tuple(lead) + (K,)) < density
    packed = pack_blocks(bits, block)
    assert packed.dtype == np.uint64
    assert packed.shape == tuple(lead) + (ceil_div(K, block),)
    flat_bits = bits.reshape(int(np.prod(lead)), K).tolist()
    expect = masks_by_hand(flat_bits, block)
    got = [[int(v) for v in row] for row in packed.reshape(len(flat_bits), -1)]
    assert got == expect
    back = unpack_blocks(packed, block, K)
    assert back.dtype == bool
    assert back.shape == bits.shape
    assert np.array_equal(back, bits)


@SETTINGS
@given(
    block=st.integers(1, 64),
    nb=st.integers(0, 6),
    rows=st.integers(1, 4),
    data=st.data(),
)
def test_unpack_then_pack_is_identity_on_masks(block, nb, rows, data):
    words = data.draw(
        st.lists(
            st.lists(st.integers(0, (1 << block) - 1), min_size=nb, max_size=nb),
            min_size=rows,
            max_size=rows,
        )
    )
    masks = np.array(words, dtype=np.uint64).reshape(rows, nb)
    bits = unpack_blocks(masks, block, nb * block)
    for r in range(rows):
        for b in range(nb):
            for j in range(block):
                assert bool(bits[r, b * block + j]) == bool((words[r][b] >> j) & 1)
    assert np.array_equal(pack_blocks(bits, block), masks)


def test_pack_blocks_uses_the_top_bit_of_a_64_bit_block():
    bits = np.zeros((1, 64), dtype=bool)
    bits[0, 63] = True
    bits[0, 0] = True
    assert int(pack_blocks(bits, 64)[0, 0]) == (1 << 63) | 1
    assert np.array_equal(unpack_blocks(pack_blocks(bits, 64), 64, 64), bits)


def test_pack_blocks_zero_pads_the_last_block():
    bits = np.array([[True, False, True, True, True]])
    # block 3: [1, 0, 1] -> 0b101, [1, 1, pad] -> 0b011
    assert [int(v) for v in pack_blocks(bits, 3)[0]] == [0b101, 0b011]


# -- weights ------------------------------------------------------------------------------


@SETTINGS
@given(
    cfg=configs(),
    M=st.integers(1, 12),
    K=st.integers(1, 140),
    density=densities,
    seed=st.integers(0, 2**32 - 1),
)
def test_weights_round_trip_and_size_accounting(cfg, M, K, density, seed):
    W = sparse_ints(np.random.default_rng(seed), (M, K), density, cfg.w_bits)
    enc = encode_weights(W, cfg)
    assert np.array_equal(decode_weights(enc), W)

    B = cfg.block
    nb = ceil_div(K, B)
    Wl = W.tolist()
    nnz = sum(v != 0 for row in Wl for v in row)
    assert enc.masks.shape == (M, nb)
    assert enc.bits == enc.metadata_bits + enc.value_bits
    assert enc.value_bits == enc.values.size * cfg.w_bits
    if cfg.skip_weights:
        assert enc.values.size == nnz
        assert enc.metadata_bits == M * nb * B
        expect_masks = masks_by_hand([[v != 0 for v in row] for row in Wl], B)
        # values packed in (row, block, position) order = row-major nonzeros
        assert enc.values.tolist() == [v for row in Wl for v in row if v != 0]
    else:
        assert enc.metadata_bits == 0
        assert enc.values.size == M * nb * B  # every value, padding included
        expect_masks = [[(1 << B) - 1] * nb for _ in range(M)]
        padded = [row + [0] * (nb * B - K) for row in Wl]
        assert enc.values.tolist() == [v for row in padded for v in row]
    assert [[int(v) for v in row] for row in enc.masks] == expect_masks


# -- activations --------------------------------------------------------------------------


@SETTINGS
@given(
    cfg=configs(),
    K=st.integers(1, 140),
    N=st.integers(1, 20),
    density=densities,
    row_density=densities,
    seed=st.integers(0, 2**32 - 1),
)
def test_acts_round_trip_and_size_accounting(cfg, K, N, density, row_density, seed):
    rng = np.random.default_rng(seed)
    X = sparse_ints(rng, (K, N), density, cfg.a_bits)
    X[rng.random(K) >= row_density] = 0  # whole zero rows, which activation skipping skips
    enc = encode_acts(X, cfg)
    assert np.array_equal(decode_acts(enc), X)

    B, C = cfg.block, cfg.cols
    nb, ntn = ceil_div(K, B), ceil_div(N, C)
    Xl = X.tolist()
    # window rows (tile, block, j) with any nonzero among their C (padded) values
    active = [
        [
            any(Xl[k][n] != 0 for n in range(t * C, min((t + 1) * C, N))) if k < K else False
            for k in range(nb * B)
        ]
        for t in range(ntn)
    ]
    assert enc.masks.shape == (ntn, nb)
    assert enc.bits == enc.metadata_bits + enc.value_bits
    assert enc.value_bits == enc.rows.size * cfg.a_bits
    if cfg.skip_acts:
        n_active = sum(sum(a) for a in active)
        assert enc.rows.shape == (n_active, C)
        assert enc.metadata_bits == ntn * nb * B
        expect_masks = masks_by_hand(active, B)
    else:
        assert enc.rows.shape == (ntn * nb * B, C)
        assert enc.metadata_bits == 0
        expect_masks = [[(1 << B) - 1] * nb for _ in range(ntn)]
    assert [[int(v) for v in row] for row in enc.masks] == expect_masks


# -- patterns -----------------------------------------------------------------------------


@SETTINGS
@given(
    G=st.integers(1, 3),
    Mg=st.integers(1, 10),
    K=st.integers(1, 100),
    block=st.integers(1, 64),
    density=densities,
    grouped=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_weight_pattern_agrees_with_numpy(G, Mg, K, block, density, grouped, seed):
    W = sparse_ints(np.random.default_rng(seed), (G, Mg, K), density, 8)
    if not grouped:
        G, W = 1, W[0]
    wp = weight_pattern(W, block)
    W3 = W.reshape(G, Mg, K)
    nb = ceil_div(K, block)
    assert wp.masks.shape == (G, Mg, nb)
    assert wp.K == K and wp.block == block
    assert np.array_equal(wp.col_nnz, np.count_nonzero(W3, axis=1))
    assert np.array_equal(unpack_blocks(wp.masks, block, K), W3 != 0)
    assert wp.nnz == np.count_nonzero(W3)
    assert wp.density == np.count_nonzero(W3) / W3.size


@SETTINGS
@given(
    G=st.integers(1, 3),
    K=st.integers(1, 100),
    N=st.integers(1, 20),
    block=st.integers(1, 64),
    cols=st.integers(1, 8),
    density=densities,
    grouped=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_act_pattern_agrees_with_numpy(G, K, N, block, cols, density, grouped, seed):
    X = sparse_ints(np.random.default_rng(seed), (G, K, N), density, 8)
    if not grouped:
        G, X = 1, X[0]
    ap = act_pattern(X, block, cols)
    X3 = X.reshape(G, K, N)
    ntn, nb = ceil_div(N, cols), ceil_div(K, block)
    assert ap.masks.shape == (G, ntn, nb)
    assert (ap.K, ap.N, ap.block, ap.cols) == (K, N, block, cols)
    assert np.array_equal(ap.row_nnz, np.count_nonzero(X3, axis=2))
    active = unpack_blocks(ap.masks, block, K)  # [G, ntn, K]
    for t in range(ntn):
        window = X3[:, :, t * cols : (t + 1) * cols]
        assert np.array_equal(active[:, t, :], (window != 0).any(axis=2))
    assert ap.nnz == np.count_nonzero(X3)
    assert ap.density == np.count_nonzero(X3) / X3.size
