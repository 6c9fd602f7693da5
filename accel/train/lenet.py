"""LeNet-5 in NumPy, float32, with a hand-written backward pass.

Every convolution is im2col (:func:`accel.golden.im2col`, the same lowering the array
uses, K order (in-channel, kh, kw), N order (batch, row, col)) and one matmul, so the
float model, the integer path and the simulator all see the same GEMMs. The backward
pass of a convolution is two more GEMMs: the weight gradient against the saved columns,
and the input gradient as a full convolution of the output gradient with the flipped,
transposed kernel.

Layers (``LAYERS``): conv1 5x5 1->6 pad 2, ReLU, 2x2 max pool; conv2 5x5 6->16, ReLU,
2x2 max pool; fc1 400->120 ReLU; fc2 120->84 ReLU; fc3 84->10. Parameters live in a flat
dict: ``"conv1.weight"`` (OIHW), ``"conv1.bias"``, ..., ``"fc3.weight"`` ([out, in]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AccelError
from ..golden import im2col
from ..workloads.layer import ConvGeometry

__all__ = [
    "LAYERS",
    "LayerSpec",
    "init_params",
    "weights",
    "forward",
    "backward",
    "loss_and_grads",
    "predict",
    "accuracy",
    "conv_geometry",
]


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer: a conv (``kernel`` > 0) or a fully connected layer."""

    name: str
    in_ch: int
    out_ch: int
    in_hw: int = 0  # conv input side
    kernel: int = 0
    pad: int = 0
    pool: bool = False  # 2x2 max pool after the ReLU
    relu: bool = True

    @property
    def is_conv(self) -> bool:
        return self.kernel > 0

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.is_conv:
            return (self.out_ch, self.in_ch, self.kernel, self.kernel)
        return (self.out_ch, self.in_ch)

    @property
    def fan_in(self) -> int:
        return self.in_ch * max(self.kernel, 1) ** 2


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("conv1", 1, 6, in_hw=28, kernel=5, pad=2, pool=True),
    LayerSpec("conv2", 6, 16, in_hw=14, kernel=5, pad=0, pool=True),
    LayerSpec("fc1", 400, 120),
    LayerSpec("fc2", 120, 84),
    LayerSpec("fc3", 84, 10, relu=False),
)


def conv_geometry(spec: LayerSpec, batch: int) -> ConvGeometry:
    k = spec.kernel
    return ConvGeometry(
        spec.in_ch, spec.out_ch, spec.in_hw, spec.in_hw, k, k, pad=spec.pad, batch=batch
    )


def init_params(seed: int) -> dict[str, np.ndarray]:
    """He-normal weights (suited to ReLU), zero biases, float32."""
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for spec in LAYERS:
        std = np.sqrt(2.0 / spec.fan_in)
        params[f"{spec.name}.weight"] = (rng.standard_normal(spec.weight_shape) * std).astype(
            np.float32
        )
        params[f"{spec.name}.bias"] = np.zeros(spec.out_ch, dtype=np.float32)
    return params


def weights(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The prunable tensors, by layer name (biases are never pruned)."""
    return {spec.name: params[f"{spec.name}.weight"] for spec in LAYERS}


def _check_input(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise AccelError(f"LeNet input must have shape [batch, 1, 28, 28], not {x.shape}")
    return x.astype(dtype, copy=False)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geo: ConvGeometry):
    cols = im2col(x, geo)[0]  # [K, N]
    y = w.reshape(geo.out_ch, -1) @ cols
    if b is not None:
        y += b[:, None]
    y = y.reshape(geo.out_ch, geo.batch, geo.out_h, geo.out_w).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(y), cols


def _pool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pool; returns the output and the winning position (0..3) of each window."""
    B, C, H, W = x.shape
    win = x.reshape(B, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(B, C, H // 2, W // 2, 4)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg


def _unpool(dy: np.ndarray, arg: np.ndarray) -> np.ndarray:
    """Route each window's gradient to its winner (the first one on ties)."""
    B, C, h, w = dy.shape
    win = np.zeros((B, C, h, w, 4), dtype=dy.dtype)
    np.put_along_axis(win, arg[..., None], dy[..., None], axis=-1)
    win = win.reshape(B, C, h, w, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return win.reshape(B, C, 2 * h, 2 * w)


def forward(
    params: dict[str, np.ndarray], x: np.ndarray
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Logits ``[batch, 10]`` and the cache the backward pass needs.

    Computes in the parameters' dtype: float32 to train, float64 for gradient checks.
    """
    a = _check_input(x, params["conv1.weight"].dtype)
    batch = a.shape[0]
    cache: list[dict[str, Any]] = []
    for spec in LAYERS:
        w, b = params[f"{spec.name}.weight"], params[f"{spec.name}.bias"]
        entry: dict[str, Any] = {"spec": spec, "input": a, "in_shape": a.shape}
        if spec.is_conv:
            geo = conv_geometry(spec, batch)
            y, entry["cols"] = _conv(a, w, b, geo)
        else:
            a = a.reshape(batch, -1)
            entry["x"] = a
            y = a @ w.T + b
        if spec.relu:
            entry["active"] = y > 0
            y = y * entry["active"]
        if spec.pool:
            y, entry["arg"] = _pool(y)
        cache.append(entry)
        a = y
    return a, cache


def backward(
    params: dict[str, np.ndarray], cache: list[dict[str, Any]], dlogits: np.ndarray
) -> dict[str, np.ndarray]:
    """Gradients of every parameter, given the gradient of the loss at the logits."""
    grads: dict[str, np.ndarray] = {}
    d = dlogits.astype(params["conv1.weight"].dtype, copy=False)
    for i in range(len(cache) - 1, -1, -1):
        entry = cache[i]
        spec: LayerSpec = entry["spec"]
        w = params[f"{spec.name}.weight"]
        if spec.pool:
            d = _unpool(d, entry["arg"])
        if spec.relu:
            d = d * entry["active"]
        if spec.is_conv:
            batch = d.shape[0]
            dm = d.transpose(1, 0, 2, 3).reshape(spec.out_ch, -1)  # [O, N]
            grads[f"{spec.name}.weight"] = (dm @ entry["cols"].T).reshape(w.shape)
            grads[f"{spec.name}.bias"] = dm.sum(axis=1)
            if i > 0:  # full convolution with the flipped, transposed kernel
                k, p = spec.kernel, spec.pad
                geo = ConvGeometry(
                    spec.out_ch,
                    spec.in_ch,
                    d.shape[2],
                    d.shape[3],
                    k,
                    k,
                    pad=k - 1 - p,
                    batch=batch,
                )
                wt = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
                d, _ = _conv(d, wt, None, geo)
        else:
            grads[f"{spec.name}.weight"] = d.T @ entry["x"]
            grads[f"{spec.name}.bias"] = d.sum(axis=0)
            d = (d @ w).reshape(entry["in_shape"])
    return grads


def _softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -float(logp[np.arange(n), y].mean())
    d = np.exp(logp)
    d[np.arange(n), y] -= 1
    return loss, (d / n).astype(logits.dtype)


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy of a batch and its gradients."""
    logits, cache = forward(params, x)
    loss, d = _softmax_xent(logits, y)
    return loss, backward(params, cache, d)


def predict(params: dict[str, np.ndarray], x: np.ndarray, batch: int = 500) -> np.ndarray:
    """Predicted classes, in chunks so that the im2col columns stay small."""
    out = [forward(params, x[i : i + batch])[0].argmax(axis=1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(params, x) == y).mean())
