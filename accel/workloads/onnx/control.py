"""Control flow: an ``If`` becomes the branch it takes, inlined into the graph, so that
shapes, capture and lowering see one flat graph; a ``Loop`` or ``Scan`` is followed for
shapes only when its body costs no MACs (a body with layers runs a data-dependent number
of times, which one flat schedule cannot say)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...errors import AccelError, brief
from .constants import Constants
from .context import node_attrs, node_label

__all__ = ["inline_branches", "check_loops"]

_MAX_INLINED = 10_000  # If nodes inlined in one model (nested ones count once each)


def _is_graph(value) -> bool:
    from onnx import GraphProto

    return isinstance(value, GraphProto)


def _branch_ops(graph) -> set[str]:
    """Every op key in a graph and its subgraphs."""
    from .ops import op_key

    out = set()
    for node in graph.node:
        out.add(op_key(node))
        for attr in node.attribute:
            if attr.g is not None and attr.HasField("g"):
                out |= _branch_ops(attr.g)
            for sub in attr.graphs:
                out |= _branch_ops(sub)
    return out


def check_loops(path: str, graph, lowered: Callable[[str], bool]) -> None:
    """A Loop or Scan whose body holds an operator the array runs is refused by name."""
    for node in graph.node:
        if node.op_type not in ("Loop", "Scan"):
            continue
        body = node_attrs(node).get("body")
        if not _is_graph(body):
            said = "has no body" if body is None else f"has body {brief(body)}, not a graph"
            raise AccelError(f"{node.op_type} node {node_label(node)!r} {said}", source=path)
        inside = sorted(op for op in _branch_ops(body) if lowered(op))
        if inside:
            raise AccelError(
                f"{node.op_type} node {node_label(node)!r}: its body holds {', '.join(inside)} "
                "nodes, which run a data-dependent number of times; unroll the loop before "
                "export (a Loop or Scan without them is followed for shapes)",
                source=path,
            )


def inline_branches(path: str, model, feeds: dict[str, np.ndarray] | None) -> int:
    """Replace every ``If`` of ``model`` (in place: the importer's own copy) by the branch
    it takes: a constant condition decides, else the run on ``feeds``. Returns how many
    were inlined; an ``If`` on data with no ``feeds`` is one error naming it."""
    count = 0
    while True:
        graph = model.graph
        index = next((i for i, n in enumerate(graph.node) if n.op_type == "If"), None)
        if index is None:
            return count
        if count >= _MAX_INLINED:
            raise AccelError(f"more than {_MAX_INLINED:,} If nodes", source=path)
        node = graph.node[index]
        if not node.input or not node.input[0]:
            raise AccelError(f"If node {node_label(node)!r} has no condition input", source=path)
        cond = Constants(path, graph).get(node.input[0])  # afresh: the graph changed
        if cond is None:
            if feeds is None:
                raise AccelError(
                    f"If node {node_label(node)!r}: its condition {node.input[0]!r} depends on "
                    "the input; give --input to import the branch the run takes",
                    source=path,
                )
            cond = _run_value(path, model, feeds, node.input[0])
        cond = np.asarray(cond)
        if cond.size != 1 or cond.dtype.kind not in "biuf":
            raise AccelError(
                f"If node {node_label(node)!r}: its condition {node.input[0]!r} is "
                f"{list(cond.shape)} of {cond.dtype}, not one boolean",
                source=path,
            )
        taken = "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"
        branch = node_attrs(node).get(taken)
        if not _is_graph(branch):
            said = f"has no {taken}" if branch is None else f"has {taken} {brief(branch)}"
            said += "" if branch is None else ", not a graph"
            raise AccelError(f"If node {node_label(node)!r} {said}", source=path)
        if len(branch.output) != len(node.output):
            raise AccelError(
                f"If node {node_label(node)!r} has {len(node.output)} outputs, but its {taken} "
                f"{len(branch.output)}",
                source=path,
            )
        _splice(model, index, node, branch)
        count += 1


def _splice(model, index: int, node, branch) -> None:
    """The branch's nodes in place of the If, its outputs renamed to the If's outputs."""
    from onnx import helper

    graph = model.graph
    taken = {o for n in graph.node for o in n.output} | {v.name for v in graph.input}
    taken |= {t.name for t in graph.initializer}
    rename: dict[str, str] = {}
    prefix = node_label(node) + "/"
    local = {o for n in branch.node for o in n.output} | {t.name for t in branch.initializer}
    for name in local:  # a branch-local name that clashes with the outer graph's
        if name in taken:
            rename[name] = prefix + name
    new_nodes = []
    for inner in branch.node:
        copy = type(inner)()
        copy.CopyFrom(inner)
        copy.input[:] = [rename.get(i, i) for i in copy.input]
        copy.output[:] = [rename.get(o, o) for o in copy.output]
        new_nodes.append(copy)
    for t in branch.initializer:
        copy = type(t)()
        copy.CopyFrom(t)
        copy.name = rename.get(t.name, t.name)
        graph.initializer.append(copy)
    for out, inner in zip(node.output, branch.output, strict=False):
        if out:
            source = rename.get(inner.name, inner.name)
            new_nodes.append(helper.make_node("Identity", [source], [out],
                                              name=f"{prefix}{out}"))  # fmt: skip
    nodes = list(graph.node)
    nodes[index : index + 1] = new_nodes
    del graph.node[:]
    graph.node.extend(nodes)


def _run_value(path: str, model, feeds: dict[str, np.ndarray], name: str) -> np.ndarray:
    from .capture import run_value

    return run_value(path, model, feeds, name)
