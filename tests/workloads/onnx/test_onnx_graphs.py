"""Whole-graph matters of the ONNX import: several graph inputs (``--input`` as .npz),
shapes only a run can tell, external weights, If branches and Loops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.workloads.onnx import layer_patterns, load_input, load_onnx

ort = pytest.importorskip("onnxruntime")


def _model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _info(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _w(name: str, shape, seed: int = 0) -> onnx.TensorProto:
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def _cli_json(tmp_path: Path, argv: list[str]) -> dict:
    out = tmp_path / "r.json"
    assert cli.main([*argv, "--quiet", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _cli_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


# -- several inputs ---------------------------------------------------------------------------


def encoder_decoder() -> onnx.ModelProto:
    """Two graph inputs, each through its own projection, then a product of both."""
    nodes = [
        helper.make_node("MatMul", ["src", "w_src"], ["s"], name="enc"),
        helper.make_node("MatMul", ["tgt", "w_tgt"], ["t"], name="dec"),
        helper.make_node("Transpose", ["s"], ["st"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["t", "st"], ["y"], name="cross"),
    ]
    inputs = [_info("src", ["B", "S", 8]), _info("tgt", ["B", "T", 6])]
    return _model(nodes, inputs, [_info("y", None)], [_w("w_src", (8, 4)), _w("w_tgt", (6, 4))])


def test_several_inputs_from_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "ed.onnx"
    onnx.save(encoder_decoder(), path)
    rng = np.random.default_rng(1)
    src, tgt = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 3, 6))
    np.savez(tmp_path / "in.npz", src=src, tgt=tgt)
    data = load_input(tmp_path / "in.npz")
    model = load_onnx(path, data)
    assert model.inputs == {"src": (2, 5, 8), "tgt": (2, 3, 6)}
    enc, dec, cross = (item.layer for item in model.layers)
    assert (enc.M, enc.K, enc.N) == (4, 8, 10) and (dec.M, dec.K, dec.N) == (4, 6, 6)
    assert (cross.groups, cross.m_per_group, cross.K, cross.N) == (2, 3, 4, 5)
    assert len(list(layer_patterns(model, ArrayConfig()))) == 3
    report = _cli_json(tmp_path, ["simulate", "--onnx", str(path), "--input",
                                  str(tmp_path / "in.npz")])  # fmt: skip
    assert report["workload"]["inputs"] == {"src": [2, 5, 8], "tgt": [2, 3, 6]}
    assert report["workload"]["activations"] == "captured"


def test_a_missing_or_extra_input_names_the_expected_ones(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ed.onnx"
    onnx.save(encoder_decoder(), path)
    np.savez(tmp_path / "half.npz", src=np.ones((1, 5, 8)), tgtt=np.ones((1, 3, 6)))
    err = _cli_error(capsys, ["simulate", "--onnx", str(path), "--input",
                              str(tmp_path / "half.npz")])  # fmt: skip
    assert "no array for 'tgt'" in err and "'tgtt' is not a graph input" in err
    assert "'src' [B, S, 8], 'tgt' [B, T, 6]" in err and str(path) in err
    np.save(tmp_path / "one.npy", np.ones((1, 5, 8)))
    err = _cli_error(capsys, ["simulate", "--onnx", str(path), "--input",
                              str(tmp_path / "one.npy")])  # fmt: skip
    assert "the model has 2 inputs" in err and "one array per input name" in err


# -- shapes only a run can tell ---------------------------------------------------------------


def sliced_by_value() -> onnx.ModelProto:
    """x[:, :n] with n a graph input's value: no shape inference can know the width."""
    nodes = [
        helper.make_node("Slice", ["x", "zero", "n", "one"], ["xs"], name="cut"),
        helper.make_node("Transpose", ["xs"], ["xt"], perm=[1, 0]),
        helper.make_node("MatMul", ["xt", "w"], ["y"], name="proj"),
    ]
    inits = [_w("w", (3, 5)),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([1], np.int64), "one")]  # fmt: skip
    inputs = [_info("x", [3, 16]), _info("n", [1], TensorProto.INT64)]
    return _model(nodes, inputs, [_info("y", None)], inits)


def test_shapes_from_the_run_when_inference_cannot_tell(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cut.onnx"
    onnx.save(sliced_by_value(), path)
    feeds = {"x": np.ones((3, 16), np.float32), "n": np.array([7], np.int64)}
    (item,) = load_onnx(path, feeds).layers
    assert (item.layer.M, item.layer.K, item.layer.N) == (5, 3, 7)
    feeds["n"] = np.array([11], np.int64)
    model = load_onnx(path, feeds)
    assert model.layers[0].layer.N == 11
    assert any("taken from the onnxruntime run" in note for note in model.notes)
    with pytest.raises(AccelError, match="has shape .* give --input to take shapes from a run"):
        load_onnx(path, {"x": (3, 16), "n": (1,)})


# -- external data ----------------------------------------------------------------------------


def test_external_weights_beside_the_model(tmp_path: Path, capsys) -> None:
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    model = _model(nodes, [_info("x", [1, 64])], [_info("y", None)], [_w("w", (32, 64))])
    expect = numpy_helper.to_array(model.graph.initializer[0])
    path = tmp_path / "fc.onnx"
    onnx.save(model, path, save_as_external_data=True, location="fc.onnx.data",
              size_threshold=0)  # fmt: skip
    assert (tmp_path / "fc.onnx.data").stat().st_size == 32 * 64 * 4
    (item,) = load_onnx(path).layers
    assert np.array_equal(item.weights(), expect)
    (tmp_path / "fc.onnx.data").unlink()
    err = _cli_error(capsys, ["simulate", "--onnx", str(path)])
    assert "stored in fc.onnx.data, beside the model" in err


# -- If and Loop ------------------------------------------------------------------------------


def _branch(name: str, width: int, seed: int) -> onnx.GraphProto:
    node = helper.make_node("MatMul", ["x", f"w_{name}"], [f"y_{name}"], name=f"{name}_proj")
    return helper.make_graph([node], name, [], [_info(f"y_{name}", None)],
                             initializer=[_w(f"w_{name}", (8, width), seed)])  # fmt: skip


def branchy(cond_from_input: bool) -> onnx.ModelProto:
    """``y = x @ (w_then if cond else w_else)``: cond a constant, or x's sum > 0."""
    nodes = []
    if cond_from_input:
        nodes += [
            helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
            helper.make_node("Greater", ["total", "zero"], ["cond"]),
        ]
        inits = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    else:
        inits = [numpy_helper.from_array(np.array(False), "cond")]
    nodes.append(helper.make_node("If", ["cond"], ["y"], name="choose",
                                  then_branch=_branch("then", 4, 1),
                                  else_branch=_branch("else", 6, 2)))  # fmt: skip
    return _model(nodes, [_info("x", [2, 8])], [_info("y", None)], inits)


def test_if_with_a_constant_condition_takes_its_branch(tmp_path: Path) -> None:
    path = tmp_path / "if.onnx"
    onnx.save(branchy(cond_from_input=False), path)
    model = load_onnx(path)
    assert [(i.node, i.layer.M) for i in model.layers] == [("else_proj", 6)]
    assert any("1 If node replaced by the branch it takes" in n for n in model.notes)


def test_if_on_data_takes_the_branch_of_the_run(tmp_path: Path, capsys) -> None:
    path = tmp_path / "if.onnx"
    onnx.save(branchy(cond_from_input=True), path)
    up, down = np.ones((2, 8), np.float32), -np.ones((2, 8), np.float32)
    assert [i.node for i in load_onnx(path, up).layers] == ["then_proj"]
    assert [i.node for i in load_onnx(path, down).layers] == ["else_proj"]
    (pattern,) = layer_patterns(load_onnx(path, down), ArrayConfig())
    assert pattern.acts.density == 1.0  # the captured x inside the branch: all nonzero
    err = _cli_error(capsys, ["simulate", "--onnx", str(path)])
    assert "If node 'choose': its condition 'cond' depends on the input" in err


def looped(with_matmul: bool) -> onnx.ModelProto:
    """A Loop of 3 iterations whose body adds one (or multiplies by a weight)."""
    op = (helper.make_node("MatMul", ["acc_in", "w"], ["acc_out"], name="step")
          if with_matmul else helper.make_node("Add", ["acc_in", "x"], ["acc_out"]))  # fmt: skip
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), op],
        "body",
        [_info("i", [], TensorProto.INT64), _info("cond_in", [], TensorProto.BOOL),
         _info("acc_in", [2, 8])],
        [_info("cond_out", [], TensorProto.BOOL), _info("acc_out", [2, 8])],
    )  # fmt: skip
    nodes = [
        helper.make_node("Loop", ["trips", "", "x"], ["acc"], name="repeat", body=body),
        helper.make_node("MatMul", ["acc", "w"], ["y"], name="head"),
    ]
    inits = [_w("w", (8, 8)), numpy_helper.from_array(np.array(3, np.int64), "trips")]
    return _model(nodes, [_info("x", [2, 8])], [_info("y", None)], inits)


def test_loops_without_layers_are_followed_and_with_layers_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.onnx"
    onnx.save(looped(with_matmul=False), path)
    (item,) = load_onnx(path, np.ones((2, 8), np.float32)).layers
    assert item.node == "head" and item.layer.N == 2
    onnx.save(looped(with_matmul=True), path)
    with pytest.raises(AccelError, match="Loop node 'repeat': its body holds MatMul nodes"):
        load_onnx(path)


# -- model-local functions and Einsum ---------------------------------------------------------


def test_model_local_functions_are_inlined(tmp_path: Path) -> None:
    proj = helper.make_function(
        "custom", "Proj", ["a", "b"], ["c"],
        [helper.make_node("MatMul", ["a", "b"], ["c"], name="inner")],
        [helper.make_opsetid("", 17)],
    )  # fmt: skip
    node = helper.make_node("Proj", ["x", "w"], ["y"], name="proj", domain="custom")
    graph = helper.make_graph([node], "g", [_info("x", [2, 8])], [_info("y", None)],
                              initializer=[_w("w", (8, 3))])  # fmt: skip
    model = helper.make_model(graph, functions=[proj], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])  # fmt: skip
    model.ir_version = 8
    path = tmp_path / "fn.onnx"
    onnx.save(model, path)
    (item,) = load_onnx(path).layers
    assert (item.op, item.layer.M, item.layer.K, item.layer.N) == ("MatMul", 3, 8, 2)


@pytest.mark.parametrize(
    ("equation", "a_shape", "b_shape", "const_b", "gmkn", "perm"),
    [
        ("bij,jk->bik", (2, 5, 8), (8, 3), True, (1, 3, 8, 10), (2, 0, 1)),  # x . W
        ("bhid,bhjd->bhij", (2, 3, 5, 4), (2, 3, 6, 4), False, (6, 5, 4, 6), (0, 1, 2, 3)),
        ("...d,ed->...e", (2, 7, 8), (4, 8), True, (1, 4, 8, 14), (2, 0, 1)),
    ],
)
def test_einsum_as_a_gemm(tmp_path: Path, equation, a_shape, b_shape, const_b, gmkn,
                          perm) -> None:  # fmt: skip
    rng = np.random.default_rng(3)
    b = rng.integers(-3, 4, b_shape).astype(np.float32)
    inputs, inits = [_info("a", list(a_shape))], []
    if const_b:
        inits.append(numpy_helper.from_array(b, "b"))
    else:
        inputs.append(_info("b", list(b_shape)))
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="mix", equation=equation)
    model = _model([node], inputs, [_info("y", None)], inits)
    path = tmp_path / "e.onnx"
    onnx.save(model, path)
    a = rng.integers(-3, 4, a_shape).astype(np.float32)
    feeds = {"a": a} if const_b else {"a": a, "b": b}
    (item,) = load_onnx(path, feeds).layers
    G, M, K, N = gmkn
    L = item.layer
    assert (L.groups, L.m_per_group, L.K, L.N) == (G, M, K, N)
    shared = {"bij,jk->bik": 8, "bhid,bhjd->bhij": 2 * 3 * 4, "...d,ed->...e": 8}[equation]
    assert L.macs == np.prod(a_shape) * np.prod(b_shape) // shared  # every index once
    # the array's GEMM of the lowered operands is onnxruntime's result, rearranged
    W = item.weights() if const_b else item.w_lowering(item, a)
    X = item.x_lowering(item, a if const_b else b)
    Y = np.einsum("gmk,gkn->gmn", np.asarray(W, np.float64).reshape(G, M, K), X)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expect,) = sess.run(None, feeds)
    assert np.array_equal(Y, np.transpose(expect, perm).reshape(G, M, N))
