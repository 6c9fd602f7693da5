"""What an imported ONNX model is to the simulator: layers lowered to the array's GEMM.

Each :class:`OnnxLayer` says which captured tensor becomes the array's X and how
(``x_lowering``, a function of the layer and that tensor), and where its integer weights
come from: the model's own (a quantised graph: ``int_weight``), or float weights that the
array's configuration quantises per output channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...config import ArrayConfig
from ...encode import WeightPattern, pack_blocks
from ...errors import AccelError
from ...quant import int_dtype, quantize_activation, quantize_weights
from ..layer import Layer

__all__ = ["OnnxLayer", "OnnxModel", "forget_quantized"]

_ROW_CHUNK_ELEMS = 1 << 22  # weights quantised this many values at a time

XLowering = Callable[["OnnxLayer", np.ndarray], np.ndarray]


_RECENT: list[tuple[np.ndarray, int, np.ndarray]] = []  # the last tensors quantised


def _quantized(tensor: np.ndarray, a_bits: int) -> np.ndarray:
    """``quantize_activation``, remembering the last few tensors: the T steps of a
    recurrence all read one captured Y, which would otherwise be quantised T times."""
    for seen, bits, q in _RECENT:
        if seen is tensor and bits == a_bits:
            return q
    q = quantize_activation(tensor, a_bits)
    _RECENT.insert(0, (tensor, a_bits, q))
    del _RECENT[2:]
    return q


def forget_quantized() -> None:
    """Drop the remembered tensors once a model's capture is done."""
    _RECENT.clear()


@dataclass(frozen=True, eq=False)
class OnnxLayer:
    """One node (or one step of a node) lowered to the array's GEMM ``W . X``.

    ``act_input`` is the tensor the array streams as X (the one captured with real data)
    and ``x_lowering(layer, tensor)`` turns its integer values into ``X [G, K, N]``;
    ``weight_input`` is the left operand of a MatMul of two activations
    (``layer.dynamic_weights``), else None. ``raw_weight`` is the float weight in the GEMM
    view before batch-norm folding (possibly a read-only broadcast of a ConstantOfShape
    value); ``bn_scale`` / ``bn_shift`` fold the following BatchNormalization in.

    A quantised graph brings its own integers: ``int_weight`` (zero point already
    subtracted) replaces the per-channel quantisation of ``raw_weight``, and
    ``act_zero_point`` is subtracted from the captured integer activations (the array's
    zero is then the model's real 0.0). ``quant`` says where the numbers came from.
    A zero point given as a tensor name (``DynamicQuantizeLinear`` computes it at run
    time) is captured with the layer and bound to its value (:meth:`bind`);
    ``weight_zero_point`` is ``weight_input``'s.
    """

    layer: Layer
    node: str
    op: str
    act_input: str
    act_shape: tuple[int, ...]
    x_lowering: XLowering = field(repr=False)
    geometry: Any = None
    weight_input: str | None = None
    w_lowering: XLowering | None = field(default=None, repr=False)  # weight_input -> W
    weight_shape: tuple[int, ...] | None = None
    raw_weight: np.ndarray | None = field(default=None, repr=False)
    raw_bias: np.ndarray | None = field(default=None, repr=False)
    bn_scale: np.ndarray | None = field(default=None, repr=False)
    bn_shift: np.ndarray | None = field(default=None, repr=False)
    bn_node: str | None = None
    int_weight: np.ndarray | None = field(default=None, repr=False)
    act_zero_point: np.ndarray | int | str | None = None  # a str: a run-time tensor
    quant: str | None = None  # e.g. "QLinearConv", "QDQ": the model's own int8 numbers
    # the zero point of ``weight_input`` (a quantised MatMul of two activations)
    weight_zero_point: np.ndarray | int | str | None = None
    # consecutive GEMM rows that share one output channel's weight scale: a ConvTranspose's
    # kernel taps, which col2im sums into one output value (1 for every other layer)
    rows_per_channel: int = 1
    # further tensors (name -> shape) the x_lowering reads as floats, captured with the
    # layer and bound as ``x_values`` (a GRU's r ⊙ h needs its sequence and state)
    x_inputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    x_values: Mapping[str, np.ndarray] | None = field(default=None, repr=False)

    def weights(self) -> np.ndarray | None:
        """Float weights in the GEMM view (``[G, M/G, K]`` for convs, ``[M, K]`` otherwise),
        batch norm folded; None for a MatMul of two activations."""
        if self.raw_weight is None:
            return None
        if self.bn_scale is None:
            return self.raw_weight
        shape = self.raw_weight.shape
        w = self.raw_weight.reshape(self.layer.M, -1) * self.bn_scale[:, None]
        return w.reshape(shape)

    def bias(self) -> np.ndarray | None:
        """Float bias per output channel (batch norm folded), None when there is none."""
        if self.raw_bias is None and self.bn_scale is None:
            return None
        b = np.zeros(self.layer.M) if self.raw_bias is None else self.raw_bias
        if self.bn_scale is not None:
            b = b * self.bn_scale + self.bn_shift
        return b

    def _weight_rows(self, w_bits: int) -> Iterator[np.ndarray]:
        """Integer weight rows ``[rows, K]`` a chunk of whole groups at a time (per-channel
        scales make chunks independent), so a huge FC layer never exists in float64 at once."""
        M, K, Mg = self.layer.M, self.layer.K, self.layer.m_per_group
        R = self.rows_per_channel  # chunks hold whole channels too
        step = (
            Mg * max(1, _ROW_CHUNK_ELEMS // (K * Mg))
            if self.layer.groups > 1
            else R * max(1, _ROW_CHUNK_ELEMS // (K * R))
        )
        if self.int_weight is not None:
            W2 = self.int_weight.reshape(M, K)
            for m0 in range(0, M, step):
                yield np.asarray(W2[m0 : m0 + step])
            return
        W = self.raw_weight
        assert W is not None
        W2 = W.reshape(M, K)
        for m0 in range(0, M, step):
            rows = np.asarray(W2[m0 : m0 + step], dtype=np.float64)
            if self.bn_scale is not None:
                rows = rows * self.bn_scale[m0 : m0 + step, None]
            q, _ = quantize_weights(rows.reshape(-1, R * K), w_bits)
            yield q.reshape(rows.shape).astype(int_dtype(w_bits))

    def quantized_weights(self, w_bits: int = 8) -> np.ndarray | None:
        """Integer weights (the model's own, or per output channel; zeros stay zero) in
        the GEMM view."""
        if self.raw_weight is None and self.int_weight is None:
            return None
        q = np.concatenate(list(self._weight_rows(w_bits)), axis=0)
        shape = (self.int_weight if self.int_weight is not None else self.raw_weight).shape
        return q.reshape(shape)

    def act_ints(self, tensor: np.ndarray, a_bits: int) -> np.ndarray:
        """A captured input as the integers the array sees: the model's own quantised
        values less their zero point, or a float tensor quantised with one scale."""
        return self._ints(tensor, self.act_zero_point, a_bits)

    def weight_ints(self, tensor: np.ndarray, a_bits: int) -> np.ndarray:
        """The captured ``weight_input`` as integers, like :meth:`act_ints` with its own
        zero point."""
        return self._ints(tensor, self.weight_zero_point, a_bits)

    def _ints(self, tensor: np.ndarray, zero_point, a_bits: int) -> np.ndarray:
        if zero_point is None:
            return _quantized(tensor, a_bits)
        if isinstance(zero_point, str):
            raise AccelError(f"node {self.node!r}: its zero point {zero_point!r} is computed "
                             "at run time; it needs --input")  # fmt: skip
        return np.asarray(tensor, np.int64) - np.asarray(zero_point, np.int64)

    def runtime_zero_points(self) -> tuple[str, ...]:
        """Names of the zero points only a run gives (captured with the layer)."""
        zps = (self.act_zero_point, self.weight_zero_point)
        return tuple(z for z in zps if isinstance(z, str))

    def bind(self, tensors: Mapping[str, np.ndarray]) -> OnnxLayer:
        """This layer with its run-time zero points replaced by their captured values
        (one number each: the array subtracts one zero point per tensor), and its
        ``x_inputs`` bound as ``x_values``."""
        if self.x_inputs and self.x_values is None:
            values = {n: tensors[n] for n in self.x_inputs}
            return replace(self, x_values=values).bind(tensors)
        if not self.runtime_zero_points():
            return self

        def value(zp):
            if not isinstance(zp, str):
                return zp
            v = np.asarray(tensors[zp])
            if v.size != 1:
                raise AccelError(f"node {self.node!r}: zero point {zp!r} has shape "
                                 f"{v.shape}, not one value")  # fmt: skip
            return int(v.reshape(()))

        return replace(self, act_zero_point=value(self.act_zero_point),
                       weight_zero_point=value(self.weight_zero_point))  # fmt: skip

    def gemm_x(self, tensor: np.ndarray, a_bits: int) -> np.ndarray:
        """The array's ``X [G, K, N]`` of a captured input tensor."""
        return self.x_lowering(self, self.act_ints(tensor, a_bits))

    def weight_pattern(self, cfg: ArrayConfig) -> WeightPattern:
        """Pattern of the integer weights, equal to ``encode.weight_pattern`` of
        :meth:`quantized_weights`, formed a chunk of output channels at a time."""
        G, Mg, K = self.layer.groups, self.layer.m_per_group, self.layer.K
        masks, col_nnz = [], np.zeros((G, K), dtype=np.int64)
        m0 = 0
        for q in self._weight_rows(cfg.w_bits):
            nz = q != 0
            masks.append(pack_blocks(nz, cfg.block))
            if G > 1:  # chunks hold whole groups
                g0 = m0 // Mg
                sums = nz.reshape(-1, Mg, K).sum(axis=1, dtype=np.int64)
                col_nnz[g0 : g0 + len(sums)] += sums
            else:
                col_nnz[0] += nz.sum(axis=0, dtype=np.int64)
            m0 += len(q)
        return WeightPattern(
            masks=np.concatenate(masks).reshape(G, Mg, -1), col_nnz=col_nnz, K=K, block=cfg.block
        )


@dataclass(frozen=True, eq=False)
class OnnxModel:
    """A lowered model: its layers in graph order and what the lowering assumed.

    ``inputs`` holds every graph input's fixed shape; ``feeds`` the arrays given to run it
    on (``--input``), by input name, or None for synthetic activations.
    """

    path: str
    model: Any = field(repr=False)  # onnx.ModelProto, as loaded
    layers: list[OnnxLayer]
    inputs: dict[str, tuple[int, ...]]
    notes: list[str]
    feeds: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def macs(self) -> int:
        return sum(item.layer.macs for item in self.layers)

    @property
    def quantized(self) -> list[OnnxLayer]:
        """The layers that run on the model's own integers."""
        return [item for item in self.layers if item.quant is not None]
