"""Conv (1-D, 2-D and 3-D) by im2col: ``M = Cout``, ``K = Cin/g x kernel taps``, ``N =
output positions x batch``; a BatchNormalization that alone reads the conv's output is
folded into it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ....golden import im2col, im2col_nd
from ...layer import ConvNdGeometry, Layer, conv2d
from ..context import Context, fmt, node_attrs, node_label
from ..model import OnnxLayer

__all__ = ["LOWERINGS", "auto_pad", "check_bias", "check_conv_attrs", "conv_nd_x", "conv_pads",
           "conv_x"]  # fmt: skip


AUTO_PADS = ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER")


def auto_pad(ctx: Context, node, attrs) -> str:
    """The node's ``auto_pad``, one of ONNX's values, or an error naming it."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode(errors="replace") if isinstance(auto, bytes) else str(auto)
    if auto not in AUTO_PADS:
        raise ctx.error(node, f"auto_pad {auto!r} is not NOTSET, VALID, SAME_UPPER or "
                              "SAME_LOWER")  # fmt: skip
    return auto


def check_conv_attrs(ctx: Context, node, n: int, **lists: Sequence[int]) -> None:
    """Each attribute list has ``n`` values (``pads`` ``2n``); strides and dilations are
    at least 1 and pads at least 0: else one error naming the attribute and its value."""
    for name, values in lists.items():
        want = 2 * n if name == "pads" else n
        low = 0 if name in ("pads", "output_padding") else 1
        if len(values) != want:
            raise ctx.error(node, f"{name} {list(values)} must have {want} values "
                                  f"for a {n}-D input")  # fmt: skip
        if name != "kernel_shape" and min(values, default=low) < low:
            raise ctx.error(node, f"{name} {list(values)} must be at least {low}")


def conv_pads(attrs, in_sizes, k_sizes, strides, dilations) -> tuple[int, ...]:
    """ONNX ``pads`` (all begins, then all ends), from ``auto_pad`` when it is set."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    n = len(in_sizes)
    if auto in ("NOTSET", ""):
        return tuple(int(p) for p in attrs.get("pads", [0] * 2 * n))
    if auto == "VALID":
        return (0,) * 2 * n
    begin, end = [], []
    for size, k, s, d in zip(in_sizes, k_sizes, strides, dilations, strict=False):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else large)
        end.append(large if auto == "SAME_UPPER" else small)
    return tuple(begin + end)


def conv_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """im2col of the (integer) input, per group."""
    geo = item.layer.conv
    assert geo is not None
    return im2col(np.asarray(q).reshape(geo.batch, geo.in_ch, geo.in_h, geo.in_w), geo)


def conv_nd_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """N-D im2col of the (integer) input, per group (a 3-D conv's geometry is the item's)."""
    geo = item.geometry
    return im2col_nd(np.asarray(q).reshape(geo.batch, geo.in_ch, *geo.in_size), geo)


def conv_layer(ctx: Context, node, attrs: dict[str, Any], x_shape, w: np.ndarray) -> OnnxLayer:
    """A 1-D, 2-D or 3-D Conv with input shape ``x_shape`` and weights ``w`` (OI[D][H]W),
    whatever the weights' source (float or the model's own integers)."""
    spatial = len(x_shape) - 2
    groups = int(attrs.get("group", 1))
    strides = [int(s) for s in attrs.get("strides", [1] * spatial)]
    dilations = [int(d) for d in attrs.get("dilations", [1] * spatial)]
    k_sizes = [int(k) for k in attrs.get("kernel_shape", w.shape[2:])]
    check_conv_attrs(ctx, node, spatial, strides=strides, dilations=dilations,
                     kernel_shape=k_sizes)  # fmt: skip
    auto_pad(ctx, node, attrs)
    pads = conv_pads(attrs, x_shape[2:], k_sizes, strides, dilations)
    check_conv_attrs(ctx, node, spatial, pads=pads)
    if spatial >= 3:
        geo = ConvNdGeometry(int(x_shape[1]), int(w.shape[0]), tuple(x_shape[2:]),
                             tuple(k_sizes), tuple(strides), pads, tuple(dilations), groups,
                             int(x_shape[0]))  # fmt: skip
        return _conv_nd_layer(ctx, node, geo, w)
    if spatial == 1:  # Conv1d as a 2-D conv of height 1
        x_shape = (x_shape[0], x_shape[1], 1, x_shape[2])
        k_sizes, strides, dilations = [1, k_sizes[0]], [1, strides[0]], [1, dilations[0]]
        pads = (0, pads[0], 0, pads[1])
        w = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])
    batch, in_ch, in_h, in_w = x_shape
    out_ch = w.shape[0]
    if tuple(w.shape[2:]) != tuple(k_sizes) or w.shape[1] * groups != in_ch:
        raise ctx.error(node, f"weight {fmt(w.shape)} does not fit input {fmt(x_shape)} "
                              f"with group={groups} and kernel_shape={k_sizes}")  # fmt: skip
    top, left, bottom, right = pads
    label = node_label(node)
    layer = conv2d(
        label,
        in_ch,
        out_ch,
        (in_h, in_w),
        (k_sizes[0], k_sizes[1]),
        stride=(strides[0], strides[1]),
        pad=(top, left, bottom, right),
        dilation=(dilations[0], dilations[1]),
        groups=groups,
        batch=batch,
    )
    return OnnxLayer(
        layer=layer,
        node=label,
        op=node.op_type,
        act_input=node.input[0],
        act_shape=tuple(ctx.shapes[node.input[0]]),
        x_lowering=conv_x,
        raw_weight=w.reshape(groups, out_ch // groups, -1),
    )


def _conv_nd_layer(ctx: Context, node, geo: ConvNdGeometry, w: np.ndarray) -> OnnxLayer:
    """A conv over three (or more) spatial axes: the same im2col GEMM, its geometry kept in
    the item (the simulator reads only M, K, N, groups and input_elems)."""
    G = geo.groups
    if (tuple(w.shape[2:]) != geo.kernel or w.shape[1] * G != geo.in_ch
            or geo.out_ch % G):  # fmt: skip
        raise ctx.error(node, f"weight {fmt(w.shape)} does not fit input "
                              f"{fmt((geo.batch, geo.in_ch, *geo.in_size))} with group={G} "
                              f"and kernel_shape={list(geo.kernel)}")  # fmt: skip
    out = geo.out_size
    if min(geo.pads) < 0 or min(out) < 1:
        raise ctx.error(node, f"kernel {list(geo.kernel)} with pads {list(geo.pads)} does "
                              f"not fit input {list(geo.in_size)}")  # fmt: skip
    label = node_label(node)
    n = len(geo.in_size)
    layer = Layer(
        name=label,
        M=geo.out_ch,
        K=geo.in_ch // G * math.prod(geo.kernel),
        N=math.prod(out) * geo.batch,
        groups=G,
        kind=f"conv{n}d",
        input_elems=geo.in_ch * math.prod(geo.in_size) * geo.batch,
    )
    return OnnxLayer(
        layer=layer,
        node=label,
        op=node.op_type,
        act_input=node.input[0],
        act_shape=tuple(ctx.shapes[node.input[0]]),
        x_lowering=conv_nd_x,
        geometry=geo,
        raw_weight=w.reshape(G, geo.out_ch // G, -1),
    )


def check_bias(ctx: Context, node, bias: np.ndarray, out_ch: int, index: int = 2) -> None:
    """A conv's bias has one value per output channel."""
    if bias.size != out_ch:
        raise ctx.error(node, f"bias {node.input[index]!r} {fmt(bias.shape)} is not one value "
                              f"per output channel ({out_ch})")  # fmt: skip


def check_rank(ctx: Context, node, x_shape, w_shape) -> None:
    if len(x_shape) not in (3, 4, 5) or len(w_shape) != len(x_shape):
        raise ctx.error(node, "only 1-D, 2-D and 3-D convolutions are supported, not input "
                              f"{fmt(x_shape)} with weight {fmt(w_shape)}")  # fmt: skip


def lower_conv(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    x_shape = ctx.static_shape(node.input[0], node)
    w = ctx.weight(node, 1)
    check_rank(ctx, node, x_shape, w.shape)
    item = conv_layer(ctx, node, attrs, x_shape, w)
    bias = ctx.constant(node, 2)
    if bias is not None:
        check_bias(ctx, node, bias, item.layer.M)
        item = _replace(item, raw_bias=np.asarray(bias, np.float64).reshape(-1))
    bn = ctx.only_reader(node.output[0], "BatchNormalization")
    fold = None if bn is None else _bn_fold(ctx, bn)
    if fold is not None and fold[0].shape == (item.layer.M,):
        item = _replace(item, bn_scale=fold[0], bn_shift=fold[1], bn_node=node_label(bn))
        ctx.folded.append(item.node)
    return [item]


def _replace(item: OnnxLayer, **changes) -> OnnxLayer:
    from dataclasses import replace

    return replace(item, **changes)


def _bn_fold(ctx: Context, bn) -> tuple[np.ndarray, np.ndarray] | None:
    """``w' = w * gamma / sqrt(var + eps)`` and its shift, from an inference-mode BN."""
    if len(bn.input) < 5 or (len(bn.output) > 1 and any(bn.output[1:])):
        return None  # training-mode batch norm (running stats as outputs): not folded
    params = [ctx.consts.get(n) for n in bn.input[1:5]]
    if any(p is None for p in params):
        return None
    eps = float(node_attrs(bn).get("epsilon", 1e-5))
    gamma, beta, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


LOWERINGS = {"Conv": lower_conv}
