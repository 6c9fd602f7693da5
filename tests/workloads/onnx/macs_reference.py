"""An independent MAC count of an ONNX model, to check the importer against.

Nothing here uses ``accel``: the model runs on onnxruntime with every intermediate tensor
made a graph output, so each tensor's shape is the one a real run gives (no shape
inference, no data propagation), and each node's MACs come straight from its ONNX
operator definition:

- Conv, ConvInteger, QLinearConv (any spatial rank, groups):
  ``prod(output) x Cin/group x prod(kernel)``, ``Cin/group x kernel`` being the weight's
  dims after the first;
- ConvTranspose: ``prod(input) x Cout/group x prod(kernel)`` (weight ``[Cin, Cout/g, k..]``);
- Gemm, com.microsoft QGemm: ``M x N x K`` from A, B and ``transA`` / ``transB``;
- MatMul, MatMulInteger, QLinearMatMul: ``prod(output) x K``, ``K`` A's last dim;
- LSTM, com.microsoft DynamicQuantizeLSTM: per direction ``T x batch x (4H x input +
  4H x H)``; GRU the same with ``3H``, RNN with ``H``.

An ``If`` is replaced by the branch the run takes (its condition read from a run), so
the layers inside a taken branch are counted and those of the other are not; a ``Loop``
or ``Scan`` body is not counted. A node that multiplies matrices but is not listed
above (a fused contrib op) raises, rather than count 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

__all__ = ["reference_macs", "run_shapes", "flatten_ifs"]

_GATES = {"LSTM": 4, "com.microsoft.DynamicQuantizeLSTM": 4, "GRU": 3, "RNN": 1}
_CONV_WEIGHT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
_MATMUL = {
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "com.microsoft.MatMulIntegerToFloat",
    "com.microsoft.DynamicQuantizeMatMul",
}
_GEMM_B = {"Gemm": 1, "com.microsoft.QGemm": 3}
_UNCOUNTED = {
    "Einsum",
    "com.microsoft.Attention",
    "com.microsoft.QAttention",
    "com.microsoft.FusedConv",
    "com.microsoft.FusedGemm",
    "com.microsoft.FusedMatMul",
    "com.microsoft.QLinearConv",
    "com.microsoft.MultiHeadAttention",
    "com.microsoft.QOrderedMatMul",
}


def _key(node) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def _label(node) -> str:
    return node.name or node.output[0]


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _session(model: onnx.ModelProto, names: list[str]):
    """An onnxruntime session returning ``names`` besides the model's own outputs."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=name))  # type: from the run
            have.add(name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _rename_inputs(graph, rename: dict[str, str]) -> None:
    """Rename the tensors a (sub)graph reads, nested subgraphs too (outer-scope names)."""
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _rename_inputs(a.g, rename)
            for g in a.graphs:
                _rename_inputs(g, rename)


def flatten_ifs(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of ``model`` whose every ``If`` (nested ones too) is the branch a run on
    ``feeds`` takes, spliced in place, its outputs wired to the If's by Identity nodes."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    serial = 0
    while True:
        g = m.graph
        index = next((i for i, n in enumerate(g.node) if n.op_type == "If"), None)
        if index is None:
            return m
        node = g.node[index]
        (cond,) = _session(m, [node.input[0]]).run([node.input[0]], dict(feeds))
        branch = _attrs(node)[
            "then_branch" if bool(np.asarray(cond).reshape(-1)[0]) else "else_branch"
        ]
        outer = {o for n in g.node for o in n.output} | {v.name for v in g.input}
        outer |= {t.name for t in g.initializer}
        local = {o for n in branch.node for o in n.output} | {t.name for t in branch.initializer}
        serial += 1
        rename = {name: f"__if{serial}__{name}" for name in local if name in outer}
        body = onnx.GraphProto()
        body.CopyFrom(branch)
        _rename_inputs(body, rename)
        for n in body.node:
            n.output[:] = [rename.get(o, o) for o in n.output]
        for t in body.initializer:
            t.name = rename.get(t.name, t.name)
        new = list(body.node) + [
            helper.make_node(
                "Identity", [rename.get(b.name, b.name)], [o], name=f"__if{serial}__out{i}"
            )
            for i, (o, b) in enumerate(zip(node.output, body.output, strict=False))
            if o
        ]
        g.initializer.extend(body.initializer)
        nodes = list(g.node)
        nodes[index : index + 1] = new
        del g.node[:]
        g.node.extend(nodes)


def run_shapes(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, tuple]:
    """Every tensor's shape: initializers from their dims, the rest from one run."""
    shapes: dict[str, tuple] = {t.name: tuple(t.dims) for t in model.graph.initializer}
    shapes.update({k: np.shape(v) for k, v in feeds.items()})
    names = [o for n in model.graph.node for o in n.output if o]
    session = _session(model, names)
    outs = [o.name for o in session.get_outputs()]
    for name, value in zip(outs, session.run(outs, dict(feeds)), strict=True):
        shapes[name] = tuple(np.shape(value))
    return shapes


def node_macs(node, shapes: Mapping[str, tuple]) -> int:
    """MACs of one node from its operator definition and the run's shapes (0: none)."""
    key = _key(node)
    attrs = _attrs(node)
    shape = shapes.__getitem__
    if key in _CONV_WEIGHT:
        w = shape(node.input[_CONV_WEIGHT[key]])
        return math.prod(shape(node.output[0])) * math.prod(w[1:])
    if key == "ConvTranspose":
        return math.prod(shape(node.input[0])) * math.prod(shape(node.input[1])[1:])
    if key in _GEMM_B:
        a, b = shape(node.input[0]), shape(node.input[_GEMM_B[key]])
        m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
        n = b[0] if attrs.get("transB", 0) else b[1]
        return m * n * k
    if key in _MATMUL:
        return math.prod(shape(node.output[0])) * shape(node.input[0])[-1]
    if key in _GATES:
        x = shape(node.input[0])
        t, batch = (x[1], x[0]) if attrs.get("layout", 0) else (x[0], x[1])
        h = int(attrs["hidden_size"])
        direction = attrs.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        dirs = 2 if direction == "bidirectional" else 1
        gates = _GATES[key]
        return dirs * t * batch * (gates * h * x[-1] + gates * h * h)
    if key in _UNCOUNTED:
        raise NotImplementedError(f"{key} node {_label(node)!r}: MACs not defined here")
    return 0


def reference_macs(path: str | Path, feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, int], int]:
    """MACs by node name (nodes without MACs left out) and their total, for the model at
    ``path`` (external weights beside it) run on ``feeds`` (input name -> array)."""
    model = onnx.load(str(path))
    if any(n.op_type == "If" for n in model.graph.node):
        model = flatten_ifs(model, feeds)
    shapes = run_shapes(model, feeds)
    per_node: dict[str, int] = {}
    for node in model.graph.node:
        macs = node_macs(node, shapes)
        if macs:
            per_node[_label(node)] = per_node.get(_label(node), 0) + macs
    return per_node, sum(per_node.values())
