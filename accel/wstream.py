"""The packed weight stream: its format and what it costs in cycles.

One source for the host driver (which packs it), the RTL's unpacker lanes (which parse it)
and the simulator (which times it). The stream is ``weight_bus_bits`` wide and split into
``weight_lanes`` lanes of ``w = weight_bus_bits / weight_lanes`` bits; lane i carries the
rows ``i, i + lanes, ...`` of every row tile. Per row tile and lane, in row order, each row
is its bias (``acc_bits``) followed by one record per block: the mask (``block`` bits, only
with ``skip_weights``) and the block's nonzero values packed in increasing position
(``w_bits`` each; without weight skipping all ``block`` values). Every item (bias or
record) is padded to whole words, so a lane finds the next item at a word boundary and
parses with word shifts only.

A beat holds one word per lane, a valid bit per lane and ``last`` on a row tile's final
beat; a row tile takes ``max over lanes`` of its lanes' word counts in beats, and every
lane's items of a row tile start in that row tile's first beat. No item is shorter than a
word, so a lane never stalls: it takes a word every cycle and emits at most one item per
cycle, as soon as the item's last word is in. Item m of a lane, whose last word is word
``e_m - 1`` of the row tile (first beat at cycle ``LS``), is written at

    E[m] = max(E[m - 1] + 1, LS + e[m])

and the lane's last item of the row tile at ``n_last + max(E_prev + 1, LS + D)`` with
``D = max_m (e[m] - m)``: all that the simulator needs, vectorised over row tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ArrayConfig

__all__ = [
    "bias_words",
    "record_bits",
    "record_words",
    "max_item_words",
    "lane_rows",
    "LoadProfile",
    "load_profile",
]


def _ceil(a, b: int):
    return -(-a // b)


def bias_words(cfg: ArrayConfig) -> int:
    return _ceil(cfg.acc_bits, cfg.weight_word_bits)


def record_bits(cfg: ArrayConfig, nonzeros):
    """Bits of a record with ``nonzeros`` values, before padding (array or int)."""
    if isinstance(nonzeros, (int, np.integer)):
        nonzeros = int(nonzeros)
        return cfg.block * cfg.w_bits if not cfg.skip_weights else cfg.block + nonzeros * cfg.w_bits
    if not cfg.skip_weights:
        return np.full_like(np.asarray(nonzeros, dtype=np.int64), cfg.block * cfg.w_bits)
    return cfg.block + np.asarray(nonzeros, dtype=np.int64) * cfg.w_bits


def record_words(cfg: ArrayConfig, nonzeros):
    """Words of a record with ``nonzeros`` values (array or int)."""
    return _ceil(record_bits(cfg, nonzeros), cfg.weight_word_bits)


def max_item_words(cfg: ArrayConfig) -> int:
    return max(bias_words(cfg), int(record_words(cfg, cfg.block)))


def lane_rows(cfg: ArrayConfig, lane: int) -> range:
    """The PE rows lane ``lane`` loads (none when there are more lanes than rows)."""
    return range(lane, cfg.rows, cfg.weight_lanes)


@dataclass(frozen=True)
class LoadProfile:
    """Per row tile t and lane i: ``beats[t]``, the lane's valid bits ``bits[t, i]`` (whole
    words), the index of its last item ``last[t, i]`` (-1 for a lane without rows) and
    ``D[t, i]``."""

    beats: np.ndarray
    bits: np.ndarray
    last: np.ndarray
    D: np.ndarray

    @property
    def stream_bits(self) -> int:
        """Valid words of the whole layer, in bits: what the weights cost to move."""
        return int(self.bits.sum())


def load_profile(cfg: ArrayConfig, masks: np.ndarray) -> LoadProfile:
    """Timing inputs of every row tile from the weight masks ``[T, R, nb]`` (padding rows
    included, all-zero masks)."""
    T, R, nb = masks.shape
    U = cfg.weight_lanes
    nnz = np.bitwise_count(masks).astype(np.int64)
    items = np.empty((T, R, nb + 1), dtype=np.int64)  # words of each row's bias, records
    items[:, :, 0] = bias_words(cfg)
    items[:, :, 1:] = record_words(cfg, nnz)
    words = np.zeros((T, U), dtype=np.int64)
    last = np.full((T, U), -1, dtype=np.int64)
    D = np.zeros((T, U), dtype=np.int64)
    for lane in range(min(U, R)):
        flat = items[:, lane::U].reshape(T, -1)
        e = np.cumsum(flat, axis=1)
        words[:, lane] = e[:, -1]
        last[:, lane] = flat.shape[1] - 1
        D[:, lane] = (e - np.arange(flat.shape[1])).max(axis=1)
    bits = words * cfg.weight_word_bits
    return LoadProfile(beats=words.max(axis=1), bits=bits, last=last, D=D)
