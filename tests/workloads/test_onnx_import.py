"""ONNX import: lowering of real model-zoo graphs, weights, captured activations, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli, golden
from accel.config import ArrayConfig
from accel.encode import act_pattern, weight_pattern
from accel.errors import AccelError
from accel.quant import activation_scale, quantize_acts, quantize_weights
from accel.workloads.onnx import (
    layer_patterns,
    load_onnx,
    lower_activation,
    quantize_activation,
)
from accel.workloads.onnx import model as onnx_model
from accel.workloads.onnx import patterns as onnx_patterns

ort = pytest.importorskip("onnxruntime")

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = [
    "light_bvlc_alexnet",
    "light_densenet121",
    "light_inception_v1",
    "light_inception_v2",
    "light_resnet50",
    "light_shufflenet",
    "light_squeezenet",
    "light_vgg19",
    "light_zfnet512",
]


# -- independent reference: onnx shape inference only ------------------------------------------


def reference_layers(path: Path) -> list[tuple[str, int]]:
    """(node name, MACs) of every Conv/Gemm/MatMul, from onnx's inferred shapes alone."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shape = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        shape[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for t in g.initializer:
        shape[t.name] = list(t.dims)
    out = []
    for n in g.node:
        if n.op_type == "Conv":
            w = shape[n.input[1]]
            groups = next((a.i for a in n.attribute if a.name == "group"), 1)
            assert w[1] * groups == shape[n.input[0]][1]
            out.append((n.name, math.prod(shape[n.output[0]]) * math.prod(w[1:])))
        elif n.op_type == "Gemm":
            trans_a = next((a.i for a in n.attribute if a.name == "transA"), 0)
            a = shape[n.input[0]]
            out.append((n.name, math.prod(shape[n.output[0]]) * (a[0] if trans_a else a[1])))
        elif n.op_type == "MatMul":
            out.append((n.name, math.prod(shape[n.output[0]]) * shape[n.input[0]][-1]))
    return out


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_layers_and_macs(name: str) -> None:
    path = LIGHT / f"{name}.onnx"
    expected = reference_layers(path)
    model = load_onnx(path)
    assert [item.node for item in model.layers] == [n for n, _ in expected]
    assert [item.layer.macs for item in model.layers] == [m for _, m in expected]
    assert model.inputs and all(len(s) == 4 for s in model.inputs.values())


def test_resnet50_is_4_1_gmac_with_bn_folded() -> None:
    model = load_onnx(LIGHT / "light_resnet50.onnx")
    assert len(model.layers) == 54
    assert 4.0e9 < model.macs < 4.2e9
    conv1 = model.layers[0].layer
    assert (conv1.M, conv1.K, conv1.N) == (64, 147, 112 * 112)
    assert sum(item.bn_node is not None for item in model.layers) == 53
    assert any("folded into 53 convs" in note for note in model.notes)
    assert model.layers[-1].layer.kind == "linear" and model.layers[-1].layer.M == 1000


def test_shufflenet_grouped_conv_is_one_entry() -> None:
    model = load_onnx(LIGHT / "light_shufflenet.onnx")
    by_name = {item.node: item.layer for item in model.layers}
    dw = by_name["n10"]  # depthwise 3x3, stride 2, 112 channels
    assert (dw.groups, dw.M, dw.K, dw.N) == (112, 112, 9, 28 * 28)
    assert by_name["n4"].groups == 4 and by_name["n4"].m_per_group * 4 == by_name["n4"].M
    W = model.layers[2].weights()
    assert W.shape == (112, 1, 9)


# -- hand-built models ---------------------------------------------------------------------------


def _const(name: str, array: np.ndarray):
    return helper.make_node(
        "Constant", [], [name], name=f"const_{name}", value=numpy_helper.from_array(array, name)
    )


def _model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _ort_run(model: onnx.ModelProto, feed: dict, names: list[str]) -> list[np.ndarray]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(names, feed)


def small_cnn(batch: int | str = 1) -> onnx.ModelProto:
    """conv (Constant weights, asymmetric pads, per-axis stride and dilation) -> BN -> Relu
    -> grouped conv -> Relu -> Flatten -> Gemm (weights behind ConstantOfShape)."""
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w1[0] = 0.0  # a pruned filter
    w1[1, :, 0] = 0.0
    w2 = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
    bn = [
        rng.uniform(0.5, 2.0, 8).astype(np.float32),  # gamma
        rng.standard_normal(8).astype(np.float32),  # beta
        rng.standard_normal(8).astype(np.float32),  # mean
        rng.uniform(0.5, 2.0, 8).astype(np.float32),  # var
    ]
    nodes = [
        _const("w1", w1),
        _const("b1", rng.standard_normal(8).astype(np.float32)),
        helper.make_node(
            "Conv",
            ["x", "w1", "b1"],
            ["c1"],
            name="conv1",
            pads=[1, 0, 2, 1],
            strides=[2, 1],
            dilations=[1, 2],
            kernel_shape=[3, 3],
        ),
        helper.make_node(
            "BatchNormalization",
            ["c1", "g", "be", "mu", "var"],
            ["bn1"],
            name="bn1",
            epsilon=1e-3,
        ),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        _const("w2", w2),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flatten"),
        _const("fc_shape", np.array([5, 8 * 5 * 7], np.int64)),
        helper.make_node(
            "ConstantOfShape",
            ["fc_shape"],
            ["fc_w"],
            name="fill",
            value=numpy_helper.from_array(np.array([0.01], np.float32)),
        ),
        helper.make_node("Gemm", ["f", "fc_w"], ["y"], name="fc", transB=1, alpha=2.0),
    ]
    names = ["g", "be", "mu", "var"]
    inits = [numpy_helper.from_array(a, n) for a, n in zip(bn, names, strict=True)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 9, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])
    return _model(nodes, [x], [y], inits)


def test_small_cnn_lowering_constants_and_asymmetric_pads(tmp_path: Path) -> None:
    lowered = load_onnx(_save(small_cnn(), tmp_path / "cnn.onnx"))
    conv1, conv2, fc = (item.layer for item in lowered.layers)
    geo = conv1.conv
    # H: (9 + 1 + 2 - 3) // 2 + 1 = 5; W: (10 + 0 + 1 - 5) // 1 + 1 = 7
    assert (geo.out_h, geo.out_w, geo.pads, geo.strides, geo.dilations) == (
        5,
        7,
        (1, 0, 2, 1),
        (2, 1),
        (1, 2),
    )
    assert (conv1.M, conv1.K, conv1.N) == (8, 27, 35)
    assert (conv2.groups, conv2.M, conv2.K, conv2.N) == (4, 8, 18, 35)
    assert (fc.M, fc.K, fc.N, fc.kind) == (5, 8 * 35, 1, "linear")
    # the ConstantOfShape weights, alpha folded in
    assert np.allclose(lowered.layers[2].weights(), 0.02)
    assert lowered.layers[0].bn_node == "bn1" and lowered.layers[1].bn_node is None


def test_bn_folding_matches_onnxruntime(tmp_path: Path) -> None:
    model = small_cnn()
    lowered = load_onnx(_save(model, tmp_path / "cnn.onnx"))
    x = np.random.default_rng(0).standard_normal((1, 3, 9, 10)).astype(np.float32)
    (bn_out,) = _ort_run(model, {"x": x}, ["bn1"])
    item = lowered.layers[0]
    cols = golden.im2col(x.astype(np.float64), item.layer.conv)  # [1, 27, 35]
    y = item.weights() @ cols + item.bias()[None, :, None]
    got = y.reshape(8, 5, 7)
    assert np.allclose(got, bn_out[0], rtol=1e-4, atol=1e-4)
    # the conv's own weights, before folding, are the Constant node's
    assert not np.allclose(item.weights(), item.raw_weight)


def test_weights_quantised_per_channel_zeros_stay_zero(tmp_path: Path) -> None:
    lowered = load_onnx(_save(small_cnn(), tmp_path / "cnn.onnx"))
    item = lowered.layers[0]
    q = item.quantized_weights(8)
    expect, _ = quantize_weights(item.weights().reshape(8, -1), 8)
    assert np.array_equal(q.reshape(8, -1), expect)
    assert not q[0, 0].any()  # the pruned filter
    cfg = ArrayConfig(block=8)
    wp = item.weight_pattern(cfg)
    ref = weight_pattern(q, cfg.block)
    assert np.array_equal(wp.masks, ref.masks) and np.array_equal(wp.col_nnz, ref.col_nnz)
    assert wp.density == pytest.approx(np.count_nonzero(q) / q.size) and wp.density < 0.9


def test_chunked_patterns_equal_encode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lowered = load_onnx(_save(small_cnn(), tmp_path / "cnn.onnx"))
    monkeypatch.setattr(onnx_model, "_ROW_CHUNK_ELEMS", 20)
    monkeypatch.setattr(onnx_patterns, "_K_CHUNK_ELEMS", 50)
    cfg = ArrayConfig(block=8, cols=4)
    for item in lowered.layers:
        ref = weight_pattern(item.quantized_weights(8), cfg.block)
        wp = item.weight_pattern(cfg)
        assert np.array_equal(wp.masks, ref.masks) and np.array_equal(wp.col_nnz, ref.col_nnz)
    X = np.random.default_rng(1).integers(-2, 3, (4, 37, 23)) * (np.arange(23) % 3 == 0)
    ap, ref = onnx_patterns.act_pattern_chunked(X, 8, 4), act_pattern(X, 8, 4)
    assert np.array_equal(ap.masks, ref.masks) and np.array_equal(ap.row_nnz, ref.row_nnz)


def test_captured_activations_are_quantised_im2col(tmp_path: Path) -> None:
    model = small_cnn()
    path = _save(model, tmp_path / "cnn.onnx")
    x = np.random.default_rng(5).standard_normal((1, 3, 9, 10)).astype(np.float32)
    lowered = load_onnx(path, x)
    r1, f = _ort_run(model, {"x": x}, ["r1", "f"])
    conv2, fc = lowered.layers[1], lowered.layers[2]
    # independently: one per-tensor scale, then im2col per group
    expect = golden.im2col(quantize_acts(r1, activation_scale(r1, 8), 8), conv2.layer.conv)
    X = lower_activation(conv2, quantize_activation(r1, 8))
    assert X.shape == (4, 18, 35) and np.array_equal(X, expect)
    qf = quantize_activation(f)
    assert np.array_equal(lower_activation(fc, qf), qf.T[None])
    cfg = ArrayConfig(block=8, cols=4)
    pats = list(layer_patterns(lowered, cfg))
    ref = act_pattern(expect, cfg.block, cfg.cols)
    assert np.array_equal(pats[1].acts.masks, ref.masks)
    assert np.array_equal(pats[1].acts.row_nnz, ref.row_nnz)
    assert 0.2 < pats[1].acts.density < 0.9  # after a ReLU (and im2col's zero padding)
    assert pats[1].acts.density == pytest.approx(np.count_nonzero(expect) / expect.size)


def test_open_batch_dim(tmp_path: Path) -> None:
    path = _save(small_cnn(batch="N"), tmp_path / "cnn.onnx")
    lowered = load_onnx(path)
    assert lowered.inputs == {"x": (1, 3, 9, 10)}
    assert any("batch dim of input 'x' (N) defaulted to 1" in n for n in lowered.notes)
    three = load_onnx(path, (3, 3, 9, 10))
    assert [item.layer.N for item in three.layers] == [105, 105, 3]
    with pytest.raises(AccelError, match="dim 2 is 9, but --input has 8"):
        load_onnx(path, (3, 3, 8, 10))


def test_open_spatial_dim_needs_input(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, "T"])
    w = numpy_helper.from_array(np.ones((4, 6), np.float32), "w")
    mm = helper.make_node("MatMul", ["xt", "w"], ["y"], name="proj")
    tr = helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    path = _save(_model([tr, mm], [x], [y], [w]), tmp_path / "seq.onnx")
    with pytest.raises(AccelError, match=r"seq.onnx: input 'x' dim 2 \('T'\) is open"):
        load_onnx(path)
    (item,) = load_onnx(path, (2, 4, 7)).layers
    assert (item.layer.M, item.layer.K, item.layer.N) == (6, 4, 14)  # N = batch x rows


def test_matmul_of_two_activations_is_dynamic(tmp_path: Path) -> None:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 4, 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 8, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Relu", ["b"], ["rb"]),
        helper.make_node("MatMul", ["ra", "rb"], ["y"]),  # unnamed: named after its output
    ]
    path = _save(_model(nodes, [a, b], [y]), tmp_path / "att.onnx")
    (item,) = load_onnx(path).layers
    layer = item.layer
    assert item.node == "y" and layer.dynamic_weights and layer.kind == "matmul"
    assert (layer.groups, layer.m_per_group, layer.K, layer.N) == (2, 4, 8, 5)
    (pat,) = layer_patterns(load_onnx(path), ArrayConfig(), act_density=0.5)
    assert 0.3 < pat.weights.density < 0.7  # drawn at the activation density


def test_dynamic_matmul_captures_both_operands(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Relu", ["x"], ["q"], name="relu"),
        helper.make_node("Transpose", ["x"], ["kt"], name="t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["y"], name="scores"),
    ]
    model = _model(nodes, [x], [y])
    path = _save(model, tmp_path / "scores.onnx")
    data = np.random.default_rng(4).standard_normal((2, 6, 8)).astype(np.float32)
    lowered = load_onnx(path, data)
    (item,) = lowered.layers
    assert (item.layer.groups, item.layer.M, item.layer.K, item.layer.N) == (2, 12, 8, 6)
    cfg = ArrayConfig(block=8, cols=4)
    (pat,) = layer_patterns(lowered, cfg)
    q, kt = _ort_run(model, {"x": data}, ["q", "kt"])
    ref_w = weight_pattern(quantize_acts(q, activation_scale(q, 8), 8), cfg.block)
    ref_x = act_pattern(quantize_acts(kt, activation_scale(kt, 8), 8), cfg.block, cfg.cols)
    assert np.array_equal(pat.weights.masks, ref_w.masks)
    assert np.array_equal(pat.acts.masks, ref_x.masks)
    assert pat.weights.density < 0.8  # the ReLU'd left operand


# -- malformed files through the CLI --------------------------------------------------------------


def _cli_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def _bad_op_model(op: str, domain: str = "") -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node(op, ["x"], ["y"], name="weird0", domain=domain)
    graph = helper.make_graph([node], "g", [x], [y])
    ops = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=ops)


def test_malformed_files_give_one_line(tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\x00not a model at all" * 50)
    good = (LIGHT / "light_squeezenet.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 3])
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    loop = _save(_bad_op_model("Loop"), tmp_path / "loop.onnx")
    det = _save(_bad_op_model("Det"), tmp_path / "det.onnx")
    madeup = _save(_bad_op_model("FrobnicateConv", "com.example"), tmp_path / "madeup.onnx")
    for path, words in [
        (garbage, "not an ONNX model"),
        (truncated, "not an ONNX model"),
        (empty, "not an ONNX model"),
        (tmp_path / "missing.onnx", "no such file"),
        (loop, "Loop node 'weird0' has no body"),
        (det, "unsupported ONNX operator Det: node weird0 (Det)"),
        (madeup, "com.example.FrobnicateConv: node weird0"),
    ]:
        err = _cli_error(capsys, ["simulate", "--onnx", str(path), "--quiet"])
        assert str(path) in err and words in err, err


def test_missing_weight_and_missing_shape(tmp_path: Path, capsys) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    conv = helper.make_node("Conv", ["x", "w_missing"], ["y"], name="c0", kernel_shape=[3, 3])
    path = _save(_model([conv], [x], [y]), tmp_path / "noweights.onnx")
    err = _cli_error(capsys, ["simulate", "--onnx", str(path), "--quiet"])
    assert "noweights.onnx" in err and "'w_missing'" in err and "missing from the file" in err
    noshape = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="c0")
    w = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")
    path = _save(_model([conv], [noshape], [y], [w]), tmp_path / "noshape.onnx")
    err = _cli_error(capsys, ["simulate", "--onnx", str(path), "--quiet"])
    assert "noshape.onnx" in err and "input 'x' has no shape" in err


def test_cli_refuses_synthetic_pruning_and_stray_input(tmp_path: Path, capsys) -> None:
    path = str(LIGHT / "light_squeezenet.onnx")
    err = _cli_error(capsys, ["simulate", "--onnx", path, "--weight-density", "0.5"])
    assert "accel prune" in err
    err = _cli_error(capsys, ["simulate", "--onnx", path, "--pattern", "2:4"])
    assert "--pattern does not apply to --onnx" in err
    err = _cli_error(capsys, ["simulate", "--network", "resnet50", "--input", "x.npy"])
    assert "--input applies only to --onnx" in err
    bad = tmp_path / "bad.npy"
    bad.write_text("nope")
    err = _cli_error(capsys, ["simulate", "--onnx", path, "--input", str(bad)])
    assert str(bad) in err


# -- the CLI end to end --------------------------------------------------------------------------


def test_cli_squeezenet_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sq.json"
    path = str(LIGHT / "light_squeezenet.onnx")
    argv = ["simulate", "--onnx", path, "--act-density", "0.5", "--json", str(out), "--quiet"]
    assert cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert len(report["layers"]) == 26 == report["totals"]["layers"]
    assert [d["name"] for d in report["layers"]] == [n for n, _ in reference_layers(Path(path))]
    w = report["workload"]
    assert w["onnx"] == path and w["activations"] == "synthetic"
    assert w["input_shape"] == [1, 3, 224, 224] and w["act_density"] == 0.5
    assert report["totals"]["act_density"] == pytest.approx(0.5, abs=0.01)


def test_cli_captured_activations(tmp_path: Path, capsys) -> None:
    model = small_cnn(batch="N")
    path = _save(model, tmp_path / "cnn.onnx")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(2).standard_normal((2, 3, 9, 10)).astype(np.float32))
    out = tmp_path / "r.json"
    argv = ["simulate", "--onnx", str(path), "--input", str(data), "--json", str(out)]
    assert cli.main(argv + ["--rows", "4", "--cols", "4", "--block", "8"]) == 0
    captured = capsys.readouterr()
    assert "conv2" in captured.out and "simulating cnn.onnx" in captured.err
    report = json.loads(out.read_text())
    w = report["workload"]
    assert w["activations"] == "captured" and w["input_shape"] == [2, 3, 9, 10]
    assert any("BatchNormalization folded into 1 convs (conv1)" in n for n in w["notes"])
    conv2 = report["layers"][1]
    assert conv2["N"] == 70 and conv2["groups"] == 4 and conv2["act_density"] < 0.9
    assert report["layers"][0]["weight_density"] < 0.9  # the model's zeros reach the simulator
