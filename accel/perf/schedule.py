"""The contract's timing (section 5), vectorised over tiles and rows.

For every tile the row work ``e[r, b] = popcount(wm & am)`` gives ``c[r, b] =
max(1, ceil(e / lanes))`` and the recurrence

    I[b]    = max(I[b-1] + 1, max_r P[r, b-D] + 1)
    P[r, b] = max(F[r, b-1], I[b] + 1)
    F[r, b] = P[r, b] + c[r, b]

is run for all tiles at once, one block at a time (the only Python loop). The result
is per-tile compute cycles and the counters of section 6.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import ArrayConfig
from ..encode import ActPattern, WeightPattern, full_mask

__all__ = ["Counters", "Schedule", "row_work", "tile_cycles", "schedule", "steps"]

COUNTER_NAMES = (
    "windows",
    "weight_reads",
    "macs_issued",
    "macs_effectual",
    "macs_gated",
    "row_busy_cycles",
    "row_idle_cycles",
    "outputs",
)


@dataclass(frozen=True)
class Counters:
    """The events of the contract's section 6, with exactly those names."""

    windows: int = 0
    weight_reads: int = 0
    macs_issued: int = 0
    macs_effectual: int = 0
    macs_gated: int = 0
    row_busy_cycles: int = 0
    row_idle_cycles: int = 0
    outputs: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, n) + getattr(other, n) for n in COUNTER_NAMES))

    def as_dict(self) -> dict[str, int]:
        return {n: int(getattr(self, n)) for n in COUNTER_NAMES}


@dataclass(frozen=True)
class Schedule:
    """Timing of one layer: compute cycles per tile (``[G, ntm, ntn]``) and the counters."""

    tile_cycles: np.ndarray
    counters: Counters

    @property
    def compute_cycles(self) -> int:
        """Sum over tiles of ``max_r F[r, nb-1]`` with ``I[0] = 0``; nothing added."""
        return int(self.tile_cycles.sum())


def _effective_masks(cfg: ArrayConfig, wp: WeightPattern, ap: ActPattern):
    """Masks as the hardware sees them: all ones where a kind of zero is not skipped.

    Returns ``wm [G, ntm, R, nb]`` and ``am [G, ntn', nb]``; when activations are not
    skipped every column tile is alike, so ``ntn' = 1`` and the caller repeats it.
    """
    R = cfg.rows
    G, Mg, nb = wp.masks.shape
    ntm = -(-Mg // R)
    ones = full_mask(cfg.block)
    if cfg.skip_weights:
        wm = np.zeros((G, ntm * R, nb), dtype=np.uint64)
        wm[:, :Mg] = wp.masks
    else:
        wm = np.full((G, ntm * R, nb), ones, dtype=np.uint64)
    wm = wm.reshape(G, ntm, R, nb)
    am = ap.masks if cfg.skip_acts else np.full((G, 1, nb), ones, dtype=np.uint64)
    return wm, am


def row_work(wm: np.ndarray, am: np.ndarray) -> np.ndarray:
    """``e[g, tm, tn, r, b]``: nonzero weights a row consumes per block of each tile."""
    return np.bitwise_count(wm[:, :, None, :, :] & am[:, None, :, None, :])


def tile_cycles(c: np.ndarray, queue_depth: int) -> np.ndarray:
    """Run the recurrence. ``c[b, t, r]`` cycles per block; returns cycles per tile ``[t]``.

    Holding ``c`` block-major keeps every step of the loop on contiguous memory.
    """
    nb, T, R = c.shape
    F = np.zeros((T, R), dtype=np.int64)
    I = np.full(T, -1, dtype=np.int64)
    pmax = np.empty((nb, T), dtype=np.int64)  # max_r P[r, b]
    for b in range(nb):
        I = I + 1
        if b >= queue_depth:
            np.maximum(I, pmax[b - queue_depth] + 1, out=I)
        P = np.maximum(F, (I + 1)[:, None])
        pmax[b] = P.max(axis=1)
        F = P + c[b]
    return F.max(axis=1)


# Row-block steps (one ``e[g, tm, tn, r, b]``) computed at once: the memory of a layer's
# schedule is bounded by about 14 bytes per step of a chunk (e, c and its block-major
# copy), whatever the layer's size; a layer that fits is one chunk, as before.
CHUNK_STEPS = 1 << 24


def _chunks(G: int, ntm: int, ntn: int, unit: int) -> list[tuple[slice, slice, slice]]:
    """Slices of (groups, row tiles, column tiles), each at most ``CHUNK_STEPS`` steps
    (or one tile), in order."""
    budget = max(1, CHUNK_STEPS // unit)
    n = min(ntn, budget)
    m = min(ntm, max(1, budget // n))
    g = min(G, max(1, budget // (n * m)))
    return [
        (slice(g0, g0 + g), slice(m0, m0 + m), slice(n0, n0 + n))
        for g0 in range(0, G, g)
        for m0 in range(0, ntm, m)
        for n0 in range(0, ntn, n)
    ]


def steps(cfg: ArrayConfig, G: int, Mg: int, K: int, N: int) -> int:
    """Row-block steps the schedule of a ``G x (Mg x K) @ (K x N)`` layer computes: what
    its time grows with (``R * nb`` per tile; all column tiles alike without activation
    skipping)."""
    R, C = cfg.rows, cfg.cols
    ntm, ntn, nb = -(-Mg // R), -(-N // C) if cfg.skip_acts else 1, -(-K // cfg.block)
    return G * ntm * ntn * R * nb


def schedule(
    cfg: ArrayConfig,
    wp: WeightPattern,
    ap: ActPattern,
    tick: Callable[[float], None] | None = None,
) -> Schedule:
    """Compute cycles per tile and the section-6 counters of one layer (all its groups),
    in chunks of tiles so that no layer needs more than a chunk's memory; ``tick`` is
    told the fraction done after each chunk."""
    if cfg.dataflow == "dense":
        return _dense_schedule(cfg, wp, ap)
    R, C, L = cfg.rows, cfg.cols, cfg.lanes
    wm, am = _effective_masks(cfg, wp, ap)
    G, ntm, _, nb = wm.shape
    ntn = ap.masks.shape[1]
    ntn_seen = am.shape[1]
    cycles = np.empty((G, ntm, ntn_seen), dtype=np.int64)
    weight_reads = busy = 0
    parts = _chunks(G, ntm, ntn_seen, R * nb)
    for i, (gs, ms, ns) in enumerate(parts):
        e = row_work(wm[gs, ms], am[gs, ns])  # [g, tm, tn, R, nb]
        c = np.maximum(1, (e.astype(np.int32) + (L - 1)) // L).astype(np.int32)
        weight_reads += int(e.sum(dtype=np.int64))
        del e
        busy += int(c.sum(dtype=np.int64))
        shape = c.shape[:3]
        c_bm = np.ascontiguousarray(np.moveaxis(c, -1, 0)).reshape(nb, -1, R)
        del c
        cycles[gs, ms, ns] = tile_cycles(c_bm, cfg.queue_depth).reshape(shape)
        if tick is not None:
            tick((i + 1) / len(parts))
    repeat = ntn // ntn_seen  # 1, or ntn when every column tile is alike
    cycles = np.broadcast_to(cycles, (G, ntm, ntn)) if repeat > 1 else cycles
    weight_reads *= repeat
    busy *= repeat
    effectual = int(np.einsum("gk,gk->", wp.col_nnz, ap.row_nnz, dtype=np.int64))
    tiles = G * ntm * ntn
    counters = Counters(
        windows=tiles * nb,
        weight_reads=weight_reads,
        macs_issued=weight_reads * C,
        macs_effectual=effectual,
        macs_gated=weight_reads * C - effectual,
        row_busy_cycles=busy,
        row_idle_cycles=R * int(cycles.sum(dtype=np.int64)) - busy,
        outputs=tiles * R * C,
    )
    return Schedule(tile_cycles=np.asarray(cycles), counters=counters)


def _dense_schedule(cfg: ArrayConfig, wp: WeightPattern, ap: ActPattern) -> Schedule:
    """The dense reference dataflow: every tile takes one K row per cycle, ``nb x block``
    cycles (the last block's padding included), every row busy in each of them; nothing
    depends on the values but ``macs_effectual``."""
    R, C, B = cfg.rows, cfg.cols, cfg.block
    G, Mg, nb = wp.masks.shape
    ntm, ntn = -(-Mg // R), ap.masks.shape[1]
    tiles = G * ntm * ntn
    cycles = np.full((G, ntm, ntn), nb * B, dtype=np.int64)
    reads = tiles * R * nb * B
    effectual = int(np.einsum("gk,gk->", wp.col_nnz, ap.row_nnz, dtype=np.int64))
    counters = Counters(
        windows=tiles * nb,
        weight_reads=reads,
        macs_issued=reads * C,
        macs_effectual=effectual,
        macs_gated=reads * C - effectual,
        row_busy_cycles=reads,
        row_idle_cycles=0,
        outputs=tiles * R * C,
    )
    return Schedule(tile_cycles=cycles, counters=counters)
