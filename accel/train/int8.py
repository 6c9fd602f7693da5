"""Post-training int8 quantisation of the LeNet and its integer inference path.

Weights: one symmetric scale per output channel (:func:`accel.quant.quantize_weights`).
Activations: one symmetric scale per layer input, from calibration images taken from the
*training* set (:func:`accel.quant.activation_scale`). Each conv and fc layer then runs
as the array runs it (:func:`accel.golden.layer_output`): an integer GEMM wrapped to the
accumulator width, the bias added in the accumulator's scale ``s_w[o] * s_x``, ReLU in
the output stage. Between layers the accumulators are dequantised and requantised to the
next layer's input scale; 2x2 max pooling runs on the integers (it commutes with the
monotone requantisation). Zeros stay zeros throughout, so a pruned weight or a ReLU zero
reaches the array as an exact zero it can skip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ArrayConfig
from ..golden import im2col, layer_output
from ..quant import activation_scale, quantize, quantize_acts, quantize_weights
from . import lenet

__all__ = [
    "QuantLeNet",
    "Int8Eval",
    "quantize_lenet",
    "int8_forward",
    "evaluate_int8",
    "gemm_input",
]


@dataclass(frozen=True)
class QuantLeNet:
    """The integer model: what the array is loaded with, and the scales around it."""

    cfg: ArrayConfig
    weights: dict[str, np.ndarray]  # int64, OIHW or [out, in], in the w_bits range
    weight_scales: dict[str, np.ndarray]  # per output channel
    biases: dict[str, np.ndarray]  # int64, in the accumulator scale
    input_scales: dict[str, float]  # per layer input tensor

    def gemm_weights(self, name: str) -> np.ndarray:
        """The layer's weights as the GEMM's left operand ``[M, K]``."""
        w = self.weights[name]
        return w.reshape(w.shape[0], -1)


def _layer_inputs(params: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """The float input tensor of every layer (what calibration measures)."""
    _, cache = lenet.forward(params, x)
    return {entry["spec"].name: entry["input"] for entry in cache}


def quantize_lenet(
    params: dict[str, np.ndarray],
    calib: np.ndarray,
    cfg: ArrayConfig | None = None,
    percentile: float = 100.0,
) -> QuantLeNet:
    """Quantise trained float parameters; ``calib`` are training images for the scales."""
    cfg = cfg or ArrayConfig()
    inputs = _layer_inputs(params, calib)
    qw, ws, qb, xs = {}, {}, {}, {}
    for spec in lenet.LAYERS:
        q, scale = quantize_weights(params[f"{spec.name}.weight"], cfg.w_bits)
        sx = activation_scale(inputs[spec.name], cfg.a_bits, percentile)
        qw[spec.name], ws[spec.name], xs[spec.name] = q, scale, sx
        qb[spec.name] = quantize(params[f"{spec.name}.bias"], scale * sx, min(cfg.acc_bits, 32))
    return QuantLeNet(cfg, qw, ws, qb, xs)


def gemm_input(spec: lenet.LayerSpec, xq: np.ndarray) -> np.ndarray:
    """A layer's integer input tensor as the GEMM's right operand ``X [K, N]``."""
    if spec.is_conv:
        return im2col(xq, lenet.conv_geometry(spec, xq.shape[0]))[0]
    return xq.reshape(xq.shape[0], -1).T


def _pool_int(y: np.ndarray) -> np.ndarray:
    B, C, H, W = y.shape
    return y.reshape(B, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))


def int8_forward(
    model: QuantLeNet, x: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Float logits, and per layer its integer input tensor and its integer output.

    The input of a conv layer is its feature map ``[B, C, H, W]`` (im2col of it,
    :func:`gemm_input`, is what the array streams); of an fc layer ``[B, in]``. The
    output is what the array streams out, ``[M, N]`` (after bias and ReLU).
    """
    cfg = model.cfg
    xq = quantize_acts(np.asarray(x, dtype=np.float64), model.input_scales["conv1"], cfg.a_bits)
    inputs: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    batch = xq.shape[0]
    logits = np.zeros(0)
    specs = lenet.LAYERS
    for i, spec in enumerate(specs):
        if not spec.is_conv:
            xq = xq.reshape(batch, -1)
        inputs[spec.name] = xq
        acc = layer_output(
            model.gemm_weights(spec.name),
            gemm_input(spec, xq),
            cfg,
            bias=model.biases[spec.name],
            relu=spec.relu,
        )
        outputs[spec.name] = acc
        real = acc * (model.weight_scales[spec.name][:, None] * model.input_scales[spec.name])
        if i + 1 == len(specs):
            logits = real.T
            break
        yq = quantize_acts(real, model.input_scales[specs[i + 1].name], cfg.a_bits)
        if spec.is_conv:
            geo = lenet.conv_geometry(spec, batch)
            yq = yq.reshape(geo.out_ch, batch, geo.out_h, geo.out_w).transpose(1, 0, 2, 3)
            if spec.pool:
                yq = _pool_int(yq)
        else:
            yq = yq.T
        xq = np.ascontiguousarray(yq)
    return logits, inputs, outputs


@dataclass(frozen=True)
class Int8Eval:
    """Accuracy of the integer model and the zeros it saw at each layer's input."""

    accuracy: float
    input_zeros: dict[str, int]
    input_sizes: dict[str, int]

    def act_sparsity(self, name: str) -> float:
        return self.input_zeros[name] / self.input_sizes[name]

    @property
    def overall_act_sparsity(self) -> float:
        """Zero fraction over every layer input, weighted by tensor size."""
        return sum(self.input_zeros.values()) / sum(self.input_sizes.values())


def evaluate_int8(model: QuantLeNet, x: np.ndarray, y: np.ndarray, batch: int = 200) -> Int8Eval:
    """Integer-path accuracy on ``x``, in chunks (im2col of conv1 is 25 values a pixel)."""
    zeros = {s.name: 0 for s in lenet.LAYERS}
    sizes = dict.fromkeys(zeros, 0)
    correct = 0
    for i in range(0, len(x), batch):
        logits, inputs, _ = int8_forward(model, x[i : i + batch])
        correct += int((logits.argmax(axis=1) == y[i : i + batch]).sum())
        for name, t in inputs.items():
            zeros[name] += int(t.size - np.count_nonzero(t))
            sizes[name] += int(t.size)
    return Int8Eval(correct / max(len(x), 1), zeros, sizes)
