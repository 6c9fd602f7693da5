"""A tiny ONNX model with every kind of weight the pruner must find (and one it must not)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def tiny_model(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Conv (initializer, OIHW) -> Gemm transB=1 -> Gemm transB=0 -> MatMul (Constant B)
    -> MatMul with a graph input as B (dynamic, must be skipped)."""
    r = np.random.default_rng(seed)
    weights = {
        "conv.w": r.normal(size=(8, 3, 3, 3)).astype(np.float32),  # OIHW, K = 27
        "fc1.w": r.normal(size=(6, 72)).astype(np.float32),  # transB=1: [N, K]
        "fc2.w": r.normal(size=(6, 5)).astype(np.float32),  # transB=0: [K, N]
        "mm.w": r.normal(size=(5, 7)).astype(np.float32),  # MatMul B: [K, N]
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.w"], ["c"], name="conv", pads=[0, 0, 0, 0]),
        helper.make_node("Flatten", ["c"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc1.w"], ["g1"], name="fc1", transB=1),
        helper.make_node("Gemm", ["g1", "fc2.w"], ["g2"], name="fc2", transB=0),
        helper.make_node(
            "Constant", [], ["mm.w"], value=numpy_helper.from_array(weights["mm.w"], "mm.w")
        ),
        helper.make_node("MatMul", ["g2", "mm.w"], ["y0"], name="mm"),
        helper.make_node("MatMul", ["y0", "q"], ["y"], name="dynamic"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5]),
            helper.make_tensor_value_info("q", TensorProto.FLOAT, [7, 2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[
            numpy_helper.from_array(weights[name], name) for name in ("conv.w", "fc1.w", "fc2.w")
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, weights


@pytest.fixture
def onnx_file(tmp_path):
    model, _ = tiny_model()
    path = tmp_path / "tiny.onnx"
    onnx.save_model(model, str(path))
    return path


@pytest.fixture
def npz_file(tmp_path):
    r = np.random.default_rng(1)
    path = tmp_path / "weights.npz"
    np.savez(
        path,
        conv=r.normal(size=(8, 4, 3, 3)).astype(np.float32),
        fc=r.integers(-100, 101, size=(10, 30)).astype(np.int8),
        bias=r.normal(size=8),
        flags=np.ones((3, 3), dtype=bool),
    )
    return path


def _stored(path, name: str) -> np.ndarray:
    """A constant of an ONNX file as stored (initializer or Constant), read independently."""
    model = onnx.load_model(str(path))
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    raise KeyError(name)


@pytest.fixture
def tiny():
    """``tiny_model()``: (model, weights as built)."""
    return tiny_model()


@pytest.fixture
def stored():
    """A reader of a constant from an ONNX file as stored, independent of accel.prune."""
    return _stored
