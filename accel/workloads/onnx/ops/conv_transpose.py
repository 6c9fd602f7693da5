"""ConvTranspose (1-D, 2-D and 3-D) as one GEMM of the input itself, then col2im.

Per group the array computes ``Y [O/g x taps, B x input positions] = W . X`` with ``W``
ONNX's ``[C, O/g, *kernel]`` weights transposed to ``[O/g x taps, C/g]`` and ``X`` the
input ``[C/g, B x input positions]``, no im2col: every input value meets every weight
once, so the MACs are the operator's true work (input elements x O/g x taps), with no
multiplications by the zeros a zero-inserted (dilated-input) convolution would stream.
The array's outputs are partial products; a col2im scatter-add after the array
(:func:`accel.golden.col2im`) sums the overlapping taps into the output and crops the
padding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ....golden import conv_transpose_gemm_w, conv_transpose_gemm_x
from ...layer import ConvTransposeGeometry, Layer
from ..context import Context, fmt, node_label
from ..model import OnnxLayer
from .conv import auto_pad, check_bias, check_conv_attrs

__all__ = ["LOWERINGS", "conv_transpose_geometry", "conv_transpose_layer", "conv_transpose_x"]


def _ints(attrs: dict[str, Any], name: str, default: list[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in attrs.get(name, default))


def conv_transpose_geometry(
    ctx: Context, node, attrs: dict[str, Any], x_shape, w_shape
) -> ConvTransposeGeometry:
    """The node's geometry as ONNX defines it: ``pads``, or with ``output_shape`` (or
    ``auto_pad`` SAME_*, which asks for ``input x stride``) the padding that gives that
    size, split as the operator's definition says (the odd one at the end for SAME_UPPER,
    at the start otherwise). A size past the taps' reach is zeros at the end, as
    onnxruntime makes it."""
    n = len(x_shape) - 2
    if n not in (1, 2, 3) or len(w_shape) != len(x_shape):
        raise ctx.error(node, "only 1-D, 2-D and 3-D transposed convolutions are supported, "
                              f"not input {fmt(x_shape)} with weight {fmt(w_shape)}")  # fmt: skip
    groups = int(attrs.get("group", 1))
    batch, in_ch, in_size = int(x_shape[0]), int(x_shape[1]), tuple(int(v) for v in x_shape[2:])
    kernel = _ints(attrs, "kernel_shape", list(w_shape[2:]))
    if (groups < 1 or w_shape[0] != in_ch or in_ch % groups
            or kernel != tuple(w_shape[2:])):  # fmt: skip
        raise ctx.error(node, f"weight {fmt(w_shape)} (C, O/g, *kernel) does not fit input "
                              f"{fmt(x_shape)} with group={groups} and kernel_shape="
                              f"{list(kernel)}")  # fmt: skip
    strides = _ints(attrs, "strides", [1] * n)
    dilations = _ints(attrs, "dilations", [1] * n)
    out_pad = _ints(attrs, "output_padding", [0] * n)
    if not (len(strides) == len(dilations) == len(out_pad) == n):
        raise ctx.error(node, f"strides, dilations and output_padding must have {n} values")
    check_conv_attrs(ctx, node, n, strides=strides, dilations=dilations, output_padding=out_pad)
    auto = auto_pad(ctx, node, attrs)
    full = [(m - 1) * s + (k - 1) * d + 1
            for m, k, s, d in zip(in_size, kernel, strides, dilations, strict=True)]  # fmt: skip
    target: list[int] | None = None
    if attrs.get("output_shape"):
        target = [int(v) for v in attrs["output_shape"]]
        if len(target) != n:
            raise ctx.error(node, f"output_shape {target} must have {n} spatial sizes")
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [m * s for m, s in zip(in_size, strides, strict=True)]
    if target is not None:
        begin, end, extra = [], [], []
        for f, p, t in zip(full, out_pad, target, strict=True):
            total = f + p - t
            head = total // 2 if auto == "SAME_UPPER" else total - total // 2
            head = max(head, 0)
            begin.append(head)
            end.append(max(total - head, 0))
            extra.append(p - min(total, 0))  # a size past the taps: zeros at the end
        pads, out_pad = tuple(begin + end), tuple(extra)
    elif auto == "VALID":
        pads = (0,) * 2 * n
    else:
        pads = _ints(attrs, "pads", [0] * 2 * n)
        check_conv_attrs(ctx, node, n, pads=pads)
    geo = ConvTransposeGeometry(in_ch, int(w_shape[1]) * groups, in_size, kernel, strides,
                                pads, dilations, out_pad, groups, batch)  # fmt: skip
    if (len(pads) != 2 * n or min(pads) < 0 or min(out_pad) < 0 or min(strides) < 1
            or min(dilations) < 1 or min(geo.out_size) < 1):  # fmt: skip
        raise ctx.error(node, f"pads {list(pads)}, strides {list(strides)}, dilations "
                              f"{list(dilations)} and output_padding {list(out_pad)} give "
                              f"output size {list(geo.out_size)}")  # fmt: skip
    return geo


def conv_transpose_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """The (integer) input itself as ``X [g, C/g, B x input positions]``."""
    geo = item.geometry
    return conv_transpose_gemm_x(np.asarray(q).reshape(geo.batch, geo.in_ch, *geo.in_size), geo)


def conv_transpose_layer(
    ctx: Context, node, attrs: dict[str, Any], x_shape, w: np.ndarray
) -> OnnxLayer:
    """A ConvTranspose with input shape ``x_shape`` and weights ``w`` ([C, O/g, *kernel]),
    whatever the weights' source. Its weights are quantised per output channel over (C/g,
    taps), i.e. ``rows_per_channel = taps`` GEMM rows at a time, since col2im adds the
    taps' products into one output value and they must share its scale."""
    geo = conv_transpose_geometry(ctx, node, attrs, x_shape, w.shape)
    G, taps = geo.groups, math.prod(geo.kernel)
    out_shape = ctx.shapes.get(node.output[0])
    expect = (geo.batch, geo.out_ch, *geo.out_size)
    known = out_shape is not None and all(isinstance(d, int) for d in out_shape)
    if known and tuple(out_shape) != expect:
        raise ctx.error(node, f"output {fmt(out_shape)} is not the {fmt(expect)} its "
                              "attributes give")  # fmt: skip
    label = node_label(node)
    layer = Layer(
        name=label,
        M=geo.out_ch * taps,  # groups x (O/g x taps)
        K=geo.in_ch // G,
        N=geo.batch * math.prod(geo.in_size),
        groups=G,
        kind="conv_transpose",
        input_elems=geo.in_ch * math.prod(geo.in_size) * geo.batch,
    )
    return OnnxLayer(
        layer=layer,
        node=label,
        op=node.op_type,
        act_input=node.input[0],
        act_shape=tuple(ctx.shapes[node.input[0]]),
        x_lowering=conv_transpose_x,
        geometry=geo,
        raw_weight=np.ascontiguousarray(conv_transpose_gemm_w(w, geo)),
        rows_per_channel=taps,
    )


def lower_conv_transpose(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """x, W, optional B (one per output channel, added after col2im)."""
    x_shape = ctx.static_shape(node.input[0], node)
    w = ctx.weight(node, 1)
    item = conv_transpose_layer(ctx, node, attrs, x_shape, w)
    bias = ctx.constant(node, 2)
    if bias is not None:
        from dataclasses import replace

        check_bias(ctx, node, bias, item.geometry.out_ch)
        item = replace(item, raw_bias=np.asarray(bias, np.float64).reshape(-1))
    return [item]


LOWERINGS = {"ConvTranspose": lower_conv_transpose}
