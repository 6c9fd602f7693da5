"""What every operator's lowering reads: the graph's shapes, its constants, who reads
each tensor, and where to leave notes; plus the checks that name the file and node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import AccelError
from .constants import Constants
from .model import OnnxLayer

__all__ = ["Context", "Lowering", "fmt", "node_label", "node_attrs"]


def fmt(dims: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def node_label(node) -> str:
    return node.name or node.output[0]


def node_attrs(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


@dataclass
class Context:
    """The graph as the lowerings see it (one per load)."""

    path: str
    model: Any  # onnx.ModelProto (the importer's own copy)
    shapes: dict[str, tuple]
    consts: Constants
    readers: dict[str, list]
    outputs: set[str]
    notes: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    runtime: bool = False  # shapes came from an onnxruntime run on --input

    def error(self, node, message: str) -> AccelError:
        return AccelError(f"{node.op_type} node {node_label(node)!r}: {message}", source=self.path)

    def static_shape(self, name: str, node, what: str = "input") -> tuple[int, ...]:
        """A tensor's shape, every dimension known, or an error that says what to do."""
        shape = self.shapes.get(name)
        if shape is None and not self.consts.exists(name):
            said = "is not given" if not name else (
                f"{name!r} is not a graph input, an initializer or any node's output"
            )  # fmt: skip
            raise self.error(node, f"{what} {said}")
        if shape is None or not all(isinstance(d, int) for d in shape):
            got = "no shape" if shape is None else f"shape {fmt(shape)}"
            hint = "" if self.runtime else "; give --input to take shapes from a run"
            if name in self.consts.why:  # a constant that did not fold: that is the cause
                hint = f" ({self.consts.why[name]})"
            raise AccelError(
                f"{what} {name!r} of {node.op_type} node {node_label(node)!r} has {got} "
                f"after shape inference{hint}",
                source=self.path,
            )
        return tuple(int(d) for d in shape)

    def constant(self, node, index: int) -> np.ndarray | None:
        """The value of the node's ``index``-th input if it is a constant, else None."""
        name = node.input[index] if len(node.input) > index else ""
        return self.consts.get(name) if name else None

    def weight(self, node, index: int, what: str = "weight") -> np.ndarray:
        name = node.input[index] if len(node.input) > index else ""
        value = self.consts.get(name)
        if value is None:
            if not name:
                raise self.error(node, f"{what} (input {index}) is not given")
            where = "missing from the file" if not self.consts.exists(name) else "not a constant"
            if name in self.consts.why:
                where += f": {self.consts.why[name]}"
            raise AccelError(
                f"{what} {name!r} of {node.op_type} node {node_label(node)!r} is {where} "
                "(weights must be initializers, Constant or ConstantOfShape)",
                source=self.path,
            )
        if value.dtype.kind not in "fiub":
            raise AccelError(f"{what} {name!r} has dtype {value.dtype}, not numbers",
                             source=self.path)  # fmt: skip
        return value

    def only_reader(self, tensor: str, op_type: str):
        """The node that alone reads ``tensor`` if it is an ``op_type``, else None."""
        nxt = self.readers.get(tensor, [])
        if len(nxt) == 1 and nxt[0].op_type == op_type and tensor not in self.outputs:
            return nxt[0]
        return None


Lowering = Callable[[Context, Any, dict[str, Any]], list[OnnxLayer]]
