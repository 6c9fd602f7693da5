"""Fixed latencies the RTL adds around the contract's compute cycles.

One place for every cycle that is not in ``compute_cycles``; ``docs/architecture.md``
explains each and the RTL must match them. Per layer, with row tiles t = 0, 1, ... (cycle
0 the one after start, beats and results never waiting; X is a tile's capture cycle, s
its start):

    weights of t:   first beat at LS[t] (LS[0] = 0); lane i writes its last item at
                    E_i = last_i + max(E_i(t-1) + 1, LS[t] + D_i)   (``accel.wstream``)
                    and LE[t] = max_i E_i
    t starts:       s = max(LE[t] + 1, X_prev + 1)
    a tile j that is not its row tile's last, if X_prev + R <= s + F (the buffer has
    drained by its last work cycle), overlaps the next one:
                    X = s + F + 5,  next s = s + F + 2
    otherwise:      X = max(s + F + 5, X_prev + R),  next s = X + 1
    next beats:     LS[t+1] = max(LS[t] + beats[t], X_last(t-1) + 1)   (double-buffered:
                    the bank of t - 1 is free once its last tile is captured)
    last result:    X_last + R + 2  (its drain, then the output pipeline)

and the layer's core cycles are the last result's cycle + 1. ``5`` is ``MAC_PIPELINE``
(the last product lands then), ``R`` the drain of the previous tile's results, which a
capture waits for (outputs are double-buffered).

The dense reference dataflow (``dataflow = "dense"``) issues one K row per cycle, all
tiles back to back; with ``L`` the cycle a tile issues its last row and ``X = L + 10``
its capture (``DENSE_LANDING``):

    a tile's first row:   s = L_prev + 1, and for a row tile's first tile also >= LE[t] + 1
    its last row:         L = max(s + F - 1, X_prev + R + 1)   (the output buffer is
                          free: the previous tile captured and drained, as a register
                          says a cycle later; only the last row waits)
    next beats:           LS[t+1] = max(LS[t] + beats[t], X_last(t-1) + 1)   (the bank of
                          t - 1 is free once its last tile is captured: its first
                          products have taken their biases from the bank by then)

with the same weight-load and drain terms as above.
"""

from __future__ import annotations

import numpy as np

from ..config import ArrayConfig
from ..encode import WeightPattern
from ..wstream import LoadProfile, load_profile

__all__ = [
    "MAC_PIPELINE",
    "OUTPUT_CAPTURE",
    "OUTPUT_PIPELINE",
    "OVERLAP_RESTART",
    "DENSE_LANDING",
    "DENSE_DRAIN",
    "output_latency",
    "drain_cycles",
    "core_cycles",
    "tile_captures",
    "result_cycles",
    "weight_loads",
]

MAC_PIPELINE = 5
"""Select, pick, gated operand register, product register, accumulator: the last MAC of a
tile lands five cycles after the row's last work cycle (``accel.hw.timing``)."""

OUTPUT_PIPELINE = 3
"""Bias, then the requantising shift, then rounding, saturation and ReLU, registered: the
last result leaves the array this many cycles after it left the output buffer
(``accel.hw.timing.OUTPUT_STAGES``)."""

OUTPUT_CAPTURE = 1
"""One cycle to copy the accumulators into the output buffer and clear them."""

OVERLAP_RESTART = 2
"""An overlapped tile starts this many cycles after the previous one's last work cycle:
the cycle the rows report done (they restart in it) and the new tile's first cycle."""


DENSE_LANDING = 10
"""The dense dataflow: from a tile's last row issued to its capture. Weight read (block RAM
and its output register, 2), the operand registers (1), the multiplier's input, pipeline
and output registers (3), two fabric registers (2), the accumulator's low half (1) and
its high half (1): ``accel.hw.timing.DENSE_LANDING``."""


DENSE_DRAIN = 1
"""The dense array's drain register (``accel.hw.timing.DENSE_DRAIN``): between the output
buffer's row multiplexer and the output pipeline, one more cycle to every result."""


def output_latency(cfg: ArrayConfig) -> int:
    """From a result beat leaving the output buffer to it leaving the array."""
    return OUTPUT_PIPELINE + (DENSE_DRAIN if cfg.dataflow == "dense" else 0)


def drain_cycles(cfg: ArrayConfig) -> int:
    """Streaming a tile's outputs: one beat of ``result_rows x cols`` results per cycle."""
    return cfg.rows // cfg.result_rows


def core_cycles(cfg: ArrayConfig, tile_cycles: np.ndarray, load: LoadProfile) -> int:
    """Core cycles of a layer from its per-tile compute cycles ``[G, ntm, ntn]`` and the
    weight stream's timing inputs per row tile (``accel.wstream.load_profile``)."""
    last = tile_captures(cfg, tile_cycles, load)[-1]
    return int(last + 1 + drain_cycles(cfg) + output_latency(cfg))


def result_cycles(cfg: ArrayConfig, captures: np.ndarray) -> np.ndarray:
    """The cycle of every result beat, in stream order, from the tiles' capture cycles
    (results never waiting): beat j of a tile leaves ``j + 1 + OUTPUT_PIPELINE`` cycles
    after its capture, so the last one at ``X + R + OUTPUT_PIPELINE``."""
    j = np.arange(drain_cycles(cfg), dtype=np.int64)
    lat = output_latency(cfg)
    return (np.asarray(captures, np.int64)[:, None] + j + 1 + lat).reshape(-1)


def tile_captures(cfg: ArrayConfig, tile_cycles: np.ndarray, load: LoadProfile) -> np.ndarray:
    """The capture cycle of every tile (row tile by row tile, column tiles in order): the
    recurrences of the module docstring, for the configuration's dataflow."""
    return _CAPTURES[cfg.dataflow](cfg, tile_cycles, load)


def _lane_writes(load: LoadProfile):
    """A function of (row tile, its first beat's cycle) to the cycle its last weight is
    written, over all lanes, carrying each lane's last write across row tiles."""
    lanes = [i for i in range(load.last.shape[1]) if load.last[0, i] >= 0]
    last = load.last[:, lanes].tolist()
    D = load.D[:, lanes].tolist()
    emitted = [None] * len(lanes)

    def loaded(t: int, start_load: int) -> int:
        done = 0
        for i in range(len(lanes)):
            ready = start_load + D[t][i]
            e = last[t][i] + (ready if emitted[i] is None else max(emitted[i] + 1, ready))
            emitted[i] = e
            done = max(done, e)
        return done

    return loaded


def _dense_captures(cfg: ArrayConfig, tile_cycles: np.ndarray, load: LoadProfile) -> np.ndarray:
    G, ntm, ntn = tile_cycles.shape
    F = tile_cycles.reshape(G * ntm, ntn).astype(np.int64).tolist()
    R = drain_cycles(cfg)
    beats = load.beats.tolist()
    loaded_at = _lane_writes(load)
    start_load, last_row, capture = 0, None, None
    prev_capture = None  # the capture of row tile t - 1's last tile
    captures = []
    for t, tiles in enumerate(F):
        ready = loaded_at(t, start_load) + 1
        free = 0 if prev_capture is None else prev_capture + 1
        start_load = max(start_load + beats[t], free)
        start = ready if last_row is None else max(last_row + 1, ready)
        for f in tiles:
            last_row = start + f - 1
            if capture is not None:
                last_row = max(last_row, capture + R + 1)
            capture = last_row + DENSE_LANDING
            captures.append(capture)
            start = last_row + 1
        prev_capture = capture
    return np.array(captures, dtype=np.int64)


def _queued_captures(cfg: ArrayConfig, tile_cycles: np.ndarray, load: LoadProfile) -> np.ndarray:
    G, ntm, ntn = tile_cycles.shape
    T = G * ntm
    F = tile_cycles.reshape(T, ntn).astype(np.int64).tolist()
    R = drain_cycles(cfg)
    beats = load.beats.tolist()
    loaded_at = _lane_writes(load)
    land = MAC_PIPELINE  # a tile's capture: this many cycles after its last work cycle
    start_load, capture = 0, None  # first beat of the row tile; the previous capture
    captures = []
    for t in range(T):  # max-plus recurrences, scalar per step
        loaded = loaded_at(t, start_load)  # the row tile's last weight write, all lanes
        start = loaded + 1 if capture is None else max(loaded + 1, capture + 1)
        # the next row tile's first beat: after this one's beats, once its bank is free
        # (row tile t - 1 captured its last tile; the FSM has moved on to row tile t)
        free = 0 if capture is None else capture + 1
        start_load = max(start_load + beats[t], free)
        tiles = F[t]
        for f in tiles[:-1]:  # every column tile but the row tile's last
            if capture is None or capture + R <= start + f:  # drained: overlap
                capture, start = start + f + land, start + f + OVERLAP_RESTART
            else:
                capture = max(start + f + land, capture + R)
                start = capture + OUTPUT_CAPTURE
            captures.append(capture)
        f = tiles[-1]
        capture = start + f + land if capture is None else max(start + f + land, capture + R)
        captures.append(capture)
    return np.array(captures, dtype=np.int64)


_CAPTURES = {"queued": _queued_captures, "dense": _dense_captures}


def weight_loads(cfg: ArrayConfig, wp: WeightPattern) -> LoadProfile:
    """The weight stream's timing inputs of every row tile (padding rows: empty masks)."""
    G, Mg, nb = wp.masks.shape
    R = cfg.rows
    ntm = -(-Mg // R)
    masks = np.zeros((G, ntm * R, nb), dtype=np.uint64)
    if cfg.skip_weights:
        masks[:, :Mg] = wp.masks
    return load_profile(cfg, masks.reshape(G * ntm, R, nb))
