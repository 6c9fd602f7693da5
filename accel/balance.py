"""Offline row balancing: a compiler pass that permutes a layer's output channels.

The rows of a tile run in lockstep up to the queue's depth, so a tile takes as long as its
slowest row. Under unstructured sparsity rows carry different work, and not only in
total: a row can be light in one stretch of K and heavy in the next, and the queue
absorbs only ``queue_depth`` windows of that drift. Permuting the output channels of each
group before tiling puts rows of similar work in the same tile; the host driver permutes
the result rows back, so the layer's output is unchanged (the array computes the same
dot products, only in other PE rows). The RTL runs a permuted layer like any other.

Methods (``BALANCERS``, the table ``--balance`` chooses from):

* ``none``: the identity.
* ``sort``: rows by nonzero count, heaviest first, so each tile holds rows of similar
  totals.
* ``swap``: sorted, then rows exchanged between neighbouring tiles wherever the
  contract's recurrence says the pair gets faster: it sees the drift across blocks (a row
  light in one stretch of K and heavy in the next), which totals do not. Slower to
  compile (tenths of a second for a large layer), a few per cent faster to run.
* ``auto`` (the default): ``none`` or ``sort``, whichever the weight-only schedule
  (every activation row active) finds faster, so balancing never makes a layer slower
  on that model; the identity wins ties.

All of it is a pure function of (config, weight pattern): offline, from the weights alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .config import ArrayConfig
from .encode import WeightPattern
from .errors import AccelError

__all__ = [
    "BALANCERS",
    "BALANCE_METHODS",
    "DEFAULT_BALANCE",
    "check_balance",
    "row_costs",
    "balance_rows",
    "permute_pattern",
    "weight_only_cycles",
]

DEFAULT_BALANCE = "auto"
SWAP_PASSES = 4
"""At most this many passes of the neighbouring-tile exchanges."""


def row_costs(cfg: ArrayConfig, wp: WeightPattern) -> np.ndarray:
    """``c[g, m, b] = max(1, ceil(popcount(wm) / lanes))``: cycles per block with every
    activation row active (what the weights alone say)."""
    e = np.bitwise_count(wp.masks).astype(np.int32)
    return np.maximum(1, (e + (cfg.lanes - 1)) // cfg.lanes)


def _identity(cfg: ArrayConfig, cost: np.ndarray) -> np.ndarray:
    return np.arange(cost.shape[0])


def _sort(cfg: ArrayConfig, cost: np.ndarray) -> np.ndarray:
    return np.argsort(-cost.sum(axis=1), kind="stable")


def _tile_cycles(cfg: ArrayConfig, c: np.ndarray) -> np.ndarray:
    """Weight-only compute cycles of tiles ``c [T, R, nb]``: the contract's recurrence."""
    from .perf.schedule import tile_cycles  # one source for the recurrence

    return tile_cycles(np.ascontiguousarray(c.transpose(2, 0, 1)), cfg.queue_depth)


def _swap(cfg: ArrayConfig, cost: np.ndarray) -> np.ndarray:
    """Sorted tiles, then for each pair of neighbouring tiles the one exchange of rows
    between them that shortens the pair most, as long as one does (at most ``SWAP_PASSES``
    passes over the tiles). Each pair's ``rows x rows`` exchanges are timed at once with
    the contract's recurrence, so the pass sees the drift across blocks, not only totals.
    """
    R = cfg.rows
    order = _sort(cfg, cost)
    Mg, nb = cost.shape
    ntm = -(-Mg // R)
    if ntm < 2:
        return order
    slots = np.full(ntm * R, -1, dtype=np.int64)  # -1: a padding row (1 cycle per block)
    slots[:Mg] = order
    padded = np.vstack([cost, np.ones((1, nb), cost.dtype)])  # row -1 is padding
    i, j = np.divmod(np.arange(R * R), R)  # exchange row i of tile t with row j of t + 1
    for _ in range(SWAP_PASSES):
        improved = False
        for t in range(ntm - 1):
            a, b = slots[t * R : (t + 1) * R], slots[(t + 1) * R : (t + 2) * R]
            now = _tile_cycles(cfg, padded[np.stack([a, b])]).sum()
            ta = np.repeat(a[None], R * R, axis=0)
            tb = np.repeat(b[None], R * R, axis=0)
            ta[np.arange(R * R), i], tb[np.arange(R * R), j] = b[j], a[i]
            after = _tile_cycles(cfg, padded[np.concatenate([ta, tb])])
            total = after[: R * R] + after[R * R :]
            total[(a[i] < 0) | (b[j] < 0)] = np.iinfo(total.dtype).max  # padding stays put
            best = int(np.argmin(total))
            if total[best] < now:
                a[i[best]], b[j[best]] = b[j[best]], a[i[best]]
                improved = True
        if not improved:
            break
    return slots[slots >= 0]  # padding never moved: the driver pads the last tile


BALANCERS: dict[str, Callable[[ArrayConfig, np.ndarray], np.ndarray]] = {
    "none": _identity,
    "sort": _sort,
    "swap": _swap,
}
BALANCE_METHODS = (*BALANCERS, "auto")


def check_balance(method: str) -> str:
    if method not in BALANCE_METHODS:
        raise AccelError(
            f"balance must be one of {', '.join(BALANCE_METHODS)}, not {method!r}",
            field="balance",
        )
    return method


def weight_only_cycles(cfg: ArrayConfig, cost: np.ndarray) -> int:
    """Compute cycles of one group's row tiles ``cost [Mg, nb]`` with every activation
    row active (padding rows cost one cycle per block, as empty blocks do)."""
    R = cfg.rows
    Mg, nb = cost.shape
    ntm = -(-Mg // R)
    c = np.ones((ntm * R, nb), dtype=np.int32)
    c[:Mg] = cost
    return int(_tile_cycles(cfg, c.reshape(ntm, R, nb)).sum())


def balance_rows(cfg: ArrayConfig, wp: WeightPattern, method: str = DEFAULT_BALANCE) -> np.ndarray:
    """The permutation ``perm [G, Mg]``: PE-array row position i of group g computes
    output channel ``perm[g, i]`` of that group.

    Without weight skipping every row has the same work, and a group of at most ``rows``
    channels is one tile whose row order changes nothing: both get the identity.
    """
    check_balance(method)
    G, Mg, _ = wp.masks.shape
    perms = np.broadcast_to(np.arange(Mg), (G, Mg)).copy()
    if not cfg.skip_weights or method == "none" or Mg <= cfg.rows:
        return perms  # one tile per group: its rows' order changes nothing
    cost = row_costs(cfg, wp)
    for g in range(G):
        if method != "auto":
            perms[g] = BALANCERS[method](cfg, cost[g])
            continue
        best, best_cycles = None, None
        for fn in (_identity, _sort):  # identity first: it wins ties
            perm = fn(cfg, cost[g])
            cycles = weight_only_cycles(cfg, cost[g][perm])
            if best_cycles is None or cycles < best_cycles:
                best, best_cycles = perm, cycles
        perms[g] = best
    return perms


def permute_pattern(wp: WeightPattern, perm: np.ndarray) -> WeightPattern:
    """The pattern of the permuted weights (column counts are unchanged by a row order)."""
    masks = np.take_along_axis(wp.masks, perm[:, :, None], axis=1)
    return WeightPattern(masks=masks, col_nnz=wp.col_nnz, K=wp.K, block=wp.block)
