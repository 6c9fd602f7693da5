"""3-D Conv (video, volumes): the golden N-D im2col GEMM against onnxruntime, the
importer's layer and MACs, captured X, batch-norm folding and the quantised ops."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli, golden
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.quant import quantize_activation
from accel.workloads.layer import ConvGeometry, ConvNdGeometry
from accel.workloads.onnx import load_onnx
from accel.workloads.onnx.patterns import layer_operands

ort = pytest.importorskip("onnxruntime")

# (batch, in_ch, in_size, out_ch, kernel, strides, pads, dilations, groups)
CASES = [
    (1, 2, (4, 5, 5), 3, (3, 3, 3), (1, 1, 1), (0,) * 6, (1, 1, 1), 1),
    (2, 3, (5, 4, 6), 4, (2, 3, 3), (2, 1, 2), (1, 0, 1, 0, 1, 2), (1, 1, 1), 1),  # pads
    (1, 4, (5, 6, 5), 6, (3, 2, 2), (1, 2, 1), (1, 1, 0, 1, 0, 1), (2, 1, 2), 2),  # dil, groups
    (2, 4, (3, 5, 4), 4, (1, 3, 3), (1, 1, 1), (0, 1, 1, 0, 1, 1), (1, 1, 1), 4),  # depthwise
]


def _geometry(case) -> ConvNdGeometry:
    b, c, size, o, k, s, p, d, g = case
    return ConvNdGeometry(c, o, size, k, s, p, d, g, b)


def _operands(case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    b, c, size, o, k, _, _, _, g = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, (b, c, *size)) * (rng.random((b, c, *size)) < 0.7)
    return x, rng.integers(-8, 9, (o, c // g, *k))


def _model(nodes, x_shape, inits, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _conv(case, out: str = "y", **extra) -> onnx.NodeProto:
    _, _, _, _, k, s, p, d, g = case
    attrs = dict(strides=list(s), dilations=list(d), group=g, kernel_shape=list(k))
    attrs.update(extra if extra else dict(pads=list(p)))
    return helper.make_node("Conv", ["x", "w"], [out], name="conv3d", **attrs)


def _f32(name: str, a: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def _ort(model: onnx.ModelProto, x: np.ndarray, names=("y",)) -> list[np.ndarray]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(list(names), {"x": x.astype(np.float32)})


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_im2col_nd_of_a_2d_conv_is_im2col() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, (2, 4, 7, 6))
    geo2 = ConvGeometry(4, 6, 7, 6, 3, 2, (2, 1), (1, 0, 2, 1), (1, 2), 2, 2)
    geon = ConvNdGeometry(4, 6, (7, 6), (3, 2), (2, 1), (1, 0, 2, 1), (1, 2), 2, 2)
    assert geon.out_size == (geo2.out_h, geo2.out_w)
    assert np.array_equal(golden.im2col_nd(x, geon), golden.im2col(x, geo2))


def test_im2col3d_rows_and_columns_by_the_definition() -> None:
    """Row (channel, kd, kh, kw) as OIDHW flattens, column (batch, d, h, w)."""
    case = CASES[2]
    x, _ = _operands(case)
    geo = _geometry(case)
    cols = golden.im2col_nd(x, geo)
    cg, (kd, kh, kw), out = geo.in_ch // geo.groups, geo.kernel, geo.out_size
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 0), (0, 1)))  # pads (1, 1, 0, 1, 0, 1)
    (sd, sh, sw), (dd, dh, dw) = geo.strides, geo.dilations
    for g, c, i, j, t in itertools.product(range(geo.groups), range(cg), range(kd), range(kh),
                                           range(kw)):  # fmt: skip
        row = ((c * kd + i) * kh + j) * kw + t
        for b, z, y, v in itertools.product(range(geo.batch), *(range(n) for n in out)):
            col = ((b * out[0] + z) * out[1] + y) * out[2] + v
            expect = xp[b, g * cg + c, z * sd + i * dd, y * sh + j * dh, v * sw + t * dw]
            assert cols[g, row, col] == expect


@pytest.mark.parametrize("case", CASES)
def test_im2col3d_gemm_equals_onnxruntime_and_macs(case, tmp_path: Path) -> None:
    b, c, size, o, k, _, _, _, g = case
    x, w = _operands(case, seed=1)
    model = _model([_conv(case)], x.shape, [_f32("w", w)])
    item = load_onnx(_save(model, tmp_path / "c3.onnx")).layers[0]
    (ref,) = _ort(model, x)
    L, geo = item.layer, item.geometry
    assert geo == _geometry(case) and L.conv is None and L.kind == "conv3d"
    assert (L.M, L.K, L.N, L.groups) == (o, c // g * math.prod(k), b * math.prod(ref.shape[2:]), g)
    assert L.macs == ref.size * (c // g) * math.prod(k)  # output elements x Cin/g x taps
    assert L.input_elems == x.size
    # the array's GEMM of W [G, O/g, K] and im2col3d X [G, K, N] is the conv
    Y = golden.gemm(w.reshape(g, o // g, -1), golden.im2col_nd(x, geo), ArrayConfig())
    got = np.moveaxis(Y.reshape(o, b, *geo.out_size), 1, 0)
    assert np.array_equal(got, ref)
    assert np.array_equal(golden.conv_nd(x, w, geo, ArrayConfig()), ref)
    assert np.array_equal(item.weights().reshape(w.shape), w)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_auto_pad_as_onnxruntime(auto_pad: str, tmp_path: Path) -> None:
    case = (1, 2, (5, 4, 6), 3, (2, 3, 2), (2, 1, 2), None, (1, 1, 1), 1)
    x, w = _operands(case, seed=2)
    model = _model([_conv(case, auto_pad=auto_pad)], x.shape, [_f32("w", w)])
    item = load_onnx(_save(model, tmp_path / "c3.onnx")).layers[0]
    (ref,) = _ort(model, x)
    assert item.geometry.out_size == ref.shape[2:]
    assert np.array_equal(golden.conv_nd(x, w, item.geometry, ArrayConfig()), ref)


def test_captured_x_is_the_quantised_im2col3d(tmp_path: Path) -> None:
    case = CASES[1]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((case[0], case[1], *case[2])).astype(np.float32)
    _, w = _operands(case)
    model = _model([_conv(case)], x.shape, [_f32("w", w)])
    lowered = load_onnx(_save(model, tmp_path / "c3.onnx"), x)
    ((item, W, X),) = list(layer_operands(lowered, ArrayConfig()))
    expect = golden.im2col_nd(quantize_activation(x, 8), _geometry(case))
    assert np.array_equal(X, expect) and X.shape == (1, item.layer.K, item.layer.N)
    assert W.shape == (1, case[3], item.layer.K)


def test_batch_norm_folds_into_a_3d_conv(tmp_path: Path) -> None:
    case = CASES[0]
    rng = np.random.default_rng(4)
    x = rng.standard_normal((case[0], case[1], *case[2])).astype(np.float32)
    w = rng.standard_normal((case[3], case[1], *case[4]))
    o = case[3]
    bn = [rng.uniform(0.5, 2, o), rng.standard_normal(o), rng.standard_normal(o),
          rng.uniform(0.5, 2, o)]  # fmt: skip
    names = ["gamma", "beta", "mean", "var"]
    nodes = [
        _conv(case, out="c"),
        helper.make_node("BatchNormalization", ["c", *names], ["y"], name="bn", epsilon=1e-3),
    ]
    inits = [_f32("w", w)] + [_f32(n, a) for n, a in zip(names, bn, strict=True)]
    model = _model(nodes, x.shape, inits)
    item = load_onnx(_save(model, tmp_path / "c3.onnx")).layers[0]
    assert item.bn_node == "bn"
    (ref,) = _ort(model, x)
    y = item.weights() @ golden.im2col_nd(x.astype(np.float64), item.geometry)
    y = y.reshape(o, -1) + item.bias()[:, None]
    got = np.moveaxis(y.reshape(o, case[0], *item.geometry.out_size), 1, 0)
    assert np.allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_conv_integer_3d_comes_for_free(tmp_path: Path) -> None:
    case = CASES[2]
    _, w = _operands(case)
    x_shape = (case[0], case[1], *case[2])
    _, _, _, _, k, s, p, d, g = case
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], name="ci",
                            strides=list(s), pads=list(p), dilations=list(d), group=g,
                            kernel_shape=list(k))  # fmt: skip
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        initializer=[numpy_helper.from_array(w.astype(np.uint8) + 100, "w"),
                     numpy_helper.from_array(np.array(3, np.uint8), "xz"),
                     numpy_helper.from_array(np.array(100, np.uint8), "wz")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    item = load_onnx(_save(model, tmp_path / "ci.onnx")).layers[0]
    assert item.layer.kind == "conv3d" and item.geometry == _geometry(case)
    q = item.quantized_weights(8)
    assert np.array_equal(np.asarray(q).reshape(w.shape), w)  # zero point subtracted


def test_cli_simulates_a_3d_conv(tmp_path: Path) -> None:
    case = CASES[1]
    x, w = _operands(case)
    path = _save(_model([_conv(case)], x.shape, [_f32("w", w)]), tmp_path / "c3.onnx")
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    out = tmp_path / "r.json"
    argv = ["simulate", "--onnx", str(path), "--input", str(tmp_path / "x.npy"), "--quiet",
            "--json", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    (layer,) = json.loads(out.read_text())["layers"]
    geo = _geometry(case)
    assert layer["N"] == case[0] * math.prod(geo.out_size) and layer["M"] == case[3]


def test_4d_conv_refused_by_name(tmp_path: Path) -> None:
    x_shape = (1, 2, 3, 3, 3, 3)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c4")
    model = _model([node], x_shape, [_f32("w", np.ones((2, 2, 1, 1, 1, 1)))])
    with pytest.raises(AccelError, match="Conv node 'c4'.*only 1-D, 2-D and 3-D"):
        load_onnx(_save(model, tmp_path / "c4.onnx"))
