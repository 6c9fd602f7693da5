"""Beats as byte rows: fixed-width two's-complement fields packed and unpacked, vectorised.

A beat of ``n`` bits is held as ``ceil(n / 8)`` bytes, least significant first (the packing
of ``accel.hw.layouts``: field 0 in the low bits). Whole networks stream millions of beats,
so nothing here loops over values in Python; byte-aligned widths take a NumPy view, any
other width goes through a bit matrix, a bounded number of rows at a time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nbytes", "pack_fields", "pack_bits", "unpack_fields", "to_ints", "from_ints"]

_CHUNK_BITS = 1 << 25  # rows per bit-matrix step: at most ~32 M bits (bytes) at once


def nbytes(bits: int) -> int:
    return -(-bits // 8)


def _chunks(n: int, row_bits: int):
    step = max(1, _CHUNK_BITS // max(row_bits, 1))
    for lo in range(0, n, step):
        yield slice(lo, min(n, lo + step))


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Bit matrix ``[n, b]`` (bit 0 first) to byte rows ``[n, ceil(b / 8)]``."""
    return np.packbits(bits.astype(np.uint8, copy=False), axis=-1, bitorder="little")


def pack_fields(values: np.ndarray, width: int) -> np.ndarray:
    """``values [n, k]`` as ``k`` fields of ``width`` bits each (two's complement, field 0
    lowest), one byte row ``[n, ceil(k * width / 8)]`` per row."""
    values = np.asarray(values, dtype=np.int64)
    n, k = values.shape
    if width in (8, 16, 32, 64):
        dtype = np.dtype(f"<u{width // 8}")
        return np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(n, -1)
    out = np.empty((n, nbytes(k * width)), dtype=np.uint8)
    shifts = np.arange(width, dtype=np.int64)
    for rows in _chunks(n, k * width):
        bits = (values[rows, :, None] >> shifts) & 1
        out[rows] = pack_bits(bits.reshape(bits.shape[0], -1))
    return out


def unpack_fields(rows: np.ndarray, width: int, count: int, offset: int = 0) -> np.ndarray:
    """The inverse: ``count`` signed fields of ``width`` bits from bit ``offset`` of each
    byte row ``[n, m]``, as ``int64 [n, count]``."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    n = rows.shape[0]
    if width in (8, 16, 32, 64) and offset % 8 == 0:
        lo = offset // 8
        chunk = np.ascontiguousarray(rows[:, lo : lo + count * width // 8])
        return chunk.view(np.dtype(f"<i{width // 8}")).astype(np.int64).reshape(n, count)
    out = np.empty((n, count), dtype=np.int64)
    weights = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
    if width < 64:  # the sign bit weighs -2**(width-1) (1 << 63 already wraps to that)
        weights[-1] = -weights[-1]
    for part in _chunks(n, rows.shape[1] * 8):
        bits = np.unpackbits(rows[part], axis=-1, bitorder="little")
        fields = bits[:, offset : offset + count * width].reshape(-1, count, width)
        out[part] = fields.astype(np.int64) @ weights
    return out


def to_ints(rows: np.ndarray) -> list[int]:
    """Byte rows as Python integers (the Amaranth and cocotb testbenches' beats)."""
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


def from_ints(beats: list[int], bits: int) -> np.ndarray:
    """Python integers of ``bits`` bits as byte rows."""
    width = nbytes(bits)
    flat = b"".join(int(b & ((1 << bits) - 1)).to_bytes(width, "little") for b in beats)
    return np.frombuffer(flat, dtype=np.uint8).reshape(len(beats), width)
