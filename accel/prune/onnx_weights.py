"""The weight tensors of an ONNX model, read and written in the array's orientation.

A weight is the second input of a Conv, Gemm or MatMul node when that input is an
initializer or the output of a ``Constant`` node. Conv weights are OIHW already; a Gemm
with ``transB=0`` and a MatMul store ``B`` as ``[K, N]``, so their pruning view is the
transpose ``[N, K]`` (output channels first). Any other second input (an activation, as
in attention) cannot be pruned offline and is reported as skipped.

``onnx`` raises its own exception types (protobuf's ``DecodeError``, the checker's
``ValidationError``, ...); they become :class:`~accel.errors.AccelError` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper

from ..errors import AccelError

__all__ = ["OnnxWeight", "load_model", "save_model", "find_weights", "read_weight", "write_weight"]

PRUNABLE_OPS = ("Conv", "Gemm", "MatMul")
_DTYPES = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.INT8,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.UINT8,
    TensorProto.UINT16,
    TensorProto.UINT32,
    TensorProto.UINT64,
}
_ONNX_ERRORS = (DecodeError, onnx.checker.ValidationError, OSError, ValueError, RuntimeError)


@dataclass(frozen=True)
class OnnxWeight:
    """A prunable tensor: its name, where it lives, and whether its view is transposed."""

    name: str
    source: str  # "initializer" or "Constant"
    transposed: bool  # stored [K, N]; pruned as [N, K]
    users: tuple[str, ...]  # "op_type node_name" of each node that reads it


def load_model(path: Path, role: str = "IN") -> onnx.ModelProto:
    """Read and check a model; any failure is one AccelError naming ``role`` and file."""
    try:
        model = onnx.load_model(str(path))
        onnx.checker.check_model(model)
    except _ONNX_ERRORS as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise AccelError(
            f"not a valid ONNX model ({type(err).__name__}: {reason[:200]})",
            source=f"{role} {path}",
        ) from None
    return model


def save_model(model: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.checker.check_model(model)
        onnx.save_model(model, str(path))
    except _ONNX_ERRORS as err:
        raise AccelError(
            f"cannot write the pruned model ({type(err).__name__}: {err})", source=f"OUT {path}"
        ) from None


def _transb(node: onnx.NodeProto) -> int:
    for attr in node.attribute:
        if attr.name == "transB":
            return int(onnx.helper.get_attribute_value(attr))
    return 0


def _constant_tensor(node: onnx.NodeProto) -> TensorProto | None:
    for attr in node.attribute:
        if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
            return attr.t
    return None


def _tensors(model: onnx.ModelProto) -> dict[str, tuple[str, TensorProto | None]]:
    """Constant tensors by name: initializers, then Constant outputs (None: not a tensor)."""
    found: dict[str, tuple[str, TensorProto | None]] = {
        t.name: ("initializer", t) for t in model.graph.initializer
    }
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            found[node.output[0]] = ("Constant", _constant_tensor(node))
    return found


def _producers(model: onnx.ModelProto) -> dict[str, str]:
    out = {i.name: "a graph input" for i in model.graph.input}
    for node in model.graph.node:
        for name in node.output:
            out[name] = f"the output of {node.op_type} {node.name!r}".replace(" ''", "")
    return out


def find_weights(model: onnx.ModelProto) -> tuple[list[OnnxWeight], list[tuple[str, str]]]:
    """The prunable weights, and ``(tensor, reason)`` for each second input skipped."""
    tensors = _tensors(model)
    producers = _producers(model)
    uses: dict[str, list[tuple[str, bool]]] = {}
    skipped: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type not in PRUNABLE_OPS or len(node.input) < 2 or not node.input[1]:
            continue
        name = node.input[1]
        user = f"{node.op_type} {node.name}".strip()
        if name not in tensors or tensors[name][1] is None:
            where = producers.get(name, "not produced in the top-level graph")
            skipped[name] = f"{user} input B is not a constant ({where})"
            continue
        transposed = node.op_type == "MatMul" or (node.op_type == "Gemm" and _transb(node) == 0)
        uses.setdefault(name, []).append((user, transposed))
    weights = []
    for name, users in uses.items():
        tensor = tensors[name][1]
        ops = {user.split()[0] for user, _ in users}
        ndim = len(tensor.dims)
        if tensor.data_type not in _DTYPES:
            dtype = TensorProto.DataType.Name(tensor.data_type)
            skipped[name] = f"element type {dtype} is not pruned"
        elif len({t for _, t in users}) > 1 or (len(ops) > 1 and "Conv" in ops):
            skipped[name] = "read by nodes that disagree on its layout"
        elif "Conv" in ops and ndim < 3:
            skipped[name] = f"Conv weight of shape {tuple(tensor.dims)} is not O x I x kernel"
        elif "Conv" not in ops and ndim != 2:
            skipped[name] = f"{users[0][0]} weight of shape {tuple(tensor.dims)} is not 2-D"
        else:
            weights.append(
                OnnxWeight(name, tensors[name][0], users[0][1], tuple(u for u, _ in users))
            )
    return weights, list(skipped.items())


def _tensor(model: onnx.ModelProto, weight: OnnxWeight) -> TensorProto:
    tensor = _tensors(model).get(weight.name, ("", None))[1]
    if tensor is None:
        raise AccelError(f"tensor {weight.name!r} is not a constant of this model")
    return tensor


def read_weight(model: onnx.ModelProto, weight: OnnxWeight) -> np.ndarray:
    """The tensor with output channels on axis 0."""
    try:
        array = numpy_helper.to_array(_tensor(model, weight))
    except _ONNX_ERRORS as err:
        raise AccelError(f"tensor {weight.name!r} cannot be read ({err})") from None
    return array.T if weight.transposed else array


def write_weight(model: onnx.ModelProto, weight: OnnxWeight, array: np.ndarray) -> None:
    """Store ``array`` (output channels on axis 0) in place of the tensor, same dtype."""
    old = _tensor(model, weight)
    stored = np.ascontiguousarray(array.T if weight.transposed else array)
    if tuple(stored.shape) != tuple(old.dims):
        raise AccelError(f"tensor {weight.name!r}: shape {stored.shape} is not {tuple(old.dims)}")
    dtype = onnx.helper.tensor_dtype_to_np_dtype(old.data_type)
    new = numpy_helper.from_array(stored.astype(dtype, copy=False), old.name)
    if new.data_type != old.data_type:
        raise AccelError(f"tensor {weight.name!r}: element type would change")
    new.doc_string = old.doc_string
    old.CopyFrom(new)
