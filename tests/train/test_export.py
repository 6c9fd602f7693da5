"""The ONNX export is the NumPy LeNet, and a real trained model goes through the whole
flow: ``accel prune`` -> ``accel simulate --onnx --input`` with captured activations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accel.cli import main
from accel.train import export, lenet

MODELS = Path(__file__).resolve().parents[2] / "models" / "lenet"


@pytest.fixture(scope="module")
def params():
    return lenet.init_params(3)


def test_onnxruntime_computes_the_numpy_logits(params):
    import onnxruntime as ort

    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    model = export.to_onnx(params)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input": x})
    want, _ = lenet.forward(params, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_committed_model_prunes_and_simulates_on_real_images(tmp_path, capsys):
    pruned = tmp_path / "lenet_2to4.onnx"
    assert main(["prune", "--method", "nm", "--nm", "2:4", str(MODELS / "lenet.onnx"),
                 str(pruned)]) == 0  # fmt: skip
    report = tmp_path / "r.json"
    args = ["simulate", "--onnx", str(pruned), "--input", str(MODELS / "test_images.npy")]
    assert main([*args, "--quiet", "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert [x["name"] for x in r["layers"]] == [s.name for s in lenet.LAYERS]
    assert r["workload"]["activations"] == "captured"
    images = np.load(MODELS / "test_images.npy").shape[0]
    conv1 = r["layers"][0]
    assert (conv1["M"], conv1["K"], conv1["N"]) == (6, 25, 28 * 28 * images)
    # 2:4 along K: half the weights of the K % 4 == 0 layers are gone
    for layer in r["layers"][2:]:
        assert layer["weight_density"] == pytest.approx(0.5, abs=0.01)
    # real images: black pixels and ReLU zeros, not a synthetic density of 1
    assert conv1["act_density"] < 0.5
    assert all(0.0 < x["act_density"] < 1.0 for x in r["layers"])
    assert r["totals"]["speedup"] > 1.5
