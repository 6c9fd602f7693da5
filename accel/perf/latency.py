"""Fixed latencies the RTL adds around the contract's compute cycles.

One place for every cycle that is not in ``compute_cycles``; ``docs/architecture.md``
explains each and the RTL must match them. Per layer, with row tiles t = 0, 1, ...,
each of load time ``Ld[t]`` and tiles j of compute ``F[t, j]`` (cycle 0 the one after
start, beats and results never waiting; X is a tile's capture cycle, s its start):

    load of t:      starts at LS[t] (LS[0] = 0), ends at LE[t] = LS[t] + Ld[t] - 1
    t starts:       s = max(LE[t] + 1, X_prev + 1)
    a tile j that is not its row tile's last, if X_prev + R <= s + F (the buffer has
    drained by its last work cycle), overlaps the next one:
                    X = s + F + 5,  next s = s + F + 2
    otherwise:      X = max(s + F + 5, X_prev + R),  next s = X + 1
    next load:      LS[t+1] = s of row tile t (double-buffered: the bank of t - 1 is free
                    once t has started; the loader is busy with t until LE[t] < s)
    last result:    X_last + R + 2  (its drain, then the output pipeline)

and the layer's core cycles are the last result's cycle + 1. ``5`` is ``MAC_PIPELINE``
(the last product lands then), ``R`` the drain of the previous tile's results, which a
capture waits for (outputs are double-buffered).
"""

from __future__ import annotations

import numpy as np

from ..config import ArrayConfig

__all__ = [
    "MAC_PIPELINE",
    "OUTPUT_CAPTURE",
    "OUTPUT_PIPELINE",
    "OVERLAP_RESTART",
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

OVERLAP_RESTART = 2
"""An overlapped tile starts this many cycles after the previous one's last work cycle:
the cycle the rows report done (they restart in it) and the new tile's first cycle."""


def weight_load_cycles(cfg: ArrayConfig, nb: int) -> int:
    """Loading a row tile: one beat per (row, block) record (mask plus packed values)."""
    return cfg.rows * nb


def drain_cycles(cfg: ArrayConfig) -> int:
    """Streaming a tile's outputs: one beat of ``cols`` results per row."""
    return cfg.rows


def core_cycles(cfg: ArrayConfig, tile_cycles: np.ndarray, load: np.ndarray | int) -> int:
    """Core cycles of a layer from its per-tile compute cycles ``[G, ntm, ntn]`` and the
    load time of each row tile (``[G * ntm]``, or one value for all)."""
    G, ntm, ntn = tile_cycles.shape
    T = G * ntm
    F = tile_cycles.reshape(T, ntn).astype(np.int64).tolist()
    R = drain_cycles(cfg)
    loads = np.broadcast_to(np.asarray(load, dtype=np.int64), (T,)).tolist()
    land = MAC_PIPELINE  # a tile's capture: this many cycles after its last work cycle
    start_load, capture = 0, None  # the previous tile's capture cycle
    for t in range(T):  # max-plus recurrences, scalar per step
        loaded = start_load + loads[t]  # the first cycle after the load
        start = loaded if capture is None else max(loaded, capture + 1)
        start_load = start  # the loader moves on to row tile t + 1
        tiles = F[t]
        for f in tiles[:-1]:  # every column tile but the row tile's last
            if capture is None or capture + R <= start + f:  # drained: overlap
                capture, start = start + f + land, start + f + OVERLAP_RESTART
            else:
                capture = max(start + f + land, capture + R)
                start = capture + OUTPUT_CAPTURE
        f = tiles[-1]
        capture = start + f + land if capture is None else max(start + f + land, capture + R)
    return int(capture + 1 + R + OUTPUT_PIPELINE)
