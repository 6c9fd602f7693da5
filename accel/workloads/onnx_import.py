"""ONNX models as workloads: every Conv, Gemm and MatMul node lowered to one :class:`Layer`.

Only NumPy and ``onnx`` are needed to lower a model: shapes come from onnx's shape
inference (with the graph's open input dimensions fixed first), weights from
initializers, ``Constant`` and ``ConstantOfShape`` nodes (or any constant subgraph,
folded with onnx's reference evaluator). A BatchNormalization that is the only reader
of a Conv's output is folded into that conv (``w' = w * gamma / sqrt(var + eps)``).
Every other operator the importer knows is pass-through: it costs no MACs on the array.

Real activations (``onnxruntime``) live in :mod:`accel.workloads.onnx_capture`; this
module turns them into the GEMM operands (:func:`lower_activation`) and yields, layer by
layer, the weight and activation patterns the simulator needs (:func:`layer_patterns`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ArrayConfig
from ..encode import ActPattern, WeightPattern, pack_blocks, weight_pattern
from ..errors import AccelError
from ..golden import im2col
from ..quant import int_dtype, quantize_activation, quantize_weights
from .layer import Layer, conv2d, matmul
from .sparsity import WeightSparsity, layer_act_pattern, layer_weight_pattern

__all__ = [
    "OnnxLayer",
    "OnnxModel",
    "LayerPatterns",
    "SUPPORTED_OPS",
    "load_onnx",
    "lower_activation",
    "quantize_activation",
    "layer_patterns",
]

GEMM_OPS = ("Conv", "Gemm", "MatMul")

# Operators that cost no MACs on the array: followed for shapes only.
# fmt: off
PASS_THROUGH_OPS = frozenset(
    {
        "Abs", "Acos", "Add", "And", "ArgMax", "ArgMin", "AveragePool",
        "BatchNormalization", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat",
        "Constant", "ConstantOfShape", "DepthToSpace", "Div", "Dropout", "Elu", "Equal",
        "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
        "Gelu", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater",
        "GreaterOrEqual", "GroupNormalization", "HardSigmoid", "HardSwish", "Identity",
        "InstanceNormalization", "LRN", "LayerNormalization", "LeakyRelu", "Less",
        "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "LpPool", "Max", "MaxPool",
        "Mean", "Min", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "PRelu", "Pad", "Pow",
        "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMax",
        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
        "Reshape", "Resize", "Round", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin",
        "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt",
        "Squeeze", "Sub", "Sum", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
        "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
    }
)
# fmt: on
SUPPORTED_OPS = frozenset(GEMM_OPS) | PASS_THROUGH_OPS

_MAX_LISTED = 8  # unsupported nodes named in one error message
_ROW_CHUNK_ELEMS = 1 << 22  # weights quantised this many values at a time
_K_CHUNK_ELEMS = 1 << 23  # activation window counts formed this many values at a time


@dataclass(frozen=True, eq=False)
class OnnxLayer:
    """One Conv, Gemm or MatMul node lowered to the array's GEMM ``W . X``.

    ``act_input`` is the tensor the array streams as X (the one captured with real data);
    ``weight_input`` the left operand of a MatMul of two activations
    (``layer.dynamic_weights``), else None. ``raw_weight`` is the weight in the GEMM view
    before batch-norm folding (possibly a read-only broadcast of a ConstantOfShape value);
    ``bn_scale`` / ``bn_shift`` fold the following BatchNormalization in.
    """

    layer: Layer
    node: str
    op: str
    act_input: str
    act_shape: tuple[int, ...]
    weight_input: str | None = None
    weight_shape: tuple[int, ...] | None = None
    raw_weight: np.ndarray | None = field(default=None, repr=False)
    raw_bias: np.ndarray | None = field(default=None, repr=False)
    bn_scale: np.ndarray | None = field(default=None, repr=False)
    bn_shift: np.ndarray | None = field(default=None, repr=False)
    bn_node: str | None = None
    lowering: str = "conv"  # conv | rows (X = A^T) | cols (X = B) | batched (dynamic)

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
        """Quantised weight rows ``[rows, K]`` a chunk of whole groups at a time (per-channel
        scales make chunks independent), so a huge FC layer never exists in float64 at once."""
        W = self.raw_weight
        assert W is not None
        M, K, Mg = self.layer.M, self.layer.K, self.layer.m_per_group
        W2 = W.reshape(M, K)
        step = (
            Mg * max(1, _ROW_CHUNK_ELEMS // (K * Mg))
            if self.layer.groups > 1
            else max(1, _ROW_CHUNK_ELEMS // K)
        )
        for m0 in range(0, M, step):
            rows = np.asarray(W2[m0 : m0 + step], dtype=np.float64)
            if self.bn_scale is not None:
                rows = rows * self.bn_scale[m0 : m0 + step, None]
            q, _ = quantize_weights(rows, w_bits)
            yield q.astype(int_dtype(w_bits))

    def quantized_weights(self, w_bits: int = 8) -> np.ndarray | None:
        """Integer weights (per output channel, zeros stay zero) in the GEMM view."""
        if self.raw_weight is None:
            return None
        q = np.concatenate(list(self._weight_rows(w_bits)), axis=0)
        return q.reshape(self.raw_weight.shape)

    def weight_pattern(self, cfg: ArrayConfig) -> WeightPattern:
        """Pattern of the quantised weights, equal to ``encode.weight_pattern`` of
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
    """A lowered model: its layers in graph order and what the lowering assumed."""

    path: str
    model: Any = field(repr=False)  # onnx.ModelProto, as loaded
    layers: list[OnnxLayer]
    inputs: dict[str, tuple[int, ...]]
    notes: list[str]

    @property
    def macs(self) -> int:
        return sum(item.layer.macs for item in self.layers)


# -- Loading ----------------------------------------------------------------------------------


def _check_external_files(path: str, tensors) -> None:
    """Each file the model's external weights live in (``model.onnx.data`` beside it, as
    the torch exporter writes) is there and is a regular file: named if not."""
    from ..inputs import input_file

    seen = set()
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if location in seen:
            continue
        seen.add(location)
        if not location:
            raise AccelError(f"tensor {tensor.name!r}: external data without a location",
                             source=path)  # fmt: skip
        where = Path(path).parent / location
        try:
            input_file(where, "")
        except AccelError as err:
            raise AccelError(
                f"the weights of tensor {tensor.name!r} are stored in {location}, "
                f"beside the model: {str(err).removeprefix(str(where) + ': ')}",
                source=path,
            ) from None


def _read_model(path: str):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AccelError("no such file", source=path) from None
    except OSError as err:
        raise AccelError(f"cannot read the file ({err.strerror})", source=path) from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise AccelError(
            f"not an ONNX model (protobuf does not parse: {str(err).splitlines()[0]})",
            source=path,
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise AccelError("not an ONNX model (no graph nodes; truncated or not ONNX?)", source=path)
    external = [t for t in model.graph.initializer if t.data_location == 1]  # EXTERNAL
    if external:
        _check_external_files(path, external)
        try:
            from onnx.checker import ValidationError
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(model, str(Path(path).parent))
        except (OSError, ValueError, ValidationError) as err:
            raise AccelError(f"cannot load external weights ({err})", source=path) from None
    return model


def _check_ops(path: str, graph) -> None:
    bad = [
        (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}", n.name)
        for n in graph.node
        if n.domain not in ("", "ai.onnx") or n.op_type not in SUPPORTED_OPS
    ]
    if bad:
        kinds = sorted({op for op, _ in bad})
        nodes = ", ".join(f"{name or '(unnamed)'} ({op})" for op, name in bad[:_MAX_LISTED])
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise AccelError(
            f"unsupported ONNX operator{'s' if len(kinds) > 1 else ''} "
            f"{', '.join(kinds)}: node{'s' if len(bad) > 1 else ''} {nodes}{more}",
            source=path,
        )


def _dims(value_info) -> list[int | str | None] | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):  # 0 too: an empty tensor, refused by the caller
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or None)
    return out


def _resolve_inputs(
    path: str, graph, input_shape: tuple[int, ...] | None, notes: list[str]
) -> dict[str, tuple[int, ...]]:
    """Fix every open input dimension: from ``input_shape`` (the .npy), or batch = 1."""
    inits = {t.name for t in graph.initializer}
    real = [v for v in graph.input if v.name not in inits]
    if not real:
        raise AccelError("the graph has no input (every input has an initializer)", source=path)
    if input_shape is not None and len(real) != 1:
        names = ", ".join(repr(v.name) for v in real)
        raise AccelError(f"--input feeds one graph input, but the model has {names}", source=path)
    resolved = {}
    for v in real:
        dims = _dims(v)
        if dims is None:
            raise AccelError(f"input {v.name!r} has no shape in the file", source=path)
        if 0 in dims or (input_shape is not None and 0 in input_shape):
            where = "--input's shape" if 0 not in dims else f"dim {dims.index(0)}"
            raise AccelError(
                f"input {v.name!r}: {where} is 0 (an empty tensor): there is nothing to simulate",
                source=path,
            )
        if input_shape is not None:
            if len(input_shape) != len(dims):
                raise AccelError(
                    f"input {v.name!r} has {len(dims)} dims {_fmt(dims)}, but --input has "
                    f"shape {tuple(input_shape)}",
                    source=path,
                )
            for i, (d, got) in enumerate(zip(dims, input_shape, strict=True)):
                if isinstance(d, int) and d != got:
                    raise AccelError(
                        f"input {v.name!r} dim {i} is {d}, but --input has {got} "
                        f"(shape {tuple(input_shape)})",
                        source=path,
                    )
            resolved[v.name] = tuple(int(x) for x in input_shape)
            continue
        shape = []
        for i, d in enumerate(dims):
            if isinstance(d, int):
                shape.append(d)
            elif i == 0:
                shape.append(1)
                label = f" ({d})" if d else ""
                notes.append(f"open batch dim of input {v.name!r}{label} defaulted to 1")
            else:
                label = f" ({d!r})" if d else ""
                raise AccelError(
                    f"input {v.name!r} dim {i}{label} is open; give --input DATA.npy to fix it",
                    source=path,
                )
        resolved[v.name] = tuple(shape)
    return resolved


def _fmt(dims: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _infer(path: str, model, inputs: dict[str, tuple[int, ...]]) -> dict[str, tuple]:
    """Shapes of every tensor, by onnx shape inference on a copy with fixed inputs."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for v in m.graph.input:
        if v.name in inputs:
            shape = v.type.tensor_type.shape
            del shape.dim[:]
            for size in inputs[v.name]:
                shape.dim.add().dim_value = size
    for v in m.graph.output:  # the file's symbolic output dims would only conflict
        v.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception as err:  # onnx raises several types (InferenceError, ValidationError, ...)
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AccelError(f"shape inference failed: {msg}", source=path) from None
    g = inferred.graph
    shapes: dict[str, tuple] = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        dims = _dims(v)
        if dims is not None and v.name not in shapes:
            shapes[v.name] = tuple(dims)
    return shapes


# -- Constants --------------------------------------------------------------------------------


class _Constants:
    """Values of constant tensors, folded on demand (only what a layer needs)."""

    _SIMPLE = {"Identity", "Cast", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Flatten"}

    def __init__(self, path: str, graph):
        self.path = path
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.graph_inputs = {v.name for v in graph.input} - set(self.inits)
        self.cache: dict[str, np.ndarray | None] = {}

    def get(self, name: str) -> np.ndarray | None:
        """The tensor's value, or None when it depends on a graph input."""
        if not name:
            return None
        if name not in self.cache:
            self.cache[name] = self._compute(name)
        return self.cache[name]

    def exists(self, name: str) -> bool:
        return name in self.inits or name in self.producer or name in self.graph_inputs

    def _compute(self, name: str) -> np.ndarray | None:
        from onnx import helper, numpy_helper

        if name in self.inits:
            try:
                return numpy_helper.to_array(self.inits[name])
            except Exception as err:
                raise AccelError(
                    f"initializer {name!r} cannot be read ({err})", source=self.path
                ) from None
        node = self.producer.get(name)
        if node is None:
            return None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            if "value" in attrs:
                return numpy_helper.to_array(attrs["value"])
            for key in ("value_float", "value_int"):
                if key in attrs:
                    return np.asarray(attrs[key])
            for key in ("value_floats", "value_ints"):
                if key in attrs:
                    return np.asarray(attrs[key])
            return None
        if node.op_type == "Shape":
            return None  # data-dependent on purpose; shape inference covers it
        args = [self.get(i) if i else None for i in node.input]
        if any(a is None for i, a in zip(node.input, args, strict=True) if i):
            return None
        if node.op_type == "ConstantOfShape":
            value = attrs.get("value")
            fill = numpy_helper.to_array(value).reshape(-1) if value is not None else None
            fill = fill if fill is not None and fill.size else np.zeros(1, np.float32)
            shape = tuple(int(s) for s in np.asarray(args[0]).reshape(-1))
            return np.broadcast_to(fill[0], shape)  # no memory: one value, many places
        if node.op_type in self._SIMPLE and len(node.output) == 1:
            return self._simple(node, attrs, args)
        try:  # anything else: onnx's own reference implementation
            from onnx.reference import ReferenceEvaluator

            feeds = {i: a for i, a in zip(node.input, args, strict=True) if i}
            outs = ReferenceEvaluator(node).run(None, feeds)
        except Exception:  # a constant we cannot fold is reported where it is needed
            return None
        return np.asarray(outs[list(node.output).index(name)])

    def _simple(self, node, attrs: dict, args: list) -> np.ndarray:
        from onnx import helper

        x = args[0]
        op = node.op_type
        if op == "Identity":
            return x
        if op == "Cast":
            return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
        if op == "Transpose":
            return np.transpose(x, attrs.get("perm"))
        if op == "Flatten":
            axis = attrs.get("axis", 1) % max(x.ndim, 1) if x.ndim else 0
            return x.reshape(int(np.prod(x.shape[:axis])), -1)
        if op in ("Unsqueeze", "Squeeze"):
            axes = attrs.get("axes")
            if axes is None and len(args) > 1 and args[1] is not None:
                axes = [int(a) for a in np.asarray(args[1]).reshape(-1)]
            if op == "Squeeze":
                return np.squeeze(x, tuple(axes) if axes is not None else None)
            out_rank = x.ndim + len(axes)
            return np.expand_dims(x, tuple(a % out_rank for a in axes))
        shape = attrs.get("shape") if len(args) < 2 else np.asarray(args[1]).reshape(-1)
        shape = [
            x.shape[i] if s == 0 and not attrs.get("allowzero") else int(s)
            for i, s in enumerate(shape)
        ]
        return x.reshape(shape)


# -- Lowering ---------------------------------------------------------------------------------


def _node_label(node) -> str:
    return node.name or node.output[0]


def _static_shape(path: str, shapes: dict, name: str, node, what: str) -> tuple[int, ...]:
    shape = shapes.get(name)
    if shape is None or not all(isinstance(d, int) for d in shape):
        got = "no shape" if shape is None else f"shape {_fmt(shape)}"
        raise AccelError(
            f"{what} {name!r} of {node.op_type} node {_node_label(node)!r} has {got} "
            "after shape inference",
            source=path,
        )
    return tuple(int(d) for d in shape)


def _weight(path: str, consts: _Constants, node, index: int, what: str) -> np.ndarray:
    name = node.input[index] if len(node.input) > index else ""
    value = consts.get(name)
    if value is None:
        where = "missing from the file" if not consts.exists(name) else "not a constant"
        raise AccelError(
            f"{what} {name!r} of {node.op_type} node {_node_label(node)!r} is {where} "
            "(weights must be initializers, Constant or ConstantOfShape)",
            source=path,
        )
    if value.dtype.kind not in "fiub":
        raise AccelError(f"{what} {name!r} has dtype {value.dtype}, not numbers", source=path)
    return value


def _conv_pads(path, node, attrs, in_hw, k_hw, strides, dilations) -> tuple[int, int, int, int]:
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0] * 2 * len(in_hw)))
        n = len(in_hw)
        return tuple(int(p) for p in pads[:n] + pads[n:])  # type: ignore[return-value]
    if auto == "VALID":
        return (0,) * 2 * len(in_hw)  # type: ignore[return-value]
    begin, end = [], []
    for size, k, s, d in zip(in_hw, k_hw, strides, dilations, strict=False):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else large)
        end.append(large if auto == "SAME_UPPER" else small)
    return tuple(begin + end)  # type: ignore[return-value]


def _lower_conv(path, node, attrs, shapes, consts) -> OnnxLayer:
    label = _node_label(node)
    x_shape = _static_shape(path, shapes, node.input[0], node, "input")
    w = _weight(path, consts, node, 1, "weight")
    if len(x_shape) not in (3, 4) or w.ndim != len(x_shape):
        raise AccelError(
            f"Conv node {label!r}: only 1-D and 2-D convolutions are supported, not input "
            f"{_fmt(x_shape)} with weight {_fmt(w.shape)}",
            source=path,
        )
    spatial = len(x_shape) - 2
    groups = int(attrs.get("group", 1))
    strides = [int(s) for s in attrs.get("strides", [1] * spatial)]
    dilations = [int(d) for d in attrs.get("dilations", [1] * spatial)]
    k_hw = [int(k) for k in attrs.get("kernel_shape", w.shape[2:])]
    pads = _conv_pads(path, node, attrs, x_shape[2:], k_hw, strides, dilations)
    if spatial == 1:  # Conv1d as a 2-D conv of height 1
        x_shape = (x_shape[0], x_shape[1], 1, x_shape[2])
        k_hw, strides, dilations = [1, k_hw[0]], [1, strides[0]], [1, dilations[0]]
        pads = (0, pads[0], 0, pads[1])
        w = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])
    batch, in_ch, in_h, in_w = x_shape
    out_ch = w.shape[0]
    if tuple(w.shape[2:]) != tuple(k_hw) or w.shape[1] * groups != in_ch:
        raise AccelError(
            f"Conv node {label!r}: weight {_fmt(w.shape)} does not fit input {_fmt(x_shape)} "
            f"with group={groups} and kernel_shape={k_hw}",
            source=path,
        )
    top, left, bottom, right = pads
    layer = conv2d(
        label,
        in_ch,
        out_ch,
        (in_h, in_w),
        (k_hw[0], k_hw[1]),
        stride=(strides[0], strides[1]),
        pad=(top, left, bottom, right),
        dilation=(dilations[0], dilations[1]),
        groups=groups,
        batch=batch,
    )
    bias = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return OnnxLayer(
        layer=layer,
        node=label,
        op="Conv",
        act_input=node.input[0],
        act_shape=tuple(shapes[node.input[0]]),
        raw_weight=w.reshape(groups, out_ch // groups, -1),
        raw_bias=None if bias is None else np.asarray(bias, np.float64).reshape(-1),
        lowering="conv",
    )


def _lower_gemm(path, node, attrs, shapes, consts) -> OnnxLayer:
    label = _node_label(node)
    a_name, b_name = node.input[0], node.input[1]
    a_const, b_const = consts.get(a_name), consts.get(b_name)
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    alpha = float(attrs.get("alpha", 1.0))
    if b_const is not None or a_const is None:  # the usual x . W (+ c)
        a_shape = _static_shape(path, shapes, a_name, node, "input")
        b = _weight(path, consts, node, 1, "weight")
        if len(a_shape) != 2 or b.ndim != 2:
            raise AccelError(f"Gemm node {label!r}: A and B must be 2-D", source=path)
        n, k = (a_shape[1], a_shape[0]) if trans_a else a_shape
        W = b if trans_b else b.T  # [m, k]
        if W.shape[1] != k:
            raise AccelError(
                f"Gemm node {label!r}: B {_fmt(b.shape)} does not fit A {_fmt(a_shape)}",
                source=path,
            )
        if alpha != 1.0:
            W = W * alpha
        layer = Layer(label, M=W.shape[0], K=k, N=n, kind="linear", input_elems=n * k)
        c = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        bias = None
        if c is not None and c.size in (1, W.shape[0]):
            bias = np.broadcast_to(np.asarray(c, np.float64).reshape(-1), (W.shape[0],))
            bias = bias * float(attrs.get("beta", 1.0))
        return OnnxLayer(
            layer,
            label,
            "Gemm",
            a_name,
            a_shape,
            raw_weight=W,
            raw_bias=bias,
            lowering="rows_t" if trans_a else "rows",
        )
    # constant A, activation B: Y = A' . B' with A' the weights
    b_shape = _static_shape(path, shapes, b_name, node, "input")
    W = a_const.T if trans_a else a_const
    k, m = (b_shape[1], b_shape[0]) if trans_b else b_shape
    if alpha != 1.0:
        W = W * alpha
    layer = Layer(label, M=W.shape[0], K=k, N=m, kind="linear", input_elems=k * m)
    return OnnxLayer(
        layer,
        label,
        "Gemm",
        b_name,
        b_shape,
        raw_weight=W,
        lowering="cols_t" if trans_b else "cols",
    )


def _lower_matmul(path, node, shapes, consts) -> OnnxLayer:
    label = _node_label(node)
    a_name, b_name = node.input[0], node.input[1]
    a_const, b_const = consts.get(a_name), consts.get(b_name)
    if b_const is not None and b_const.ndim == 2:  # x[..., n, k] . W[k, m]
        a_shape = _static_shape(path, shapes, a_name, node, "input")
        k, m = b_const.shape
        if a_shape[-1] != k:
            raise AccelError(
                f"MatMul node {label!r}: B {_fmt(b_const.shape)} does not fit A {_fmt(a_shape)}",
                source=path,
            )
        n = math.prod(a_shape[:-1])
        layer = Layer(label, M=m, K=k, N=n, kind="linear", input_elems=n * k)
        return OnnxLayer(
            layer, label, "MatMul", a_name, a_shape, raw_weight=b_const.T, lowering="rows"
        )
    if a_const is not None and a_const.ndim == 2:  # W[n, k] . x[..., k, m]
        b_shape = _static_shape(path, shapes, b_name, node, "input")
        n, k = a_const.shape
        if len(b_shape) < 2 or b_shape[-2] != k:
            raise AccelError(
                f"MatMul node {label!r}: A {_fmt(a_const.shape)} does not fit B {_fmt(b_shape)}",
                source=path,
            )
        N = math.prod(b_shape[:-2]) * b_shape[-1]
        layer = Layer(label, M=n, K=k, N=N, kind="linear", input_elems=k * N)
        return OnnxLayer(
            layer, label, "MatMul", b_name, b_shape, raw_weight=a_const, lowering="cols"
        )
    # two activations (attention): the left operand plays the weights, one GEMM per batch
    a_shape = (
        a_const.shape if a_const is not None else _static_shape(path, shapes, a_name, node, "input")
    )
    b_shape = (
        b_const.shape if b_const is not None else _static_shape(path, shapes, b_name, node, "input")
    )
    a2 = tuple(a_shape) if len(a_shape) > 1 else (1,) + tuple(a_shape)
    b2 = tuple(b_shape) if len(b_shape) > 1 else tuple(b_shape) + (1,)
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise AccelError(
            f"MatMul node {label!r}: batch dims of {_fmt(a_shape)} and {_fmt(b_shape)} "
            "do not broadcast",
            source=path,
        ) from None
    n, k, m = a2[-2], a2[-1], b2[-1]
    if b2[-2] != k:
        raise AccelError(
            f"MatMul node {label!r}: {_fmt(a_shape)} x {_fmt(b_shape)} do not fit", source=path
        )
    layer = matmul(label, n, k, m, groups=math.prod(batch))
    return OnnxLayer(
        layer,
        label,
        "MatMul",
        b_name,
        tuple(b_shape),
        weight_input=a_name,
        weight_shape=tuple(a_shape),
        lowering="batched",
    )


def _bn_fold(path, node, bn, consts) -> tuple[np.ndarray, np.ndarray] | None:
    from onnx import helper

    if len(bn.input) < 5 or (len(bn.output) > 1 and any(bn.output[1:])):
        return None  # training-mode batch norm (running stats as outputs): not folded
    params = [consts.get(n) for n in bn.input[1:5]]
    if any(p is None for p in params):
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in bn.attribute}
    eps = float(attrs.get("epsilon", 1e-5))
    gamma, beta, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def load_onnx(
    path: str | Path,
    input_shape: tuple[int, ...] | None = None,
) -> OnnxModel:
    """Load an ONNX file and lower each Conv, Gemm and MatMul node to a :class:`Layer`.

    ``input_shape`` (the shape of the data to run, e.g. ``--input``'s .npy) fixes the
    graph input's open dimensions; without it an open batch dimension becomes 1 (said in
    ``notes``) and any other open dimension is an error.
    """
    from onnx import helper

    path = str(path)
    model = _read_model(path)
    graph = model.graph
    _check_ops(path, graph)
    notes: list[str] = []
    inputs = _resolve_inputs(path, graph, input_shape, notes)
    shapes = _infer(path, model, inputs)
    consts = _Constants(path, graph)
    readers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    outputs = {v.name for v in graph.output}
    layers: list[OnnxLayer] = []
    folded: list[str] = []
    for node in graph.node:  # ONNX requires topological order
        if node.op_type not in GEMM_OPS:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if len(node.input) < 2:
            raise AccelError(
                f"{node.op_type} node {_node_label(node)!r} has fewer than 2 inputs", source=path
            )
        try:
            item = _lower(path, node, attrs, shapes, consts, readers, outputs, folded)
        except AccelError as err:
            if err.source:
                raise
            raise AccelError(  # a Layer's own check (a zero dim): say which file and node
                f"{node.op_type} node {_node_label(node)!r}: {err}", source=path
            ) from None
        if item.raw_weight is not None and not np.all(np.isfinite(item.raw_weight)):
            raise AccelError(f"weights of node {item.node!r} hold NaN or inf", source=path)
        layers.append(item)
    if not layers:
        raise AccelError("the model has no Conv, Gemm or MatMul node to simulate", source=path)
    if folded:
        shown = ", ".join(folded[:6]) + (f" and {len(folded) - 6} more" if len(folded) > 6 else "")
        notes.append(f"BatchNormalization folded into {len(folded)} convs ({shown})")
    return OnnxModel(path, model, layers, inputs, notes)


def _lower(
    path: str,
    node,
    attrs: dict,
    shapes: dict,
    consts,
    readers: dict,
    outputs: set,
    folded: list[str],
) -> OnnxLayer:
    """One Conv (with the BatchNormalization after it folded in), Gemm or MatMul node."""
    if node.op_type == "Conv":
        item = _lower_conv(path, node, attrs, shapes, consts)
        out = node.output[0]
        nxt = readers.get(out, [])
        if len(nxt) == 1 and nxt[0].op_type == "BatchNormalization" and out not in outputs:
            fold = _bn_fold(path, node, nxt[0], consts)
            if fold is not None and fold[0].shape == (item.layer.M,):
                bn = _node_label(nxt[0])
                item = replace(item, bn_scale=fold[0], bn_shift=fold[1], bn_node=bn)
                folded.append(item.node)
    elif node.op_type == "Gemm":
        item = _lower_gemm(path, node, attrs, shapes, consts)
    else:
        item = _lower_matmul(path, node, shapes, consts)
    return item


# -- Activations: captured tensors to X -------------------------------------------------------


def lower_activation(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """A layer's (quantised) input tensor as the array's X ``[G, K, N]``: im2col per group
    for a conv, the transposed row matrix for Gemm and MatMul."""
    layer = item.layer
    q = np.asarray(q)
    if item.lowering == "conv":
        geo = layer.conv
        assert geo is not None
        return im2col(q.reshape(geo.batch, geo.in_ch, geo.in_h, geo.in_w), geo)
    if item.lowering in ("rows", "rows_t"):
        rows = q.T if item.lowering == "rows_t" else q.reshape(-1, layer.K)
        return np.ascontiguousarray(rows.T)[None]
    if item.lowering in ("cols", "cols_t"):
        b = q.T if item.lowering == "cols_t" else q
        b = b.reshape(-1, layer.K, b.shape[-1])  # [batch, k, m]
        return np.ascontiguousarray(b.transpose(1, 0, 2)).reshape(layer.K, -1)[None]
    b = q if q.ndim > 1 else q[:, None]  # batched: [..., k, m] broadcast to the batch
    batch_shape = _dynamic_batch(item)
    b = np.broadcast_to(b, batch_shape + b.shape[-2:])
    return np.ascontiguousarray(b.reshape(-1, layer.K, b.shape[-1]))


def _dynamic_batch(item: OnnxLayer) -> tuple[int, ...]:
    a = item.weight_shape or ()
    a2 = a if len(a) > 1 else (1,) + tuple(a)
    b = item.act_shape if len(item.act_shape) > 1 else item.act_shape + (1,)
    return tuple(np.broadcast_shapes(tuple(a2[:-2]), tuple(b[:-2])))


def lower_dynamic_weights(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """The left operand of a MatMul of two activations as ``W [G, n, k]``."""
    a = np.asarray(q)
    a = a if a.ndim > 1 else a[None]
    a = np.broadcast_to(a, _dynamic_batch(item) + a.shape[-2:])
    return np.ascontiguousarray(a.reshape(-1, a.shape[-2], a.shape[-1]))


def act_pattern_chunked(X: np.ndarray, block: int, cols: int) -> ActPattern:
    """``encode.act_pattern`` of ``X [G, K, N]`` with the window counts formed a slice of K
    at a time, so that a large im2col never needs an int64 copy."""
    G, K, N = X.shape
    ntn = -(-N // cols)
    counts = np.empty((G, ntn, K), dtype=np.int32)
    step = max(1, _K_CHUNK_ELEMS // max(G * ntn * cols, 1))
    for k0 in range(0, K, step):
        nz = np.zeros((G, min(step, K - k0), ntn * cols), dtype=np.int32)
        nz[:, :, :N] = X[:, k0 : k0 + step] != 0
        counts[:, :, k0 : k0 + step] = nz.reshape(G, -1, ntn, cols).sum(axis=-1).transpose(0, 2, 1)
    return ActPattern(
        masks=pack_blocks(counts > 0, block),
        row_nnz=counts.sum(axis=1, dtype=np.int64),
        K=K,
        N=N,
        block=block,
        cols=cols,
    )


# -- Patterns for the simulator ---------------------------------------------------------------


@dataclass(frozen=True)
class LayerPatterns:
    """What the simulator needs of one layer: its patterns and the output density to charge
    (None: the simulator's default, the input's density)."""

    item: OnnxLayer
    weights: WeightPattern
    acts: ActPattern
    output_density: float | None


def layer_patterns(
    model: OnnxModel,
    cfg: ArrayConfig,
    act_density: float = 1.0,
    seed: int = 0,
    data: np.ndarray | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Iterator[LayerPatterns]:
    """Weight and activation patterns of every layer, in graph order, one at a time.

    Weights are the model's own, quantised to ``cfg.w_bits`` per output channel. Without
    ``data`` the activations are synthetic at ``act_density``, layer i drawing from
    ``(seed, i)`` (a MatMul of two activations draws its
    left operand at ``act_density`` too). With ``data`` the model runs on onnxruntime and
    each layer's captured input, quantised to ``cfg.a_bits`` with one scale, is the X.
    """
    total = len(model.layers)
    if data is None:
        for i, item in enumerate(model.layers):
            if progress:
                progress(i, total, item.node)
            rng = np.random.default_rng([seed, i])
            if item.layer.dynamic_weights:
                wp = layer_weight_pattern(
                    rng, item.layer, cfg, WeightSparsity("unstructured", act_density)
                )
            else:
                wp = item.weight_pattern(cfg)
            ap = layer_act_pattern(rng, item.layer, cfg, act_density)
            yield LayerPatterns(item, wp, ap, act_density)
    else:
        from .onnx_capture import capture

        for i, (item, tensors) in enumerate(capture(model, data)):
            if progress:
                progress(i, total, item.node)
            X = lower_activation(item, quantize_activation(tensors[item.act_input], cfg.a_bits))
            ap = act_pattern_chunked(X, cfg.block, cfg.cols)
            del X
            if item.layer.dynamic_weights:
                assert item.weight_input is not None
                qa = quantize_activation(tensors[item.weight_input], cfg.a_bits)
                wp = weight_pattern(lower_dynamic_weights(item, qa), cfg.block)
            else:
                wp = item.weight_pattern(cfg)
            yield LayerPatterns(item, wp, ap, None)
    if progress:
        progress(total, total, "")


def layer_operands(
    model: OnnxModel,
    cfg: ArrayConfig,
    act_density: float = 1.0,
    seed: int = 0,
    data: np.ndarray | None = None,
) -> Iterator[tuple[OnnxLayer, np.ndarray, np.ndarray]]:
    """Every layer's integer operands ``W [G, Mg, K]`` and ``X [G, K, N]``, in graph order,
    one at a time: what the RTL runs (``accel verify --onnx``). The weights are the model's
    own, quantised as :func:`layer_patterns` quantises them; the activations are captured
    (``data``) or drawn from ``(seed, i)`` at ``act_density``."""
    from .sparsity import random_acts, random_weights

    def weights(item: OnnxLayer, rng, tensors) -> np.ndarray:
        L = item.layer
        if not L.dynamic_weights:
            q = item.quantized_weights(cfg.w_bits)
            assert q is not None
            return np.asarray(q, np.int64).reshape(L.groups, L.m_per_group, L.K)
        if tensors is None:
            shape = (L.groups, L.m_per_group, L.K)
            return random_weights(
                rng, shape, WeightSparsity("unstructured", act_density), cfg.w_bits
            )
        assert item.weight_input is not None
        qa = quantize_activation(tensors[item.weight_input], cfg.a_bits)
        return lower_dynamic_weights(item, qa).astype(np.int64)

    if data is None:
        for i, item in enumerate(model.layers):
            rng = np.random.default_rng([seed, i])
            L = item.layer
            W = weights(item, rng, None)
            yield item, W, random_acts(rng, (L.groups, L.K, L.N), act_density, cfg.a_bits)
    else:
        from .onnx_capture import capture

        for item, tensors in capture(model, data):
            X = lower_activation(item, quantize_activation(tensors[item.act_input], cfg.a_bits))
            yield item, weights(item, None, tensors), np.asarray(X, np.int64)
