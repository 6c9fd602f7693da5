"""The host driver: beat counts, packing against ``accel.hw.layouts``, decode, groups.

Expected beats are built here field by field with ``layout.const(...)``, from the
contract's encodings (mask of the nonzeros, nonzeros packed low first, zero padding),
so a slip in the driver's own bit arithmetic cannot hide behind itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.lib import data

from accel import wstream
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.golden import layer_output
from accel.hw.driver import program
from accel.hw.layouts import output_beat, weight_beat, window_beat

CONFIGS = {
    "sparse": ArrayConfig(rows=3, cols=2, block=4, w_bits=4, a_bits=5, acc_bits=12),
    "dense-weights": ArrayConfig(
        rows=2, cols=3, block=5, w_bits=6, a_bits=4, acc_bits=16, skip_weights=False
    ),
    "dense": ArrayConfig(
        rows=4,
        cols=1,
        block=3,
        w_bits=3,
        a_bits=3,
        acc_bits=8,
        skip_weights=False,
        skip_acts=False,
    ),
}


def sparse_ints(rng: np.random.Generator, shape, bits: int, density: float) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = rng.integers(lo, hi + 1, size=shape)
    values[values == 0] = 1
    return np.where(rng.random(shape) < density, values, 0)


def _bits(value: int, width: int) -> str:
    """``width`` bits of ``value`` (two's complement), least significant first."""
    return "".join(str((value >> i) & 1) for i in range(width))


def _padded(bits: str, word: int) -> str:
    return bits + "0" * (-len(bits) % word)


def expected_beats(cfg, W, X, bias):
    """(weight beats, window beats) for grouped ``W [G, Mg, K]``, ``X [G, K, N]``, read
    from the stream's description as bit strings: lane i carries rows i, i + lanes, ...;
    each row's bias, then per block the mask and the nonzeros (dense: every value), each
    item padded to whole lane words."""
    G, Mg, K = W.shape
    N = X.shape[2]
    R, C, B = cfg.rows, cfg.cols, cfg.block
    U, word = cfg.weight_lanes, cfg.weight_word_bits
    nb = -(-K // B)
    wl, xl = weight_beat(cfg), window_beat(cfg)
    weights, windows = [], []
    for g in range(G):
        for tm in range(-(-Mg // R)):
            lanes = []
            for lane in range(min(U, R)):
                stream = ""
                for r in range(lane, R, U):
                    m = tm * R + r
                    stream += _padded(_bits(int(bias[g, m]) if m < Mg else 0, cfg.acc_bits), word)
                    for blk in range(nb):
                        vals = [
                            int(W[g, m, k]) if m < Mg and k < K else 0
                            for k in range(blk * B, blk * B + B)
                        ]
                        if cfg.skip_weights:
                            item = "".join("1" if v else "0" for v in vals)
                            item += "".join(_bits(v, cfg.w_bits) for v in vals if v)
                        else:
                            item = "".join(_bits(v, cfg.w_bits) for v in vals)
                        stream += _padded(item, word)
                lanes.append(
                    [int(stream[i : i + word][::-1], 2) for i in range(0, len(stream), word)]
                )
            count = max(len(x) for x in lanes)
            for k in range(count):
                words = [x[k] if k < len(x) else 0 for x in lanes] + [0] * (U - len(lanes))
                valid = sum(1 << i for i, x in enumerate(lanes) if k < len(x))
                beat = wl.const({"words": words, "valid": valid, "last": int(k == count - 1)})
                weights.append(beat.as_value().value)
            for tn in range(-(-N // C)):
                for blk in range(nb):
                    rows = [
                        [
                            int(X[g, k, n]) if k < K and n < N else 0
                            for n in range(tn * C, tn * C + C)
                        ]
                        for k in range(blk * B, blk * B + B)
                    ]
                    windows.append(xl.const({"rows": rows}).as_value().value)
    return weights, windows


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("M, K, N", [(3, 4, 2), (5, 9, 7), (1, 1, 1), (7, 13, 4)])
def test_beats_match_layouts(name, M, K, N):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(M * 100 + K * 10 + N)
    W = sparse_ints(rng, (M, K), cfg.w_bits, 0.5)
    X = sparse_ints(rng, (K, N), cfg.a_bits, 0.6)
    bias = rng.integers(-(1 << (cfg.acc_bits - 1)), 1 << (cfg.acc_bits - 1), size=M)
    prog = program(cfg, W, X, bias=bias, balance="none")  # the layer's own row order
    weights, windows = expected_beats(cfg, W[None], X[None], bias[None])
    assert prog.weight_beats == weights
    assert prog.window_beats == windows


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("G, M, K, N", [(1, 5, 9, 7), (2, 3, 4, 2), (3, 4, 6, 5)])
def test_beat_counts(name, G, M, K, N):
    cfg = CONFIGS[name]
    W = np.ones((G, M, K), dtype=np.int64)
    X = np.ones((G, K, N), dtype=np.int64)
    prog = program(cfg, W if G > 1 else W[0], X if G > 1 else X[0])
    row_tiles = G * -(-M // cfg.rows)
    col_tiles = -(-N // cfg.cols)
    blocks = -(-K // cfg.block)
    assert (prog.row_tiles, prog.col_tiles, prog.blocks) == (row_tiles, col_tiles, blocks)
    # all ones: every record as long as it gets; the busiest lane sets the beats
    rows = len(wstream.lane_rows(cfg, 0))
    per_row = wstream.bias_words(cfg) + blocks * wstream.record_words(cfg, cfg.block)
    assert len(prog.weight_beats) == row_tiles * rows * per_row
    assert len(prog.window_beats) == row_tiles * col_tiles * blocks
    assert prog.result_beats == row_tiles * col_tiles * cfg.rows
    control = prog.control()
    assert (control["row_tiles"], control["col_tiles"], control["blocks"]) == (
        row_tiles,
        col_tiles,
        blocks,
    )


def test_one_beat_by_hand():
    """A 2 x 4 weight matrix on 2 lanes of 16 bits, and the first window, spelled out."""
    cfg = ArrayConfig(
        rows=2,
        cols=2,
        block=4,
        w_bits=4,
        a_bits=4,
        acc_bits=10,
        weight_bus_bits=32,
        weight_lanes=2,
    )
    W = np.array([[0, -3, 0, 7], [1, 0, 0, 0]])
    X = np.array([[1, 2], [0, 0], [-8, 7], [0, -1]])
    prog = program(cfg, W, X, bias=np.array([-5, 9]), balance="none")
    wl, xl = weight_beat(cfg), window_beat(cfg)
    # lane 0, row 0: bias -5 (10 bits, one word), then mask 1010 and the values -3, 7
    # (4 + 2 x 4 = 12 bits, one word); lane 1, row 1: bias 9, then mask 0001 and 1
    record0 = 0b1010 | ((-3 & 0xF) << 4) | (7 << 8)
    record1 = 0b0001 | (1 << 4)
    first = wl.const({"words": [-5 & 0x3FF, 9], "valid": 0b11, "last": 0})
    second = wl.const({"words": [record0, record1], "valid": 0b11, "last": 1})
    assert prog.weight_beats == [first.as_value().value, second.as_value().value]
    window = xl.const({"rows": [[1, 2], [0, 0], [-8, 7], [0, -1]]})
    assert prog.window_beats == [window.as_value().value]
    view = data.Const(wl, prog.weight_beats[1])
    assert view.last == 1 and view.words[0] == record0


def hand_made_results(cfg, Y_padded: np.ndarray, col_tiles: int) -> list[int]:
    """Result beats for a padded ``[G, tiles x R, col_tiles x C]`` Y, in the array's order."""
    G, MR, _ = Y_padded.shape
    R, C = cfg.rows, cfg.cols
    layout = output_beat(cfg)
    beats = []
    for g in range(G):
        for tm in range(MR // R):
            for tn in range(col_tiles):
                for r in range(R):
                    row = Y_padded[g, tm * R + r, tn * C : tn * C + C]
                    beats.append(layout.const({"values": [int(v) for v in row]}).as_value().value)
    return beats


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("G, M, N", [(1, 5, 7), (1, 3, 2), (3, 4, 3)])
def test_decode_round_trip(name, G, M, N):
    cfg = CONFIGS[name]
    K = 5
    rng = np.random.default_rng(G * 100 + M * 10 + N)
    shape = (G, M, K) if G > 1 else (M, K)
    prog = program(cfg, np.ones(shape), np.ones((G, K, N) if G > 1 else (K, N)))
    R, C = cfg.rows, cfg.cols
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    padded = rng.integers(lo, hi + 1, size=(G, -(-M // R) * R, prog.col_tiles * C))
    padded[..., 0, 0] = lo  # the extremes survive sign extension
    padded[..., -1, -1] = hi
    Y = padded[:, :M, :N]  # the padding holds random junk that decode must drop
    got = prog.decode(hand_made_results(cfg, padded, prog.col_tiles))
    np.testing.assert_array_equal(got, Y if G > 1 else Y[0])
    assert got.shape == ((G, M, N) if G > 1 else (M, N))


def test_decode_wants_every_beat():
    cfg = CONFIGS["sparse"]
    prog = program(cfg, np.ones((4, 4)), np.ones((4, 3)))
    beats = [0] * prog.result_beats
    with pytest.raises(AccelError, match=str(prog.result_beats)):
        prog.decode(beats[:-1])
    with pytest.raises(AccelError):
        prog.decode(beats + [0])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_groups(name):
    """Grouped W/X: group by group, each group's rows tiled on their own (no tile mixes
    two groups), with each group's own bias; the same as the groups one after another."""
    cfg = CONFIGS[name]
    G, Mg, K, N = 3, 5, 6, 3
    rng = np.random.default_rng(5)
    W = sparse_ints(rng, (G, Mg, K), cfg.w_bits, 0.6)
    X = sparse_ints(rng, (G, K, N), cfg.a_bits, 0.6)
    bias = rng.integers(-100, 100, size=(G, Mg))
    prog = program(cfg, W, X, bias=bias, relu=True, shift=2, balance="none")
    weights, windows = expected_beats(cfg, W, X, bias)
    assert prog.weight_beats == weights
    assert prog.window_beats == windows
    assert prog.row_tiles == G * -(-Mg // cfg.rows)
    assert (prog.groups, prog.rows_per_group, prog.N) == (G, Mg, N)
    one_by_one = [program(cfg, W[g], X[g], bias=bias[g], balance="none") for g in range(G)]
    assert prog.window_beats == [b for p in one_by_one for b in p.window_beats]
    assert prog.weight_beats == [b for p in one_by_one for b in p.weight_beats]


def test_control_values():
    cfg = CONFIGS["sparse"]
    W, X = np.ones((2, 4)), np.ones((4, 2))
    plain = program(cfg, W, X).control()
    assert (plain["relu"], plain["requant"], plain["shift"]) == (0, 0, 0)
    requant = program(cfg, W, X, relu=True, shift=3).control()
    assert (requant["relu"], requant["requant"], requant["shift"]) == (1, 1, 3)
    shift0 = program(cfg, W, X, shift=0).control()
    assert (shift0["requant"], shift0["shift"]) == (1, 0)


def test_shape_mismatch():
    cfg = CONFIGS["sparse"]
    with pytest.raises(AccelError, match="K"):
        program(cfg, np.ones((2, 4)), np.ones((5, 2)))
    with pytest.raises(AccelError):
        program(cfg, np.ones((2, 3, 4)), np.ones((3, 4, 2)))


# What the golden model rejects, ``program`` should reject too: otherwise the array
# silently computes with wrapped or truncated values (9 in 4 bits reads as -7).
UNCHECKED = [
    pytest.param(dict(W=[[9]], X=[[1]]), id="W-outside-w_bits"),
    pytest.param(dict(W=[[1]], X=[[-9]]), id="X-outside-a_bits"),
    pytest.param(dict(W=[[1.5]], X=[[1]]), id="W-not-integer"),
    pytest.param(dict(W=[[1]], X=[[1]], shift=12), id="shift-too-large"),
    pytest.param(dict(W=[[1]], X=[[1]], shift=-1), id="shift-negative"),
]
TINY = ArrayConfig(rows=1, cols=1, block=2, w_bits=4, a_bits=4, acc_bits=12)


@pytest.mark.parametrize("case", UNCHECKED)
def test_golden_rejects(case):
    case = dict(case)
    W, X = np.array(case.pop("W")), np.array(case.pop("X"))
    with pytest.raises(AccelError):
        layer_output(W, X, TINY, **case)


@pytest.mark.parametrize("case", UNCHECKED)
def test_program_rejects_like_golden(case):
    case = dict(case)
    W, X = np.array(case.pop("W")), np.array(case.pop("X"))
    with pytest.raises(AccelError):
        program(TINY, W, X, **case)
