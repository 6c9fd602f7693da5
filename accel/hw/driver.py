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

import numpy as np

from .. import wstream
from ..balance import DEFAULT_BALANCE, balance_rows
from ..config import ArrayConfig
from ..encode import blocks as count_blocks
from ..encode import weight_pattern
from ..errors import AccelError
from ..golden import as_operand
from .layouts import output_beat, weight_beat, window_beat

__all__ = ["Program", "program"]


def _pack(values: np.ndarray, width: int) -> int:
    """Little-endian concatenation of ``values`` as ``width``-bit two's-complement fields."""
    out = 0
    mask = (1 << width) - 1
    for v in reversed(values.tolist()):
        out = (out << width) | (int(v) & mask)
    return out


def _items(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray, rows: range) -> list[tuple[int, int]]:
    """A lane's items of one row tile as (value, words): per row its bias, then each
    block's record (mask, then the nonzero values packed; dense: every value)."""
    B, nb = cfg.block, W.shape[1] // cfg.block
    items: list[tuple[int, int]] = []
    for r in rows:
        items.append((int(bias[r]) & ((1 << cfg.acc_bits) - 1), wstream.bias_words(cfg)))
        for blk in range(nb):
            vals = W[r, blk * B : (blk + 1) * B]
            if cfg.skip_weights:
                keep = vals != 0
                record = _pack(keep.astype(np.int64), 1) | (_pack(vals[keep], cfg.w_bits) << B)
                words = int(wstream.record_words(cfg, int(keep.sum())))
            else:
                record, words = _pack(vals, cfg.w_bits), int(wstream.record_words(cfg, B))
            items.append((record, words))
    return items


def row_tile_beats(cfg: ArrayConfig, W: np.ndarray, bias: np.ndarray) -> list[int]:
    """The weight stream's beats of one row tile: ``W [rows, nb x block]`` (padded),
    ``bias [rows]``. Lane i's words start in the first beat; ``last`` marks the final."""
    w, U = cfg.weight_word_bits, cfg.weight_lanes
    layout = weight_beat(cfg)
    lanes = []
    for i in range(min(U, cfg.rows)):
        words: list[int] = []
        for value, n in _items(cfg, W, bias, wstream.lane_rows(cfg, i)):
            words += [(value >> (k * w)) & ((1 << w) - 1) for k in range(n)]
        lanes.append(words)
    count = max(len(words) for words in lanes)
    words_at, valid_at = layout["words"].offset, layout["valid"].offset
    last_at = layout["last"].offset
    beats = []
    for k in range(count):
        beat = 0
        for i, words in enumerate(lanes):
            if k < len(words):
                beat |= (words[k] << (words_at + i * w)) | (1 << (valid_at + i))
        beats.append(beat | (int(k == count - 1) << last_at))
    return beats


def _to_signed(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


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
    weight_beats: list[int]
    window_beats: list[int]
    groups: int
    rows_per_group: int
    N: int
    perm: np.ndarray  # [G, Mg]: array row position i of group g computes channel perm[g, i]

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

    def decode(self, beats: list[int]) -> np.ndarray:
        """Result beats to ``Y [groups, Mg, N]`` (``[M, N]`` for one group)."""
        cfg = self.config
        if len(beats) != self.result_beats:
            raise AccelError(f"expected {self.result_beats} result beats, got {len(beats)}")
        R, C, n = cfg.rows, cfg.cols, cfg.acc_bits
        ntm = -(-self.rows_per_group // R)
        Y = np.zeros((self.groups, ntm * R, self.col_tiles * C), dtype=np.int64)
        it = iter(beats)
        for g in range(self.groups):
            for tm in range(ntm):
                for tn in range(self.col_tiles):
                    for first in range(0, R, cfg.result_rows):  # result_rows PE rows a beat
                        beat = next(it)
                        for j in range(cfg.result_rows):
                            for c in range(C):
                                at = (j * C + c) * n
                                Y[g, tm * R + first + j, tn * C + c] = _to_signed(beat >> at, n)
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

    window_width = B * C * cfg.a_bits
    assert (
        window_beat(cfg).size == window_width
        and output_beat(cfg).size == cfg.result_rows * C * cfg.acc_bits
    )

    weight_beats: list[int] = []
    window_beats: list[int] = []
    for g in range(G):
        for tm in range(ntm):
            rows = slice(tm * R, (tm + 1) * R)
            weight_beats += row_tile_beats(cfg, Wp[g, rows], bp[g, rows])
            for tn in range(ntn):
                for blk in range(nb):
                    window = Xp[g, blk * B : (blk + 1) * B, tn * C : (tn + 1) * C]
                    window_beats.append(_pack(window.reshape(-1), cfg.a_bits))
    return Program(
        config=cfg,
        row_tiles=G * ntm,
        col_tiles=ntn,
        blocks=nb,
        relu=relu,
        requant=shift is not None,
        shift=0 if shift is None else shift,
        weight_beats=weight_beats,
        window_beats=window_beats,
        groups=G,
        rows_per_group=Mg,
        N=N,
        perm=perm,
    )
