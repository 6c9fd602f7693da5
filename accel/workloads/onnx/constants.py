"""Values of constant tensors (initializers, ``Constant`` nodes, constant subgraphs),
folded on demand: only what a layer needs, and ConstantOfShape as a broadcast view."""

from __future__ import annotations

import numpy as np

from ...errors import AccelError

__all__ = ["Constants"]


class Constants:
    """Values of constant tensors, folded on demand (only what a layer needs)."""

    _SIMPLE = {"Identity", "Cast", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Flatten"}

    def __init__(self, path: str, graph):
        self.path = path
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.graph_inputs = {v.name for v in graph.input} - set(self.inits)
        self.cache: dict[str, np.ndarray | None] = {}
        self.why: dict[str, str] = {}  # a constant subgraph that did not fold: which node, why

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
        missing = [i for i, a in zip(node.input, args, strict=True) if i and a is None]
        if missing:
            why = next((self.why[i] for i in missing if i in self.why), None)
            if why is not None:
                self.why[name] = why
            return None
        try:
            if node.op_type == "ConstantOfShape":
                value = attrs.get("value")
                fill = numpy_helper.to_array(value).reshape(-1) if value is not None else None
                fill = fill if fill is not None and fill.size else np.zeros(1, np.float32)
                shape = tuple(int(s) for s in np.asarray(args[0]).reshape(-1))
                return np.broadcast_to(fill[0], shape)  # no memory: one value, many places
            if node.op_type in self._SIMPLE and len(node.output) == 1:
                return self._simple(node, attrs, args)
            # anything else: onnx's own reference implementation
            from onnx.reference import ReferenceEvaluator

            feeds = {i: a for i, a in zip(node.input, args, strict=True) if i}
            outs = ReferenceEvaluator(node).run(None, feeds)
        except Exception as err:  # a constant we cannot fold is reported where it is needed
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            label = node.name or node.output[0]
            self.why[name] = f"{node.op_type} node {label!r} does not fold ({text[:200]})"
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
            if any(not -out_rank <= a < out_rank for a in axes):
                raise ValueError(f"axes {list(axes)} out of range for rank {out_rank}")
            return np.expand_dims(x, tuple(a % out_rank for a in axes))
        shape = attrs.get("shape") if len(args) < 2 else np.asarray(args[1]).reshape(-1)
        shape = [
            x.shape[i] if s == 0 and not attrs.get("allowzero") else int(s)
            for i, s in enumerate(shape)
        ]
        return x.reshape(shape)
