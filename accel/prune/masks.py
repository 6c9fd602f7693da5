"""One-shot pruning masks: which weights to keep (True) and which to zero.

Every mask has the weight's shape. Structured masks work on the GEMM view
``w.reshape(O, K)`` (output channels on axis 0, K in (in-channel, kh, kw) order), which is
how the array streams weights, so an N:M mask with ``m == block`` matches its blocks.

Ranking is deterministic: among equal magnitudes the lower (flat, group or tile) index is
removed first; weights that are already zero rank among the smallest. ``round`` is
Python's (half to even), so ``sparsity * count`` of 2.5 removes 2.

The ``prior`` keep-mask of the private helpers ranks weights it already removed below all
others, so that :class:`~accel.prune.gradual.GradualPruner` never revives one, even when
other weights are exactly zero too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import AccelError
from .arguments import (
    as_weights,
    check_count,
    check_nm_args,
    check_sparsity,
    gemm_view,
    magnitude,
)

__all__ = [
    "magnitude_mask",
    "global_magnitude_masks",
    "nm_mask",
    "channel_mask",
    "block_mask",
    "apply_mask",
]

NORMS = ("l1", "l2")


def _removal_order(score: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """Flat indices, first removed first: by (already removed, score, index)."""
    if prior is None:
        return np.argsort(score, kind="stable")
    return np.lexsort((score, prior))  # lexsort is stable: the index breaks ties


def _check_prior(prior: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if prior is not None and (prior.shape != shape or prior.dtype != np.bool_):
        raise AccelError(f"prior mask must be boolean of shape {shape}, not {prior.shape}")


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Remove exactly ``round(sparsity * w.size)`` weights of smallest ``|w|``."""
    return _magnitude_mask(w, sparsity)


def _magnitude_mask(w, sparsity, prior=None) -> np.ndarray:
    w = as_weights(w)
    s = check_sparsity("sparsity", sparsity)
    _check_prior(prior, w.shape)
    k = round(s * w.size)
    keep = np.ones(w.size, dtype=bool)
    order = _removal_order(magnitude(w).ravel(), None if prior is None else prior.ravel())
    keep[order[:k]] = False
    return keep.reshape(w.shape)


def global_magnitude_masks(
    weights: Mapping[str, np.ndarray], sparsity: float
) -> dict[str, np.ndarray]:
    """One threshold over all tensors: exactly ``round(sparsity * total)`` removed in all.

    Ties across tensors go to the tensor that comes first in ``weights``.
    """
    return _global_magnitude_masks(weights, sparsity)


def _global_magnitude_masks(weights, sparsity, priors=None) -> dict[str, np.ndarray]:
    s = check_sparsity("sparsity", sparsity)
    arrays = {name: as_weights(w, name) for name, w in weights.items()}
    if priors is not None:
        for name, w in arrays.items():
            _check_prior(priors[name], w.shape)
    total = sum(w.size for w in arrays.values())
    if not arrays or total == 0:
        return {name: np.ones(w.shape, dtype=bool) for name, w in arrays.items()}
    # float64 ranks floats and integers together; exact for |w| below 2**53
    score = np.concatenate([magnitude(w).ravel().astype(np.float64) for w in arrays.values()])
    prior = None
    if priors is not None:
        prior = np.concatenate([priors[name].ravel() for name in arrays])
    keep = np.ones(total, dtype=bool)
    keep[_removal_order(score, prior)[: round(s * total)]] = False
    masks, start = {}, 0
    for name, w in arrays.items():
        masks[name] = keep[start : start + w.size].reshape(w.shape)
        start += w.size
    return masks


def nm_mask(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the ``n`` largest ``|w|`` of every ``m`` consecutive K positions (from 0).

    A last, partial group of ``g < m`` positions keeps ``min(n, g)``.
    """
    return _nm_mask(w, n, m)


def _nm_mask(w, n, m, prior=None) -> np.ndarray:
    n, m = check_nm_args(n, m)
    w = as_weights(w, min_ndim=1)
    _check_prior(prior, w.shape)
    view = gemm_view(w)
    O, K = view.shape
    groups = -(-K // m)
    pad = groups * m - K
    score = np.pad(magnitude(view), ((0, 0), (0, pad))).reshape(O, groups, m)
    real = np.pad(np.ones((O, K), dtype=bool), ((0, 0), (0, pad))).reshape(O, groups, m)
    keys = [score, real]  # padding goes first, so a partial group loses it before weights
    if prior is not None:
        keys = [score, np.pad(gemm_view(prior), ((0, 0), (0, pad))).reshape(O, groups, m), real]
    order = np.lexsort(keys, axis=-1)
    keep = np.ones((O, groups, m), dtype=bool)
    np.put_along_axis(keep, order[..., : m - n], False, axis=-1)
    return keep.reshape(O, groups * m)[:, :K].reshape(w.shape)


def _row_norms(view: np.ndarray, norm: str) -> np.ndarray:
    a = magnitude(view).astype(np.float64)
    return a.sum(axis=1) if norm == "l1" else np.sqrt(np.square(a).sum(axis=1))


def _check_norm(norm: object) -> str:
    if norm not in NORMS:
        raise AccelError(f"norm must be 'l1' or 'l2', not {norm!r}")
    return norm


def channel_mask(w: np.ndarray, sparsity: float, norm: str = "l1") -> np.ndarray:
    """Remove ``round(sparsity * O)`` whole output channels (axis 0) of smallest norm."""
    return _channel_mask(w, sparsity, norm)


def _channel_mask(w, sparsity, norm="l1", prior=None) -> np.ndarray:
    w = as_weights(w, min_ndim=1)
    s = check_sparsity("sparsity", sparsity)
    norm = _check_norm(norm)
    _check_prior(prior, w.shape)
    view = gemm_view(w)
    gone = None if prior is None else ~gemm_view(prior).any(axis=1)
    order = _removal_order(_row_norms(view, norm), None if gone is None else ~gone)
    rows = np.ones(view.shape[0], dtype=bool)
    rows[order[: round(s * view.shape[0])]] = False
    return np.broadcast_to(rows.reshape((-1,) + (1,) * (w.ndim - 1)), w.shape).copy()


def check_block(block: object) -> tuple[int, int]:
    """A tile shape ``(rows, K positions)`` of positive integers."""
    if not isinstance(block, (tuple, list)) or len(block) != 2:
        raise AccelError(f"block must be a pair (rows, columns) of the GEMM view, not {block!r}")
    return check_count("block rows", block[0], 1), check_count("block columns", block[1], 1)


def tile_grid(shape: tuple[int, int], block: tuple[int, int]) -> tuple[int, int]:
    """Tiles along O and along K (edge tiles partial)."""
    return -(-shape[0] // block[0]), -(-shape[1] // block[1])


def _tiles(view: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """``view`` zero-padded and cut into ``[tiles_o, bo, tiles_k, bk]``."""
    to, tk = tile_grid(view.shape, block)
    padded = np.pad(view, ((0, to * block[0] - view.shape[0]), (0, tk * block[1] - view.shape[1])))
    return padded.reshape(to, block[0], tk, block[1])


def block_mask(w: np.ndarray, sparsity: float, block: tuple[int, int] = (1, 16)) -> np.ndarray:
    """Remove ``round(sparsity * tiles)`` whole tiles of the GEMM view.

    Tiles rank by the mean ``|w|`` of their real elements, so that a partial edge tile is
    not removed first merely for being small.
    """
    return _block_mask(w, sparsity, block)


def _block_mask(w, sparsity, block=(1, 16), prior=None) -> np.ndarray:
    w = as_weights(w, min_ndim=1)
    s = check_sparsity("sparsity", sparsity)
    block = check_block(block)
    _check_prior(prior, w.shape)
    view = gemm_view(w)
    if view.size == 0:
        return np.ones(w.shape, dtype=bool)
    sums = _tiles(magnitude(view).astype(np.float64), block).sum(axis=(1, 3))
    counts = _tiles(np.ones(view.shape), block).sum(axis=(1, 3))
    score = (sums / counts).ravel()
    gone = None
    if prior is not None:
        gone = ~_tiles(gemm_view(prior), block).any(axis=(1, 3)).ravel()
    keep_tiles = np.ones(score.size, dtype=bool)
    order = _removal_order(score, None if gone is None else ~gone)
    keep_tiles[order[: round(s * score.size)]] = False
    to, tk = tile_grid(view.shape, block)
    full = np.repeat(np.repeat(keep_tiles.reshape(to, tk), block[0], 0), block[1], 1)
    return full[: view.shape[0], : view.shape[1]].reshape(w.shape)


def apply_mask(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``w`` with the removed weights set to zero, in ``w``'s dtype (a new array)."""
    w = np.asarray(w)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != w.shape:
        raise AccelError(
            f"mask must be boolean of the weight's shape {w.shape}, not {mask.dtype} {mask.shape}"
        )
    return np.where(mask, w, np.zeros((), dtype=w.dtype))
