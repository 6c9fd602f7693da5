"""A single GEMM from a ``.npz`` file: integer arrays ``W`` (M x K) and ``X`` (K x N)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ArrayConfig
from ..errors import AccelError
from .layer import Layer

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


def gemm_bytes(cfg: ArrayConfig, M: int, K: int, N: int) -> int:
    """Memory a ``--gemm`` run needs: its operands as int64, the simulation of the layer
    and one chunk of outputs (``golden.nonzero_outputs``)."""
    from ..golden import OUTPUT_CHUNK
    from ..perf.footprint import layer_bytes

    layer = Layer(name="gemm", M=M, K=K, N=N, kind="gemm")
    return 8 * (M * K + K * N) * 2 + layer_bytes(cfg, layer) + 16 * OUTPUT_CHUNK


def load_gemm(path: str | Path, cfg: ArrayConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read and check ``W`` and ``X`` against the configured widths; the file's other
    arrays (``bias``) come back as they are. A GEMM too large for the machine's memory
    is refused from its shapes, before the operands are widened."""
    from ..inputs import read_arrays, shown
    from ..limits import check_bytes

    source = shown(path)
    arrays, is_npz = read_arrays(path, "--gemm")
    if not is_npz:
        raise AccelError("expected an .npz archive with arrays W and X, not a .npy", source=source)
    for key in ("W", "X"):
        if key not in arrays:
            raise AccelError(f"missing array {key!r} (found: {sorted(arrays)})", source=source)
    W, X = arrays.pop("W"), arrays.pop("X")
    for name, a in (("W", W), ("X", X)):
        if a.ndim != 2:
            raise AccelError(f"{name} must be 2-D, not of shape {a.shape}", source=source)
    if W.shape[1] != X.shape[0]:
        raise AccelError(
            f"W is {W.shape[0]}x{W.shape[1]} but X is {X.shape[0]}x{X.shape[1]}: "
            "W's columns must equal X's rows (K)",
            source=source,
        )
    (M, K), N = W.shape, X.shape[1]
    check_bytes(gemm_bytes(cfg, M, K, N), f"--gemm {source}: the {M}x{K}x{N} GEMM")
    W = _check("W", W, cfg.w_bits, source)
    X = _check("X", X, cfg.a_bits, source)
    return W, X, arrays
