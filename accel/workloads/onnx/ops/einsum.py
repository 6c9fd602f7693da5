"""Einsum of two operands as the array's GEMM: its indices sort into batch (both
operands and the output: the groups), contracted (both, not the output: K) and free
ones (one operand and the output: M for the weights' side, N for X's). A constant
operand is the weights; two activations make a dynamic-weight GEMM like attention's
MatMul. One-operand equations (transposes, traces, sums) cost no multiplies."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from ....errors import AccelError
from ...layer import Layer, matmul
from ..context import Context, node_attrs, node_label
from ..model import OnnxLayer

__all__ = ["LOWERINGS", "check_equations", "einsum_x", "einsum_w", "equation_error"]


@dataclass(frozen=True)
class Arrange:
    """How one operand becomes ``[G, rows, cols]``: a transpose, then a reshape."""

    perm: tuple[int, ...]
    shape: tuple[int, int, int]

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(np.asarray(a), self.perm)).reshape(self.shape)


@dataclass(frozen=True)
class EinsumGeometry:
    x: Arrange  # the X operand as [G, K, N]
    w: Arrange  # the weight operand as [G, M, K]


def einsum_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    return item.geometry.x(q)


def einsum_w(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    return item.geometry.w(q)


def equation_error(equation: str) -> str | None:
    """Why ``equation`` is not an Einsum equation (None when it is): terms of letters with
    at most one ``...`` each, comma-separated, then optionally ``->`` and an output term
    whose letters occur once each and in some operand. Checked before shape inference,
    which loops forever on some malformed ones (``'a.b,bc->ac'``)."""
    lhs, arrow, out = equation.replace(" ", "").partition("->")
    for term in [*lhs.split(","), *([out] if arrow else [])]:
        rest = term.replace("...", "", 1)
        bad = next((c for c in rest if c not in string.ascii_letters), None)
        if bad is not None:
            return f"{bad!r} in term {term!r} is not a letter or one '...'"
    if arrow:
        dup = next((c for c in out if c.isalpha() and out.count(c) > 1), None)
        if dup is not None:
            return f"output {out!r} repeats index {dup!r}"
        stray = next((c for c in out if c.isalpha() and c not in lhs), None)
        if stray is not None:
            return f"output index {stray!r} is in no operand"
    return None


def check_equations(path: str, graph) -> None:
    """Every Einsum node's equation is well formed, or one error naming node and value."""
    for node in graph.node:
        if node.op_type != "Einsum" or node.domain not in ("", "ai.onnx"):
            continue
        eq = node_attrs(node).get("equation", b"")
        equation = eq.decode(errors="replace") if isinstance(eq, bytes) else str(eq)
        why = equation_error(equation)
        if why is not None:
            raise AccelError(f"Einsum node {node_label(node)!r}: equation {equation!r}: {why}",
                             source=path)  # fmt: skip


def _terms(ctx: Context, node, equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """The equation's operand and output terms, each ``...`` spelled out in letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ranks):
        raise ctx.error(node, f"equation {equation!r} has {len(ins)} operands, "
                              f"the node {len(ranks)}")  # fmt: skip
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    width = max((r - len(t.replace("...", "")) for t, r in zip(ins, ranks, strict=True)
                 if "..." in t), default=0)  # fmt: skip
    ell = "".join(spare[:width])
    spelled = []
    for term, rank in zip(ins, ranks, strict=True):
        if "..." in term:
            n = rank - len(term.replace("...", ""))
            term = term.replace("...", ell[width - n :] if n else "")
        if len(term) != rank:
            raise ctx.error(node, f"equation term {term!r} does not fit an operand of rank {rank}")
        spelled.append(term)
    if not arrow:  # implicit output: the indices seen once, in alphabetical order
        seen = "".join(spelled)
        out = ell + "".join(sorted(c for c in set(seen) if seen.count(c) == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return spelled, out


def lower_einsum(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    equation = attrs.get("equation", b"")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    if len(node.input) != 2:
        if len(node.input) == 1:
            return []  # a transpose, trace or sum of one operand: no multiplies
        raise ctx.error(node, f"{len(node.input)} operands: only two-operand Einsums are lowered")
    consts = [ctx.constant(node, i) for i in (0, 1)]
    shapes = [c.shape if c is not None else ctx.static_shape(node.input[i], node)
              for i, c in enumerate(consts)]  # fmt: skip
    (ta, tb), out = _terms(ctx, node, equation, [len(s) for s in shapes])
    size: dict[str, int] = {}
    for term, shape in ((ta, shapes[0]), (tb, shapes[1])):
        if len(set(term)) != len(term):
            raise ctx.error(node, f"equation {equation!r} repeats an index within an operand "
                                  "(a diagonal): not a GEMM")  # fmt: skip
        for c, d in zip(term, shape, strict=True):
            if size.setdefault(c, int(d)) != int(d):
                raise ctx.error(node, f"index {c!r} is {size[c]} in one operand and {d} in the "
                                      "other (broadcast batch dims are not lowered)")  # fmt: skip
    batch = [c for c in out if c in ta and c in tb]
    contracted = [c for c in ta if c in tb and c not in out]
    left = [c for c in ta if c not in tb and c in out]
    right = [c for c in tb if c not in ta and c in out]
    if set(ta) | set(tb) != set(batch) | set(contracted) | set(left) | set(right):
        raise ctx.error(node, f"equation {equation!r} sums an index of one operand alone: "
                              "not a GEMM")  # fmt: skip

    def arrange(term: str, rows: list[str], cols: list[str]) -> Arrange:
        order = batch + rows + cols
        dims = (math.prod(size[c] for c in batch), math.prod(size[c] for c in rows),
                math.prod(size[c] for c in cols))  # fmt: skip
        return Arrange(tuple(term.index(c) for c in order), dims)  # type: ignore[arg-type]

    # the weights' side: a constant operand, else the left one (attention-style)
    w_side = 1 if consts[1] is not None and consts[0] is None else 0
    if w_side == 0:
        w, x = arrange(ta, left, contracted), arrange(tb, contracted, right)
    else:
        w, x = arrange(tb, right, contracted), arrange(ta, contracted, left)
    G, M, K = w.shape
    N = x.shape[2]
    label = node_label(node)
    geometry = EinsumGeometry(x=x, w=w)
    x_name = node.input[1 - w_side]
    x_shape = tuple(int(d) for d in shapes[1 - w_side])
    if consts[w_side] is None:  # two activations: the weights are captured too
        layer = matmul(label, M, K, N, groups=G)
        return [OnnxLayer(layer, label, "Einsum", x_name, x_shape, einsum_x, geometry,
                          weight_input=node.input[w_side], w_lowering=einsum_w,
                          weight_shape=tuple(int(d) for d in shapes[w_side]))]  # fmt: skip
    layer = Layer(label, M=G * M, K=K, N=N, groups=G, kind="linear", input_elems=math.prod(x_shape))
    W = w(consts[w_side])
    return [OnnxLayer(layer, label, "Einsum", x_name, x_shape, einsum_x, geometry,
                      raw_weight=W)]  # fmt: skip


LOWERINGS = {"Einsum": lower_einsum}
