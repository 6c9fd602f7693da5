"""ConvTranspose: the golden GEMM + col2im against a direct reference and onnxruntime, and
the importer's layer, weights (quantised per output channel) and captured X."""

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
from accel.encode import weight_pattern
from accel.errors import AccelError
from accel.workloads.layer import ConvTransposeGeometry
from accel.workloads.onnx import layer_patterns, load_onnx
from accel.workloads.onnx import model as onnx_model
from accel.workloads.onnx.ops import LOWERINGS
from accel.workloads.onnx.patterns import layer_operands

ort = pytest.importorskip("onnxruntime")


def direct(x, w, strides, pads, dilations, output_padding, groups) -> np.ndarray:
    """ConvTranspose by its definition, input pixel by input pixel, in int64: pixel ``i``
    times tap ``k`` adds to output ``i * s + k * d - pad_begin`` when that is inside."""
    x, w = np.asarray(x, np.int64), np.asarray(w, np.int64)
    n = x.ndim - 2
    B, C = x.shape[:2]
    og, kernel = w.shape[1], w.shape[2:]
    cg = C // groups
    out = [
        (m - 1) * s + (k - 1) * d + 1 + p - pads[i] - pads[n + i]
        for i, (m, k, s, d, p) in enumerate(
            zip(x.shape[2:], kernel, strides, dilations, output_padding, strict=True)
        )
    ]
    y = np.zeros((B, groups * og, *out), np.int64)
    for pos in itertools.product(*(range(m) for m in x.shape[2:])):
        for tap in itertools.product(*(range(k) for k in kernel)):
            steps = zip(pos, tap, strides, dilations, pads[:n], strict=True)
            o = [p * s + t * d - b for p, t, s, d, b in steps]
            if not all(0 <= v < size for v, size in zip(o, out, strict=True)):
                continue
            for g in range(groups):
                xs = x[(slice(None), slice(g * cg, (g + 1) * cg), *pos)]  # [B, cg]
                ws = w[(slice(g * cg, (g + 1) * cg), slice(None), *tap)]  # [cg, og]
                np.add.at(y, (slice(None), slice(g * og, (g + 1) * og), *o), xs @ ws)
    return y


# (batch, in_ch, in_size, out_ch/g, kernel, strides, pads, dilations, output_padding, groups)
CASES = [
    (1, 3, (5,), 2, (3,), (1,), (0, 0), (1,), (0,), 1),  # 1-D, stride 1
    (2, 4, (6,), 3, (4,), (2,), (1, 2), (1,), (1,), 2),  # 1-D, stride 2, pads, output_padding
    (1, 2, (4, 5), 3, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), (0, 0), 1),
    (2, 3, (4, 3), 2, (3, 2), (2, 2), (1, 0, 1, 1), (1, 1), (1, 0), 1),  # asymmetric pads
    (1, 4, (3, 4), 2, (2, 3), (2, 1), (0, 1, 0, 0), (2, 2), (1, 0), 2),  # dilation, groups
    (1, 6, (3, 3), 1, (3, 3), (3, 2), (2, 1, 1, 0), (1, 2), (2, 1), 6),  # depthwise
    (1, 2, (3, 2, 3), 2, (2, 3, 2), (2, 1, 2), (0, 1, 0, 1, 0, 0), (1, 1, 2), (1, 0, 0), 1),
    (2, 4, (2, 3, 2), 1, (3, 2, 2), (1, 2, 1), (1, 0, 0, 0, 1, 1), (2, 1, 1), (0, 1, 0), 2),
]


def _geometry(case) -> ConvTransposeGeometry:
    b, c, size, og, k, s, p, d, op, g = case
    return ConvTransposeGeometry(c, og * g, size, k, s, p, d, op, g, b)


def _operands(case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    b, c, size, og, k, _, _, _, _, _ = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, (b, c, *size)) * (rng.random((b, c, *size)) < 0.7)
    return x, rng.integers(-8, 9, (c, og, *k))


@pytest.mark.parametrize("case", CASES)
def test_golden_conv_transpose_equals_the_direct_definition(case) -> None:
    x, w = _operands(case)
    geo = _geometry(case)
    _, _, _, _, _, s, p, d, op, g = case
    ref = direct(x, w, s, p, d, op, g)
    assert geo.out_size == ref.shape[2:]
    assert np.array_equal(golden.conv_transpose(x, w, geo), ref)
    # the array's GEMM (operands checked, accumulators wrapped) gives the same here
    assert np.array_equal(golden.conv_transpose(x, w, geo, ArrayConfig()), ref)
    bias = np.arange(geo.out_ch) - 2
    got = golden.conv_transpose(x, w, geo, bias=bias)
    assert np.array_equal(got, ref + bias.reshape((1, -1) + (1,) * len(geo.in_size)))


def test_col2im_takes_only_its_shape_and_sums_exactly() -> None:
    geo = _geometry(CASES[3])
    with pytest.raises(AccelError, match="col2im input has shape"):
        golden.col2im(np.zeros((1, 2, 3), np.int64), geo)
    G, Mg = geo.groups, geo.out_ch // geo.groups * math.prod(geo.kernel)
    N = geo.batch * math.prod(geo.in_size)
    big = np.full((G, Mg, N), 1 << 40, np.int64)  # past float32 and int32: exact int64
    y = golden.col2im(big, geo)
    assert y.dtype == np.int64 and y.max() % (1 << 40) == 0 and y.max() > 1 << 40


def _model(node, x_shape, w, bias=None, opset: int = 17) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(w.astype(np.float32), "w")]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias.astype(np.float32), "b"))
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _node(case, bias: bool = False, **extra) -> onnx.NodeProto:
    _, _, _, _, k, s, p, d, op, g = case
    attrs = dict(strides=list(s), dilations=list(d), group=g, kernel_shape=list(k))
    if "output_shape" not in extra and "auto_pad" not in extra:
        attrs.update(pads=list(p), output_padding=list(op))
    attrs.update(extra)
    return helper.make_node("ConvTranspose", ["x", "w", "b"] if bias else ["x", "w"], ["y"],
                            name="up", **attrs)  # fmt: skip


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0]


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("case", CASES)
def test_golden_equals_onnxruntime_exactly(case, tmp_path: Path) -> None:
    x, w = _operands(case, seed=1)
    bias = np.arange(_geometry(case).out_ch, dtype=np.int64) * 3 - 4
    model = _model(_node(case, bias=True), x.shape, w, bias)
    item = load_onnx(_save(model, tmp_path / "ct.onnx")).layers[0]
    assert item.geometry == _geometry(case)
    got = golden.conv_transpose(x, w, item.geometry, bias=bias)
    assert np.array_equal(got, _ort(model, x))  # small integers: float32 is exact


SHAPE_CASES = [  # output_shape / auto_pad: the padding is derived from the size asked for
    (CASES[1], dict(output_shape=[11])),  # total padding 3: the odd one at the start
    (CASES[1], dict(output_shape=[11], auto_pad="SAME_UPPER")),  # ... at the end
    (CASES[1], dict(output_shape=[11], auto_pad="SAME_LOWER")),
    (CASES[1], dict(output_shape=[14])),  # the taps' full reach
    (CASES[1], dict(output_shape=[15])),  # one past it: a zero at the end
    (CASES[1], dict(auto_pad="SAME_UPPER")),  # input x stride
    (CASES[1], dict(auto_pad="SAME_LOWER")),
    (CASES[3], dict(auto_pad="SAME_UPPER")),
    (CASES[3], dict(auto_pad="SAME_LOWER")),
    (CASES[3], dict(output_shape=[8, 5])),
    (CASES[4], dict(auto_pad="VALID")),
    (CASES[6], dict(output_shape=[5, 4, 5], auto_pad="SAME_UPPER")),
]


@pytest.mark.parametrize(("case", "extra"), SHAPE_CASES)
def test_output_shape_and_auto_pad_as_onnxruntime(case, extra, tmp_path: Path) -> None:
    x, w = _operands(case, seed=2)
    model = _model(_node(case, **extra), x.shape, w)
    item = load_onnx(_save(model, tmp_path / "ct.onnx")).layers[0]
    ref = _ort(model, x)
    if "output_shape" in extra:
        assert ref.shape[2:] == tuple(extra["output_shape"])
    assert np.array_equal(golden.conv_transpose(x, w, item.geometry), ref)


@pytest.mark.parametrize("case", CASES)
def test_layer_dims_and_macs_by_an_independent_count(case, tmp_path: Path) -> None:
    b, c, size, og, k, _, _, _, _, g = case
    x, w = _operands(case)
    item = load_onnx(_save(_model(_node(case), x.shape, w), tmp_path / "ct.onnx")).layers[0]
    L = item.layer
    assert (L.kind, L.groups, L.m_per_group, L.K, L.N) == (
        "conv_transpose", g, og * math.prod(k), c // g, b * math.prod(size)
    )  # fmt: skip
    assert L.macs == x.size * og * math.prod(k)  # every input value meets every weight once
    assert L.input_elems == x.size and L.conv is None and item.rows_per_channel == math.prod(k)


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[7]])
def test_weights_are_the_onnx_weights_rearranged(case, tmp_path: Path) -> None:
    _, c, _, og, k, _, _, _, _, g = case
    rng = np.random.default_rng(4)
    w = rng.standard_normal((c, og, *k))
    w[0, 0] = 0.0  # a pruned tap slice stays zero
    x_shape = (case[0], c, *case[2])
    item = load_onnx(_save(_model(_node(case), x_shape, w), tmp_path / "ct.onnx")).layers[0]
    cg, taps = c // g, list(itertools.product(*(range(v) for v in k)))
    expect = np.zeros((g, og * len(taps), cg))
    for gi, co, (t, tap), ci in itertools.product(range(g), range(og), enumerate(taps), range(cg)):
        expect[gi, co * len(taps) + t, ci] = w[(gi * cg + ci, co, *tap)]
    assert np.allclose(item.weights(), expect.astype(np.float32))
    # quantised per output channel over (C/g, taps), not per GEMM row
    q = item.quantized_weights(8)
    for gi, co in itertools.product(range(g), range(og)):
        ch = w[gi * cg : (gi + 1) * cg, co].astype(np.float32).astype(np.float64)
        scale = np.abs(ch).max() / 127
        rows = q[gi, co * len(taps) : (co + 1) * len(taps)]  # [taps, cg]
        ref = np.sign(ch) * np.floor(np.abs(ch) / scale + 0.5)
        assert np.array_equal(rows.T.reshape(ch.shape), ref)
        assert np.abs(rows).max() == 127  # one scale per channel: its peak alone reaches 127
    assert np.abs(q).max(axis=-1).min() < 127  # rows alone would each reach 127


def test_weight_chunks_hold_whole_channels(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    case = (1, 4, (3, 3), 5, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1)
    w = np.random.default_rng(6).standard_normal((4, 5, 3, 3))
    model = _model(_node(case), (1, 4, 3, 3), w)
    item = load_onnx(_save(model, tmp_path / "ct.onnx")).layers[0]
    whole = item.quantized_weights(8)
    monkeypatch.setattr(onnx_model, "_ROW_CHUNK_ELEMS", 40)  # ~10 rows: not a channel's 9
    assert np.array_equal(item.quantized_weights(8), whole)
    cfg = ArrayConfig(block=8)
    wp, ref = item.weight_pattern(cfg), weight_pattern(whole, cfg.block)
    assert np.array_equal(wp.masks, ref.masks) and np.array_equal(wp.col_nnz, ref.col_nnz)


def test_captured_x_is_the_quantised_input_and_col2im_gives_the_output(tmp_path: Path) -> None:
    """Integer-valued data whose peaks are 127 quantise to themselves, so the captured
    operands, through the array's GEMM and col2im, are onnxruntime's output exactly."""
    case = CASES[4]
    b, c, size, og, k, _, _, _, _, g = case
    rng = np.random.default_rng(7)
    x = rng.integers(-127, 128, (b, c, *size)) * (rng.random((b, c, *size)) < 0.6)
    x.flat[0] = 127
    w = rng.integers(-60, 61, (c, og, *k))
    cg = c // g
    for gi, co in itertools.product(range(g), range(og)):
        w[gi * cg, co, 0, 0] = 127  # every output channel's peak
    bias = np.arange(g * og) * 5.0
    model = _model(_node(case, bias=True), x.shape, w, bias)
    path = _save(model, tmp_path / "ct.onnx")
    lowered = load_onnx(path, x.astype(np.float32))
    ((item, W, X),) = list(layer_operands(lowered, ArrayConfig()))
    P = math.prod(size)
    expect_x = np.zeros((g, cg, b * P), np.int64)  # X[g, ci, (b, h, w)]
    for gi, ci, bi in itertools.product(range(g), range(cg), range(b)):
        expect_x[gi, ci, bi * P : (bi + 1) * P] = x[bi, gi * cg + ci].ravel()
    assert np.array_equal(X, expect_x)
    assert np.array_equal(item.gemm_x(x.astype(np.float32), 8), expect_x)
    Y = golden.gemm(W, X, ArrayConfig())
    y = golden.col2im(Y, item.geometry) + item.bias().reshape(1, -1, 1, 1)
    assert np.array_equal(y, _ort(model, x))
    pats = list(layer_patterns(lowered, ArrayConfig(block=8, cols=4)))
    assert pats[0].acts.density == pytest.approx(np.count_nonzero(expect_x) / expect_x.size)


def test_cli_simulates_a_conv_transpose(tmp_path: Path) -> None:
    case = CASES[3]
    x, w = _operands(case)
    path = _save(_model(_node(case), x.shape, w.astype(np.float64)), tmp_path / "ct.onnx")
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    for extra in ([], ["--input", str(tmp_path / "x.npy")]):
        out = tmp_path / "r.json"
        argv = ["simulate", "--onnx", str(path), *extra, "--quiet", "--json", str(out)]
        assert cli.main(argv) == 0
        (layer,) = json.loads(out.read_text())["layers"]
        assert layer["N"] == x.shape[0] * math.prod(case[2]) and layer["groups"] == 1


def test_refusals_name_the_node(tmp_path: Path) -> None:
    case = CASES[2]
    x, w = _operands(case)
    bad = _model(_node(case), x.shape, w[:, :, :2])  # kernel_shape says 3x3
    with pytest.raises(AccelError, match="ConvTranspose node 'up'.*does not fit input"):
        load_onnx(_save(bad, tmp_path / "bad.onnx"))
    x4 = (1, 2, 2, 2, 2, 2)
    w4 = np.ones((2, 1, 1, 1, 1, 1))
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up")
    with pytest.raises(AccelError, match="only 1-D, 2-D and 3-D"):
        load_onnx(_save(_model(node, x4, w4), tmp_path / "4d.onnx"))
    assert "ConvTranspose" in LOWERINGS
