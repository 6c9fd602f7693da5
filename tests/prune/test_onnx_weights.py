"""Finding, reading and writing ONNX weights in the array's orientation."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel.errors import AccelError
from accel.prune.onnx_weights import find_weights, load_model, read_weight, write_weight


def test_finds_initializer_and_constant_weights_and_skips_dynamic_ones(tiny):
    model, ws = tiny
    found, skipped = find_weights(model)
    by_name = {w.name: w for w in found}
    assert set(by_name) == {"conv.w", "fc1.w", "fc2.w", "mm.w"}
    assert {n: w.transposed for n, w in by_name.items()} == {
        "conv.w": False,
        "fc1.w": False,
        "fc2.w": True,
        "mm.w": True,
    }
    assert by_name["mm.w"].source == "Constant" and by_name["conv.w"].source == "initializer"
    assert [name for name, _ in skipped] == ["q"]
    assert "not a constant" in skipped[0][1] and "graph input" in skipped[0][1]


def test_read_gives_output_channels_first(tiny):
    model, ws = tiny
    found, _ = find_weights(model)
    views = {w.name: read_weight(model, w) for w in found}
    assert views["conv.w"].shape == (8, 3, 3, 3)
    assert views["fc1.w"].shape == (6, 72)
    assert np.array_equal(views["fc2.w"], ws["fc2.w"].T)  # [K=6, N=5] -> [5, 6]
    assert np.array_equal(views["mm.w"], ws["mm.w"].T)


def test_write_keeps_name_dtype_and_layout(tiny):
    model, ws = tiny
    found, _ = find_weights(model)
    for w in found:
        view = read_weight(model, w)
        write_weight(model, w, np.where(view > 0, view, 0))
    onnx.checker.check_model(model)
    init = {t.name: t for t in model.graph.initializer}
    assert init["fc2.w"].data_type == TensorProto.FLOAT
    fc2 = numpy_helper.to_array(init["fc2.w"])
    assert np.array_equal(fc2, np.where(ws["fc2.w"] > 0, ws["fc2.w"], 0))
    const = next(n for n in model.graph.node if n.op_type == "Constant")
    assert np.array_equal(
        numpy_helper.to_array(const.attribute[0].t), np.where(ws["mm.w"] > 0, ws["mm.w"], 0)
    )
    with pytest.raises(AccelError, match="shape"):
        write_weight(model, found[0], np.zeros((1, 1)))


def test_unusual_weights_are_skipped_with_a_reason():
    r = np.random.default_rng(0)
    b = numpy_helper.from_array(r.normal(size=(4, 3)).astype(np.float32), "shared")
    nodes = [
        helper.make_node("Gemm", ["x", "shared"], ["a"], transB=1),  # [N, K]
        helper.make_node("Gemm", ["y", "shared"], ["b"], transB=0),  # [K, N]: disagrees
        helper.make_node("MatMul", ["z", "vec"], ["c"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3]),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abc"],
        initializer=[b, numpy_helper.from_array(np.ones(3, np.float32), "vec")],
    )
    found, skipped = find_weights(helper.make_model(graph))
    assert found == []
    reasons = dict(skipped)
    assert "disagree" in reasons["shared"] and "not 2-D" in reasons["vec"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"\xff\xff\xff\xff garbage", "DecodeError"), (b"", "ValidationError")],
)
def test_invalid_models_are_accel_errors_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(AccelError) as info:
        load_model(path)
    assert "broken.onnx" in str(info.value) and needle in str(info.value)
