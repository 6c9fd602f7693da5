"""L1 regularisation that reaches exact zeros.

A gradient step on ``lam * ||w||_1`` under Adam only jitters small weights around zero;
the proximal step (soft thresholding) after each optimiser step sets them to exactly 0,
which is what the array can skip. Use ``threshold = lr * lam`` for plain SGD.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import AccelError
from .arguments import as_weights

__all__ = ["soft_threshold", "l1_penalty", "l1_subgradient"]


def soft_threshold(w: np.ndarray, threshold: float) -> np.ndarray:
    """The proximal operator of ``threshold * ||w||_1``: ``sign(w) * max(|w| - t, 0)``.

    Returns a float array (float64 for integer input); the zeros are +0.0.
    """
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise AccelError(f"threshold must be a non-negative number, not {threshold!r}")
    if not 0.0 <= float(threshold) < float("inf"):  # also false for NaN
        raise AccelError(f"threshold must be a non-negative finite number, not {threshold!r}")
    w = as_weights(w)
    if w.dtype.kind != "f":
        w = w.astype(np.float64)
    t = w.dtype.type(threshold)
    return np.where(np.abs(w) > t, w - np.sign(w) * t, np.zeros((), dtype=w.dtype))


def l1_penalty(w: np.ndarray) -> float:
    """``||w||_1`` as a Python float."""
    return float(np.abs(as_weights(w).astype(np.float64)).sum())


def l1_subgradient(w: np.ndarray) -> np.ndarray:
    """``sign(w)``: the subgradient of ``||w||_1`` that is 0 at 0."""
    return np.sign(as_weights(w))
