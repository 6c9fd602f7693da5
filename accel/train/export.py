"""The trained LeNet as an ONNX graph: a real model for ``accel prune`` and
``accel simulate --onnx``, the way a user's PyTorch export would arrive.

The graph is the model of :mod:`accel.train.lenet` operator for operator (Conv, Relu,
MaxPool, Flatten in NCHW order, Gemm with ``transB = 1``), with the weights as
initializers and an open batch dimension, so ``--input`` fixes it.
"""

from __future__ import annotations

import numpy as np

from .lenet import LAYERS

__all__ = ["to_onnx"]

OPSET = 17


def to_onnx(params: dict[str, np.ndarray], name: str = "lenet5"):
    """An ``onnx.ModelProto`` computing the same logits as ``lenet.forward(params, x)``."""
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    for spec in LAYERS:
        w, b = f"{spec.name}.weight", f"{spec.name}.bias"
        inits += [
            numpy_helper.from_array(np.asarray(params[w], np.float32), w),
            numpy_helper.from_array(np.asarray(params[b], np.float32), b),
        ]
        y = spec.name
        if spec.is_conv:
            pads = [spec.pad] * 4
            nodes.append(
                helper.make_node("Conv", [x, w, b], [y], name=spec.name, pads=pads, strides=[1, 1])
            )
        else:
            if x != "flat" and not x.startswith("fc"):
                nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten", axis=1))
                x = "flat"
            nodes.append(helper.make_node("Gemm", [x, w, b], [y], name=spec.name, transB=1))
        if spec.relu:
            nodes.append(helper.make_node("Relu", [y], [f"{y}.relu"], name=f"{spec.name}.relu"))
            y = f"{y}.relu"
        if spec.pool:
            nodes.append(
                helper.make_node(
                    "MaxPool", [y], [f"{y}.pool"], name=f"{spec.name}.pool",
                    kernel_shape=[2, 2], strides=[2, 2],
                )
            )  # fmt: skip
            y = f"{y}.pool"
        x = y
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="accel"
    )
    model.ir_version = 8  # readable by every onnxruntime of the last years
    checker.check_model(model)
    return model
