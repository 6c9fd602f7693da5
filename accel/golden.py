"""The golden model: what the array computes, bit for bit.

Integer GEMM with two's-complement wrap-around to ``acc_bits``, then the output stage:
optional bias (added in the accumulator, wrapping the same way), optional ReLU, optional
requantisation (arithmetic right shift with round-half-up, saturated to ``a_bits``).
Convolutions lower to GEMMs by im2col, one GEMM per group, as the contract says; a
transposed convolution is one GEMM of the input itself whose partial products a col2im
scatter-add (after the array) sums into the output.
"""

from __future__ import annotations

import math

import numpy as np

from .config import ArrayConfig
from .errors import AccelError
from .workloads.layer import ConvGeometry, ConvNdGeometry, ConvTransposeGeometry

__all__ = [
    "as_operand",
    "wrap",
    "gemm",
    "output_stage",
    "layer_output",
    "im2col",
    "im2col_nd",
    "conv2d",
    "conv_nd",
    "col2im",
    "conv_transpose",
    "conv_transpose_gemm_w",
    "conv_transpose_gemm_x",
    "linear",
]

_FLOAT_EXACT_BITS = 52  # float64 sums of integers are exact below 2**53


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of integers to ``bits`` (as int64)."""
    x = np.asarray(x).astype(np.int64, copy=False)
    if bits >= 64:
        return x
    u = x.astype(np.uint64) & np.uint64((1 << bits) - 1)
    sign = np.uint64(1 << (bits - 1))
    return (u ^ sign).astype(np.int64) - np.int64(1 << (bits - 1))


def as_operand(name: str, a: np.ndarray, bits: int) -> np.ndarray:
    """Check that ``a`` holds signed ``bits``-bit integers *before* any cast can wrap them."""
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind == "f":  # whole numbers in a float array are fine; 1.5 is not
        if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
            raise AccelError(f"{name} must hold integers, not fractions ({a.dtype})")
    elif a.dtype.kind == "O":
        flat = a.ravel().tolist()
        if not all(isinstance(v, int) for v in flat):
            raise AccelError(f"{name} must hold integers")
    elif a.dtype.kind not in "iu":
        raise AccelError(f"{name} must hold integers, not {a.dtype}")
    if a.size:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        amin, amax = int(a.min()), int(a.max())  # exact Python ints, whatever the dtype
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise AccelError(f"{name} holds {bad}, outside the signed {bits}-bit range {lo}..{hi}")
    return a.astype(np.int64)


def gemm(W: np.ndarray, X: np.ndarray, cfg: ArrayConfig) -> np.ndarray:
    """``W[.., M, K] @ X[.., K, N]`` as the accumulators hold it: wrapped to ``acc_bits``.

    Uses float64 BLAS when every partial sum is provably exact, otherwise integer
    arithmetic modulo 2**64 (which wraps to any ``acc_bits <= 64`` correctly).
    """
    W = as_operand("W", W, cfg.w_bits)
    X = as_operand("X", X, cfg.a_bits)
    K = W.shape[-1]
    bound_bits = (cfg.w_bits - 1) + (cfg.a_bits - 1) + max(K, 1).bit_length()
    if bound_bits <= _FLOAT_EXACT_BITS:
        acc = np.matmul(W.astype(np.float64), X.astype(np.float64)).astype(np.int64)
    else:
        acc = np.matmul(W.astype(np.uint64), X.astype(np.uint64)).astype(np.int64)
    return wrap(acc, cfg.acc_bits)


OUTPUT_CHUNK = 1 << 24  # outputs computed at once by nonzero_outputs


def nonzero_outputs(W: np.ndarray, X: np.ndarray, cfg: ArrayConfig) -> int:
    """Nonzero accumulators of ``W [M, K] @ X [K, N]``, in column chunks of about
    ``OUTPUT_CHUNK`` outputs: a large GEMM's density without its M x N result in memory."""
    M, N = W.shape[0], X.shape[1]
    step = max(1, OUTPUT_CHUNK // max(M, 1))
    return sum(
        int(np.count_nonzero(gemm(W, X[:, j : j + step], cfg))) for j in range(0, N, step)
    )


def output_stage(
    acc: np.ndarray,
    cfg: ArrayConfig,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """Bias, ReLU and requantisation applied to accumulators ``[.., M, N]``.

    ``bias[M]`` is added per output row in the accumulator width (wrapping); with
    ``shift`` the result is ``(y + 2**(shift-1)) >> shift`` (round half up, arithmetic
    shift, computed without overflow) saturated to the signed ``a_bits`` range.
    """
    y = np.asarray(acc, dtype=np.int64)
    if bias is not None:
        y = wrap(y + np.asarray(bias, dtype=np.int64)[..., :, None], cfg.acc_bits)
    if relu:
        y = np.maximum(y, 0)
    if shift is not None:
        if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < cfg.acc_bits:
            raise AccelError(f"shift must be an integer in 0..{cfg.acc_bits - 1}, not {shift!r}")
        if shift:
            y = _round_shift(y, shift)
        lo, hi = -(1 << (cfg.a_bits - 1)), (1 << (cfg.a_bits - 1)) - 1
        y = np.clip(y, lo, hi)
    return y


def _round_shift(y: np.ndarray, shift: int) -> np.ndarray:
    """``floor((y + 2**(shift-1)) / 2**shift)`` without forming the overflowing sum."""
    q = y >> shift
    rem = y - (q << shift)  # 0 .. 2**shift - 1
    return q + (rem >= (1 << (shift - 1)))


def layer_output(
    W: np.ndarray,
    X: np.ndarray,
    cfg: ArrayConfig,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """GEMM followed by the output stage: the values the array streams out."""
    return output_stage(gemm(W, X, cfg), cfg, bias=bias, relu=relu, shift=shift)


def im2col(x: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """Input ``[batch, C, H, W]`` to per-group matrices ``[groups, C/g*kh*kw, out_h*out_w*batch]``.

    Row order of K is (channel, kernel row, kernel column), matching OIHW weights; column
    order of N is (batch, output row, output column): :func:`im2col_nd` in two dimensions.
    """
    return im2col_nd(x, geo.nd)


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    geo: ConvGeometry,
    cfg: ArrayConfig,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """Integer conv as the array computes it. ``w`` is OIHW; returns ``[batch, O, oh, ow]``."""
    G = geo.groups
    Wg = np.asarray(w).reshape(G, geo.out_ch // G, -1)
    Y = gemm(Wg, im2col(x, geo), cfg).reshape(geo.out_ch, geo.batch * geo.out_h * geo.out_w)
    Y = output_stage(Y, cfg, bias=bias, relu=relu, shift=shift)
    return Y.reshape(geo.out_ch, geo.batch, geo.out_h, geo.out_w).transpose(1, 0, 2, 3)


def im2col_nd(x: np.ndarray, geo: ConvNdGeometry) -> np.ndarray:
    """Input ``[batch, C, *in_size]`` to ``[groups, C/g * prod(kernel), batch * prod(out)]``.

    The N-D :func:`im2col` (a 3-D conv's): K ordered (channel, kernel taps in axis order)
    as OIDHW weights flatten, N ordered (batch, output positions in axis order).
    """
    x = np.asarray(x)
    n = len(geo.in_size)
    expect = (geo.batch, geo.in_ch, *geo.in_size)
    if x.shape != expect:
        raise AccelError(f"conv input has shape {x.shape}, expected {expect}")
    begin, end = geo.pads[:n], geo.pads[n:]
    out = geo.out_size
    if min(geo.pads) < 0 or min(out) < 1:
        raise AccelError(f"conv pads {geo.pads} and kernel {geo.kernel} do not fit {geo.in_size}")
    xp = np.pad(x, ((0, 0), (0, 0), *zip(begin, end, strict=True)))
    st = xp.strides
    # cols[b, c, *taps, *pos] = xp[b, c, *(pos * stride + tap * dilation)]
    cols = np.lib.stride_tricks.as_strided(
        xp,
        shape=(geo.batch, geo.in_ch, *geo.kernel, *out),
        strides=(
            st[0],
            st[1],
            *(st[2 + i] * geo.dilations[i] for i in range(n)),
            *(st[2 + i] * geo.strides[i] for i in range(n)),
        ),
        writeable=False,
    )
    rows = geo.in_ch // geo.groups * math.prod(geo.kernel)
    P = math.prod(out)
    cols = cols.reshape(geo.batch, geo.groups, rows, P)
    return np.ascontiguousarray(cols.transpose(1, 2, 0, 3)).reshape(geo.groups, rows, geo.batch * P)


def conv_nd(
    x: np.ndarray,
    w: np.ndarray,
    geo: ConvNdGeometry,
    cfg: ArrayConfig,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """Integer N-D conv as the array computes it (``w`` is ``[O, C/g, *kernel]``); returns
    ``[batch, O, *out_size]``."""
    G = geo.groups
    Wg = np.asarray(w).reshape(G, geo.out_ch // G, -1)
    out = geo.out_size
    Y = gemm(Wg, im2col_nd(x, geo), cfg).reshape(geo.out_ch, -1)
    Y = output_stage(Y, cfg, bias=bias, relu=relu, shift=shift)
    return np.moveaxis(Y.reshape(geo.out_ch, geo.batch, *out), 1, 0)


def conv_transpose_gemm_w(w: np.ndarray, geo: ConvTransposeGeometry) -> np.ndarray:
    """ONNX's ``[C, O/g, *kernel]`` weights as the array's ``W [g, O/g * prod(kernel), C/g]``:
    row order (output channel, kernel taps), the order :func:`col2im` reads."""
    w = np.asarray(w)
    expect = (geo.in_ch, geo.out_ch // geo.groups, *geo.kernel)
    if w.shape != expect:
        raise AccelError(f"conv-transpose weight has shape {w.shape}, expected {expect}")
    G = geo.groups
    return w.reshape(G, geo.in_ch // G, -1).transpose(0, 2, 1)


def conv_transpose_gemm_x(x: np.ndarray, geo: ConvTransposeGeometry) -> np.ndarray:
    """The input ``[batch, C, *in_size]`` as ``X [g, C/g, batch * prod(in_size)]``: no im2col,
    columns ordered (batch, input positions)."""
    x = np.asarray(x)
    expect = (geo.batch, geo.in_ch, *geo.in_size)
    if x.shape != expect:
        raise AccelError(f"conv-transpose input has shape {x.shape}, expected {expect}")
    G, P = geo.groups, math.prod(geo.in_size)
    xg = x.reshape(geo.batch, G, geo.in_ch // G, P).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(xg).reshape(G, geo.in_ch // G, geo.batch * P)


def col2im(Y: np.ndarray, geo: ConvTransposeGeometry) -> np.ndarray:
    """Partial products ``Y [g, O/g * prod(kernel), batch * prod(in_size)]`` scatter-added
    to the output ``[batch, O, *out_size]``: input position ``i``'s tap ``k`` lands on
    ``i * stride + k * dilation - pad_begin``; taps off the cropped output are dropped.

    Integers sum exactly in int64 (this runs after the array, not in its accumulators);
    one vectorised add per kernel tap.
    """
    Y = np.asarray(Y)
    n, G = len(geo.in_size), geo.groups
    og, taps = geo.out_ch // G, math.prod(geo.kernel)
    expect = (G, og * taps, geo.batch * math.prod(geo.in_size))
    if Y.shape != expect:
        raise AccelError(f"col2im input has shape {Y.shape}, expected {expect}")
    begin, out, full = geo.pads[:n], geo.out_size, geo.full_size
    if min(geo.pads) < 0 or min(geo.output_padding) < 0 or min(out) < 1:
        raise AccelError(f"conv-transpose pads {geo.pads} give output size {out}")
    dtype = np.int64 if Y.dtype.kind in "iub" else np.float64
    # [g, o, *taps, b, *pos] -> [b, g, o, *taps, *pos]
    cols = np.moveaxis(Y.reshape(G, og, *geo.kernel, geo.batch, *geo.in_size), 2 + n, 0)
    span = tuple(max(f, b + o) for f, b, o in zip(full, begin, out, strict=True))
    buf = np.zeros((geo.batch, G, og, *span), dtype)
    lead = (slice(None),) * 3
    for tap in np.ndindex(*geo.kernel):
        where = tuple(
            slice(t * d, t * d + (m - 1) * s + 1, s)
            for t, d, s, m in zip(tap, geo.dilations, geo.strides, geo.in_size, strict=True)
        )
        buf[lead + where] += cols[lead + tap]
    crop = tuple(slice(b, b + o) for b, o in zip(begin, out, strict=True))
    return buf[lead + crop].reshape(geo.batch, geo.out_ch, *out)


def conv_transpose(
    x: np.ndarray,
    w: np.ndarray,
    geo: ConvTransposeGeometry,
    cfg: ArrayConfig | None = None,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Integer transposed conv as the array and col2im compute it: ``[batch, O, *out_size]``.

    With ``cfg`` the GEMM is the array's (operands checked, accumulators wrapped to
    ``acc_bits``); without it the GEMM is exact int64. ``bias[O]`` is added per output
    channel after col2im, where a whole output value first exists.
    """
    W = conv_transpose_gemm_w(w, geo)
    X = conv_transpose_gemm_x(x, geo)
    if cfg is None:
        Y = np.matmul(as_operand("W", W, 64), as_operand("X", X, 64))
    else:
        Y = gemm(W, X, cfg)
    y = col2im(Y, geo)
    if bias is not None:
        y = y + np.asarray(bias, np.int64).reshape((1, -1) + (1,) * len(geo.in_size))
    return y


def linear(
    x: np.ndarray,
    w: np.ndarray,
    cfg: ArrayConfig,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """``x[tokens, in] -> [tokens, out]`` with ``w[out, in]``: the GEMM ``W . x^T``."""
    Y = layer_output(w, np.asarray(x).T, cfg, bias=bias, relu=relu, shift=shift)
    return Y.T
