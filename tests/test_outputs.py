"""Outputs are replaced whole or not at all: on a full disk, on an error, on SIGTERM."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from accel.cli import main
from accel.errors import AccelError
from accel.outputs import replacing, write_text

ROOT = Path(__file__).resolve().parents[1]


def _accel_with_file_limit(argv: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """``accel ARGV`` in a child that may write at most ``limit`` bytes to any one file
    (``RLIMIT_FSIZE``): a disk that fills up part-way through a write."""

    def limit_writes():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "accel.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=limit_writes,
    )


def _simulate(json_path: Path, seed: int) -> list[str]:
    return ["simulate", "--network", "resnet50", "--rows", "8", "--cols", "8", "--seed",
            str(seed), "--quiet", "--json", str(json_path), "--fpga", "none"]  # fmt: skip


def test_a_report_survives_a_full_disk(tmp_path):
    report = tmp_path / "r.json"
    assert main(_simulate(report, 1)) == 0
    good = report.read_bytes()
    assert len(good) > 8192
    done = _accel_with_file_limit(_simulate(report, 2), 4096, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr
    assert str(report) in done.stderr
    assert report.read_bytes() == good  # the earlier report, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary left
    assert main(_simulate(report, 2)) == 0  # and it is still ours to replace


def test_verilog_and_its_sidecar_stay_a_pair(tmp_path, monkeypatch, capsys):
    """The disk fills while the sidecar is written: neither file of the pair changes."""
    out = tmp_path / "a.v"
    assert main(["rtl", "--rows", "2", "--cols", "2", "--block", "4", "-o", str(out)]) == 0
    v, side = out.read_bytes(), out.with_suffix(".json").read_bytes()
    real = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        if self.name.startswith(".a.json."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    assert main(["rtl", "--rows", "4", "--cols", "4", "--block", "8", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out.with_suffix(".json")) in err
    assert out.read_bytes() == v and out.with_suffix(".json").read_bytes() == side
    assert json.loads(side)["config"]["rows"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.v"]


def test_an_error_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), replacing(target) as (temp,):
        temp.write_text("half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_an_unwritable_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/accel-cannot-write-here/r.txt")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "r.txt"
    with pytest.raises(AccelError, match="cannot write"):
        write_text(target, "x")


def test_sigterm_unwinds_and_says_so(monkeypatch, capsys):
    """SIGTERM raises inside the command (so ``finally`` blocks remove temporaries) and the
    exit code is 143."""
    from accel.cli import show_config

    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the command")

    monkeypatch.setattr(show_config, "run", killed)
    assert main(["config"]) == 143
    assert capsys.readouterr().err == "terminated\n"
    assert signal.getsignal(signal.SIGTERM) is not None


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["simulate", "--gemm", ""], "--gemm"),
        (["simulate", "--onnx", " "], "--onnx"),
        (["simulate", "--safetensors", ""], "--safetensors"),
        (["simulate", "--network", "resnet50", "--json", ""], "--json"),
        (["simulate", "--network", "resnet50", "--config", ""], "--config"),
        (["verify", "--network", "resnet50", "--waves", ""], "--waves"),
        (["rtl", "-o", ""], "-o/--output"),
        (["prune", "--method", "nm", "", "out.npz"], "input"),
    ],
)
def test_an_empty_value_names_its_flag(capsys, argv, flag):
    """Before: an empty path read as 'not given' and ended in a traceback, or as '.'."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"accel {argv[0]}: error: {flag} needs a value, not an empty string\n"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["simulate", "--network", "resnet50", "--pattern=--"], "--pattern"),
        (["simulate", "--network", "resnet50", "--plot=--"], "--plot"),
        (["sweep", "--network=--", "--space", "s.toml"], "--network"),
    ],
)
def test_a_double_dash_value_names_its_flag(capsys, argv, flag):
    """Before: argparse turns --flag=-- into an empty list, which ended in a traceback."""
    assert main(argv) == 2
    assert capsys.readouterr().err == f"accel {argv[0]}: error: {flag} needs a value, not '--'\n"


def test_prune_may_replace_its_own_output_but_not_a_users_file(tmp_path, capsys):
    """Before: the second run onto the same output was refused as 'not written by accel'."""
    import numpy as np

    src = tmp_path / "w.npz"
    np.savez(src, W=np.random.default_rng(0).standard_normal((8, 16)))
    lenet = ROOT / "models" / "lenet" / "lenet.onnx"
    for source, out in ((src, tmp_path / "p.npz"), (lenet, tmp_path / "p.onnx")):
        argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", str(source), str(out)]
        assert main(argv) == 0
        assert main(argv) == 0, capsys.readouterr().err
    mine = tmp_path / "mine.npz"
    np.savez(mine, W=np.ones((2, 2)))
    before = mine.read_bytes()
    argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", str(src), str(mine)]
    assert main(argv) == 2
    assert "not written by accel" in capsys.readouterr().err and mine.read_bytes() == before


def test_colliding_outputs_are_refused_before_the_run(tmp_path, capsys):
    """Before: ``--plot P --json P/energy.png`` replaced the JSON with the PNG."""
    plots = tmp_path / "plots"
    argv = ["simulate", "--network", "resnet50", "--quiet", "--plot", str(plots),
            "--json", str(plots / "energy.png")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is also written by --json" in err and err.count("\n") == 1
    assert not (plots / "energy.png").exists()


def test_an_unwritable_output_folder_fails_before_the_run(tmp_path, monkeypatch, capsys):
    from accel.perf import simulate as perf

    def never(*a, **k):
        raise AssertionError("the simulation ran before the output was checked")

    monkeypatch.setattr(perf, "simulate_network", never)
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    argv = ["simulate", "--network", "resnet50", "--quiet", "--json", str(tmp_path / "r.json")]
    assert main(argv) == 2
    assert "cannot write into" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--dram-bytes-per-cycle", "1e-320"], "dram_bytes_per_cycle must be a number in"),
        (["--glb-bytes-per-cycle", "1e300"], "glb_bytes_per_cycle must be a number in"),
        (["--clock-mhz", "1e-320"], "clock_mhz must be a number in"),
        (["--clock-mhz", "inf"], "clock_mhz must be a number in"),
    ],
)
def test_floats_outside_a_sane_range_are_one_line(capsys, flags, needle):
    """Before: a denormal bandwidth ended in OverflowError, a denormal clock in 'inf ms'."""
    assert main(["simulate", "--network", "resnet50", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_a_huge_energy_is_refused_not_printed_as_inf(tmp_path, capsys):
    table = tmp_path / "e.toml"
    table.write_text("[compute]\nmultiply_pj = 1e306\n")
    assert main(["simulate", "--network", "resnet50", "--quiet", "--energy", str(table)]) == 2
    err = capsys.readouterr().err
    assert "multiply_pj" in err and "0..1e+06" in err and str(table) in err
