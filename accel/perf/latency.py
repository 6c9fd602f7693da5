"""Fixed latencies the RTL adds around the contract's compute cycles.

One place for every cycle that is not in ``compute_cycles``; ``docs/architecture.md``
explains each and the RTL must match them. A layer's core cycles are

    sum over row tiles of  weight_load_cycles
  + sum over tiles of      compute + MAC_PIPELINE + OUTPUT_CAPTURE       (first column tile)
                           max(compute + MAC_PIPELINE + OUTPUT_CAPTURE, drain_cycles) (others)
  + drain_cycles + OUTPUT_PIPELINE                            (the last tile's outputs)

Weights are single-buffered (a row tile's load waits for the previous row tile's last
tile); outputs are double-buffered (a tile's results drain while the next one computes,
and the next capture waits if the drain has not finished). The first tile of a row tile
never waits: the previous drain (``rows`` beats) ends during the weight load
(``rows x nb`` cycles).
"""

from __future__ import annotations

import numpy as np

from ..config import ArrayConfig

__all__ = [
    "MAC_PIPELINE",
    "OUTPUT_CAPTURE",
    "OUTPUT_PIPELINE",
    "weight_load_cycles",
    "drain_cycles",
    "core_cycles",
]

MAC_PIPELINE = 5
"""Select, pick, gated operand register, product register, accumulator: the last MAC of a
tile lands five cycles after the row's last work cycle (``accel.hw.timing``)."""

OUTPUT_PIPELINE = 2
"""Bias and ReLU, then requantisation, registered: the last result leaves the array this
many cycles after it left the output buffer (``accel.hw.timing.OUTPUT_STAGES``)."""

OUTPUT_CAPTURE = 1
"""One cycle to copy the accumulators into the output buffer and clear them."""


def weight_load_cycles(cfg: ArrayConfig, nb: int) -> int:
    """Loading a row tile: one beat per (row, block) record (mask plus packed values)."""
    return cfg.rows * nb


def drain_cycles(cfg: ArrayConfig) -> int:
    """Streaming a tile's outputs: one beat of ``cols`` results per row."""
    return cfg.rows


def core_cycles(cfg: ArrayConfig, tile_cycles: np.ndarray, nb: int) -> int:
    """Core cycles of a layer from its per-tile compute cycles ``[G, ntm, ntn]``."""
    row_tiles = tile_cycles.shape[0] * tile_cycles.shape[1]
    period = tile_cycles.astype(np.int64) + (MAC_PIPELINE + OUTPUT_CAPTURE)
    first = period[..., 0].sum(dtype=np.int64)
    later = np.maximum(period[..., 1:], drain_cycles(cfg)).sum(dtype=np.int64)
    tail = drain_cycles(cfg) + OUTPUT_PIPELINE  # the last tile's results, through the stage
    return int(row_tiles * weight_load_cycles(cfg, nb) + first + later + tail)
