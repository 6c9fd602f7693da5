"""The host side of the array's protocol: (config, W, X) to stream beats, and back.

The one source of truth for the beat order and packing, used by the Amaranth-simulator
tests, the cocotb testbenches and anything that drives a real device. Beats are packed
integers in the layouts of ``accel.hw.layouts``.

Order: for every row tile (group by group, then ``ceil(Mg / rows)`` row tiles), its
beats of the packed weight stream (``accel.wstream``: lanes of whole-word biases and
records), then for every column tile (``ceil(N / cols)``) its ``blocks`` windows (the two
streams are independent: the array takes each when it can); results come out ``rows`` beats
per tile in the same tile order. Edge tiles and the last block are zero-padded.

Row balancing (``accel.balance``) is the driver's job: it permutes each group's output
channels (weights and bias) before tiling, exactly as the simulator does, and
``Program.decode`` puts the result rows back in the layer's order. The array never knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import wstream
from ..balance import DEFAULT_BALANCE, balance_rows
from ..config import ArrayConfig
from ..encode import blocks as count_blocks
from ..encode import weight_pattern
from ..errors import AccelError
from ..golden import as_operand
from .layouts import output_beat, weight_beat, window_beat
from .packing import from_ints, nbytes, pack_bits, pack_fields, to_ints, unpack_fields

__all__ = ["Program", "program"]


_TILE_BITS = 1 << 23  # row tiles encoded at once: their records' bits, about this many


def _field_bits(values: np.ndarray, width: int) -> np.ndarray:
    """``values [...]`` as bits ``[..., width]`` (two's complement, bit 0 first)."""
    return ((values[..., None] >> np.arange(width, dtype=np.int64)) & 1).astype(bool)


def _pad_words(bits: np.ndarray, words: int, word: int) -> np.ndarray:
    """Bits ``[..., b]`` zero-padded to ``words`` whole words: ``[..., words, word]``."""
    pad = words * word - bits.shape[-1]
    bits = np.concatenate([bits, np.zeros(bits.shape[:-1] + (pad,), bool)], axis=-1)
    return bits.reshape(bits.shape[:-1] + (words, word))


def _tile_items(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray):
    """Every row's items as word slots: ``words [T, R, S, w]`` and which slots are sent,
    ``keep [T, R, S]``: the bias's words, then per block its record (mask, then the
    nonzero values packed low first; dense: every value), each padded to whole words."""
    T, R, KB = W.shape
    B, w = cfg.block, cfg.weight_word_bits
    vals = W.reshape(T, R, KB // B, B)
    slots = int(wstream.record_words(cfg, B))  # no record is longer
    if cfg.skip_weights:
        nz = vals != 0
        packed = np.take_along_axis(vals, np.argsort(~nz, axis=-1, kind="stable"), axis=-1)
        values = _field_bits(packed, cfg.w_bits).reshape(packed.shape[:-1] + (-1,))
        records = np.concatenate([nz, values], axis=-1)  # zeros sort last: zero padding
        used = wstream.record_words(cfg, nz.sum(axis=-1))
    else:
        records = _field_bits(vals, cfg.w_bits).reshape(vals.shape[:-1] + (-1,))
        used = np.full(vals.shape[:-1], slots)
    records = _pad_words(records, slots, w).reshape(T, R, -1, w)
    nbw = wstream.bias_words(cfg)
    biases = _pad_words(_field_bits(bias, cfg.acc_bits), nbw, w)
    keep = np.concatenate(
        [np.ones((T, R, nbw), bool), (np.arange(slots) < used[..., None]).reshape(T, R, -1)],
        axis=-1,
    )
    return np.concatenate([biases, records], axis=2), keep


def _row_tile_stream(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Byte rows of the weight stream of row tiles ``W [T, rows, nb x block]`` (padded),
    ``bias [T, rows]``: lane i carries rows i, i + lanes, ... in order, its words start in
    a row tile's first beat, and ``last`` marks each row tile's final beat."""
    T, R, _ = W.shape
    U, w = cfg.weight_lanes, cfg.weight_word_bits
    words, keep = _tile_items(cfg, W, bias)
    Q = -(-R // U)  # rows per lane (the last lanes may have fewer, or none)
    S = words.shape[2]
    pad = Q * U - R
    words = np.concatenate([words, np.zeros((T, pad, S, w), bool)], axis=1)
    keep = np.concatenate([keep, np.zeros((T, pad, S), bool)], axis=1)
    words = words.reshape(T, Q, U, S, w).transpose(0, 2, 1, 3, 4).reshape(T, U, Q * S, w)
    keep = keep.reshape(T, Q, U, S).transpose(0, 2, 1, 3).reshape(T, U, Q * S)
    position = np.cumsum(keep, axis=-1) - 1  # the word's beat within its row tile
    beats = keep.sum(axis=-1).max(axis=1)
    first = np.concatenate([[0], np.cumsum(beats)[:-1]])
    t, u, s = np.nonzero(keep)
    beat = first[t] + position[t, u, s]
    total = int(beats.sum())
    lanes = np.zeros((total, U, w), bool)
    valid = np.zeros((total, U), bool)
    lanes[beat, u] = words[t, u, s]
    valid[beat, u] = True
    last = np.zeros((total, 1), bool)
    last[first + beats - 1] = True
    layout = weight_beat(cfg)
    assert (layout["valid"].offset, layout["last"].offset) == (U * w, U * w + U)
    return pack_bits(np.concatenate([lanes.reshape(total, U * w), valid, last], axis=1))


def weight_stream(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The weight stream of row tiles ``W [T, rows, nb x block]`` and ``bias [T, rows]``,
    as byte rows (``accel.hw.packing``), a bounded number of row tiles at a time."""
    T, R, KB = W.shape
    per_tile = R * KB * (cfg.w_bits + 1) + 1
    step = max(1, _TILE_BITS // per_tile)
    parts = [
        _row_tile_stream(cfg, W[lo : lo + step], bias[lo : lo + step]) for lo in range(0, T, step)
    ]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def row_tile_beats(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray) -> list[int]:
    """The weight stream's beats of one row tile: ``W [rows, nb x block]`` (padded),
    ``bias [rows]``. Lane i's words start in the first beat; ``last`` marks the final."""
    return to_ints(weight_stream(cfg, np.asarray(W)[None], np.asarray(bias)[None]))


def window_stream(cfg: ArrayConfig, X: np.ndarray) -> np.ndarray:
    """The windows of ``X [G, nb x block, ntn x cols]`` (padded) in stream order, group by
    group, column tile by column tile, block by block (once per group: the caller repeats
    them for every row tile), as byte rows."""
    G, KB, NC = X.shape
    B, C = cfg.block, cfg.cols
    tiles = X.reshape(G, KB // B, B, NC // C, C).transpose(0, 3, 1, 2, 4)
    flat = tiles.reshape(-1, B * C)  # window row j, column c at j * cols + c
    return pack_fields(flat, cfg.a_bits).reshape(G, -1, nbytes(B * C * cfg.a_bits))


@dataclass(frozen=True)
class Program:
    """Everything to run one layer: control values, input beats, and how to read results."""

    config: ArrayConfig
    row_tiles: int
    col_tiles: int
    blocks: int
    relu: bool
    requant: bool
    shift: int
    weight_bytes: np.ndarray  # [beats, bytes] uint8, least significant byte first
    window_bytes: np.ndarray
    groups: int
    rows_per_group: int
    N: int
    perm: np.ndarray  # [G, Mg]: array row position i of group g computes channel perm[g, i]

    @cached_property
    def weight_beats(self) -> list[int]:
        """The weight stream's beats as integers (what a testbench drives)."""
        return to_ints(self.weight_bytes)

    @cached_property
    def window_beats(self) -> list[int]:
        return to_ints(self.window_bytes)

    @property
    def result_beats(self) -> int:
        cfg = self.config
        return self.row_tiles * self.col_tiles * (cfg.rows // cfg.result_rows)

    def control(self) -> dict[str, int]:
        """The values of the control inputs, by port name."""
        return {
            "row_tiles": self.row_tiles,
            "col_tiles": self.col_tiles,
            "blocks": self.blocks,
            "relu": int(self.relu),
            "requant": int(self.requant),
            "shift": self.shift,
        }

    def decode(self, beats: list[int] | np.ndarray) -> np.ndarray:
        """Result beats (integers, or byte rows as ``accel.hw.packing`` holds them) to
        ``Y [groups, Mg, N]`` (``[M, N]`` for one group), in the layer's row order."""
        cfg = self.config
        if len(beats) != self.result_beats:
            raise AccelError(f"expected {self.result_beats} result beats, got {len(beats)}")
        R, C, k = cfg.rows, cfg.cols, cfg.result_rows
        if not isinstance(beats, np.ndarray):
            beats = from_ints(beats, output_beat(cfg).size)
        ntm = -(-self.rows_per_group // R)
        values = unpack_fields(beats, cfg.acc_bits, k * C)  # beat: k PE rows of C values
        tiles = values.reshape(self.groups, ntm, self.col_tiles, R // k, k, C)
        Y = tiles.transpose(0, 1, 3, 4, 2, 5).reshape(self.groups, ntm * R, self.col_tiles * C)
        Y = Y[:, : self.rows_per_group, : self.N]
        out = np.empty_like(Y)
        np.put_along_axis(out, self.perm[:, :, None], Y, axis=1)  # the layer's row order
        return out[0] if self.groups == 1 else out


def program(
    cfg: ArrayConfig,
    W: np.ndarray,
    X: np.ndarray,
    *,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
    max_blocks: int | None = None,
    balance: str = DEFAULT_BALANCE,
) -> Program:
    """Beats for ``Y = W . X`` (``W [M, K]`` or ``[G, Mg, K]``, ``X [K, N]`` or ``[G, K, N]``).

    ``bias [M]`` (or ``[G, Mg]``), ``relu`` and ``shift`` (requantise when given) select
    the output stage, as in :func:`accel.golden.output_stage`. ``balance`` is the
    row-balancing pass, the same as the simulator's (``accel.balance``).
    """
    W = as_operand("W", W, cfg.w_bits)  # the same checks as the golden model's
    X = as_operand("X", X, cfg.a_bits)
    if W.ndim == 2 and X.ndim == 2:
        W, X = W[None], X[None]
    if W.ndim != 3 or X.ndim != 3 or 0 in W.shape or 0 in X.shape:
        raise AccelError(
            f"W {W.shape} and X {X.shape} must be non-empty [M, K] and [K, N] "
            "(or [G, Mg, K] and [G, K, N])"
        )
    if shift is not None and (
        isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < cfg.acc_bits
    ):
        raise AccelError(f"shift must be an integer in 0..{cfg.acc_bits - 1}, not {shift!r}")
    G, Mg, K = W.shape
    if X.shape[:2] != (G, K):
        raise AccelError(f"W is {W.shape} but X is {X.shape}: groups and K must agree")
    N = X.shape[2]
    R, C, B = cfg.rows, cfg.cols, cfg.block
    nb = count_blocks(K, B)
    if max_blocks is not None and nb > max_blocks:
        raise AccelError(f"K={K} needs {nb} blocks, the hardware holds max_blocks={max_blocks}")
    ntm, ntn = -(-Mg // R), -(-N // C)
    b = np.zeros((G, Mg), np.int64) if bias is None else np.asarray(bias, np.int64).reshape(G, Mg)
    perm = balance_rows(cfg, weight_pattern(W, B), balance)
    W = np.take_along_axis(W, perm[:, :, None], axis=1)
    b = np.take_along_axis(b, perm, axis=1)

    Wp = np.zeros((G, ntm * R, nb * B), dtype=np.int64)
    Wp[:, :Mg, :K] = W
    Xp = np.zeros((G, nb * B, ntn * C), dtype=np.int64)
    Xp[:, :K, :N] = X
    bp = np.zeros((G, ntm * R), dtype=np.int64)
    bp[:, :Mg] = b

    assert window_beat(cfg).size == B * C * cfg.a_bits
    assert output_beat(cfg).size == cfg.result_rows * C * cfg.acc_bits
    weight_bytes = weight_stream(cfg, Wp.reshape(G * ntm, R, nb * B), bp.reshape(G * ntm, R))
    windows = window_stream(cfg, Xp)  # [G, ntn x nb, bytes]: sent again for every row tile
    window_bytes = np.broadcast_to(windows[:, None], (G, ntm) + windows.shape[1:])
    return Program(
        config=cfg,
        row_tiles=G * ntm,
        col_tiles=ntn,
        blocks=nb,
        relu=relu,
        requant=shift is not None,
        shift=0 if shift is None else shift,
        weight_bytes=weight_bytes,
        window_bytes=window_bytes.reshape(-1, windows.shape[-1]),
        groups=G,
        rows_per_group=Mg,
        N=N,
        perm=perm,
    )
