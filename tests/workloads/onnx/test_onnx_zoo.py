"""The ONNX corpus (models/onnx_zoo): real exports of many model families, and one trained
model from a wheel, import with the MACs an independent count gives (in total and node by
node), and simulate.

The corpus is listed in models/onnx_zoo/corpus.json (made by make.py, quantize.py and
silero_input.py there). The MACs reference (macs_reference.py) runs the model on
onnxruntime and counts from the ONNX operator definitions, using nothing of ``accel``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from accel import cli
from accel.workloads.onnx import load_input, load_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from macs_reference import node_macs, reference_macs, run_shapes  # noqa: E402

pytest.importorskip("onnxruntime")

ZOO = Path(__file__).resolve().parents[3] / "models" / "onnx_zoo"
CORPUS = json.loads((ZOO / "corpus.json").read_text())
MAX_CORPUS_BYTES = 4 << 20


def model_path(row: dict) -> Path:
    """The committed file, or the one a data wheel ships (found without importing the
    package: silero_vad's __init__ imports torch)."""
    if row["file"]:
        return ZOO / row["file"]
    spec = importlib.util.find_spec(row["package"])
    assert spec is not None and spec.submodule_search_locations, (
        f"{row['package']} is not installed: `make` installs it (DATA_WHEELS)"
    )
    return Path(next(iter(spec.submodule_search_locations))) / row["resource"]


def feeds(row: dict, path: Path) -> dict[str, np.ndarray]:
    """The input arrays by graph input name, read with NumPy alone (for the reference)."""
    inp = ZOO / row["input"]
    if inp.suffix == ".npz":
        with np.load(inp) as z:
            return {k: z[k] for k in z.files}
    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    (name,) = [v.name for v in model.graph.input if v.name not in inits]
    return {name: np.load(inp)}


@functools.cache
def reference(name: str) -> tuple[dict[str, int], int]:
    row = next(r for r in CORPUS if r["name"] == name)
    path = model_path(row)
    return reference_macs(path, feeds(row, path))


ROWS = [pytest.param(r, id=r["name"]) for r in CORPUS]


@pytest.mark.parametrize("row", ROWS)
def test_imports_with_independent_macs(row: dict) -> None:
    path = model_path(row)
    model = load_onnx(path, load_input(ZOO / row["input"]))
    per_node, total = reference(row["name"])
    assert total > 0 and model.layers
    assert sum(item.layer.macs for item in model.layers) == total
    by_node: dict[str, int] = {}  # an RNN is several layers (steps, gates) of one node
    for item in model.layers:
        by_node[item.node] = by_node.get(item.node, 0) + item.layer.macs
    assert by_node == per_node


@pytest.mark.parametrize("row", ROWS)
def test_cli_simulates_captured(row: dict, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = [
        "simulate",
        "--onnx",
        str(model_path(row)),
        "--input",
        str(ZOO / row["input"]),
        "--quiet",
        "--json",
        str(out),
    ]
    assert cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["workload"]["activations"] == "captured"
    assert report["totals"]["layers"] == len(report["layers"]) > 0
    assert sum(layer["macs"] for layer in report["layers"]) == reference(row["name"])[1]


def test_corpus_lists_every_file_and_stays_small() -> None:
    """corpus.json and the directory agree, every model has its input, and the committed
    corpus keeps to its size budget."""
    listed = {r["file"] for r in CORPUS if r["file"]}
    listed |= {r["external_data"] for r in CORPUS if r["external_data"]}
    assert {p.name for p in ZOO.glob("*.onnx*")} == listed
    for r in CORPUS:
        assert (ZOO / r["input"]).is_file(), r["input"]
    data = [p for p in ZOO.iterdir() if p.suffix in (".onnx", ".data", ".npy", ".npz")]
    assert sum(p.stat().st_size for p in data) < MAX_CORPUS_BYTES


def test_wheel_model_is_the_trained_one() -> None:
    """The silero-vad wheel's model is there (the Makefile installs it), with its If,
    LSTM and state input: the one trained model of the corpus."""
    row = next(r for r in CORPUS if r["name"] == "silero_vad")
    model = onnx.load(str(model_path(row)))
    assert [v.name for v in model.graph.input] == ["input", "state", "sr"]
    assert any(n.op_type == "If" for n in model.graph.node)


# -- the reference itself, on nodes counted by hand --------------------------------------------


def _w(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_reference_counts_by_hand() -> None:
    """Grouped 1-D/3-D conv, grouped ConvTranspose, Gemm with transA, batched MatMul and a
    bidirectional LSTM (onnxruntime runs no batch-first ``layout=1``), against numbers
    worked out on paper."""
    inits = {
        "w1": _w((6, 2, 3)),  # Conv1d 4 -> 6, group 2, k 3
        "w3": _w((4, 3, 1, 3, 3)),  # Conv3d 3 -> 4, k 1x3x3
        "wt": _w((6, 2, 4, 4)),  # ConvTranspose 6 -> 4, group 2, k 4
        "a": _w((5, 7)),  # Gemm A^T: M 7, K 5
        "lw": _w((2, 12, 5)),  # LSTM H 3, input 5
        "lr": _w((2, 12, 3)),
    }
    nodes = [
        helper.make_node("Conv", ["x1", "w1"], ["y1"], name="c1", group=2, pads=[1, 1]),
        helper.make_node("Conv", ["x3", "w3"], ["y3"], name="c3", pads=[0, 1, 1, 0, 1, 1]),
        helper.make_node(
            "ConvTranspose",
            ["xt", "wt"],
            ["yt"],
            name="ct",
            group=2,
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Gemm", ["a", "b"], ["yg"], name="g", transA=1),
        helper.make_node("MatMul", ["ma", "mb"], ["ym"], name="m"),
        helper.make_node(
            "LSTM", ["xl", "lw", "lr"], ["yl"], name="l", hidden_size=3, direction="bidirectional"
        ),
    ]
    shapes = {
        "x1": [2, 4, 10],
        "x3": [1, 3, 4, 6, 6],
        "xt": [1, 6, 5, 5],
        "b": [5, 8],
        "ma": [3, 4, 9],
        "mb": [3, 9, 2],
        "xl": [7, 2, 5],
    }
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in shapes.items()],
        [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
            for o in ("y1", "y3", "yt", "yg", "ym", "yl")
        ],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = {k: _w(v, 1) for k, v in shapes.items()}
    got = {n.name: node_macs(n, run_shapes(model, data)) for n in model.graph.node}
    assert got == {
        "c1": 2 * 6 * 10 * (2 * 3),  # out [2, 6, 10] x Cin/g 2 x k 3
        "c3": 4 * 4 * 6 * 6 * (3 * 9),  # out [1, 4, 4, 6, 6] x 3 x 1x3x3
        "ct": 6 * 25 * (2 * 16),  # in [1, 6, 5, 5] x Cout/g 2 x 4x4
        "g": 7 * 8 * 5,
        "m": 3 * 4 * 2 * 9,
        "l": 2 * 7 * 2 * (4 * 3 * 5 + 4 * 3 * 3),  # dirs x T x batch x (4H in + 4H H)
    }
