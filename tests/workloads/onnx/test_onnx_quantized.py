"""Int8-quantised ONNX graphs simulated on their own integers (ops/quantized.py).

Small float graphs are quantised by onnxruntime itself (static QDQ and QOperator with a
tiny calibration reader, and dynamic), and everything is checked against what is read
independently from the quantised files' initializers and onnxruntime runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli, golden
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.workloads.onnx import SUPPORTED_OPS, layer_operands, layer_patterns, load_onnx

ort = pytest.importorskip("onnxruntime")
oq = pytest.importorskip("onnxruntime.quantization")

X_SHAPE = (1, 3, 10, 10)
WIDE = ArrayConfig(w_bits=9, a_bits=9)  # holds any uint8/int8 value less its zero point
FORMATS = ("qdq", "qop", "dynamic")


def _float_model() -> onnx.ModelProto:
    """Conv (bias, pads) -> Relu -> grouped strided Conv -> Relu -> Flatten -> Gemm
    (transB, bias) -> Relu -> MatMul -> Add: every kind of layer the array runs."""
    rng = np.random.default_rng(0)
    inits = {
        "w1": rng.normal(size=(8, 3, 3, 3)) * 0.3,
        "b1": rng.normal(size=8) * 0.1,
        "w2": rng.normal(size=(8, 4, 3, 3)) * 0.2,
        "w3": rng.normal(size=(16, 200)) * 0.1,
        "b3": rng.normal(size=16) * 0.1,
        "w4": rng.normal(size=(16, 10)) * 0.3,
        "b4": rng.normal(size=10) * 0.1,
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node(
            "Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2], group=2
        ),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f2"], name="flat"),
        helper.make_node("Gemm", ["f2", "w3", "b3"], ["g3"], name="fc1", transB=1),
        helper.make_node("Relu", ["g3"], ["r3"], name="relu3"),
        helper.make_node("MatMul", ["r3", "w4"], ["m4"], name="fc2"),
        helper.make_node("Add", ["m4", "b4"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(X_SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a.astype(np.float32), n) for n, a in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


class _Reader(oq.CalibrationDataReader):
    """Four random inputs: enough for onnxruntime's min/max calibration."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self._data = iter([{"x": rng.normal(size=X_SHAPE).astype(np.float32)} for _ in range(4)])

    def get_next(self):
        return next(self._data, None)


def _quantise(src: Path, dst: Path, form: str, **extra) -> Path:
    if form == "dynamic":
        oq.quantize_dynamic(str(src), str(dst), weight_type=oq.QuantType.QInt8)
    else:
        fmt = oq.QuantFormat.QDQ if form == "qdq" else oq.QuantFormat.QOperator
        oq.quantize_static(
            str(src), str(dst), _Reader(), quant_format=fmt, per_channel=True, **extra
        )
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("quant")
    src = d / "float.onnx"
    onnx.save(_float_model(), str(src))
    out = {"float": src, **{f: _quantise(src, d / f"{f}.onnx", f) for f in FORMATS}}
    out["qop_sym"] = _quantise(
        src, d / "qop_sym.onnx", "qop", extra_options={"ActivationSymmetric": True}
    )
    out["qop_u8"] = _quantise(
        src,
        d / "qop_u8.onnx",
        "qop",
        weight_type=oq.QuantType.QUInt8,
        activation_type=oq.QuantType.QUInt8,
    )
    x = np.random.default_rng(2).normal(size=X_SHAPE).astype(np.float32)
    np.save(d / "x.npy", x)
    out["x"] = d / "x.npy"
    return out


def _x(files) -> np.ndarray:
    return np.load(files["x"])


def _ort(model: onnx.ModelProto, feeds: dict, names: list[str]) -> list[np.ndarray]:
    """Tensors ``names`` of a run, typed by shape inference (independent of capture.py)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in onnx.shape_inference.infer_shapes(m).graph.value_info
    }
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            known = types.get(n)  # a com.microsoft op's output: left to onnxruntime
            info = helper.make_tensor_value_info(n, known, None) if known else None
            m.graph.output.append(info or onnx.ValueInfoProto(name=n))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    sess = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _node(model: onnx.ModelProto, name: str):
    return next(n for n in model.graph.node if n.name == name)


def _producer(model: onnx.ModelProto, tensor: str):
    return next(n for n in model.graph.node if tensor in n.output)


def _own_numbers(model: onnx.ModelProto, name: str) -> dict:
    """A layer's weights, weight zero point and scale, the zero point and scale of its
    input and its quantised input's name, read from the file by op (not via accel)."""
    node, inits = _node(model, name), _inits(model)
    op = node.op_type
    if op in ("QLinearConv", "QLinearMatMul", "QGemm"):
        x, xs, xz, w, ws, wz = node.input[:6]
        return dict(w=inits[w], wz=inits[wz], ws=inits[ws], xz=inits[xz], xs=inits[xs], x=x)
    if op in ("ConvInteger", "MatMulInteger"):
        x, w, xz, wz = node.input[:4]
        xs = _producer(model, x).output[1]  # DynamicQuantizeLinear's run-time scale
        mul = next(n for n in model.graph.node if n.op_type == "Mul" and xs in n.input)
        ws = next(i for i in mul.input if i != xs)  # x_scale * w_scale rescales the int32
        return dict(w=inits[w], wz=inits[wz], ws=inits[ws], xz=xz, xs=xs, x=x)
    # QDQ: Conv / Gemm / MatMul reading DequantizeLinear outputs
    wdq = _producer(model, node.input[1])
    xdq = _producer(model, node.input[0])
    assert wdq.op_type == xdq.op_type == "DequantizeLinear"
    return dict(
        w=inits[wdq.input[0]],
        wz=inits[wdq.input[2]],
        ws=inits[wdq.input[1]],
        xz=inits[xdq.input[2]],
        xs=inits[xdq.input[1]],
        x=xdq.input[0],
    )


def _gemm_view(op: str, w: np.ndarray, wz: np.ndarray, groups: int) -> np.ndarray:
    """The model's integers less their zero points in the array's ``W`` layout."""
    w = w.astype(np.int64)
    if w.ndim == 4:  # OIHW, zero point per output channel
        w = w - wz.astype(np.int64).reshape(-1, 1, 1, 1)
        return w.reshape(groups, w.shape[0] // groups, -1)
    if op in ("QGemm", "Gemm"):  # B [N, K] (transB), zero point per N
        return w - wz.astype(np.int64).reshape(-1, 1)
    return (w - wz.astype(np.int64).reshape(1, -1)).T  # MatMul B [K, N], zero point per N


@pytest.mark.parametrize("form", FORMATS)
def test_layers_and_macs_equal_the_float_models(files, form: str) -> None:
    ref = load_onnx(files["float"], _x(files))
    q = load_onnx(files[form], _x(files))
    shape = [(it.layer.M, it.layer.K, it.layer.N, it.layer.groups) for it in ref.layers]
    assert [(it.layer.M, it.layer.K, it.layer.N, it.layer.groups) for it in q.layers] == shape
    assert q.macs == ref.macs
    assert not ref.quantized  # the float graph is untouched by the QDQ wrapper
    assert len(q.quantized) == len(q.layers) == 4
    want = {
        "qdq": {"QDQ"},
        "qop": {"QLinearConv", "QGemm", "QLinearMatMul"},
        "dynamic": {"ConvInteger", "MatMulInteger"},
    }[form]
    assert {it.quant for it in q.layers} == want
    if form == "qop":  # com.microsoft QLinearAdd followed for shapes, QGemm lowered
        ops = {(n.domain, n.op_type) for n in onnx.load(str(files[form])).graph.node}
        assert {("com.microsoft", "QLinearAdd"), ("com.microsoft", "QGemm")} <= ops
    assert not any("do not map" in n for n in q.notes)


@pytest.mark.parametrize("form", [*FORMATS, "qop_u8"])
def test_int_weight_is_the_models_integers_less_zero_points(files, form: str) -> None:
    model = onnx.load(str(files[form]))
    q = load_onnx(files[form], _x(files))
    for it in q.layers:
        own = _own_numbers(model, it.node)
        want = _gemm_view(_node(model, it.node).op_type, own["w"], own["wz"], it.layer.groups)
        assert it.int_weight is not None
        np.testing.assert_array_equal(np.asarray(it.int_weight, np.int64), want)
        np.testing.assert_array_equal(it.quantized_weights(8), want)  # int_weight wins
    if form == "qop_u8":  # uint8 weights: per-channel zero points far from 0
        assert any(np.ptp(_own_numbers(model, it.node)["wz"]) > 0 for it in q.layers)


def _expected_x(it, xq: np.ndarray, zp) -> np.ndarray:
    """x_q less its zero point, lowered by hand: im2col for convs, rows otherwise."""
    ints = xq.astype(np.int64) - np.asarray(zp, np.int64)
    geo = it.layer.conv
    if geo is not None:
        return golden.im2col(ints.reshape(geo.batch, geo.in_ch, geo.in_h, geo.in_w), geo)
    return ints.reshape(-1, it.layer.K).T[None]


@pytest.mark.parametrize("form", FORMATS)
def test_captured_x_is_xq_less_zero_point(files, form: str) -> None:
    model = onnx.load(str(files[form]))
    x = _x(files)
    q = load_onnx(files[form], x)
    for it, _, X in layer_operands(q, WIDE):
        own = _own_numbers(model, it.node)
        assert it.act_input == own["x"]
        names = [own["x"]] + ([own["xz"]] if isinstance(own["xz"], str) else [])
        got = _ort(model, {"x": x}, names)
        xq = got[0]
        zp = got[1] if len(got) > 1 else own["xz"]
        assert xq.dtype in (np.uint8, np.int8)
        np.testing.assert_array_equal(X, _expected_x(it, xq, zp))


def _float_name(name: str) -> str:
    """The float model's node of a quantised layer (onnxruntime renames a few)."""
    return name.removesuffix("_quant").removesuffix("_MatMul")


def _bias(name: str) -> np.ndarray:
    inits = _inits(_float_model())
    key = {"conv1": "b1", "fc1": "b3"}.get(_float_name(name))
    return inits[key] if key else np.zeros(1, np.float32)


@pytest.mark.parametrize("form", FORMATS)
def test_integer_gemm_times_scales_matches_the_float_model(files, form: str) -> None:
    """W_int . X_int x s_w x s_x ~ the float model's layer output less its bias."""
    model, ref = onnx.load(str(files[form])), _float_model()
    x = _x(files)
    q = load_onnx(files[form], x)
    outs = {n.name: n.output[0] for n in ref.graph.node}
    for it, W, X in layer_operands(q, WIDE):
        base = _float_name(it.node)
        (yf,) = _ort(ref, {"x": x}, [outs[base]])
        own = _own_numbers(model, it.node)
        xs = own["xs"] if not isinstance(own["xs"], str) else _ort(model, {"x": x}, [own["xs"]])[0]
        Y = np.einsum("gmk,gkn->gmn", W, X).reshape(it.layer.M, -1)
        y = Y * np.asarray(own["ws"], np.float64).reshape(-1, 1) * float(xs)
        want = (
            yf.reshape(-1, it.layer.M).T if it.layer.conv is None else (yf.reshape(it.layer.M, -1))
        )
        want = want - _bias(it.node).reshape(-1, 1)
        err = np.abs(y - want).max()
        assert err <= 0.05 * np.abs(want).max(), (it.node, err, np.abs(want).max())  # ~2 %


def test_conv_and_matmul_integer_are_the_exact_int32_accumulation(files) -> None:
    """ConvInteger / MatMulInteger output (int32) is exactly W . X of the array."""
    model = onnx.load(str(files["dynamic"]))
    x = _x(files)
    q = load_onnx(files["dynamic"], x)
    assert all(isinstance(it.act_zero_point, str) for it in q.layers)  # run-time zero points
    checked = 0
    for it, W, X in layer_operands(q, WIDE):
        assert isinstance(it.act_zero_point, int)  # bound by capture
        node = _node(model, it.node)
        (acc,) = _ort(model, {"x": x}, [node.output[0]])
        assert acc.dtype == np.int32
        Y = np.einsum("gmk,gkn->gmn", W, X).reshape(it.layer.M, -1)
        want = (
            acc.reshape(it.layer.M, -1)
            if it.layer.conv is not None
            else (acc.reshape(-1, it.layer.M).T)
        )
        np.testing.assert_array_equal(Y, want)
        checked += 1
    assert checked == 4  # the Gemm became MatMul + Add, then MatMulInteger


def test_qlinear_conv_accumulation_is_exact(files) -> None:
    """QLinearConv's output requantises ``B + W . X`` exactly (onnxruntime's rounding)."""
    model = onnx.load(str(files["qop"]))
    x = _x(files)
    q = load_onnx(files["qop"], x)
    it, W, X = next(layer_operands(q, WIDE))
    node, inits = _node(model, it.node), _inits(model)
    assert node.op_type == "QLinearConv"
    (yq,) = _ort(model, {"x": x}, [node.output[0]])
    acc = np.einsum("gmk,gkn->gmn", W, X).reshape(it.layer.M, -1) + inits[node.input[8]][:, None]
    xs, ws = inits[node.input[1]], inits[node.input[4]]
    ys, yz = inits[node.input[6]], inits[node.input[7]]
    real = acc * (xs * ws / ys).astype(np.float32)[:, None]
    info = np.iinfo(yq.dtype)
    want = np.clip(np.rint(real) + int(yz), info.min, info.max)
    assert np.abs(want - yq.reshape(it.layer.M, -1).astype(np.int64)).max() <= 1


def test_array_widths_are_checked_where_the_rtl_gets_its_operands(files) -> None:
    x = _x(files)
    asym = load_onnx(files["qop"], x)  # int8 activations, zero point -128 after ReLU
    span = r"node '.*': the model's activations less their zero point span -?\d+\.\.\d+, which"
    with pytest.raises(AccelError, match=span + " needs 9-bit"):
        list(layer_operands(asym, ArrayConfig()))
    list(layer_patterns(asym, ArrayConfig()))  # the simulator does not care
    sym = load_onnx(files["qop_sym"], x)  # symmetric: zero points 0, int8 fits 8 bits
    assert all(it.act_zero_point == 0 for it in sym.layers)
    assert len(list(layer_operands(sym, ArrayConfig()))) == 4
    u8 = load_onnx(files["qop_u8"], x)
    with pytest.raises(AccelError, match=r"the model's weights less their zero point span"):
        list(layer_operands(u8, ArrayConfig(a_bits=9)))


def test_synthetic_activations_need_no_run(files) -> None:
    """Without --input a run-time zero point stays unbound: synthetic X is used instead."""
    q = load_onnx(files["dynamic"])
    assert len(list(layer_patterns(q, ArrayConfig()))) == 4
    assert len(list(layer_operands(q, ArrayConfig()))) == 4


def test_pass_through_quantise_and_com_microsoft_ops() -> None:
    assert {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"} <= SUPPORTED_OPS
    for op in (
        "QLinearAdd",
        "QLinearMul",
        "QLinearGlobalAveragePool",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearAveragePool",
        "QGemm",
    ):
        assert f"com.microsoft.{op}" in SUPPORTED_OPS
    assert "QLinearAdd" not in SUPPORTED_OPS  # the standard domain has no such operator


def _two_activation_model(qdq: bool) -> onnx.ModelProto:
    """A MatMul of two quantised activations: QLinearMatMul, or a float MatMul of two
    DequantizeLinear outputs (QDQ)."""
    scales = [
        numpy_helper.from_array(np.float32(s), n)
        for n, s in (("sa", 0.02), ("sb", 0.03), ("sy", 0.5))
    ]
    zps = [numpy_helper.from_array(np.uint8(z), n) for n, z in (("za", 100), ("zb", 7), ("zy", 3))]
    ins = [
        helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 4, 5]),
        helper.make_tensor_value_info("b", TensorProto.UINT8, [2, 5, 3]),
    ]
    if qdq:
        nodes = [
            helper.make_node("DequantizeLinear", ["a", "sa", "za"], ["af"], name="dqa"),
            helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bf"], name="dqb"),
            helper.make_node("MatMul", ["af", "bf"], ["y"], name="mm"),
        ]
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 3])
    else:
        nodes = [
            helper.make_node(
                "QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], name="mm"
            )
        ]
        out = helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 4, 3])
    graph = helper.make_graph(nodes, "two", ins, [out], scales + zps)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("qdq", [False, True])
def test_matmul_of_two_quantised_activations(tmp_path: Path, qdq: bool) -> None:
    path = tmp_path / "two.onnx"
    onnx.save(_two_activation_model(qdq), str(path))
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(2, 4, 5), dtype=np.uint8)
    b = rng.integers(0, 256, size=(2, 5, 3), dtype=np.uint8)
    q = load_onnx(path, {"a": a, "b": b})
    (it,) = q.layers
    assert it.layer.dynamic_weights and it.quant == ("QDQ" if qdq else "QLinearMatMul")
    assert (it.weight_input, it.weight_zero_point, it.act_input, it.act_zero_point) == (
        "a",
        100,
        "b",
        7,
    )
    ((_, W, X),) = list(layer_operands(q, WIDE))
    np.testing.assert_array_equal(W, a.astype(np.int64) - 100)
    np.testing.assert_array_equal(X, b.astype(np.int64) - 7)


@pytest.mark.parametrize("form", FORMATS)
def test_cli_says_the_models_own_quantisation_was_used(
    files, form: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out.json"
    argv = [
        "simulate",
        "--onnx",
        str(files[form]),
        "--input",
        str(files["x"]),
        "--quiet",
        "--json",
        str(out),
    ]
    assert cli.main(argv) == 0
    report = json.loads(out.read_text())
    work = report["workload"]
    own = work["quantization"]
    assert own["own_weights"] == own["own_activations"] == own["layers"] == 4
    assert "the model's own integer weights and zero points in 4 of 4 layers" in work["weights"]
    assert "less their zero points" in work["act_model"]
    assert len(report["layers"]) == 4
    argv_text = ["simulate", "--onnx", str(files[form]), "--input", str(files["x"])]
    assert cli.main(argv_text) == 0
    assert "quantisation: weights: the model's own" in capsys.readouterr().out


def test_cli_float_model_report_is_unchanged(files, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    argv = [
        "simulate",
        "--onnx",
        str(files["float"]),
        "--input",
        str(files["x"]),
        "--quiet",
        "--json",
        str(out),
    ]
    assert cli.main(argv) == 0
    work = json.loads(out.read_text())["workload"]
    assert "quantization" not in work
    assert work["weights"].startswith("the model's own, quantised per output channel")


def test_qdq_weights_quantised_inside_the_graph(tmp_path: Path) -> None:
    """PT2E style: ``DequantizeLinear(QuantizeLinear(float weight))``, per-axis on the
    output channels; the folded integers are used, the activation's x_q is captured."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=(6, 2, 3)).astype(np.float32)  # a Conv1d
    ws = (np.abs(w).reshape(6, -1).max(axis=1) / 127).astype(np.float32)
    wz = np.zeros(6, np.int8)
    inits = [
        numpy_helper.from_array(a, n)
        for n, a in (("w", w), ("ws", ws), ("wz", wz), ("xs", np.float32(0.05)), ("xz", np.int8(3)))
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="qw", axis=0),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wf"], name="dqw", axis=0),
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="qx"),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xf"], name="dqx"),
        helper.make_node("Conv", ["xf", "wf"], ["y"], name="conv", pads=[1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "pt2e",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 9])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "pt2e.onnx"
    onnx.save(model, str(path))
    x = rng.normal(size=(1, 2, 9)).astype(np.float32)
    q = load_onnx(path, x)
    (it,) = q.layers
    assert (it.quant, it.act_input, it.act_zero_point) == ("QDQ", "xq", 3)
    wq = np.clip(np.rint(w / ws[:, None, None]), -128, 127).astype(np.int64)
    np.testing.assert_array_equal(it.int_weight, wq.reshape(1, 6, 6))
    ((_, W, X),) = list(layer_operands(q, ArrayConfig()))
    (y,) = _ort(model, {"x": x}, ["y"])
    Y = (W[0] @ X[0]) * ws[:, None] * np.float32(0.05)
    np.testing.assert_allclose(Y, y.reshape(6, -1), rtol=1e-4, atol=1e-5)  # exact up to float
