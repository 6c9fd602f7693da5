"""Checks of the arguments every pruning function takes, so that each error names the
parameter and the value (and never lets a bool pass for a number)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import AccelError

__all__ = ["check_sparsity", "check_count", "check_nm_args", "as_weights", "gemm_view"]


def check_sparsity(name: str, value: object, *, allow_one: bool = True) -> float:
    """A fraction removed: a real number in [0, 1] (or [0, 1) without ``allow_one``)."""
    upper = "1]" if allow_one else "1)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise AccelError(f"{name} must be a number in [0, {upper}, not {value!r}")
    x = float(value)
    if math.isnan(x) or not 0.0 <= x <= 1.0 or (x == 1.0 and not allow_one):
        raise AccelError(f"{name} must be in [0, {upper}, not {value!r}")
    return x


def check_count(name: str, value: object, minimum: int) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise AccelError(f"{name} must be an integer >= {minimum}, not {value!r}")
    if value < minimum:
        raise AccelError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


MAX_NM = 64
"""The largest M of an N:M pattern (a group must fit one 64-bit mask word)."""


def check_nm_args(n: object, m: object) -> tuple[int, int]:
    """N:M with 0 <= n < m and m >= 1 (the mask functions: n = 0 keeps nothing)."""
    m = check_count("m", m, 1)
    n = check_count("n", n, 0)
    if n >= m:
        raise AccelError(f"n must be smaller than m={m}, not n={n}")
    return n, m


def check_nm_pattern(n: object, m: object) -> tuple[int, int]:
    """The one rule of a user's N:M (``prune --nm``, ``--pattern``): 1 <= N < M <= 64.
    N = 0 would zero every weight and N = M keep them all: neither is a pattern."""
    if isinstance(n, int) and isinstance(m, int) and not (1 <= n < m <= MAX_NM):
        raise AccelError(f"N:M needs 1 <= N < M <= {MAX_NM}, not {n}:{m}")
    return check_nm_args(n, m)


def as_weights(w: object, name: str = "w", *, min_ndim: int = 0) -> np.ndarray:
    """A finite real (float or integer) array, checked before anything ranks it."""
    a = np.asarray(w)
    if a.dtype.kind not in "fiu":
        raise AccelError(f"{name} must hold real numbers (float or integer), not {a.dtype}")
    if a.ndim < min_ndim:
        raise AccelError(
            f"{name} must have output channels on axis 0 (ndim >= {min_ndim}), not shape {a.shape}"
        )
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise AccelError(f"{name} holds NaN or infinite values")
    return a


def gemm_view(w: np.ndarray) -> np.ndarray:
    """``w`` as the array's ``[O, K]`` weight matrix, K in (in-channel, kh, kw) order.

    ``reshape(O, -1)`` cannot infer K when O is 0, hence the explicit product.
    """
    return w.reshape(w.shape[0], math.prod(w.shape[1:]))


def magnitude(w: np.ndarray) -> np.ndarray:
    """``|w|`` without the overflow of ``abs(int8(-128))``: integers go to uint64."""
    if w.dtype.kind == "f":
        return np.abs(w)
    if w.dtype.kind == "u":
        return w.astype(np.uint64)
    return np.abs(w.astype(np.int64)).view(np.uint64)  # abs(-2**63) wraps to 2**63: right
