"""The golden model: what the array computes, bit for bit.

Integer GEMM with two's-complement wrap-around to ``acc_bits``, then the output stage:
optional bias (added in the accumulator, wrapping the same way), optional ReLU, optional
requantisation (arithmetic right shift with round-half-up, saturated to ``a_bits``).
Convolutions lower to GEMMs by im2col, one GEMM per group, as the contract says.
"""

from __future__ import annotations

import numpy as np

from .config import ArrayConfig
from .errors import AccelError
from .workloads.layer import ConvGeometry

__all__ = [
    "as_operand",
    "wrap",
    "gemm",
    "output_stage",
    "layer_output",
    "im2col",
    "conv2d",
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
    order of N is (batch, output row, output column).
    """
    x = np.asarray(x)
    expect = (geo.batch, geo.in_ch, geo.in_h, geo.in_w)
    if x.shape != expect:
        raise AccelError(f"conv input has shape {x.shape}, expected {expect}")
    top, left, bottom, right = geo.pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh, ow = geo.out_h, geo.out_w
    (s_h, s_w), (d_h, d_w) = geo.strides, geo.dilations
    # cols[b, c, i, j, y, x] = xp[b, c, y*s_h + i*d_h, x*s_w + j*d_w]
    sb, sc, sh, sw = xp.strides
    cols = np.lib.stride_tricks.as_strided(
        xp,
        shape=(geo.batch, geo.in_ch, geo.kh, geo.kw, oh, ow),
        strides=(sb, sc, sh * d_h, sw * d_w, sh * s_h, sw * s_w),
        writeable=False,
    )
    cg = geo.in_ch // geo.groups
    cols = cols.reshape(geo.batch, geo.groups, cg * geo.kh * geo.kw, oh * ow)
    return np.ascontiguousarray(cols.transpose(1, 2, 0, 3)).reshape(
        geo.groups, cg * geo.kh * geo.kw, geo.batch * oh * ow
    )


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
