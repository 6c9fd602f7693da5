"""Pareto fronts and exact hypervolumes in pure NumPy.

The sweep's ``accel pareto`` and the design-space search's benchmark rank designs with these
functions. Every objective is *minimised* (cycles, energy, area, ...). Hypervolumes are exact
(sweeps over sorted points), not Monte Carlo estimates, so two runs can be compared to the last
digit when they share a reference point and normalisation bounds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "non_dominated", "normalised", "reference_point"]

# Candidates checked per step of the blockwise dominance test (a [block, block] comparison),
# and roughly the most matrix elements one step of a chunked comparison or of the 3-D
# hypervolume sweep builds (bounds memory for large fronts).
_BLOCK = 512
_HV_CHUNK = 1 << 22


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    """``points`` as a float ``[n, d]`` array; an empty 1-D input is ``n = 0``, ``d = 0``."""
    p = np.asarray(points, dtype=float)
    if p.ndim == 1 and p.size == 0:
        p = p.reshape(0, 0)
    if p.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [n, d] array, got shape {p.shape}")
    if np.isnan(p).any():
        raise ValueError(f"{name} contains NaN")
    return p


def _dominated_by(front: np.ndarray, blk: np.ndarray) -> np.ndarray:
    """For each row of ``blk``, whether some row of ``front`` is ``<=`` it in every column."""
    if front.shape[0] == 0:
        return np.zeros(blk.shape[0], dtype=bool)
    if front.shape[1] == 2:
        # Is the least second column among front rows whose first column is <= the row's
        # first column no greater than the row's second column: sort + prefix minimum.
        order = np.argsort(front[:, 0], kind="stable")
        first, least = front[order, 0], np.minimum.accumulate(front[order, 1])
        idx = np.searchsorted(first, blk[:, 0], side="right")
        return (idx > 0) & (least[np.maximum(idx - 1, 0)] <= blk[:, 1])
    hit = np.zeros(blk.shape[0], dtype=bool)
    step = max(1, _HV_CHUNK // max(1, front.shape[0]))
    for start in range(0, blk.shape[0], step):
        b = blk[start : start + step]
        weak = front[:, None, 0] <= b[None, :, 0]
        for k in range(1, front.shape[1]):
            weak &= front[:, None, k] <= b[None, :, k]
        hit[start : start + step] = weak.any(axis=0)
    return hit


def _dominated_unique(u: np.ndarray, block: int) -> np.ndarray:
    """Which rows of ``u`` (distinct rows, lexicographically sorted) some other row dominates.

    For distinct rows, ``a <= b`` everywhere already means ``a`` dominates ``b``, and a
    dominator sorts before what it dominates, so its first objective is no greater: only the
    other objectives need comparing, and only with earlier rows. By transitivity each block is
    tested against the non-dominated rows found before it and against its own earlier rows.
    """
    m, d = u.shape
    dominated = np.zeros(m, dtype=bool)
    if m <= 1:
        return dominated
    if d == 1:
        dominated[1:] = True
        return dominated
    if d == 2:
        # Dominated iff an earlier row has a second objective no greater: prefix minimum.
        prefix = np.minimum.accumulate(u[:, 1])
        dominated[1:] = prefix[:-1] <= u[1:, 1]
        return dominated
    rest = u[:, 1:]
    front = np.empty((0, d - 1))
    earlier = np.tri(block, block, -1, dtype=bool)  # [i, j]: j comes before i
    for start in range(0, m, block):
        blk = rest[start : start + block]
        b = blk.shape[0]
        inner = earlier[:b, :b].copy()
        for k in range(d - 1):
            inner &= blk[None, :, k] <= blk[:, None, k]
        hit = inner.any(axis=1) | _dominated_by(front, blk)
        dominated[start : start + block] = hit
        front = np.concatenate([front, blk[~hit]])
    return dominated


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask over the ``n`` rows of ``points`` ``[n, d]``: True where no point dominates.

    ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in at least one
    (minimisation); identical points do not dominate each other, so duplicates on the front are
    all kept. Raises ValueError on NaN or a non-2-D input.
    """
    p = _as_points(points)
    n, d = p.shape
    if n <= 1 or d == 0:
        return np.ones(n, dtype=bool)
    u, inverse = np.unique(p, axis=0, return_inverse=True)
    return ~_dominated_unique(u, _BLOCK)[inverse.reshape(-1)]


def _hv_3d(p: np.ndarray, ref: np.ndarray) -> float:
    """3-D sweep along the third objective, vectorised over slabs: with the points ordered by
    the first objective, the cross-section of the slab above the k-th third-objective value is
    a 2-D staircase over all points, those above the slab lifted to the reference."""
    order = np.lexsort((p[:, 1], p[:, 0]))
    x, y, z = p[order, 0], p[order, 1], p[order, 2]
    widths = np.diff(np.append(x, ref[0]))
    levels = np.unique(z)
    heights = np.diff(np.append(levels, ref[2]))
    total = 0.0
    step = max(1, _HV_CHUNK // x.size)
    for start in range(0, levels.size, step):
        lv = levels[start : start + step, None]
        lifted = np.where(z[None, :] <= lv, y[None, :], ref[1])
        depth = ref[1] - np.minimum.accumulate(lifted, axis=1)
        total += float(heights[start : start + step] @ (depth @ widths))
    return total


def _hv_sorted(p: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of ``p`` (all strictly below ``ref``), any dominated points included.

    2-D is a staircase over the first objective; d >= 3 sums the (d-1)-D hypervolumes of the
    slabs between consecutive last-objective values, each slab's cross-section being the
    points at or below it (3-D is one vectorised pass, see ``_hv_3d``).
    """
    n, d = p.shape
    if n == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - p[:, 0].min())
    if d == 2:
        order = np.lexsort((p[:, 1], p[:, 0]))
        x, y = p[order, 0], p[order, 1]
        widths = np.diff(np.append(x, ref[0]))
        return float(np.dot(widths, ref[1] - np.minimum.accumulate(y)))
    if d == 3:
        return _hv_3d(p, ref)
    p = p[np.argsort(p[:, -1], kind="stable")]
    heights = np.diff(np.append(p[:, -1], ref[-1]))
    total = 0.0
    for k in np.flatnonzero(heights > 0):
        total += heights[k] * _hv_sorted(p[: k + 1, :-1], ref[:-1])
    return float(total)


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume of the region the ``points`` ``[n, d]`` dominate, bounded by
    ``reference`` ``[d]`` (minimisation).

    Points not strictly better than the reference in every objective contribute nothing and are
    dropped; the sweep then runs on the non-dominated rest. d = 2 is a sort and a cumulative
    sum, d = 3 sums 2-D slices along the third objective (O(n^2), vectorised); any d >= 1 works
    by the same recursion, at O(n^(d-1)). No points gives 0.0.
    """
    p = _as_points(points)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if p.shape[0] == 0 and p.shape[1] == 0:
        p = p.reshape(0, ref.size)
    d = p.shape[1]
    if ref.size != d:
        raise ValueError(f"reference has {ref.size} objectives, points have {d}")
    if d == 0:
        raise ValueError("points have 0 objectives; hypervolume needs d >= 1")
    if not np.isfinite(ref).all():
        raise ValueError(f"reference must be finite, got {ref.tolist()}")
    p = p[(p < ref).all(axis=1)]
    if p.shape[0] == 0:
        return 0.0
    p = np.unique(p, axis=0)
    p = p[~_dominated_unique(p, _BLOCK)]
    return _hv_sorted(p, ref)


def reference_point(points: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Default reference point: the worst (largest) value of each objective times ``1 + margin``.

    Meant for non-negative objectives (cycles, energy, area): scaling a negative worst value
    would move the reference *inside* the set, so negative values raise ValueError (give an
    explicit reference instead). With ``margin = 0`` the worst points lie on the reference and
    add nothing; an objective whose worst value is 0 gets reference 0.
    """
    p = _as_points(points)
    if p.shape[0] == 0:
        raise ValueError("reference_point needs at least one point")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if (p < 0).any():
        raise ValueError("reference_point assumes non-negative objectives; pass a reference")
    return p.max(axis=0) * (1.0 + margin)


def normalised(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``points`` scaled per objective, ``(p - lo) / (hi - lo)``: ``lo`` maps to 0, ``hi`` to 1.

    Hypervolumes of different runs are comparable only in one coordinate frame: normalise every
    run with the same ``lo``/``hi`` (and the same reference, e.g. 1.1 in each objective).
    Values outside the bounds map outside [0, 1]. Raises ValueError unless ``hi > lo``
    everywhere.
    """
    p = _as_points(points)
    lo = np.asarray(lo, dtype=float).reshape(-1)
    hi = np.asarray(hi, dtype=float).reshape(-1)
    if p.shape[0] == 0 and p.shape[1] == 0:
        p = p.reshape(0, lo.size)
    if not (lo.size == hi.size == p.shape[1]):
        raise ValueError(
            f"lo ({lo.size}) and hi ({hi.size}) must have one value per objective ({p.shape[1]})"
        )
    if not (hi > lo).all():
        raise ValueError(f"need hi > lo in every objective, got lo={lo.tolist()} hi={hi.tolist()}")
    return (p - lo) / (hi - lo)
