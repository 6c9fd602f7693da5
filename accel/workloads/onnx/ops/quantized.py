"""Int8-quantised graphs on their own integers, not re-quantised from float.

The array computes ``(W - w_zp) . (X - x_zp)``: the model's integers less their zero
points, so its zero is the model's real 0.0 and the densities it reports are the ones
it would really see. Three forms of quantised graph reach it:

- QOperator (``QLinearConv``, ``QLinearMatMul``, ``ConvInteger``, ``MatMulInteger`` and
  com.microsoft ``QGemm``): the node holds the integers and zero points itself;
- QDQ (onnxruntime's ``QuantFormat.QDQ``, PyTorch PT2E): a float Conv/Gemm/MatMul reads
  ``DequantizeLinear`` outputs; :func:`qdq` wraps the float lowering and takes the
  integers from in front of the DequantizeLinear nodes;
- dynamic quantisation: ``DynamicQuantizeLinear`` computes the activation's zero point at
  run time, so the layer names that tensor and capture binds its value
  (:meth:`OnnxLayer.bind`).

Weights' zero points may be per output channel; an activation has one zero point (the
array subtracts one number from its whole X).
"""

from __future__ import annotations

from dataclasses import replace
from functools import wraps
from typing import Any

import numpy as np

from ..context import Context, Lowering, fmt, node_attrs
from ..model import OnnxLayer
from .conv import check_bias, conv_layer
from .gemm import gemm_layer, matmul_layer

__all__ = ["LOWERINGS", "PASS_THROUGH_OPS", "DOMAIN_PASS_THROUGH_OPS", "QDQ_OPS", "qdq"]

# Quantise / dequantise and the integer element-wise ops cost no MACs on the array.
PASS_THROUGH_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
DOMAIN_PASS_THROUGH_OPS = frozenset(
    f"com.microsoft.{op}"
    for op in (
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearAdd",
        "QLinearMul",
        "QLinearGlobalAveragePool",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearAveragePool",
    )
)
QDQ_OPS = ("Conv", "Gemm", "MatMul")  # float lowerings that qdq() wraps

ZeroPoint = int | str  # a constant, or the name of a tensor only a run gives


def _input(node, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _wide(values: np.ndarray) -> np.ndarray:
    """Integers in a type wide enough that subtracting a zero point cannot wrap."""
    v = np.asarray(values)
    return v.astype(np.int16 if v.dtype.itemsize == 1 else np.int64)


def _along(param: np.ndarray, shape: tuple[int, ...], axis: int, block: int = 0) -> np.ndarray:
    """A per-tensor, per-axis or blocked parameter (zero point, scale) shaped to broadcast
    against a tensor of ``shape`` (ONNX's DequantizeLinear rules)."""
    p = np.asarray(param)
    if p.size == 1:
        return p.reshape(())
    if block > 0:  # blocked: same rank, ``axis`` shrunk by the block size
        return np.repeat(p, block, axis=axis)[
            tuple(slice(0, n) if i == axis else slice(None) for i, n in enumerate(shape))
        ]
    view = [1] * len(shape)
    view[axis % len(shape)] = p.size
    return p.reshape(view)


def _int_weight(ctx: Context, node, w_index: int, zp_index: int, axis: int) -> np.ndarray:
    """``w - w_zp`` of the node's integer weight input, the zero point per tensor or per
    ``axis`` (the output channels)."""
    w = ctx.weight(node, w_index)
    if w.dtype.kind not in "iu":
        raise ctx.error(node, f"weight {_input(node, w_index)!r} holds {w.dtype}, not integers")
    zp = ctx.constant(node, zp_index) if _input(node, zp_index) else np.zeros((), w.dtype)
    if zp is None:
        raise ctx.error(node, f"weight zero point {_input(node, zp_index)!r} is not a constant")
    if zp.dtype.kind not in "iu":
        raise ctx.error(node, f"weight zero point {_input(node, zp_index)!r} holds {zp.dtype}, "
                              "not integers")  # fmt: skip
    if zp.ndim > 1 or zp.size not in (1, w.shape[axis]):
        raise ctx.error(
            node,
            f"weight zero point {fmt(zp.shape)} fits neither one tensor nor "
            f"{w.shape[axis]} channels of weight {fmt(w.shape)}",
        )
    return _wide(w) - _wide(_along(zp, w.shape, axis))


def _scale(ctx: Context, node, index: int | None, rows: int) -> np.ndarray:
    """A scale per output row (``[rows]``), 1 where the node has none (``*Integer``)."""
    if index is None:
        return np.ones(rows, np.float32)
    if not _input(node, index):
        raise ctx.error(node, f"scale input {index} is not given (the operator requires it)")
    s = ctx.constant(node, index)
    if s is None or s.size not in (1, rows):
        raise ctx.error(
            node, f"scale {_input(node, index)!r} is not a constant of 1 or {rows} values"
        )
    return np.broadcast_to(np.asarray(s, np.float32).reshape(-1), (rows,))


def _act_zero_point(ctx: Context, node, index: int) -> ZeroPoint:
    """An activation's one zero point: a constant, 0 when absent, or the name of the
    run-time tensor (DynamicQuantizeLinear's) that capture binds."""
    name = _input(node, index)
    if not name:
        return 0
    value = ctx.consts.get(name)
    if value is None:
        return name
    if value.dtype.kind not in "iu":
        raise ctx.error(node, f"activation zero point {name!r} holds {value.dtype}, not integers")
    if value.size != 1:
        raise ctx.error(
            node,
            f"activation zero point {name!r} has shape {fmt(value.shape)}: "
            "the array subtracts one zero point per tensor",
        )
    return int(np.asarray(value).reshape(()))


def _own(
    item: OnnxLayer, int_view: np.ndarray, scale: np.ndarray, quant: str, **changes: Any
) -> OnnxLayer:
    """``item`` on the model's integers ``int_view`` (its GEMM view); ``raw_weight``
    becomes their float value ``int_view * scale`` per output row."""
    M = item.layer.M
    raw = (int_view.reshape(M, -1) * scale[:, None]).reshape(int_view.shape)
    return replace(item, int_weight=int_view, raw_weight=raw, quant=quant, **changes)


def _operands(node, a: int, b: int):
    """The node with only its two GEMM operands as inputs, for the float helpers (which
    read ``input[0]`` and ``input[1]``); name and op type kept for messages."""
    from onnx import NodeProto

    view = NodeProto()
    view.CopyFrom(node)
    del view.input[:]
    view.input.extend([_input(node, a), _input(node, b)])
    return view


def _conv(
    ctx: Context,
    node,
    attrs,
    w_i: int,
    w_zp_i: int,
    x_zp_i: int,
    scales: tuple[int, int] | None,
    bias_i: int | None,
) -> list[OnnxLayer]:
    x_shape = ctx.static_shape(node.input[0], node)
    int_w = _int_weight(ctx, node, w_i, w_zp_i, axis=0)
    if len(x_shape) != int_w.ndim or int_w.ndim < 3:
        raise ctx.error(
            node, f"input {fmt(x_shape)} and weight {fmt(int_w.shape)} are not a convolution's"
        )
    item = conv_layer(ctx, node, attrs, x_shape, int_w)
    M = item.layer.M
    w_scale = _scale(ctx, node, None if scales is None else scales[1], M)
    bias = ctx.constant(node, bias_i) if bias_i is not None else None
    if bias is not None:
        check_bias(ctx, node, bias, M, bias_i)
    raw_bias = None
    if bias is not None and bias.size == M and scales is not None:
        x_scale = _scale(ctx, node, scales[0], 1)[0]
        raw_bias = np.asarray(bias, np.float64).reshape(-1) * x_scale * w_scale
    return [
        _own(
            item,
            item.raw_weight,
            w_scale,
            node.op_type,
            raw_bias=raw_bias,
            act_zero_point=_act_zero_point(ctx, node, x_zp_i),
        )
    ]


def lower_qlinear_conv(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B."""
    return _conv(ctx, node, attrs, 3, 5, 2, (1, 4), 8)


def lower_conv_integer(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """x, w, x_zp, w_zp: the int32 accumulation itself."""
    return _conv(ctx, node, attrs, 1, 3, 2, None, None)


def _matmul(
    ctx: Context, node, a: tuple[int, int, int | None], b: tuple[int, int, int | None]
) -> list[OnnxLayer]:
    """A MatMul of operands ``(value, zero point, scale)`` input indices: the constant one
    is the weights (zero point per output channel), the other the activation; two
    activations make a dynamic layer with a zero point on each side."""
    (a_i, a_zp_i, a_s_i), (b_i, b_zp_i, b_s_i) = a, b
    a_const, b_const = ctx.constant(node, a_i), ctx.constant(node, b_i)
    view = _operands(node, a_i, b_i)
    if b_const is not None and b_const.ndim == 2:  # x . W[k, m]: zero point per column
        int_b = _int_weight(ctx, node, b_i, b_zp_i, axis=1)
        item = matmul_layer(ctx, view, None, int_b)
        scale = _scale(ctx, node, b_s_i, item.layer.M)
        return [
            _own(
                item,
                item.raw_weight,
                scale,
                node.op_type,
                act_zero_point=_act_zero_point(ctx, node, a_zp_i),
            )
        ]
    if a_const is not None and a_const.ndim == 2:  # W[n, k] . x: zero point per row
        int_a = _int_weight(ctx, node, a_i, a_zp_i, axis=0)
        item = matmul_layer(ctx, view, int_a, None)
        scale = _scale(ctx, node, a_s_i, item.layer.M)
        return [
            _own(
                item,
                item.raw_weight,
                scale,
                node.op_type,
                act_zero_point=_act_zero_point(ctx, node, b_zp_i),
            )
        ]
    item = matmul_layer(ctx, view, a_const, b_const)  # two activations
    return [
        replace(
            item,
            quant=node.op_type,
            act_zero_point=_act_zero_point(ctx, node, b_zp_i),
            weight_zero_point=_act_zero_point(ctx, node, a_zp_i),
        )
    ]


def lower_qlinear_matmul(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp."""
    return _matmul(ctx, node, (0, 2, 1), (3, 5, 4))


def lower_matmul_integer(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """A, B, a_zp, b_zp: the int32 product itself."""
    return _matmul(ctx, node, (0, 2, None), (1, 3, None))


def lower_qgemm(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """com.microsoft QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp; the
    constant B is the weights (zero point per output channel), ``alpha`` a scale."""
    if ctx.constant(node, 3) is None:
        raise ctx.error(node, f"B {_input(node, 3)!r} is not a constant: only x . W is supported")
    trans_b = bool(attrs.get("transB", 0))
    int_b = _int_weight(ctx, node, 3, 5, axis=0 if trans_b else 1)
    alpha = float(attrs.get("alpha", 1.0))
    item = gemm_layer(ctx, _operands(node, 0, 3), {**attrs, "alpha": 1.0}, None, int_b, int_b)
    M = item.layer.M
    scale = _scale(ctx, node, 4, M) * np.float32(alpha)
    c = ctx.constant(node, 6)
    raw_bias = None
    if c is not None and c.size == M:  # int32, scale a_scale * b_scale * alpha
        raw_bias = np.asarray(c, np.float64).reshape(-1) * _scale(ctx, node, 1, 1)[0] * scale
    return [
        _own(
            item,
            item.raw_weight,
            scale,
            "QGemm",
            raw_bias=raw_bias,
            act_zero_point=_act_zero_point(ctx, node, 2),
        )
    ]


# ---------------------------------------------------------------------------------------
# QDQ: a float lowering on the integers in front of its DequantizeLinear inputs


def _dequantize_linear(ctx: Context, name: str):
    """The DequantizeLinear node that produces ``name``, or None."""
    node = ctx.consts.producer.get(name)
    return node if node is not None and node.op_type == "DequantizeLinear" else None


def _qdq_activation(ctx: Context, name: str) -> tuple[str, ZeroPoint] | None:
    """``(x_q, zero point)`` when ``name`` is DequantizeLinear of a run-time tensor with one
    zero point, else None (the array quantises the float tensor itself)."""
    dq = _dequantize_linear(ctx, name)
    if dq is None or ctx.consts.get(dq.input[0]) is not None:
        return None
    zp_name = _input(dq, 2)
    zp = ctx.consts.get(zp_name) if zp_name else np.zeros(())
    scale = ctx.consts.get(_input(dq, 1))
    if (zp is not None and zp.size != 1) or (scale is not None and scale.size != 1):
        return None  # per-channel activations: one zero point cannot be subtracted
    return dq.input[0], (zp_name if zp is None else int(np.asarray(zp).reshape(())))


def _qdq_weight(ctx: Context, name: str) -> np.ndarray | None:
    """``w_q - zp`` (original layout) when ``name`` is DequantizeLinear of a constant
    integer tensor, per-axis and blocked zero points broadcast; else None."""
    dq = _dequantize_linear(ctx, name)
    if dq is None:
        return None
    w = ctx.consts.get(dq.input[0])
    if w is None or w.dtype.kind not in "iu" or w.ndim == 0:
        return None
    zp = ctx.consts.get(_input(dq, 2)) if _input(dq, 2) else np.zeros((), w.dtype)
    if zp is None:
        return None
    attrs = node_attrs(dq)
    axis = int(attrs.get("axis", 1)) % w.ndim
    block = int(attrs.get("block_size", 0))
    if zp.size != 1 and not block and zp.size != w.shape[axis]:
        return None
    return _wide(w) - _wide(_along(zp, w.shape, axis, block))


def _gemm_view(
    node, attrs: dict[str, Any], item: OnnxLayer, w_index: int, int_w: np.ndarray
) -> np.ndarray:
    """The integer weights in the GEMM view the float lowering gave ``raw_weight``."""
    if node.op_type == "Conv":
        return int_w.reshape(np.shape(item.raw_weight))
    trans = bool(attrs.get("transB" if w_index == 1 else "transA", 0))
    if w_index == 1:  # x . B: W = B^T (B already when transposed)
        return int_w if trans else int_w.T
    return int_w.T if trans else int_w  # A . x: W = A


def _same_signs(item: OnnxLayer, view: np.ndarray, alpha: float) -> bool:
    """The float weights are the integers times positive scales (and ``alpha``): a cheap
    check that the GEMM view maps the same elements."""
    raw = np.asarray(item.raw_weight)
    return raw.shape == view.shape and bool(
        np.array_equal(np.sign(raw), np.sign(view) * np.sign(alpha))
    )


def _on_qdq_ints(ctx: Context, node, attrs: dict[str, Any], item: OnnxLayer) -> OnnxLayer:
    changes: dict[str, Any] = {}
    if item.weight_input is not None:  # two activations: each side its own zero point
        w_side = _qdq_activation(ctx, item.weight_input)
        if w_side is not None:
            changes.update(weight_input=w_side[0], weight_zero_point=w_side[1])
    elif item.raw_weight is not None:
        w_index = 1 if item.act_input == node.input[0] else 0
        int_w = _qdq_weight(ctx, node.input[w_index])
        if int_w is not None:
            view = _gemm_view(node, attrs, item, w_index, int_w)
            if _same_signs(item, view, float(attrs.get("alpha", 1.0))):
                changes["int_weight"] = view
            else:
                ctx.notes.append(
                    f"node {item.node!r}: its DequantizeLinear weights do not map "
                    "onto its GEMM; quantised per output channel instead"
                )
    x_side = _qdq_activation(ctx, item.act_input)
    if x_side is not None:
        changes.update(act_input=x_side[0], act_zero_point=x_side[1])
    return replace(item, quant="QDQ", **changes) if changes else item


def qdq(lower: Lowering) -> Lowering:
    """``lower`` (float Conv/Gemm/MatMul) on a QDQ graph's own integers: a weight that is
    DequantizeLinear of a constant becomes ``int_weight = w_q - zp``, an activation that
    is DequantizeLinear of a run-time ``x_q`` is captured as ``x_q`` less its zero point.
    Float graphs pass unchanged."""

    @wraps(lower)
    def lowered(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
        return [_on_qdq_ints(ctx, node, attrs, item) for item in lower(ctx, node, attrs)]

    return lowered


LOWERINGS: dict[str, Lowering] = {
    "QLinearConv": lower_qlinear_conv,
    "ConvInteger": lower_conv_integer,
    "QLinearMatMul": lower_qlinear_matmul,
    "MatMulInteger": lower_matmul_integer,
    "com.microsoft.QGemm": lower_qgemm,
}
