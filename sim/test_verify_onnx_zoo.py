"""Corpus models on the RTL through ``accel verify``: a U-Net's ConvTranspose layers (the
array's GEMM of the input itself), a QOperator ResNet on its own integers less their zero
points (which need 9-bit activations: onnxruntime's default is asymmetric), and a GRU's
per-step recurrent GEMMs, every layer bit-exact with cycles and counters equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from accel.cli import main

ZOO = Path(__file__).resolve().parents[1] / "models" / "onnx_zoo"
SMALL = ["--rows", "4", "--cols", "4", "--max-n", "16", "--sim", "verilator", "-j", "2"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize(
    ("model", "data", "extra", "layers"),
    [
        ("unet_dynamo.onnx", "unet_dynamo.npy", [], 13),
        ("resnet_bn_qop.onnx", "resnet_bn_qop.npy", ["--a-bits", "9"], 10),
        ("gru_kws.onnx", "gru_kws.npy", ["--layers", "0,1,2,3,4,5"], 6),
    ],
)
def test_corpus_model_on_the_rtl(capsys, model, data, extra, layers):
    argv = ["verify", "--onnx", str(ZOO / model), "--input", str(ZOO / data), *SMALL, *extra]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"verify: PASS ({layers} of {layers} layers match)" in out


def test_asymmetric_activations_do_not_fit_8_bits(capsys):
    argv = ["verify", "--onnx", str(ZOO / "resnet_bn_qop.onnx"), "--input",
            str(ZOO / "resnet_bn_qop.npy"), *SMALL]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "needs 9-bit signed operands; the array's a_bits is 8" in err
