"""A single GEMM from a ``.npz`` file: integer arrays ``W`` (M x K) and ``X`` (K x N)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..config import ArrayConfig
from ..errors import AccelError

__all__ = ["load_gemm"]


def _check(name: str, a: np.ndarray, bits: int, source: str) -> np.ndarray:
    if a.ndim != 2:
        raise AccelError(f"{name} must be 2-D, not of shape {a.shape}", source=source)
    if 0 in a.shape:
        raise AccelError(f"{name} is empty (shape {a.shape})", source=source)
    if a.dtype.kind not in "iub":
        raise AccelError(f"{name} must hold integers, not {a.dtype}", source=source)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # Compare in the file's own dtype: a cast first would wrap 2**63 to a negative number.
    out_of_range = a > hi if a.dtype.kind == "u" else (a < lo) | (a > hi)
    bad = np.argwhere(out_of_range)
    if bad.size:
        r, c = bad[0]
        raise AccelError(
            f"{name}[{r}, {c}] = {int(a[r, c])} is outside the signed {bits}-bit range {lo}..{hi}",
            source=source,
        )
    return a.astype(np.int64)


def load_gemm(path: str | Path, cfg: ArrayConfig) -> tuple[np.ndarray, np.ndarray]:
    """Read and check ``W`` and ``X`` against the configured widths."""
    source = str(path)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise AccelError("expected an .npz archive with arrays W and X", source=source)
        with data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise AccelError("cannot read GEMM: no such file", source=source) from None
    except IsADirectoryError:
        raise AccelError("cannot read GEMM: is a directory", source=source) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise AccelError(f"not a readable .npz file ({err})", source=source) from None
    for key in ("W", "X"):
        if key not in arrays:
            raise AccelError(f"missing array {key!r} (found: {sorted(arrays)})", source=source)
    W = _check("W", arrays["W"], cfg.w_bits, source)
    X = _check("X", arrays["X"], cfg.a_bits, source)
    if W.shape[1] != X.shape[0]:
        raise AccelError(
            f"W is {W.shape[0]}x{W.shape[1]} but X is {X.shape[0]}x{X.shape[1]}: "
            "W's columns must equal X's rows (K)",
            source=source,
        )
    return W, X
