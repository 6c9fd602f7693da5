"""Checks that a tensor holds the pattern a pruning claims, read from its values alone
(no mask), so that they can verify a file after it was written."""

from __future__ import annotations

import numpy as np

from ..errors import AccelError
from .arguments import as_weights, check_count, check_nm_args, gemm_view
from .masks import _tiles, check_block

__all__ = ["sparsity", "check_nm", "zero_channels", "check_channels", "zero_blocks", "check_blocks"]


def sparsity(w: np.ndarray) -> float:
    """Fraction of exact zeros (0.0 for an empty tensor)."""
    w = np.asarray(w)
    return float(w.size - np.count_nonzero(w)) / w.size if w.size else 0.0


def check_nm(w: np.ndarray, n: int, m: int, name: str = "w") -> None:
    """Raise if a group of ``m`` consecutive K positions holds more than ``n`` nonzeros."""
    n, m = check_nm_args(n, m)
    view = gemm_view(as_weights(w, name, min_ndim=1))
    O, K = view.shape
    groups = -(-K // m)
    nz = np.pad(view != 0, ((0, 0), (0, groups * m - K))).reshape(O, groups, m).sum(axis=2)
    bad = np.argwhere(nz > n)
    if bad.size:
        row, group = (int(i) for i in bad[0])
        k0, k1 = group * m, min(group * m + m, K) - 1
        raise AccelError(
            f"{name}: output channel {row}, K positions {k0}..{k1} hold {int(nz[row, group])} "
            f"nonzeros, more than {n}:{m} allows ({len(bad)} such groups)"
        )


def zero_channels(w: np.ndarray) -> int:
    """Output channels (axis 0) that are zero throughout."""
    view = gemm_view(as_weights(w, min_ndim=1))
    return int(np.count_nonzero(~view.any(axis=1)))


def check_channels(w: np.ndarray, count: int, name: str = "w") -> None:
    """Raise unless at least ``count`` whole output channels are zero."""
    count = check_count("count", count, 0)
    found = zero_channels(w)
    if found < count:
        raise AccelError(f"{name}: {found} whole output channels are zero, expected {count}")


def zero_blocks(w: np.ndarray, block: tuple[int, int]) -> int:
    """Tiles of the GEMM view (edge tiles partial) that are zero throughout."""
    view = gemm_view(as_weights(w, min_ndim=1))
    return int(np.count_nonzero(~_tiles(view != 0, check_block(block)).any(axis=(1, 3))))


def check_blocks(w: np.ndarray, count: int, block: tuple[int, int], name: str = "w") -> None:
    """Raise unless at least ``count`` whole tiles of shape ``block`` are zero."""
    count = check_count("count", count, 0)
    found = zero_blocks(w, block)
    if found < count:
        raise AccelError(
            f"{name}: {found} whole {block[0]}x{block[1]} tiles are zero, expected {count}"
        )
