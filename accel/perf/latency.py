"""Fixed latencies the RTL adds around the contract's compute cycles.

One place for every cycle that is not in ``compute_cycles``; ``docs/architecture.md``
explains each and the RTL must match them. Per layer, with row tiles t = 0, 1, ...,
each of load time ``Ld[t]`` and tiles j of compute ``F[t, j]`` (cycle 0 the one after
start, beats and results never waiting):

    load of t:     starts at LS[t] (LS[0] = 0), ends at LE[t] = LS[t] + Ld[t] - 1
    t starts:      S[t]  = max(LE[t] + 1, X[t-1] + 1)     X: the capture cycle of a tile
    first capture: X[t,0] = max(S[t] + F[t,0] + 5, X[t-1] + R)
    later tiles:   X[t,j] = X[t,j-1] + max(F[t,j] + 6, R)
    next load:     LS[t+1] = S[t]   (double-buffered: the bank of t - 1 is free once t
                                     has started; the loader is busy with t until LE[t])
    last result:   X[last] + R + 2  (its drain, then the output pipeline)

and the layer's core cycles are the last result's cycle + 1. ``F + 6`` is
``MAC_PIPELINE + OUTPUT_CAPTURE`` after the last work cycle; ``R`` the drain of the
previous tile's results, which the capture waits for (outputs are double-buffered).
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


def core_cycles(cfg: ArrayConfig, tile_cycles: np.ndarray, load: np.ndarray | int) -> int:
    """Core cycles of a layer from its per-tile compute cycles ``[G, ntm, ntn]`` and the
    load time of each row tile (``[G * ntm]``, or one value for all)."""
    G, ntm, ntn = tile_cycles.shape
    T = G * ntm
    period = tile_cycles.reshape(T, ntn).astype(np.int64) + (MAC_PIPELINE + OUTPUT_CAPTURE)
    R = drain_cycles(cfg)
    first = period[:, 0].tolist()
    rest = np.maximum(period[:, 1:], R).sum(axis=1, dtype=np.int64).tolist()
    loads = np.broadcast_to(np.asarray(load, dtype=np.int64), (T,)).tolist()
    start_load, capture = 0, None  # the previous tile's capture cycle
    for t in range(T):  # a max-plus recurrence over row tiles, scalar per step
        loaded = start_load + loads[t]  # the first cycle after the load
        start = loaded if capture is None else max(loaded, capture + 1)
        capture = (
            start + first[t] - 1 if capture is None else max(start + first[t] - 1, capture + R)
        )
        capture += rest[t]
        start_load = start
    return int(capture + 1 + R + OUTPUT_PIPELINE)
