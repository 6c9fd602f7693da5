"""The golden model against references written here with exact Python integers.

Every expected value is a nested loop over Python ints (no NumPy arithmetic), wrapped to
``acc_bits`` by hand, so an overflow or rounding slip in the model cannot cancel out.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel import golden
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.golden import conv2d, gemm, im2col, layer_output, linear, output_stage
from accel.workloads.layer import ConvGeometry

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- references -----------------------------------------------------------------------


def wrap_int(v: int, bits: int) -> int:
    """Two's-complement wrap of one Python int to ``bits``."""
    half = 1 << (bits - 1)
    return (v + half) % (1 << bits) - half


def ref_gemm(W: list[list[int]], X: list[list[int]], acc_bits: int) -> list[list[int]]:
    M, K, N = len(W), len(X), len(X[0])
    return [
        [wrap_int(sum(W[m][k] * X[k][n] for k in range(K)), acc_bits) for n in range(N)]
        for m in range(M)
    ]


def ref_requant(y: int, shift: int, a_bits: int) -> int:
    """``floor((y + 2**(s-1)) / 2**s)`` exactly (no float division), then saturation."""
    if shift:
        y = math.floor(Fraction(y + 2 ** (shift - 1), 2**shift))
    lo, hi = -(2 ** (a_bits - 1)), 2 ** (a_bits - 1) - 1
    return min(max(y, lo), hi)


def ref_output(
    acc: list[list[int]],
    cfg: ArrayConfig,
    bias: list[int] | None,
    relu: bool,
    shift: int | None,
) -> list[list[int]]:
    out = []
    for m, row in enumerate(acc):
        new = []
        for y in row:
            if bias is not None:
                y = wrap_int(y + bias[m], cfg.acc_bits)
            if relu:
                y = max(y, 0)
            if shift is not None:
                y = ref_requant(y, shift, cfg.a_bits)
            new.append(y)
        out.append(new)
    return out


def rand_ints(rng: np.random.Generator, shape, bits: int, density: float = 1.0) -> np.ndarray:
    """Signed ``bits``-bit values (full range, extremes included) with the given density."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    extremes = rng.random(shape) < 0.2
    v[extremes] = rng.choice([lo, hi], size=int(extremes.sum()))
    return np.where(rng.random(shape) < density, v, 0)


def as_list(a: np.ndarray) -> list:
    return np.asarray(a).tolist()


# -- gemm -----------------------------------------------------------------------------


@SETTINGS
@given(
    M=st.integers(1, 6),
    K=st.integers(1, 40),
    N=st.integers(1, 6),
    w_bits=st.integers(2, 16),
    a_bits=st.integers(2, 16),
    extra=st.integers(0, 40),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_gemm_matches_exact_integers(M, K, N, w_bits, a_bits, extra, density, seed):
    cfg = ArrayConfig(w_bits=w_bits, a_bits=a_bits, acc_bits=min(64, w_bits + a_bits + extra))
    rng = np.random.default_rng(seed)
    W = rand_ints(rng, (M, K), w_bits, density)
    X = rand_ints(rng, (K, N), a_bits, density)
    Y = gemm(W, X, cfg)
    assert Y.shape == (M, N)
    assert as_list(Y) == ref_gemm(as_list(W), as_list(X), cfg.acc_bits)


@pytest.mark.parametrize("K", [64, 200, 1000])
def test_gemm_wraps_a_16_bit_accumulator(K):
    cfg = ArrayConfig(acc_bits=16)
    rng = np.random.default_rng(K)
    W = rng.integers(60, 128, size=(3, K))
    X = rng.integers(-128, 128, size=(K, 4))
    X[:, 0] = -128  # column 0 sums far below -2**15
    exact = [
        [sum(W[m, k].item() * X[k, n].item() for k in range(K)) for n in range(4)] for m in range(3)
    ]
    assert any(not -(2**15) <= v < 2**15 for row in exact for v in row), "case must overflow"
    assert as_list(gemm(W, X, cfg)) == [[wrap_int(v, 16) for v in row] for row in exact]


@pytest.mark.parametrize(
    ("w_bits", "a_bits", "acc_bits"),
    [(31, 31, 64), (31, 31, 62), (32, 32, 64), (30, 31, 63), (20, 20, 48)],
)
def test_gemm_wide_operands_near_64_bits(w_bits, a_bits, acc_bits):
    cfg = ArrayConfig(w_bits=w_bits, a_bits=a_bits, acc_bits=acc_bits)
    rng = np.random.default_rng(w_bits * 1000 + acc_bits)
    for K in (1, 2, 7, 33):
        W = rand_ints(rng, (4, K), w_bits)
        X = rand_ints(rng, (K, 5), a_bits)
        assert as_list(gemm(W, X, cfg)) == ref_gemm(as_list(W), as_list(X), acc_bits)


@pytest.mark.parametrize("acc_bits", [62, 63, 64])
@pytest.mark.parametrize("K", [8, 9, 17, 33])
def test_gemm_wraps_accumulators_near_64_bits(acc_bits, K):
    cfg = ArrayConfig(w_bits=31, a_bits=31, acc_bits=acc_bits)
    W = np.full((2, K), -(2**30))
    W[1, ::2] = 2**30 - 1
    X = np.full((K, 3), -(2**30))
    X[:, 2] = np.arange(K) - 2**30 + 3
    exact = [
        [sum(W[m, k].item() * X[k, n].item() for k in range(K)) for n in range(3)] for m in range(2)
    ]
    assert any(not -(2 ** (acc_bits - 1)) <= v < 2 ** (acc_bits - 1) for row in exact for v in row)
    assert as_list(gemm(W, X, cfg)) == [[wrap_int(v, acc_bits) for v in row] for row in exact]


@pytest.mark.parametrize("acc_bits", [17, 31, 33, 62, 63, 64])
def test_bias_wraps_at_every_width(acc_bits):
    cfg = ArrayConfig(acc_bits=acc_bits)
    top, bottom = 2 ** (acc_bits - 1) - 1, -(2 ** (acc_bits - 1))
    acc = np.array([[top, bottom, top - 5]])
    got = output_stage(acc, cfg, bias=np.array([top]))
    assert got.tolist() == [[wrap_int(v + top, acc_bits) for v in (top, bottom, top - 5)]]
    assert got.tolist()[0][0] == -2


def test_gemm_extreme_products_wrap_at_64_bits():
    # (-2**31)**2 * 4 = 2**64: wraps to exactly 0 in a 64-bit accumulator
    cfg = ArrayConfig(w_bits=32, a_bits=32, acc_bits=64)
    W = np.full((1, 4), -(2**31))
    X = np.full((4, 2), -(2**31))
    X[3, 1] = 2**31 - 1
    exact = [4 * 2**62, 3 * 2**62 - 2**31 * (2**31 - 1)]
    assert as_list(gemm(W, X, cfg)) == [[wrap_int(v, 64) for v in exact]]


class MatmulSpy:
    """Records the dtypes ``np.matmul`` is called with, then defers to the real one."""

    def __init__(self) -> None:
        self.real = np.matmul
        self.dtypes: list[np.dtype] = []

    def __call__(self, a, b, *args, **kwargs):
        self.dtypes.append(np.asarray(a).dtype)
        return self.real(a, b, *args, **kwargs)


def test_gemm_takes_the_float_path_when_exact(monkeypatch):
    spy = MatmulSpy()
    monkeypatch.setattr(golden.np, "matmul", spy)
    cfg = ArrayConfig()  # 8 x 8 bits, K = 40: the bound is far below 2**52
    rng = np.random.default_rng(1)
    W, X = rand_ints(rng, (5, 40), 8), rand_ints(rng, (40, 3), 8)
    Y = gemm(W, X, cfg)
    assert spy.dtypes and all(dt.kind == "f" for dt in spy.dtypes)
    assert as_list(Y) == ref_gemm(as_list(W), as_list(X), 32)


def test_gemm_takes_the_integer_path_when_float_would_round(monkeypatch):
    spy = MatmulSpy()
    monkeypatch.setattr(golden.np, "matmul", spy)
    cfg = ArrayConfig(w_bits=31, a_bits=31, acc_bits=64)
    W = np.array([[2**30 - 1, 2**30 - 3, -(2**30) + 5]])
    X = np.array([[2**30 - 7], [2**30 - 1], [2**30 - 11]])
    exact = ref_gemm(as_list(W), as_list(X), 64)
    # the case is meaningful: float64 cannot hold this sum
    as_float = int(float(W[0, 0]) * float(X[0, 0]) + float(W[0, 1]) * float(X[1, 0]))
    assert as_float != W[0, 0].item() * X[0, 0].item() + W[0, 1].item() * X[1, 0].item()
    Y = gemm(W, X, cfg)
    assert spy.dtypes and all(dt.kind in "iu" for dt in spy.dtypes)
    assert as_list(Y) == exact


def test_gemm_batched_over_groups():
    cfg = ArrayConfig(acc_bits=16)
    rng = np.random.default_rng(7)
    W, X = rand_ints(rng, (3, 4, 50), 8), rand_ints(rng, (3, 50, 5), 8)
    Y = gemm(W, X, cfg)
    for g in range(3):
        assert as_list(Y[g]) == ref_gemm(as_list(W[g]), as_list(X[g]), 16)


@pytest.mark.parametrize(
    ("W", "X", "bits"),
    [
        ([[128]], [[1]], 8),
        ([[-129]], [[1]], 8),
        ([[1]], [[128]], 8),
        ([[1]], [[-129]], 8),
        ([[2]], [[1]], 2),
        ([[1]], [[-3]], 2),
        ([[2**31]], [[1]], 32),
        ([[1]], [[-(2**31) - 1]], 32),
        ([[2**63]], [[1]], 32),
    ],
)
def test_gemm_rejects_out_of_range_values(W, X, bits):
    cfg = ArrayConfig(w_bits=bits, a_bits=bits, acc_bits=2 * bits)
    with pytest.raises(AccelError):
        gemm(W, X, cfg)


@pytest.mark.parametrize(
    ("W", "X"),
    [
        ([[2**64 - 1]], [[1]]),  # NumPy holds it as uint64; the int64 cast makes it -1
        ([[1]], [[2**64 - 1]]),
        (np.array([[2**64 - 1]], dtype=np.uint64), [[1]]),
        ([[2**64]], [[1]]),  # an object array; the int64 cast raises OverflowError
    ],
    ids=["W-uint64-max", "X-uint64-max", "W-uint64-array", "W-beyond-uint64"],
)
def test_gemm_rejects_values_beyond_int64(W, X):
    """Out of range is out of range, whatever NumPy dtype the values arrive in: the range
    check has to see the values before any cast to int64 can wrap or overflow them."""
    with pytest.raises(AccelError):
        gemm(W, X, ArrayConfig())


def test_gemm_accepts_the_range_limits():
    cfg = ArrayConfig(w_bits=4, a_bits=3, acc_bits=8)
    W = [[-8, 7]]
    X = [[-4], [3]]
    assert as_list(gemm(W, X, cfg)) == [[wrap_int(32 + 21, 8)]]


# -- output stage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y", "shift", "expect"),
    [
        (5, 1, 3),
        (-5, 1, -2),
        (6, 2, 2),  # 1.5 rounds up to 2
        (-6, 2, -1),  # -1.5 rounds up to -1
        (7, 2, 2),
        (-7, 2, -2),
        (1, 1, 1),
        (-1, 1, 0),
        (0, 5, 0),
        (3, 1, 2),
        (-3, 1, -1),
        (100, 0, 100),
        (1000, 2, 127),  # 250 saturates
        (-1000, 2, -128),
        (254, 1, 127),
        (-258, 1, -128),  # -128.5 -> -128 (no saturation needed)
        (-259, 1, -128),  # -129.5 -> -129 -> saturates
    ],
)
def test_requantisation_examples(y, shift, expect):
    assert ref_requant(y, shift, 8) == expect  # the reference agrees with the hand values
    got = output_stage(np.array([[y]]), ArrayConfig(), shift=shift)
    assert got.tolist() == [[expect]]


@SETTINGS
@given(
    acc_bits=st.integers(16, 64),
    a_bits=st.integers(2, 8),
    data=st.data(),
)
def test_output_stage_matches_reference(acc_bits, a_bits, data):
    cfg = ArrayConfig(w_bits=8, a_bits=a_bits, acc_bits=acc_bits)
    half = 1 << (acc_bits - 1)
    M, N = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    acc_values = st.one_of(st.integers(-half, half - 1), st.sampled_from([-half, half - 1, 0]))
    acc = data.draw(st.lists(st.lists(acc_values, min_size=N, max_size=N), min_size=M, max_size=M))
    bias = data.draw(st.none() | st.lists(acc_values, min_size=M, max_size=M))
    relu = data.draw(st.booleans())
    shift = data.draw(st.none() | st.integers(0, acc_bits - 1))
    got = output_stage(np.array(acc, dtype=np.int64), cfg, bias=bias, relu=relu, shift=shift)
    assert as_list(got) == ref_output(acc, cfg, bias, relu, shift)


def test_bias_wraps_in_the_accumulator():
    cfg = ArrayConfig(acc_bits=16)
    acc = np.array([[32767, -32768, 100]])
    got = output_stage(acc, cfg, bias=np.array([1]))
    assert got.tolist() == [[-32768, -32767, 101]]
    got = output_stage(np.array([[-32768], [5]]), cfg, bias=np.array([-1, -10]))
    assert got.tolist() == [[32767], [-5]]


def test_bias_wraps_a_64_bit_accumulator():
    cfg = ArrayConfig(w_bits=32, a_bits=32, acc_bits=64)
    got = output_stage(np.array([[2**63 - 1, -(2**63)]]), cfg, bias=np.array([2]))
    assert got.tolist() == [[-(2**63) + 1, -(2**63) + 2]]


def test_relu_then_requantise_order():
    # bias first (can make it negative), then ReLU, then the shift
    cfg = ArrayConfig()
    acc = np.array([[10, 3, -4]])
    got = output_stage(acc, cfg, bias=np.array([-5]), relu=True, shift=1)
    # 5 -> 5 -> 3;  -2 -> 0 -> 0;  -9 -> 0 -> 0
    assert got.tolist() == [[3, 0, 0]]
    got = output_stage(acc, cfg, bias=np.array([-5]), relu=False, shift=1)
    assert got.tolist() == [[3, -1, -4]]  # -2 >> 1 = -1, -9/2 = -4.5 -> -4


def test_output_stage_without_options_is_identity():
    acc = np.array([[1, -(2**31), 2**31 - 1]])
    assert output_stage(acc, ArrayConfig()).tolist() == acc.tolist()


@pytest.mark.parametrize("shift", [-1, 32, 40, 1.0, True, "2"])
def test_output_stage_rejects_bad_shift(shift):
    with pytest.raises(AccelError):
        output_stage(np.array([[1]]), ArrayConfig(), shift=shift)


def test_layer_output_is_gemm_then_output_stage():
    cfg = ArrayConfig(acc_bits=20)
    rng = np.random.default_rng(3)
    W, X = rand_ints(rng, (5, 30), 8), rand_ints(rng, (30, 4), 8)
    bias = rng.integers(-(2**19), 2**19, size=5)
    got = layer_output(W, X, cfg, bias=bias, relu=True, shift=7)
    acc = ref_gemm(as_list(W), as_list(X), 20)
    assert as_list(got) == ref_output(acc, cfg, as_list(bias), True, 7)


# -- convolution and linear -----------------------------------------------------------


def ref_conv(x: list, w: list, geo: ConvGeometry, acc_bits: int) -> list:
    """Direct convolution: ``out[b][o][y][x]`` as nested loops over Python ints."""
    cg, og = geo.in_ch // geo.groups, geo.out_ch // geo.groups
    s, p, d = geo.stride, geo.pad, geo.dilation
    out_h = (geo.in_h + 2 * p - d * (geo.kh - 1) - 1) // s + 1
    out_w = (geo.in_w + 2 * p - d * (geo.kw - 1) - 1) // s + 1
    assert (out_h, out_w) == (geo.out_h, geo.out_w)
    out = []
    for b in range(geo.batch):
        per_o = []
        for o in range(geo.out_ch):
            g = o // og
            plane = []
            for oy in range(out_h):
                line = []
                for ox in range(out_w):
                    total = 0
                    for c in range(cg):
                        for i in range(geo.kh):
                            for j in range(geo.kw):
                                iy, ix = oy * s + i * d - p, ox * s + j * d - p
                                if 0 <= iy < geo.in_h and 0 <= ix < geo.in_w:
                                    total += w[o][c][i][j] * x[b][g * cg + c][iy][ix]
                    line.append(wrap_int(total, acc_bits))
                plane.append(line)
            per_o.append(plane)
        out.append(per_o)
    return out


@st.composite
def conv_geometries(draw) -> ConvGeometry:
    kind = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if kind == "plain":
        groups, in_ch, out_ch = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elif kind == "grouped":
        groups = 2
        in_ch, out_ch = 2 * draw(st.integers(1, 2)), 2 * draw(st.integers(1, 2))
    else:
        in_ch = draw(st.integers(1, 4))
        groups, out_ch = in_ch, in_ch * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad, dilation = (
        draw(st.integers(1, 2)),
        draw(st.integers(0, 2)),
        draw(st.integers(1, 2)),
    )
    # input at least as large as the dilated kernel minus padding, plus a little
    in_h = max(1, dilation * (kh - 1) + 1 - 2 * pad) + draw(st.integers(0, 4))
    in_w = max(1, dilation * (kw - 1) + 1 - 2 * pad) + draw(st.integers(0, 4))
    batch = draw(st.integers(1, 2))
    return ConvGeometry(in_ch, out_ch, in_h, in_w, kh, kw, stride, pad, dilation, groups, batch)


@SETTINGS
@given(geo=conv_geometries(), seed=st.integers(0, 2**32 - 1))
def test_im2col_matches_nested_loops(geo, seed):
    rng = np.random.default_rng(seed)
    x = rand_ints(rng, (geo.batch, geo.in_ch, geo.in_h, geo.in_w), 8, 0.7)
    cols = im2col(x, geo)
    cg = geo.in_ch // geo.groups
    s, p, d = geo.stride, geo.pad, geo.dilation
    xl = as_list(x)
    expect = []
    for g in range(geo.groups):
        rows = []
        for c in range(cg):  # K order: channel, kernel row, kernel column
            for i in range(geo.kh):
                for j in range(geo.kw):
                    row = []
                    for b in range(geo.batch):  # N order: batch, output row, output column
                        for oy in range(geo.out_h):
                            for ox in range(geo.out_w):
                                iy, ix = oy * s + i * d - p, ox * s + j * d - p
                                inside = 0 <= iy < geo.in_h and 0 <= ix < geo.in_w
                                row.append(xl[b][g * cg + c][iy][ix] if inside else 0)
                    rows.append(row)
        expect.append(rows)
    assert as_list(cols) == expect


@SETTINGS
@given(
    geo=conv_geometries(),
    acc_bits=st.sampled_from([16, 20, 32]),
    epilogue=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv2d_matches_direct_convolution(geo, acc_bits, epilogue, seed):
    cfg = ArrayConfig(acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    x = rand_ints(rng, (geo.batch, geo.in_ch, geo.in_h, geo.in_w), 8, 0.8)
    w = rand_ints(rng, (geo.out_ch, geo.in_ch // geo.groups, geo.kh, geo.kw), 8, 0.8)
    acc = ref_conv(as_list(x), as_list(w), geo, acc_bits)
    if epilogue:
        bias = rand_ints(rng, (geo.out_ch,), acc_bits)
        relu, shift = bool(rng.integers(2)), int(rng.integers(0, 12))
        got = conv2d(x, w, geo, cfg, bias=bias, relu=relu, shift=shift)
        expect = [
            [
                ref_output(plane, cfg, [bias[o].item()] * len(plane), relu, shift)
                for o, plane in enumerate(per_b)
            ]
            for per_b in acc
        ]
    else:
        got = conv2d(x, w, geo, cfg)
        expect = acc
    assert got.shape == (geo.batch, geo.out_ch, geo.out_h, geo.out_w)
    assert as_list(got) == expect


def test_conv2d_wraps_the_accumulator():
    # 3x3x8 window of 127 * 127: 8 * 9 * 16129 = 1161288 > 2**15
    geo = ConvGeometry(8, 2, 3, 3, 3, 3, pad=1)
    cfg = ArrayConfig(acc_bits=16)
    x = np.full((1, 8, 3, 3), 127)
    w = np.full((2, 8, 3, 3), 127)
    w[1] = -128
    got = conv2d(x, w, geo, cfg)
    assert as_list(got) == ref_conv(as_list(x), as_list(w), geo, 16)
    assert got[0, 0, 1, 1] == wrap_int(72 * 127 * 127, 16)


def test_im2col_rejects_wrong_input_shape():
    geo = ConvGeometry(2, 2, 4, 4, 3, 3)
    with pytest.raises(AccelError):
        im2col(np.zeros((1, 3, 4, 4), dtype=np.int64), geo)


@SETTINGS
@given(
    tokens=st.integers(1, 5),
    fin=st.integers(1, 30),
    fout=st.integers(1, 5),
    acc_bits=st.sampled_from([16, 32, 64]),
    epilogue=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_linear_matches_reference(tokens, fin, fout, acc_bits, epilogue, seed):
    cfg = ArrayConfig(acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    x, w = rand_ints(rng, (tokens, fin), 8, 0.8), rand_ints(rng, (fout, fin), 8, 0.8)
    xl, wl = as_list(x), as_list(w)
    acc = [
        [wrap_int(sum(xl[t][k] * wl[o][k] for k in range(fin)), acc_bits) for o in range(fout)]
        for t in range(tokens)
    ]
    if epilogue:
        bias = rand_ints(rng, (fout,), 16)
        got = linear(x, w, cfg, bias=bias, relu=True, shift=3)
        by_out = ref_output([list(r) for r in zip(*acc, strict=True)], cfg, as_list(bias), True, 3)
        expect = [list(r) for r in zip(*by_out, strict=True)]
    else:
        got = linear(x, w, cfg)
        expect = acc
    assert got.shape == (tokens, fout)
    assert as_list(got) == expect
