"""``load_onnx``: a file in, its layers out, every node through the lowering table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import AccelError
from .constants import Constants
from .context import Context, node_attrs
from .control import check_loops, inline_branches
from .load import check_ops, infer_shapes, read_model, resolve_inputs
from .model import OnnxModel
from .ops import LOWERINGS, SUPPORTED_OPS, op_key
from .ops.einsum import check_equations

__all__ = ["load_onnx"]


def load_onnx(path: str | Path, data: Any = None) -> OnnxModel:
    """Load an ONNX file and lower every node the table knows to :class:`Layer` s.

    ``data`` is what the model will run on: one array (or only its shape) for a graph
    with one input, or a mapping of input name to array. It fixes the inputs' open
    dimensions, and with arrays the shapes shape inference cannot tell are taken from a
    run on onnxruntime. Without it an open batch dimension becomes 1 (said in ``notes``)
    and any other open dimension is an error.
    """
    path = str(path)
    model = read_model(path)
    graph = model.graph
    notes: list[str] = []
    inputs, feeds = resolve_inputs(path, graph, data, notes)
    inlined = inline_branches(path, model, feeds)
    if inlined:
        notes.append(f"{inlined} If node{'s' if inlined > 1 else ''} replaced by the branch "
                     f"{'they take' if inlined > 1 else 'it takes'}")  # fmt: skip
    check_ops(path, graph, SUPPORTED_OPS)
    check_loops(path, graph, LOWERINGS.__contains__)
    check_equations(path, graph)
    shapes = infer_shapes(path, model, inputs)
    consts = Constants(path, graph)
    runtime = False
    if feeds is not None:
        unknown = _unknown_operands(graph, shapes, consts)
        if unknown:
            from .capture import run_shapes

            shapes.update(run_shapes(path, model, feeds, unknown))
            notes.append(f"{len(unknown)} tensor shapes taken from the onnxruntime run "
                         "(shape inference could not tell them)")  # fmt: skip
            runtime = True
    readers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    ctx = Context(path, model, shapes, consts, readers, {v.name for v in graph.output},
                  notes, runtime=runtime)  # fmt: skip
    layers = []
    for node in graph.node:  # ONNX requires topological order
        lower = LOWERINGS.get(op_key(node))
        if lower is None:
            continue
        if len(node.input) < 2 and node.op_type != "Einsum":  # Einsum says how many itself
            raise ctx.error(node, "has fewer than 2 inputs")
        try:
            items = lower(ctx, node, node_attrs(node))
        except AccelError as err:
            if err.source:
                raise
            raise ctx.error(node, str(err)) from None  # a Layer's own check (a zero dim)
        for item in items:
            if item.raw_weight is not None and not np.all(np.isfinite(item.raw_weight)):
                raise AccelError(f"weights of node {item.node!r} hold NaN or inf", source=path)
        layers.extend(items)
    if not layers:
        raise AccelError("the model has no Conv, Gemm or MatMul node to simulate", source=path)
    if ctx.folded:
        f = ctx.folded
        shown = ", ".join(f[:6]) + (f" and {len(f) - 6} more" if len(f) > 6 else "")
        notes.append(f"BatchNormalization folded into {len(f)} convs ({shown})")
    return OnnxModel(path, model, layers, inputs, notes, feeds)


def _unknown_operands(graph, shapes: dict, consts: Constants) -> list[str]:
    """Inputs of the nodes to lower whose shapes inference left open (constants aside)."""
    out: list[str] = []
    for node in graph.node:
        if op_key(node) not in LOWERINGS:
            continue
        for name in node.input:
            shape = shapes.get(name)
            known = shape is not None and all(isinstance(d, int) for d in shape)
            if name and not known and name not in out and consts.get(name) is None:
                out.append(name)
    return out
