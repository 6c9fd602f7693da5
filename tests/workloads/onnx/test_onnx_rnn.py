"""LSTM, GRU and DynamicQuantizeLSTM lowered to the array's GEMMs (ops/rnn.py), and the
NumPy reference of the recurrences (rnn_reference.py).

Graphs are built with onnx.helper; shapes and MACs are checked against the independent
count ``T x batch x (G H I + G H H)`` per direction, the recurrent steps' captured X
against slices of onnxruntime's own ``Y``, and the reference against onnxruntime.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.quant import quantize_activation
from accel.workloads.onnx import capture, layer_operands, layer_patterns, load_onnx
from accel.workloads.onnx import rnn_reference as ref

ort = pytest.importorskip("onnxruntime")

T, B, I, H = 4, 3, 5, 6
GATES = {"LSTM": 4, "GRU": 3}
DIRS = {"forward": 1, "reverse": 1, "bidirectional": 2}


def _params(op: str, dirs: int, in_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    G = GATES[op]
    rng = np.random.default_rng(seed)
    return {
        "W": (rng.normal(size=(dirs, G * H, in_size)) * 0.5).astype(np.float32),
        "R": (rng.normal(size=(dirs, G * H, H)) * 0.5).astype(np.float32),
        "B": (rng.normal(size=(dirs, 2 * G * H)) * 0.3).astype(np.float32),
    }


def _rnn_node(op: str, prefix: str, x: str, ys: list[str], init: str, **attrs):
    """An LSTM / GRU node reading ``{prefix}W`` etc.; ``init`` names initial_h (or '')."""
    ins = [x, f"{prefix}W", f"{prefix}R", f"{prefix}B", attrs.pop("seq_lens", ""), init]
    if op == "LSTM":
        ins += [attrs.pop("init_c", ""), attrs.pop("peephole", "")]
    return helper.make_node(op, ins, ys, name=f"{prefix}{op.lower()}", hidden_size=H, **attrs)


def _model(
    op: str,
    direction: str = "forward",
    layout: int = 0,
    init: str | None = None,
    lbr: int = 0,
    y_used: bool = True,
    stacked: bool = False,
    seq_lens: list[int] | None = None,
    peephole: bool = False,
) -> tuple[onnx.ModelProto, dict]:
    """One recurrence (two stacked with ``stacked``) on ``x``; ``init`` is None, "const"
    (an initializer) or "input" (a graph input ``h0``). Returns the model and its params."""
    dirs = DIRS[direction]
    x_shape = [T, B, I] if layout == 0 else [B, T, I]
    h_shape = [dirs, B, H] if layout == 0 else [B, dirs, H]
    p = _params(op, dirs, I)
    inits = {f"l0_{k}": v for k, v in p.items()}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    attrs: dict = {"direction": direction, "layout": layout}
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    h0 = ""
    rng = np.random.default_rng(7)
    if init == "const":
        h0 = "h0"
        inits["h0"] = rng.normal(size=h_shape).astype(np.float32)
        p["h0"] = inits["h0"]
    elif init == "input":
        h0 = "h0"
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, h_shape))
    if seq_lens is not None:
        inits["lens"] = np.asarray(seq_lens, np.int32)
        attrs["seq_lens"] = "lens"
    if peephole:
        inits["P"] = rng.normal(size=(dirs, 3 * H)).astype(np.float32)
        attrs["peephole"] = "P"
        p["P"] = inits["P"]
    y0 = "y0" if y_used else ""
    nodes = [_rnn_node(op, "l0_", "x", [y0, "yh0"], h0, **attrs)]
    outputs = ["yh0"] + (["y0"] if y_used else [])
    if stacked:  # the usual export: Y [T, dirs, B, H] -> [T, B, dirs x H] -> layer 2
        assert layout == 0
        p2 = _params(op, dirs, dirs * H, seed=1)
        inits.update({f"l1_{k}": v for k, v in p2.items()})
        inits["shape"] = np.asarray([T, B, dirs * H], np.int64)
        nodes += [
            helper.make_node("Transpose", ["y0"], ["y0t"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", ["y0t", "shape"], ["x1"]),
            _rnn_node(op, "l1_", "x1", ["y1", "yh1"], "", **{k: v for k, v in attrs.items()
                                                               if k != "seq_lens"}),
        ]  # fmt: skip
        outputs = ["y1", "yh1"]
        p["layer2"] = p2
    graph = helper.make_graph(
        nodes,
        "rnn",
        inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model, p


def _feeds(layout: int, dirs: int, init: str | None, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x_shape = (T, B, I) if layout == 0 else (B, T, I)
    feeds = {"x": rng.normal(size=x_shape).astype(np.float32)}
    if init == "input":
        h_shape = (dirs, B, H) if layout == 0 else (B, dirs, H)
        feeds["h0"] = rng.normal(size=h_shape).astype(np.float32)
    return feeds


def _save(tmp_path: Path, model: onnx.ModelProto, name: str = "rnn.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def _ort_run(model: onnx.ModelProto, feeds: dict, names: list[str]) -> list[np.ndarray]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                          for n in names if n not in have)  # fmt: skip
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def _run_ref(op, x, p, direction, layout, lbr, h0=None):
    if op == "LSTM":
        y, yh, _ = ref.lstm(x, p["W"], p["R"], p["B"], h0, None, p.get("P"),
                            direction=direction, layout=layout)  # fmt: skip
        return y, yh
    return ref.gru(x, p["W"], p["R"], p["B"], h0, direction=direction, layout=layout,
                   linear_before_reset=lbr)  # fmt: skip


# --- the reference against onnxruntime ---------------------------------------------------

CASES = [("LSTM", 0), ("GRU", 0), ("GRU", 1)]


@pytest.mark.parametrize("op,lbr", CASES)
@pytest.mark.parametrize("direction", list(DIRS))
@pytest.mark.parametrize("init", [None, "input"])
def test_reference_matches_onnxruntime(op, lbr, direction, init):
    dirs = DIRS[direction]
    model, p = _model(op, direction, init=init, lbr=lbr, peephole=op == "LSTM" and bool(init))
    feeds = _feeds(0, dirs, init)
    y, yh = _ort_run(model, feeds, ["y0", "yh0"])
    ey, eyh = _run_ref(op, feeds["x"], p, direction, 0, lbr, feeds.get("h0"))
    np.testing.assert_allclose(y, ey, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(yh, eyh, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,lbr", CASES)
def test_reference_two_stacked_bidirectional(op, lbr):
    model, p = _model(op, "bidirectional", init="input", lbr=lbr, stacked=True)
    feeds = _feeds(0, 2, "input")
    (y1,) = _ort_run(model, feeds, ["y1"])
    y0, _ = _run_ref(op, feeds["x"], p, "bidirectional", 0, lbr, feeds["h0"])
    x1 = y0.transpose(0, 2, 1, 3).reshape(T, B, 2 * H)
    ey1, _ = _run_ref(op, x1, p["layer2"], "bidirectional", 0, lbr)
    np.testing.assert_allclose(y1, ey1, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,lbr", CASES)
@pytest.mark.parametrize("init", [None, "input"])
def test_reference_layout_1(op, lbr, init):
    """onnxruntime runs only layout 0: layout 1 is the same recurrence on [B, T, I] with
    ``Y [B, T, dirs, H]`` and states ``[B, dirs, H]``."""
    model, p = _model(op, "bidirectional", init=init, lbr=lbr)
    feeds = _feeds(0, 2, init)
    y, yh = _ort_run(model, feeds, ["y0", "yh0"])
    h0 = None if init is None else feeds["h0"].transpose(1, 0, 2)
    ey, eyh = _run_ref(op, feeds["x"].transpose(1, 0, 2), p, "bidirectional", 1, lbr, h0)
    np.testing.assert_allclose(ey, y.transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eyh, yh.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)


# --- layers, shapes and MACs --------------------------------------------------------------


@pytest.mark.parametrize("op,lbr", CASES)
@pytest.mark.parametrize("direction", list(DIRS))
@pytest.mark.parametrize("layout", [0, 1])
def test_layers_and_macs(tmp_path, op, lbr, direction, layout):
    dirs, G = DIRS[direction], GATES[op]
    model, _ = _model(op, direction, layout, lbr=lbr)
    m = load_onnx(_save(tmp_path, model))
    split = op == "GRU" and lbr == 0
    assert m.macs == dirs * T * B * (G * H * I + G * H * H)
    assert len(m.layers) == dirs * (1 + T * (2 if split else 1))
    names = [it.layer.name for it in m.layers]
    dir_names = {"forward": ["fwd"], "reverse": ["rev"], "bidirectional": ["fwd", "rev"]}
    for dn in dir_names[direction]:
        proj = m.layers[names.index(f"l0_{op.lower()}/{dn}/x")].layer
        assert (proj.M, proj.K, proj.N) == (G * H, I, T * B)
        times = list(range(T)) if dn == "fwd" else list(range(T - 1, -1, -1))
        steps = [n for n in names if n.startswith(f"l0_{op.lower()}/{dn}/h")]
        if split:
            assert steps == [f"l0_gru/{dn}/h{t}/{p}" for t in times for p in ("zr", "h")]
            shapes = {(it.layer.M, it.layer.K, it.layer.N) for it in m.layers
                      if it.layer.name in steps}  # fmt: skip
            assert shapes == {(2 * H, H, B), (H, H, B)}
        else:
            assert steps == [f"l0_{op.lower()}/{dn}/h{t}" for t in times]
            for n in steps:
                L = m.layers[names.index(n)].layer
                assert (L.M, L.K, L.N) == (G * H, H, B)
    assert all(it.node == f"l0_{op.lower()}" and it.op == op for it in m.layers)


@pytest.mark.parametrize("op,lbr", CASES)
def test_weights_are_the_gemm_view(tmp_path, op, lbr):
    """W[dir] and R[dir] rows as the layers' weights, the bias halves as their biases."""
    model, p = _model(op, "bidirectional", lbr=lbr)
    m = load_onnx(_save(tmp_path, model))
    GH = GATES[op] * H
    by = {it.layer.name: it for it in m.layers}
    for d, dn in enumerate(("fwd", "rev")):
        np.testing.assert_array_equal(by[f"l0_{op.lower()}/{dn}/x"].weights(), p["W"][d])
        np.testing.assert_array_equal(by[f"l0_{op.lower()}/{dn}/x"].bias(), p["B"][d, :GH])
        if op == "GRU" and lbr == 0:
            zr, hh = by[f"l0_gru/{dn}/h1/zr"], by[f"l0_gru/{dn}/h1/h"]
            np.testing.assert_array_equal(np.concatenate([zr.weights(), hh.weights()]),
                                          p["R"][d])  # fmt: skip
        else:
            step = by[f"l0_{op.lower()}/{dn}/h1"]
            np.testing.assert_array_equal(step.weights(), p["R"][d])
            np.testing.assert_array_equal(step.bias(), p["B"][d, GH:])


def test_stacked_layers_and_macs(tmp_path):
    model, _ = _model("LSTM", "bidirectional", stacked=True)
    m = load_onnx(_save(tmp_path, model))
    per_dir = T * B * 4 * H
    assert m.macs == 2 * per_dir * (I + H) + 2 * per_dir * (2 * H + H)
    assert len(m.layers) == 2 * 2 * (1 + T)


# --- the captured X of the steps -----------------------------------------------------------


def _expected_h(y_q: np.ndarray, h0_q, layout: int, dirs: int, d: int, t_prev: int | None):
    """``h_{t-1} [H, B]`` from ONNX's Y (quantised) or the initial state, independently."""
    if t_prev is None:
        if h0_q is None:
            return np.zeros((H, B))
        h = h0_q[d] if layout == 0 else h0_q[:, d]
        return h.T
    y = y_q if layout == 0 else y_q.transpose(1, 2, 0, 3)  # -> [T, dirs, B, H]
    return y[t_prev, d].T


def _check_steps(m, y_float, h0_float, layout, dirs, items_tensors=None, x_float=None, p=None):
    """Every recurrent step's X is the slice of Y (or the initial state) it needs."""
    y_q = quantize_activation(y_float)
    h0_q = None if h0_float is None else quantize_activation(h0_float)
    pairs = items_tensors if items_tensors is not None else list(capture(m))
    checked = 0
    for item, tensors in pairs:
        name = item.layer.name
        if name.endswith("/x"):
            X = item.gemm_x(tensors[item.act_input], 8)
            seq = tensors[item.act_input]
            seq = seq if layout == 0 else seq.transpose(1, 0, 2)
            np.testing.assert_array_equal(X[0], quantize_activation(seq).reshape(T * B, -1).T)
            continue
        step = re.search(r"/(fwd|rev)/h(\d+)(/zr|/h)?$", name)
        assert step is not None, name
        rev, t = step[1] == "rev", int(step[2])
        d = 1 if rev and dirs == 2 else 0
        t_prev = None if t == (T - 1 if rev else 0) else (t + 1 if rev else t - 1)
        X = item.gemm_x(tensors[item.act_input], 8)
        expected = _expected_h(y_q, h0_q, layout, dirs, d, t_prev)
        if step[3] == "/h":  # GRU r ⊙ h_{t-1}: r from scratch
            if t_prev is None and h0_float is None:
                np.testing.assert_array_equal(X[0], 0)
                checked += 1
                continue
            src = h0_float if t_prev is None else y_float
            h_f = _expected_h(src, src if t_prev is None else None, layout, dirs, d,
                              t_prev).T  # fmt: skip
            x_t = x_float[t] if layout == 0 else x_float[:, t]
            W, R, b = p["W"][d], p["R"][d], p["B"][d]
            pre = x_t @ W[H : 2 * H].T + b[H : 2 * H] + h_f @ R[H : 2 * H].T + b[4 * H : 5 * H]
            r = 1 / (1 + np.exp(-pre.astype(np.float64)))
            scale = np.abs(src).max() / 127
            expected = np.rint(r * h_f / scale).T
            np.testing.assert_allclose(X[0], expected, atol=1)  # float32 vs float64 r
            assert np.mean(X[0] == expected) > 0.9
        else:
            np.testing.assert_array_equal(X[0], expected)
        checked += 1
    return checked


@pytest.mark.parametrize("op,lbr", CASES)
@pytest.mark.parametrize("direction", list(DIRS))
@pytest.mark.parametrize("init", [None, "const", "input"])
def test_captured_steps_are_the_previous_states(tmp_path, op, lbr, direction, init):
    dirs = DIRS[direction]
    model, p = _model(op, direction, init=init, lbr=lbr)
    feeds = _feeds(0, dirs, init)
    (y,) = _ort_run(model, feeds, ["y0"])
    m = load_onnx(_save(tmp_path, model), feeds if len(feeds) > 1 else feeds["x"])
    h0 = {"const": p.get("h0"), "input": feeds.get("h0"), None: None}[init]
    n = _check_steps(m, y, h0, 0, dirs, x_float=feeds["x"], p=p)
    assert n == dirs * T * (2 if op == "GRU" and lbr == 0 else 1)


@pytest.mark.parametrize("op,lbr", CASES)
def test_unused_y_is_named_for_the_capture(tmp_path, op, lbr):
    model, p = _model(op, "bidirectional", y_used=False, lbr=lbr)
    feeds = _feeds(0, 2, None)
    m = load_onnx(_save(tmp_path, model), feeds["x"])
    node = next(n for n in m.model.graph.node if n.op_type == op)
    assert node.output[0] == f"l0_{op.lower()}/Y"
    y, _ = _run_ref(op, feeds["x"], p, "bidirectional", 0, lbr)
    assert _check_steps(m, y.astype(np.float32), None, 0, 2, x_float=feeds["x"], p=p) > 0


@pytest.mark.parametrize("op,lbr", CASES)
@pytest.mark.parametrize("init", [None, "input"])
def test_layout_1_steps_slice_y(tmp_path, op, lbr, init):
    """onnxruntime cannot run layout 1, so the x_lowering gets the reference's Y."""
    model, p = _model(op, "bidirectional", layout=1, init=init, lbr=lbr)
    m = load_onnx(_save(tmp_path, model))
    feeds = _feeds(1, 2, init)
    y, _ = _run_ref(op, feeds["x"], p, "bidirectional", 1, lbr, feeds.get("h0"))
    y = y.astype(np.float32)
    values = {"x": feeds["x"], "y0": y, **({"h0": feeds["h0"]} if init else {})}
    pairs = []
    for item in m.layers:
        tensors = {n: values[n] for n in (item.act_input, *item.x_inputs)}
        pairs.append((item.bind(tensors), tensors))
    n = _check_steps(m, y, feeds.get("h0"), 1, 2, pairs, x_float=feeds["x"], p=p)
    assert n == 2 * T * (2 if op == "GRU" and lbr == 0 else 1)


# --- refusals and notes -----------------------------------------------------------------


def test_sequence_lens_all_t_is_fine_shorter_refused(tmp_path):
    model, _ = _model("LSTM", seq_lens=[T] * B)
    assert load_onnx(_save(tmp_path, model)).macs == T * B * 4 * H * (I + H)
    model, _ = _model("GRU", seq_lens=[T, T - 1, T])
    with pytest.raises(AccelError, match=r"GRU node 'l0_gru'.*sequence_lens \[4, 3, 4\]"):
        load_onnx(_save(tmp_path, model, "short.onnx"))


def test_sequence_lens_from_the_graph_refused(tmp_path):
    model, _ = _model("LSTM")
    model.graph.input.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [B]))
    model.graph.node[0].input[4] = "lens"
    with pytest.raises(AccelError, match="LSTM node 'l0_lstm': sequence_lens 'lens' is not a "
                                         "constant"):  # fmt: skip
        load_onnx(_save(tmp_path, model))


def test_peephole_counts_no_macs(tmp_path):
    model, _ = _model("LSTM", "bidirectional", peephole=True)
    m = load_onnx(_save(tmp_path, model))
    assert m.macs == 2 * T * B * 4 * H * (I + H)
    assert any("peephole" in n for n in m.notes)


def test_reset_gate_refuses_unmodelled_activation_params(tmp_path):
    model, _ = _model("GRU")
    model.graph.node[0].attribute.append(helper.make_attribute("activation_alpha", [0.5]))
    model.graph.node[0].attribute.append(
        helper.make_attribute("activations", ["HardSigmoid", "Tanh"])
    )
    m = load_onnx(_save(tmp_path, model))  # counting is fine
    assert m.macs == T * B * 3 * H * (I + H)
    item = next(it for it in m.layers if it.layer.name == "l0_gru/fwd/h1/h")
    with pytest.raises(AccelError, match="activation_alpha"):
        item.gemm_x(np.ones((T, 1, B, H), np.float32), 8)


# --- the simulator on them ---------------------------------------------------------------


@pytest.mark.parametrize("op,lbr", CASES)
def test_patterns_and_cli_simulate(tmp_path, op, lbr):
    model, _ = _model(op, "bidirectional", lbr=lbr, stacked=True)
    path = _save(tmp_path, model)
    feeds = _feeds(0, 2, None)
    m = load_onnx(path, feeds["x"])
    pats = list(layer_patterns(m, ArrayConfig()))
    assert len(pats) == len(m.layers)
    assert len(list(layer_patterns(load_onnx(path), ArrayConfig()))) == len(m.layers)
    for item, W, X in layer_operands(m, ArrayConfig()):  # what the RTL would run
        L = item.layer
        assert W.shape == (1, L.M, L.K) and X.shape == (1, L.K, L.N)
    npy = tmp_path / "x.npy"
    np.save(npy, feeds["x"])
    assert cli.main(["simulate", "--onnx", str(path), "--input", str(npy), "--quiet"]) == 0


# --- DynamicQuantizeLSTM -------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_dynamic_quantize_lstm(tmp_path, direction, per_channel):
    oq = pytest.importorskip("onnxruntime.quantization")
    dirs = DIRS[direction]
    model, p = _model("LSTM", direction, init="input")
    float_path = _save(tmp_path, model, "float.onnx")
    q_path = tmp_path / "q.onnx"
    oq.quantize_dynamic(str(float_path), str(q_path), per_channel=per_channel,
                        weight_type=oq.QuantType.QInt8)  # fmt: skip
    qmodel = onnx.load(q_path)
    qnode = next(n for n in qmodel.graph.node if n.op_type == "DynamicQuantizeLSTM")
    assert qnode.domain == "com.microsoft"
    feeds = _feeds(0, dirs, "input")
    m = load_onnx(q_path, feeds)
    fm = load_onnx(float_path)
    assert m.macs == fm.macs == dirs * T * B * 4 * H * (I + H)
    assert [it.layer.name for it in m.layers] == [
        it.layer.name.replace("l0_lstm", qnode.name) for it in fm.layers
    ]
    assert all(it.quant == "DynamicQuantizeLSTM" for it in m.layers)
    inits = {t.name: numpy_helper.to_array(t) for t in qmodel.graph.initializer}
    for it in m.layers:
        d = 0 if "/fwd/" in it.layer.name or dirs == 1 else 1
        which, s_i = ("W", 8) if it.layer.name.endswith("/x") else ("R", 10)
        scale = np.broadcast_to(inits[qnode.input[s_i]].reshape(dirs, -1)[d], (4 * H,))
        w = it.quantized_weights(8)
        assert w.shape == (4 * H, it.layer.K)
        np.testing.assert_array_equal(w, it.int_weight)
        # the model's integers times its scales are the float LSTM's weights
        np.testing.assert_allclose(w * scale[:, None], p[which][d],
                                   atol=float(scale.max()) / 2 + 1e-7)  # fmt: skip
    (y,) = _ort_run(qmodel, feeds, [qnode.output[0]])
    assert _check_steps(m, y, feeds["h0"], 0, dirs) == dirs * T
    npz = tmp_path / "in.npz"
    np.savez(npz, **feeds)
    assert cli.main(["simulate", "--onnx", str(q_path), "--input", str(npz), "--quiet"]) == 0


def test_layout_1_with_input_says_onnxruntime_refuses(tmp_path):
    """onnxruntime's CPU recurrences run layout 0 only: its own message is passed on."""
    model, _ = _model("LSTM", layout=1)
    m = load_onnx(_save(tmp_path, model), _feeds(1, 1, None)["x"])
    with pytest.raises(AccelError, match="onnxruntime cannot load the model.*layout"):
        list(layer_patterns(m, ArrayConfig()))
