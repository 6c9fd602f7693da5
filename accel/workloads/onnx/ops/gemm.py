"""Gemm and MatMul: a constant operand is the array's weights and the other its X; a
MatMul of two activations (attention) makes the left one play the weights, one GEMM per
batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...layer import Layer, matmul
from ..context import Context, fmt, node_label
from ..model import OnnxLayer

__all__ = ["LOWERINGS", "rows_x", "rows_t_x", "cols_x", "cols_t_x", "batched_x",
           "dynamic_weights"]  # fmt: skip


def rows_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """``x[..., n, k]`` (rows are samples) to ``X [1, K, N]``."""
    return np.ascontiguousarray(np.asarray(q).reshape(-1, item.layer.K).T)[None]


def rows_t_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """A Gemm's transposed A ``[k, n]`` is X already."""
    return np.ascontiguousarray(np.asarray(q))[None]


def cols_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """``B[..., k, m]`` (columns are samples) to ``X [1, K, batch x m]``."""
    b = np.asarray(q)
    b = b.reshape(-1, item.layer.K, b.shape[-1])  # [batch, k, m]
    return np.ascontiguousarray(b.transpose(1, 0, 2)).reshape(item.layer.K, -1)[None]


def cols_t_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    return cols_x(item, np.asarray(q).T)


def _dynamic_batch(item: OnnxLayer) -> tuple[int, ...]:
    a = item.weight_shape or ()
    a2 = a if len(a) > 1 else (1,) + tuple(a)
    b = item.act_shape if len(item.act_shape) > 1 else item.act_shape + (1,)
    return tuple(np.broadcast_shapes(tuple(a2[:-2]), tuple(b[:-2])))


def batched_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """The right operand ``[..., k, m]`` broadcast to the batch: ``X [G, K, m]``."""
    b = np.asarray(q)
    b = b if b.ndim > 1 else b[:, None]
    b = np.broadcast_to(b, _dynamic_batch(item) + b.shape[-2:])
    return np.ascontiguousarray(b.reshape(-1, item.layer.K, b.shape[-1]))


def dynamic_weights(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """The left operand of a MatMul of two activations as ``W [G, n, k]``."""
    a = np.asarray(q)
    a = a if a.ndim > 1 else a[None]
    a = np.broadcast_to(a, _dynamic_batch(item) + a.shape[-2:])
    return np.ascontiguousarray(a.reshape(-1, a.shape[-2], a.shape[-1]))


def gemm_layer(ctx: Context, node, attrs: dict[str, Any], a_const, b_const, b_value=None):
    """A Gemm whose weight operand is ``b_value`` (or ``a_const``), whatever its source."""
    label = node_label(node)
    a_name, b_name = node.input[0], node.input[1]
    trans_a, trans_b = bool(attrs.get("transA", 0)), bool(attrs.get("transB", 0))
    alpha = float(attrs.get("alpha", 1.0))
    if b_const is not None or a_const is None:  # the usual x . W (+ c)
        a_shape = ctx.static_shape(a_name, node)
        b = b_value if b_value is not None else ctx.weight(node, 1)
        if len(a_shape) != 2 or b.ndim != 2:
            raise ctx.error(node, "A and B must be 2-D")
        n, k = (a_shape[1], a_shape[0]) if trans_a else a_shape
        W = b if trans_b else b.T  # [m, k]
        if W.shape[1] != k:
            raise ctx.error(node, f"B {fmt(b.shape)} does not fit A {fmt(a_shape)}")
        if alpha != 1.0:
            W = W * alpha
        layer = Layer(label, M=W.shape[0], K=k, N=n, kind="linear", input_elems=n * k)
        lowering = rows_t_x if trans_a else rows_x
        return OnnxLayer(layer, label, node.op_type, a_name, a_shape, lowering, raw_weight=W)
    # constant A, activation B: Y = A' . B' with A' the weights
    b_shape = ctx.static_shape(b_name, node)
    W = a_const.T if trans_a else a_const
    k, m = (b_shape[1], b_shape[0]) if trans_b else b_shape
    if alpha != 1.0:
        W = W * alpha
    layer = Layer(label, M=W.shape[0], K=k, N=m, kind="linear", input_elems=k * m)
    lowering = cols_t_x if trans_b else cols_x
    return OnnxLayer(layer, label, node.op_type, b_name, b_shape, lowering, raw_weight=W)


def lower_gemm(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    a_const, b_const = ctx.constant(node, 0), ctx.constant(node, 1)
    item = gemm_layer(ctx, node, attrs, a_const, b_const)
    c = ctx.constant(node, 2)
    if item.x_lowering in (rows_x, rows_t_x) and c is not None and c.size in (1, item.layer.M):
        bias = np.broadcast_to(np.asarray(c, np.float64).reshape(-1), (item.layer.M,))
        from dataclasses import replace

        item = replace(item, raw_bias=bias * float(attrs.get("beta", 1.0)))
    return [item]


def matmul_layer(ctx: Context, node, a_const, b_const) -> OnnxLayer:
    """A MatMul with constant operands ``a_const`` / ``b_const`` (None: an activation)."""
    label = node_label(node)
    a_name, b_name = node.input[0], node.input[1]
    if b_const is not None and b_const.ndim == 2:  # x[..., n, k] . W[k, m]
        a_shape = ctx.static_shape(a_name, node)
        k, m = b_const.shape
        if a_shape[-1] != k:
            raise ctx.error(node, f"B {fmt(b_const.shape)} does not fit A {fmt(a_shape)}")
        n = math.prod(a_shape[:-1])
        layer = Layer(label, M=m, K=k, N=n, kind="linear", input_elems=n * k)
        return OnnxLayer(layer, label, node.op_type, a_name, a_shape, rows_x,
                         raw_weight=b_const.T)  # fmt: skip
    if a_const is not None and a_const.ndim == 2:  # W[n, k] . x[..., k, m]
        b_shape = ctx.static_shape(b_name, node)
        n, k = a_const.shape
        if len(b_shape) < 2 or b_shape[-2] != k:
            raise ctx.error(node, f"A {fmt(a_const.shape)} does not fit B {fmt(b_shape)}")
        N = math.prod(b_shape[:-2]) * b_shape[-1]
        layer = Layer(label, M=n, K=k, N=N, kind="linear", input_elems=k * N)
        return OnnxLayer(layer, label, node.op_type, b_name, b_shape, cols_x,
                         raw_weight=a_const)  # fmt: skip
    # two activations (attention): the left operand plays the weights, one GEMM per batch
    a_shape = a_const.shape if a_const is not None else ctx.static_shape(a_name, node)
    b_shape = b_const.shape if b_const is not None else ctx.static_shape(b_name, node)
    a2 = tuple(a_shape) if len(a_shape) > 1 else (1,) + tuple(a_shape)
    b2 = tuple(b_shape) if len(b_shape) > 1 else tuple(b_shape) + (1,)
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ctx.error(node, f"batch dims of {fmt(a_shape)} and {fmt(b_shape)} "
                              "do not broadcast") from None  # fmt: skip
    n, k, m = a2[-2], a2[-1], b2[-1]
    if b2[-2] != k:
        raise ctx.error(node, f"{fmt(a_shape)} x {fmt(b_shape)} do not fit")
    layer = matmul(label, n, k, m, groups=math.prod(batch))
    return OnnxLayer(
        layer,
        label,
        node.op_type,
        b_name,
        tuple(b_shape),
        batched_x,
        weight_input=a_name,
        w_lowering=dynamic_weights,
        weight_shape=tuple(a_shape),
    )


def lower_matmul(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    return [matmul_layer(ctx, node, ctx.constant(node, 0), ctx.constant(node, 1))]


LOWERINGS = {"Gemm": lower_gemm, "MatMul": lower_matmul}
