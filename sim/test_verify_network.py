"""Whole workloads on the RTL through ``accel verify``: the real LeNet-5, pruned 2:4, on
real digits through every layer on both simulators, and a sample of ResNet-50's layers
(cut down in N) on Verilator, in parallel processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accel.cli import main
from accel.cosim.runner import SIMULATORS

LENET = Path(__file__).resolve().parents[1] / "models" / "lenet"
SMALL = ["--rows", "4", "--cols", "4", "--block", "8"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def pruned_lenet(tmp_path_factory):
    """LeNet-5 pruned 2:4 by ``accel prune`` and four of its real test digits."""
    where = tmp_path_factory.mktemp("lenet")
    model = where / "lenet-2of4.onnx"
    assert main(["prune", "--method", "nm", "--nm", "2:4", str(LENET / "lenet.onnx"),
                 str(model)]) == 0  # fmt: skip
    digits = where / "digits.npy"
    np.save(digits, np.load(LENET / "test_images.npy")[:4])
    return model, digits


def _rows(out: str) -> dict[str, list[str]]:
    """The per-layer table: layer name to its columns."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    rows = {}
    for line in lines[head + 1 :]:
        if not line or line[0].isdigit() or line.startswith(("verify:", "first ")):
            break
        name, *cols = line.split()
        rows[name] = cols
    return rows


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_lenet_2of4_on_real_digits_every_layer(pruned_lenet, capsys, simulator):
    model, digits = pruned_lenet
    argv = ["verify", "--onnx", str(model), "--input", str(digits), "--sim", simulator,
            *SMALL, "-j", "2"]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    rows = _rows(out)
    assert list(rows) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    for name, (_shape, rtl, sim, cycles, counters, outputs) in rows.items():
        assert (cycles, counters, outputs) == ("ok", "ok", "ok"), name
        assert rtl == sim
    assert rows["conv1"][0] == "6x25x3136"  # 4 digits of 28 x 28: N = 4 x 784
    assert "verify: PASS (5 of 5 layers match)" in out


def test_resnet50_sample_cut_in_n_on_verilator(capsys):
    layers = "conv1,layer1.0.conv2,layer2.0.conv2,layer2.0.downsample,layer3.1.conv3,fc"
    argv = ["verify", "--network", "resnet50", "--weight-density", "0.2", "--act-density",
            "0.5", "--layers", layers, "--max-n", "40", "--rows", "8", "--cols", "8",
            "--sim", "verilator", "-j", "2"]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    rows = _rows(out)
    assert list(rows) == layers.split(",")
    assert rows["layer2.0.conv2"][0] == "128x1152x40" and rows["fc"][0] == "1000x2048x1"
    assert all(r[3:] == ["ok", "ok", "ok"] for r in rows.values())
    assert "max_blocks 128" in out  # the memory depth comes from the workload (fc: K = 2048)


def test_a_wrong_layer_list_is_one_line(capsys):
    argv = ["verify", "--network", "resnet50", "--layers", "conv1,nope", *SMALL]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--layers" in err and "'nope'" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-j", "0"], "--jobs"),
        (["--max-n", "0"], "--max-n"),
        (["--idle", "1.0"], "--idle"),
        (["--stall", "nan"], "--stall"),
        (["--relu"], "--relu applies only to --gemm"),
        (["--input", "x.npy"], "--input applies only to --onnx"),
    ],
)
def test_flags_are_checked_before_any_work(capsys, extra, needle):
    assert main(["verify", "--network", "resnet50", *SMALL, *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_quiet_prints_the_verdict_only(pruned_lenet, capsys):
    """``--quiet`` prints only the summary and the verdict (scripts read the exit code)."""
    model, digits = pruned_lenet
    argv = ["verify", "--onnx", str(model), "--input", str(digits), "--sim", "verilator",
            *SMALL, "--layers", "fc2,fc3", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert lines[-1] == "verify: PASS (2 of 2 layers match)" and len(lines) == 2
