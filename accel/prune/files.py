"""Pruning a weights file (``.npz``, ``.onnx`` or ``.safetensors``) into a new file, then
checking it.

``.npz``: every float or integer array with ``ndim >= 2`` is a weight (output channels
on axis 0); the others (biases, scalars, bool arrays) are copied unchanged. ``.onnx``:
the weights :mod:`accel.prune.onnx_weights` finds. ``.safetensors`` (Hugging Face
checkpoints, Linear weights ``[out, in]``): every 2-D float or integer tensor whose name
ends in ``.weight`` and that is not an embedding, a norm or the pooler (see
:func:`_safetensors_weights`); every other tensor and the metadata are copied unchanged.
The result is written to a temporary file beside ``target`` and renamed, never over
``source``; then it is read back and every claim is checked against what is on disk: only
weights were zeroed (none changed), the pattern holds (N:M groups, whole channels, whole
tiles, exact counts), the stored tensors are the pruned ones (and, for ``.safetensors``,
every other tensor is stored unchanged).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AccelError
from ..outputs import NPZ_MARK, ONNX_MARK, check_writable, replacing
from .arguments import as_weights, check_count, check_nm_pattern, check_sparsity, gemm_view
from .gradual import cubic_sparsity
from .masks import (
    NORMS,
    _tiles,
    apply_mask,
    block_mask,
    channel_mask,
    check_block,
    global_magnitude_masks,
    magnitude_mask,
    nm_mask,
    tile_grid,
)
from .patterns import check_nm, sparsity, zero_blocks, zero_channels

__all__ = [
    "SUFFIXES",
    "FILE_METHODS",
    "PruneSpec",
    "TensorResult",
    "PruneResult",
    "prune_file",
    "gradual_targets",
    "prune_file_gradual",
]

SUFFIXES = (".npz", ".onnx", ".safetensors")
FILE_METHODS = ("magnitude", "nm", "channel", "block")


@dataclass(frozen=True)
class PruneSpec:
    """What to prune: a method and its parameters, checked at construction.

    ``sparsity`` is required except for ``nm``, where it is implied (``1 - n/m``) and, if
    given, must agree.
    """

    method: str
    sparsity: float | None = None
    nm: tuple[int, int] | None = None
    scope: str = "layer"
    norm: str = "l1"
    block: tuple[int, int] = (1, 16)

    def __post_init__(self) -> None:
        if self.method not in FILE_METHODS:
            methods = ", ".join(FILE_METHODS)
            raise AccelError(f"method must be one of {methods}, not {self.method!r}")
        if self.method == "nm":
            if self.nm is None:
                raise AccelError("method 'nm' needs nm=(n, m)")
            n, m = check_nm_pattern(*self.nm)
            if self.sparsity is not None and abs(self.sparsity - (1 - n / m)) > 1e-9:
                raise AccelError(
                    f"sparsity {self.sparsity!r} contradicts {n}:{m} (which means {1 - n / m:g})"
                )
            object.__setattr__(self, "nm", (n, m))
        else:
            if self.nm is not None:
                raise AccelError(f"nm applies to method 'nm', not {self.method!r}")
            if self.sparsity is None:
                raise AccelError(f"method {self.method!r} needs a sparsity")
            object.__setattr__(self, "sparsity", check_sparsity("sparsity", self.sparsity))
        if self.scope not in ("layer", "global"):
            raise AccelError(f"scope must be 'layer' or 'global', not {self.scope!r}")
        if self.scope == "global" and self.method != "magnitude":
            raise AccelError(f"scope 'global' applies to method 'magnitude', not {self.method!r}")
        if self.norm not in NORMS:
            raise AccelError(f"norm must be 'l1' or 'l2', not {self.norm!r}")
        object.__setattr__(self, "block", check_block(self.block))

    @property
    def global_(self) -> bool:
        return self.scope == "global"

    @property
    def label(self) -> str:
        if self.method == "nm":
            return f"{self.nm[0]}:{self.nm[1]} along K"
        s = f"{self.sparsity:.4g}"
        return {
            "magnitude": f"magnitude, sparsity {s} per {'model' if self.global_ else 'layer'}",
            "channel": f"channel, sparsity {s} of output channels ({self.norm})",
            "block": f"block {self.block[0]}x{self.block[1]}, sparsity {s} of tiles",
        }[self.method]

    def masks(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The keep-masks of ``weights`` (each with output channels on axis 0)."""
        if self.method == "magnitude" and self.scope == "global":
            return global_magnitude_masks(weights, self.sparsity)
        one: Callable[[np.ndarray], np.ndarray] = {
            "magnitude": lambda w: magnitude_mask(w, self.sparsity),
            "nm": lambda w: nm_mask(w, *self.nm),
            "channel": lambda w: channel_mask(w, self.sparsity, self.norm),
            "block": lambda w: block_mask(w, self.sparsity, self.block),
        }[self.method]
        return {name: one(w) for name, w in weights.items()}

    def check(self, before: np.ndarray, after: np.ndarray, name: str) -> str | None:
        """Why ``after`` is not ``before`` pruned as claimed, or None."""
        if after.shape != before.shape or after.dtype != before.dtype:
            return f"stored as {after.dtype} {after.shape}, not {before.dtype} {before.shape}"
        if not np.all((after == before) | (after == 0)):
            return "a kept weight changed value"
        zeros = after.size - np.count_nonzero(after)
        zeros_before = before.size - np.count_nonzero(before)
        if self.method == "magnitude" and self.scope == "layer":
            expected = max(zeros_before, round(self.sparsity * after.size))
            if zeros != expected:
                return f"{zeros} zeros, expected {expected}"
        elif self.method == "nm":
            try:
                check_nm(after, *self.nm, name=name)
            except AccelError as err:
                return str(err)
        elif self.method == "channel":
            changed = gemm_view(after != before).any(axis=1)
            if gemm_view(after)[changed].any():
                return "a pruned output channel is not whole"
            expected = round(self.sparsity * after.shape[0])
            if zero_channels(after) < expected:
                return f"{zero_channels(after)} zero output channels, expected {expected}"
        elif self.method == "block":
            changed = _tiles(gemm_view(after != before), self.block).any(axis=(1, 3))
            if (_tiles(gemm_view(after) != 0, self.block).any(axis=(1, 3)) & changed).any():
                return "a pruned tile is not whole"
            tiles = int(np.prod(tile_grid(gemm_view(after).shape, self.block)))
            expected = round(self.sparsity * tiles) if after.size else 0
            if zero_blocks(after, self.block) < expected:
                return f"{zero_blocks(after, self.block)} zero tiles, expected {expected}"
        return None


@dataclass(frozen=True)
class TensorResult:
    """One pruned tensor as read back from the written file."""

    name: str
    shape: tuple[int, ...]  # the pruning view: output channels first
    dtype: str
    before: float  # sparsity (fraction of exact zeros)
    after: float
    problem: str | None = None
    transposed: bool = False  # stored as the transpose of ``shape`` (ONNX [K, N])

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class PruneResult:
    source: Path
    target: Path
    spec: PruneSpec
    tensors: tuple[TensorResult, ...]
    skipped: tuple[tuple[str, str], ...]  # (tensor, why it was left as it was)
    weights: int  # elements of all pruned tensors
    before: float
    after: float
    problem: str | None = None  # a claim over all tensors (global count) that failed

    @property
    def ok(self) -> bool:
        return self.problem is None and all(t.ok for t in self.tensors)


_NPZ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


def _read_npz(path: Path, role: str = "IN") -> tuple[dict[str, np.ndarray], bool]:
    """The arrays (in file order) and whether the archive was compressed."""
    from ..inputs import read_arrays

    arrays, is_npz = read_arrays(path, role)
    if not is_npz:
        raise AccelError("not an .npz archive (a .npy file)", source=f"{role} {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            compressed = any(i.compress_type != zipfile.ZIP_STORED for i in zf.infolist())
    except _NPZ_ERRORS as err:
        raise AccelError(f"not a readable .npz archive ({err})", source=f"{role} {path}") from None
    return arrays, compressed


def _write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    """Like ``np.savez`` but safe for any key (``np.savez(file=...)`` would clash)."""
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode, allowZip64=True) as zf:
        zf.comment = NPZ_MARK  # ours to replace next time (accel.outputs.is_ours)
        for key, array in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def _npz_weights(arrays: dict[str, np.ndarray]) -> tuple[list[str], list[tuple[str, str]]]:
    names, skipped = [], []
    for key, a in arrays.items():
        if a.dtype.kind in "fiu" and a.ndim >= 2:
            names.append(key)
        else:
            skipped.append((key, f"{a.dtype} of shape {a.shape}: copied unchanged"))
    return names, skipped


def _read_safetensors(path: Path, role: str = "IN") -> tuple[dict[str, np.ndarray], dict]:
    """The tensors (in file order) and the metadata of a safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    except Exception as err:  # SafetensorError (bad header), bfloat16, OSError
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AccelError(
            f"not a readable safetensors file ({msg})", source=f"{role} {path}"
        ) from None
    return tensors, metadata


def _same(a: np.ndarray, b: np.ndarray | None) -> bool:
    return b is not None and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict) -> None:
    from safetensors.numpy import save_file

    contiguous = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(contiguous, str(path), metadata=metadata or None)


_NOT_LINEAR = ("embeddings", "embedding", "embed_tokens", "wte", "wpe", "pooler")


def _safetensors_weights(tensors: dict[str, np.ndarray]) -> tuple[list[str], list[tuple[str, str]]]:
    """The Linear weights: 2-D, float or integer, the name ends in ``.weight``, and no part
    of the dotted name is an embedding (``embeddings``, ``wte`` ...), a norm (a part holding
    ``norm``: LayerNorm, ln) or the ``pooler``."""
    names, skipped = [], []
    for key, a in tensors.items():
        parts = key.lower().split(".")
        if not key.endswith(".weight") or a.ndim != 2 or a.dtype.kind not in "fiu":
            skipped.append((key, f"{a.dtype} of shape {list(a.shape)}: copied unchanged"))
        elif any(p in _NOT_LINEAR for p in parts[:-1]):
            skipped.append((key, "an embedding or the pooler: copied unchanged"))
        elif any("norm" in p or p.startswith("ln") for p in parts[:-1]):
            skipped.append((key, "a norm: copied unchanged"))
        else:
            names.append(key)
    return names, skipped


def _check_paths(source: Path, target: Path, force: bool) -> None:
    if not source.exists():
        raise AccelError("no such file", source=f"IN {source}")
    if not source.is_file():
        raise AccelError("is not a file", source=f"IN {source}")
    if source.suffix.lower() not in SUFFIXES:
        raise AccelError(
            f"not an .onnx, .npz or .safetensors file (suffix {source.suffix!r})",
            source=f"IN {source}",
        )
    if target.suffix.lower() != source.suffix.lower():
        raise AccelError(
            f"must end in {source.suffix} like the input, not {target.suffix!r}",
            source=f"OUT {target}",
        )
    same = target.resolve() == source.resolve() or (
        target.exists() and os.path.samefile(target, source)
    )
    if same:
        raise AccelError("is the input file; prune writes a new file", source=f"OUT {target}")
    check_writable(target, force, "OUT")


def _replace(target: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file beside ``target``, then rename it into place
    (``accel.outputs.replacing``: the file mode follows the umask)."""
    with replacing(target, what="OUT") as (tmp,):
        write(tmp)


def _checked(weights: dict[str, np.ndarray], source: Path) -> None:
    for name, w in weights.items():
        as_weights(w, f"{source}: tensor {name!r}")


def prune_file(
    source: str | Path, target: str | Path, spec: PruneSpec, *, force: bool = False
) -> PruneResult:
    """Prune every weight of ``source`` as ``spec`` says into the new file ``target``."""
    source, target = Path(source), Path(target)
    _check_paths(source, target, force)
    suffix = source.suffix.lower()
    transposed_names: set[str] = set()
    copy_problem: str | None = None  # a tensor that should have been copied, and was not
    if suffix == ".npz":
        arrays, compressed = _read_npz(source)
        names, skipped = _npz_weights(arrays)
        before = {name: arrays[name] for name in names}
    elif suffix == ".safetensors":
        arrays, metadata = _read_safetensors(source)
        names, skipped = _safetensors_weights(arrays)
        before = {name: arrays[name] for name in names}
    else:
        from . import onnx_weights

        model = onnx_weights.load_model(source)
        found, skipped = onnx_weights.find_weights(model)
        by_name = {w.name: w for w in found}
        before = {w.name: onnx_weights.read_weight(model, w) for w in found}
        transposed_names = {w.name for w in found if w.transposed}
    if not before:
        kind = {
            ".npz": "float or integer arrays with ndim >= 2",
            ".safetensors": "2-D '.weight' tensors of Linear layers",
        }.get(suffix, "constant second inputs of Conv, Gemm or MatMul")
        raise AccelError(f"no prunable tensors ({kind})", source=f"IN {source}")
    _checked(before, source)
    masks = spec.masks(before)
    pruned = {name: apply_mask(w, masks[name]) for name, w in before.items()}

    if suffix == ".npz":
        _replace(target, lambda p: _write_npz(p, {**arrays, **pruned}, compressed))
        written, _ = _read_npz(target, "OUT")
        after = {name: written.get(name, np.empty(0)) for name in before}
    elif suffix == ".safetensors":
        _replace(target, lambda p: _write_safetensors(p, {**arrays, **pruned}, metadata))
        written, _ = _read_safetensors(target, "OUT")
        after = {name: written.get(name, np.empty(0)) for name in before}
        changed = [k for k in arrays if k not in before and not _same(arrays[k], written.get(k))]
        if changed:
            copy_problem = f"tensor {changed[0]!r} was not copied unchanged"
    else:
        for name, w in pruned.items():
            onnx_weights.write_weight(model, by_name[name], w)
        props = {p.key: p for p in model.metadata_props}
        if ONNX_MARK[0] in props:
            props[ONNX_MARK[0]].value = ONNX_MARK[1]
        else:
            model.metadata_props.add(key=ONNX_MARK[0], value=ONNX_MARK[1])
        _replace(target, lambda p: onnx_weights.save_model(model, p))
        reread = onnx_weights.load_model(target, "OUT")
        after = {name: onnx_weights.read_weight(reread, by_name[name]) for name in before}

    rows = []
    for name, w in before.items():
        got = after[name]
        problem = spec.check(w, got, name)
        if problem is None and not np.array_equal(got, pruned[name]):
            problem = "the stored tensor is not the pruned one"
        rows.append(
            TensorResult(
                name,
                w.shape,
                str(w.dtype),
                before=sparsity(w),
                after=sparsity(got),
                problem=problem,
                transposed=name in transposed_names,
            )
        )
    total = sum(w.size for w in before.values())
    zeros_before = sum(w.size - np.count_nonzero(w) for w in before.values())
    zeros_after = sum(a.size - np.count_nonzero(a) for a in after.values())
    problem = copy_problem
    if spec.method == "magnitude" and spec.scope == "global":
        expected = max(zeros_before, round(spec.sparsity * total))
        if zeros_after != expected:
            problem = f"{zeros_after} zeros in all, expected {expected}"
    return PruneResult(
        source=source,
        target=target,
        spec=spec,
        tensors=tuple(rows),
        skipped=tuple(skipped),
        weights=total,
        before=zeros_before / total if total else 0.0,
        after=zeros_after / total if total else 0.0,
        problem=problem,
    )


def gradual_targets(target: str | Path, steps: int) -> list[Path]:
    """Where :func:`prune_file_gradual` writes: ``OUT.step1 .. OUT.step{n-1}`` beside
    ``OUT`` (same suffix), then ``OUT`` itself for the final sparsity."""
    target = Path(target)
    steps = check_count("steps", steps, 1)
    ladder = [target.with_name(f"{target.stem}.step{k}{target.suffix}") for k in range(1, steps)]
    return [*ladder, target]


def prune_file_gradual(
    source: str | Path,
    target: str | Path,
    final: float,
    *,
    steps: int,
    scope: str = "layer",
    force: bool = False,
) -> list[tuple[float, PruneResult]]:
    """The cubic schedule of Zhu and Gupta as a ladder of files, one per pruning step.

    Step k prunes step k-1's file by magnitude to ``cubic_sparsity(k)`` (from 0 to
    ``final`` over ``steps`` steps), so each mask contains the next: a weight removed
    once stays removed, as during gradual pruning in training. Without training between
    the steps the last file equals one-shot magnitude pruning at ``final``; the ladder is
    for sweeping a real model's sparsity, and for fine-tuning each step elsewhere.
    """
    final = check_sparsity("sparsity", final, allow_one=False)
    targets = gradual_targets(target, steps)
    for path in targets:  # all outputs are checked before the first is written
        _check_paths(Path(source), path, force)
    results, previous = [], Path(source)
    for k, path in enumerate(targets, start=1):
        s = cubic_sparsity(k, initial=0.0, final=final, start=0, steps=steps, interval=1)
        spec = PruneSpec("magnitude", sparsity=s, scope=scope)
        results.append((s, prune_file(previous, path, spec, force=True)))
        previous = path
    return results
