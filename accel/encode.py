"""The contract's encodings (section 4): what the row memories and the window queue hold.

Weights, per row and block: a ``block``-bit mask followed by the packed nonzero values.
Activations, per column tile and block: a ``block``-bit activity mask (bit j set iff any
of the ``cols`` values of window row j is nonzero) followed by the active window rows.
Masks are held as one ``uint64`` per block (bit j = position j of the block), so
``block <= 64``.

Besides the round trips, this module gives the *patterns* that decide timing: the
packed masks and the nonzero counts the simulator needs, and nothing more. They can be
made from real arrays (here) or drawn from a density (``accel.workloads.sparsity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ArrayConfig

__all__ = [
    "blocks",
    "pack_blocks",
    "unpack_blocks",
    "full_mask",
    "WeightPattern",
    "ActPattern",
    "weight_pattern",
    "act_pattern",
    "EncodedWeights",
    "EncodedActs",
    "encode_weights",
    "decode_weights",
    "encode_acts",
    "decode_acts",
]


def blocks(K: int, block: int) -> int:
    """Number of blocks along K: ``ceil(K / block)``."""
    return -(-K // block)


def full_mask(block: int) -> np.uint64:
    """The all-ones mask of a block (dense mode)."""
    return np.uint64((1 << block) - 1)


def pack_blocks(bits: np.ndarray, block: int) -> np.ndarray:
    """Pack a boolean array ``[..., K]`` into masks ``[..., nb]`` (``uint64``, bit j = j).

    The last block is zero-padded, as the contract pads K.
    """
    bits = np.asarray(bits, dtype=bool)
    K = bits.shape[-1]
    nb = blocks(K, block)
    pad = nb * block - K
    if pad:
        bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), bool)], axis=-1)
    if block % 8 == 0:  # whole bytes per block: pack the long axis at once (much faster)
        packed = np.packbits(bits, axis=-1, bitorder="little")
        packed = packed.reshape(bits.shape[:-1] + (nb, block // 8))
    else:
        bits = bits.reshape(bits.shape[:-1] + (nb, block))
        packed = np.packbits(bits, axis=-1, bitorder="little")  # [..., nb, ceil(block / 8)]
    nbytes = packed.shape[-1]
    if nbytes < 8:
        packed = np.concatenate(
            [packed, np.zeros(packed.shape[:-1] + (8 - nbytes,), np.uint8)], axis=-1
        )
    return np.ascontiguousarray(packed).view("<u8")[..., 0].astype(np.uint64, copy=False)


def unpack_blocks(masks: np.ndarray, block: int, K: int) -> np.ndarray:
    """Inverse of :func:`pack_blocks`: masks ``[..., nb]`` to booleans ``[..., K]``."""
    masks = np.asarray(masks, dtype=np.uint64)
    as_bytes = masks.astype("<u8")[..., None].view(np.uint8)  # [..., nb, 8]
    bits = np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :block]
    return bits.reshape(masks.shape[:-1] + (masks.shape[-1] * block,))[..., :K].astype(bool)


# -- Patterns: what timing and counters depend on ---------------------------------------


@dataclass(frozen=True)
class WeightPattern:
    """Nonzero structure of ``groups`` weight matrices ``[Mg, K]``.

    ``masks[g, m, b]`` is the contract's ``wm``; ``col_nnz[g, k]`` counts the nonzero
    weights of column k (it gives the effectual MACs without touching every pair).
    """

    masks: np.ndarray  # [G, Mg, nb] uint64
    col_nnz: np.ndarray  # [G, K] int64
    K: int
    block: int

    @property
    def nnz(self) -> int:
        return int(self.col_nnz.sum())

    @property
    def density(self) -> float:
        G, Mg, _ = self.masks.shape
        return self.nnz / (G * Mg * self.K)


@dataclass(frozen=True)
class ActPattern:
    """Nonzero structure of ``groups`` activation matrices ``[K, N]`` tiled by ``cols``.

    ``masks[g, t, b]`` is the contract's activity mask ``am`` of column tile t;
    ``row_nnz[g, k]`` counts the nonzero activations of row k over all N columns.
    """

    masks: np.ndarray  # [G, ntn, nb] uint64
    row_nnz: np.ndarray  # [G, K] int64
    K: int
    N: int
    block: int
    cols: int

    @property
    def nnz(self) -> int:
        return int(self.row_nnz.sum())

    @property
    def density(self) -> float:
        return self.nnz / (self.row_nnz.shape[0] * self.K * self.N)


def weight_pattern(W: np.ndarray, block: int) -> WeightPattern:
    """Pattern of weights ``[Mg, K]`` or ``[G, Mg, K]``."""
    W = np.asarray(W)
    if W.ndim == 2:
        W = W[None]
    nz = W != 0
    return WeightPattern(
        masks=pack_blocks(nz, block),
        col_nnz=nz.sum(axis=1, dtype=np.int64),
        K=W.shape[-1],
        block=block,
    )


def window_counts(X: np.ndarray, cols: int) -> np.ndarray:
    """Nonzero activations per window row: ``[G, K, N] -> [G, ntn, K]``."""
    G, K, N = X.shape
    ntn = -(-N // cols)
    nz = np.zeros((G, K, ntn * cols), dtype=np.int64)
    nz[:, :, :N] = X != 0
    return nz.reshape(G, K, ntn, cols).sum(axis=-1).transpose(0, 2, 1)


def act_pattern(X: np.ndarray, block: int, cols: int) -> ActPattern:
    """Pattern of activations ``[K, N]`` or ``[G, K, N]`` as column tiles of ``cols``."""
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[None]
    counts = window_counts(X, cols)
    return ActPattern(
        masks=pack_blocks(counts > 0, block),
        row_nnz=counts.sum(axis=1),
        K=X.shape[1],
        N=X.shape[2],
        block=block,
        cols=cols,
    )


# -- Encodings and their round trips --------------------------------------------------------


class _EncodedSize:
    """Size accounting shared by both encodings: masks (unless dense) plus values."""

    @property
    def metadata_bits(self) -> int:
        """Mask bits; a dense design stores none (its masks are constant)."""
        return 0 if self.dense else self.masks.size * self.block

    @property
    def bits(self) -> int:
        return self.metadata_bits + self.value_bits


@dataclass(frozen=True)
class EncodedWeights(_EncodedSize):
    """Per row and block: mask ``masks[m, b]`` and packed nonzeros, concatenated in
    (row, block, position) order in ``values``. Dense mode stores every value."""

    masks: np.ndarray  # [M, nb] uint64
    values: np.ndarray  # [stored values] int64
    K: int
    block: int
    w_bits: int
    dense: bool

    @property
    def value_bits(self) -> int:
        return self.values.size * self.w_bits


def encode_weights(W: np.ndarray, cfg: ArrayConfig) -> EncodedWeights:
    """Compress ``W[M, K]`` as the row memories hold it (all-ones masks when not skipping)."""
    W = np.asarray(W, dtype=np.int64)
    M, K = W.shape
    nb = blocks(K, cfg.block)
    padded = np.zeros((M, nb * cfg.block), dtype=np.int64)
    padded[:, :K] = W
    keep = padded != 0 if cfg.skip_weights else np.ones_like(padded, dtype=bool)
    return EncodedWeights(
        masks=pack_blocks(keep, cfg.block),
        values=padded[keep],  # row-major: row, block, position
        K=K,
        block=cfg.block,
        w_bits=cfg.w_bits,
        dense=not cfg.skip_weights,
    )


def decode_weights(enc: EncodedWeights) -> np.ndarray:
    """Rebuild ``W[M, K]`` from masks and packed values."""
    M, nb = enc.masks.shape
    keep = unpack_blocks(enc.masks, enc.block, nb * enc.block)
    padded = np.zeros(keep.shape, dtype=np.int64)
    padded[keep] = enc.values
    return padded[:, : enc.K]


@dataclass(frozen=True)
class EncodedActs(_EncodedSize):
    """Per column tile and block: activity mask ``masks[t, b]`` and the active window rows
    (``cols`` values each) in (tile, block, row) order. Without activation skipping every
    window row is active and the mask is all ones."""

    masks: np.ndarray  # [ntn, nb] uint64
    rows: np.ndarray  # [active rows, cols] int64
    K: int
    N: int
    block: int
    cols: int
    a_bits: int
    dense: bool

    @property
    def value_bits(self) -> int:
        return self.rows.size * self.a_bits


def _windows(X: np.ndarray, cfg: ArrayConfig) -> np.ndarray:
    """``X[K, N]`` as zero-padded windows ``[ntn, nb, block, cols]``."""
    K, N = X.shape
    nb, ntn = blocks(K, cfg.block), -(-N // cfg.cols)
    padded = np.zeros((nb * cfg.block, ntn * cfg.cols), dtype=np.int64)
    padded[:K, :N] = X
    return padded.reshape(nb, cfg.block, ntn, cfg.cols).transpose(2, 0, 1, 3)


def encode_acts(X: np.ndarray, cfg: ArrayConfig) -> EncodedActs:
    """Compress ``X[K, N]`` into windows with activity masks."""
    X = np.asarray(X, dtype=np.int64)
    K, N = X.shape
    win = _windows(X, cfg)
    active = (win != 0).any(axis=-1) if cfg.skip_acts else np.ones(win.shape[:-1], bool)
    return EncodedActs(
        masks=pack_blocks(active.reshape(active.shape[0], -1), cfg.block),
        rows=win[active],
        K=K,
        N=N,
        block=cfg.block,
        cols=cfg.cols,
        a_bits=cfg.a_bits,
        dense=not cfg.skip_acts,
    )


def decode_acts(enc: EncodedActs) -> np.ndarray:
    """Rebuild ``X[K, N]`` from activity masks and active window rows."""
    ntn, nb = enc.masks.shape
    active = unpack_blocks(enc.masks, enc.block, nb * enc.block).reshape(ntn, nb, enc.block)
    win = np.zeros(active.shape + (enc.cols,), dtype=np.int64)
    win[active] = enc.rows
    X = win.transpose(1, 2, 0, 3).reshape(nb * enc.block, ntn * enc.cols)
    return X[: enc.K, : enc.N]
