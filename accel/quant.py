"""Post-training integer quantisation: float weights and activations to the array's integers.

Symmetric (zero maps to zero), so a pruned weight stays a zero the array can skip and a
ReLU zero stays an activation it can gate. Weights get one scale per output channel
(axis 0 of OIHW or of ``W[M, K]``); activations one scale per tensor, from calibration
data. Rounding is half away from zero (``np.round`` is half to even, which biases
nothing here but differs from most frameworks' int8 export).
"""

from __future__ import annotations

import numpy as np

from .errors import AccelError

__all__ = [
    "qmax",
    "quantize",
    "quantize_weights",
    "activation_scale",
    "quantize_acts",
    "quantize_activation",
    "int_dtype",
]


def qmax(bits: int) -> int:
    """Largest magnitude used: symmetric range ``-qmax .. qmax`` (``-2**(bits-1)`` unused)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 32:
        raise AccelError(f"bits must be an integer in 2..32, not {bits!r}")
    return (1 << (bits - 1)) - 1


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize(x: np.ndarray, scale: np.ndarray | float, bits: int) -> np.ndarray:
    """``clip(round(x / scale))`` as int64; ``scale`` broadcasts against ``x``."""
    q = qmax(bits)
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise AccelError("quantisation scales must be positive and finite")
    return np.clip(_round_half_away(np.asarray(x, dtype=np.float64) / scale), -q, q).astype(
        np.int64
    )


def quantize_weights(w: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantisation of ``w`` (output channels on axis 0).

    Returns ``(q, scale)`` with ``w ~= q * scale[:, None, ...]``. An all-zero channel (a
    pruned filter) gets scale 1 and stays all zero.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim < 1 or w.shape[0] == 0:
        raise AccelError(f"weights must have an output-channel axis, not shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise AccelError("weights hold NaN or infinite values")
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if w.size else np.zeros(w.shape[0])
    scale = np.where(peak > 0, peak / qmax(bits), 1.0)
    shaped = scale.reshape((-1,) + (1,) * (w.ndim - 1))
    return quantize(w, shaped, bits), scale


def activation_scale(x: np.ndarray, bits: int = 8, percentile: float = 100.0) -> float:
    """One scale for a tensor from calibration data: its ``percentile`` of ``|x|``.

    A percentile below 100 clips rare outliers, trading their error for finer steps.
    """
    if not 0.0 < percentile <= 100.0:
        raise AccelError(f"percentile must be in (0, 100], not {percentile!r}")
    a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise AccelError("calibration data must be non-empty and finite")
    peak = float(np.percentile(a, percentile)) if percentile < 100.0 else float(a.max())
    return peak / qmax(bits) if peak > 0 else 1.0


def quantize_acts(x: np.ndarray, scale: float, bits: int = 8) -> np.ndarray:
    """Activations to integers with one tensor scale; exact zeros stay zero."""
    return quantize(x, scale, bits)


def int_dtype(bits: int) -> type[np.signedinteger]:
    """The smallest NumPy integer type that holds signed ``bits``-bit values."""
    return np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32


def quantize_activation(tensor: np.ndarray, a_bits: int = 8) -> np.ndarray:
    """A captured tensor with one symmetric scale (its peak), as small integers: what a
    real input becomes on the array when no calibration set is given. Zeros stay zero."""
    t = np.asarray(tensor)
    return quantize_acts(t, activation_scale(t, a_bits), a_bits).astype(int_dtype(a_bits))
