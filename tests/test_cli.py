"""The command line: every error is exit code 2 and one line on stderr naming what was
wrong; every success prints what it says and writes only what it may."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from accel.balance import balance_rows, permute_pattern
from accel.cli import main
from accel.config import ArrayConfig
from accel.encode import act_pattern, weight_pattern
from accel.perf.schedule import schedule

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "accel" / "perf" / "energy_45nm.toml"

COUNTERS = {
    "windows",
    "weight_reads",
    "macs_issued",
    "macs_effectual",
    "macs_gated",
    "row_busy_cycles",
    "row_idle_cycles",
    "outputs",
}
LAYER_KEYS = {
    "name",
    "M",
    "K",
    "N",
    "macs",
    "weight_density",
    "act_density",
    "compute_cycles",
    "total_cycles",
    "dense_compute_cycles",
    "dense_total_cycles",
    "utilisation",
    "speedup",
    "counters",
    "energy_pj",
}
SMALL = ["--rows", "4", "--cols", "4"]
MOBILENET_SMALL = ["--network", "mobilenet_v2", "--image", "32", *SMALL]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main`` in-process; argparse's own errors exit, ours return."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "accel.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(code, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert "error" in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    W = rng.integers(-3, 4, (10, 37)) * (rng.random((10, 37)) < 0.5)
    X = rng.integers(0, 5, (37, 9)) * (rng.random((37, 9)) < 0.6)
    f = {k: tmp_path / f"{k}.npz" for k in ("gemm", "nox", "mismatch", "float", "wide")}
    np.savez(f["gemm"], W=W, X=X)
    np.savez(f["nox"], W=W)
    np.savez(f["mismatch"], W=W, X=X[:36])
    np.savez(f["float"], W=W.astype(np.float32), X=X)
    wide = W.copy()
    wide[3, 5] = 200
    np.savez(f["wide"], W=wide, X=X)
    f["npy"] = tmp_path / "w.npy"
    np.save(f["npy"], W)
    f["bad_toml"] = tmp_path / "bad.toml"
    f["bad_toml"].write_text("[array]\nrows = = 4\n", encoding="utf-8")
    f["unknown_key"] = tmp_path / "unknown.toml"
    f["unknown_key"].write_text("[array]\nrows = 4\nrowz = 8\n", encoding="utf-8")
    table = DEFAULT_TABLE.read_text(encoding="utf-8")
    f["energy_missing"] = tmp_path / "e_missing.toml"
    f["energy_missing"].write_text(
        "\n".join(line for line in table.split("\n") if not line.startswith("glb_pj_per_bit")),
        encoding="utf-8",
    )
    f["energy_negative"] = tmp_path / "e_negative.toml"
    f["energy_negative"].write_text(
        table.replace("dram_pj_per_bit = { value = 30.47", "dram_pj_per_bit = { value = -30.47"),
        encoding="utf-8",
    )
    f["energy_gated"] = tmp_path / "e_gated.toml"
    f["energy_gated"].write_text(
        re.sub(r"gated_pj = \{ value = [0-9.]+", "gated_pj = { value = 5.0", table),
        encoding="utf-8",
    )
    assert f["energy_gated"].read_text(encoding="utf-8") != table
    f["dir"] = tmp_path
    f["W"], f["X"] = W, X  # type: ignore[assignment]
    return f


# -- errors -----------------------------------------------------------------------------------


def _case(case_id: str, make_argv, *needles: str):
    return pytest.param(make_argv, list(needles), id=case_id)


ERRORS = [
    _case("bad-toml", lambda f: ["--config", str(f["bad_toml"]), *MOBILENET_SMALL], "bad.toml"),
    _case(
        "unknown-key",
        lambda f: ["--config", str(f["unknown_key"]), *MOBILENET_SMALL],
        "unknown.toml",
        "rowz",
    ),
    _case("rows-0", lambda f: [*MOBILENET_SMALL, "--rows", "0"], "rows", "0"),
    _case("rows-abc", lambda f: [*MOBILENET_SMALL, "--rows", "abc"], "--rows", "'abc'"),
    _case("block-65", lambda f: [*MOBILENET_SMALL, "--block", "65"], "block", "65"),
    _case("clock-negative", lambda f: [*MOBILENET_SMALL, "--clock-mhz", "-5"], "clock_mhz", "-5"),
    _case(
        "unknown-network", lambda f: ["--network", "lenet"], "--network lenet", "unknown network"
    ),
    # beyond these limits one layer's patterns alone need tens of GiB
    _case(
        "image-huge", lambda f: ["--network", "resnet50", "--image", "100000"], "--image", "1024"
    ),
    _case("batch-0", lambda f: ["--network", "resnet50", "--batch", "0"], "--batch", "0"),
    _case(
        "seq-len-huge",
        lambda f: ["--network", "bert_base", "--seq-len", "100000"],
        "--seq-len",
        "100000",
    ),
    _case("seed-negative-gemm", lambda f: ["--gemm", str(f["gemm"]), "--seed", "-1"], "--seed"),
    _case(
        "energy-gated-dearer",
        lambda f: [*MOBILENET_SMALL, "--energy", str(f["energy_gated"])],
        "e_gated.toml",
        "gated_pj",
    ),
    _case("pattern-3:2", lambda f: [*MOBILENET_SMALL, "--pattern", "3:2"], "--pattern", "'3:2'"),
    _case("pattern-word", lambda f: [*MOBILENET_SMALL, "--pattern", "blocky"], "'blocky'"),
    _case(
        "weight-density-1.5",
        lambda f: [*MOBILENET_SMALL, "--weight-density", "1.5"],
        "--weight-density",
        "1.5",
    ),
    _case(
        "density-contradicts-nm",
        lambda f: [*MOBILENET_SMALL, "--weight-density", "0.3", "--pattern", "2:4"],
        "--weight-density",
        "0.3",
        "2:4",
    ),
    _case("seq-len-on-cnn", lambda f: [*MOBILENET_SMALL, "--seq-len", "16"], "seq_len"),
    _case(
        "gemm-missing",
        lambda f: ["--gemm", str(f["dir"] / "missing.npz")],
        "missing.npz",
        "no such file",
    ),
    _case("gemm-directory", lambda f: ["--gemm", str(f["dir"])], "directory"),
    _case("gemm-npy", lambda f: ["--gemm", str(f["npy"])], "w.npy", ".npz"),
    _case("gemm-no-X", lambda f: ["--gemm", str(f["nox"])], "nox.npz", "'X'"),
    _case(
        "gemm-shape-mismatch",
        lambda f: ["--gemm", str(f["mismatch"])],
        "mismatch.npz",
        "10x37",
        "36x9",
    ),
    _case("gemm-float", lambda f: ["--gemm", str(f["float"])], "float.npz", "W", "float32"),
    _case("gemm-range", lambda f: ["--gemm", str(f["wide"])], "wide.npz", "W[3, 5]", "200"),
    _case(
        "gemm-range-w-bits",
        lambda f: ["--gemm", str(f["gemm"]), "--w-bits", "2"],
        "gemm.npz",
        "W[",
        "2-bit",
    ),
    _case(
        "gemm-weight-density",
        lambda f: ["--gemm", str(f["gemm"]), "--weight-density", "0.5"],
        "--weight-density",
        "--gemm",
    ),
    _case(
        "gemm-act-density",
        lambda f: ["--gemm", str(f["gemm"]), "--act-density", "0.5"],
        "--act-density",
        "--gemm",
    ),
    _case(
        "gemm-pattern",
        lambda f: ["--gemm", str(f["gemm"]), "--pattern", "2:4"],
        "--pattern",
        "--gemm",
    ),
    _case(
        "gemm-and-network",
        lambda f: ["--gemm", str(f["gemm"]), "--network", "vgg16"],
        "--network",
        "--gemm",
    ),
    _case(
        "energy-missing-key",
        lambda f: [*MOBILENET_SMALL, "--energy", str(f["energy_missing"])],
        "e_missing.toml",
        "glb_pj_per_bit",
    ),
    _case(
        "energy-negative",
        lambda f: [*MOBILENET_SMALL, "--energy", str(f["energy_negative"])],
        "e_negative.toml",
        "dram_pj_per_bit",
        "-30.47",
    ),
    _case(
        "energy-missing-file",
        lambda f: [*MOBILENET_SMALL, "--energy", str(f["dir"] / "no.toml")],
        "no.toml",
    ),
]


@pytest.mark.parametrize(("make_argv", "needles"), ERRORS)
def test_simulate_errors_are_one_line_exit_2(files, capsys, make_argv, needles):
    code, out, err = run(["simulate", *make_argv(files)], capsys)
    assert_one_line_error(code, err, *needles)
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["curve", *MOBILENET_SMALL, "--pattern", "2:4"], ["--pattern 2:4"]),
        (["curve", *MOBILENET_SMALL, "--densities", "1,x"], ["--densities", "'1,x'"]),
        (["curve", "--gemm", "x.npz"], ["--network"]),
        (["config", "--rows", "0"], ["rows", "0"]),
        (["config", "--lanes", "32"], ["lanes", "32"]),
        (["config", "--skip-acts", "1"], ["1"]),
        (["bogus"], ["bogus"]),
        (["rtl", "-o", "x.v", "--top", "module"], ["--top", "'module'"]),
        ([], ["command"]),
    ],
    ids=[
        "curve-nm",
        "curve-densities",
        "curve-gemm",
        "config-rows-0",
        "config-lanes",
        "config-bool",
        "bogus-command",
        "rtl-top-keyword",
        "no-command",
    ],
)
def test_other_errors_are_one_line_exit_2(capsys, argv, needles):
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, *needles)
    assert out == ""


def test_act_density_out_of_range_is_one_line_naming_the_flag(capsys):
    # Without --quiet: the check must come before any progress line is printed.
    code, out, err = run(["simulate", *MOBILENET_SMALL, "--act-density", "1.5"], capsys)
    assert_one_line_error(code, err, "--act-density", "1.5")


def test_curve_densities_are_checked_before_simulating(capsys):
    code, out, err = run(["curve", *MOBILENET_SMALL, "--densities", "1,1.5"], capsys)
    assert_one_line_error(code, err, "--densities", "1.5")


def test_errors_through_a_real_process(files, tmp_path):
    cases = [
        (["simulate", "--config", str(files["bad_toml"]), *MOBILENET_SMALL], ["bad.toml"]),
        (["simulate", *MOBILENET_SMALL, "--rows", "abc"], ["--rows", "abc"]),
        (["simulate", "--gemm", str(files["wide"])], ["wide.npz", "W[3, 5]", "200"]),
    ]
    for argv, needles in cases:
        proc = run_subprocess(argv, tmp_path)
        assert_one_line_error(proc.returncode, proc.stderr, *needles)
        assert proc.stdout == ""


# -- never clobber a user's file ----------------------------------------------------------


def test_json_refuses_a_users_file_and_force_overrides(files, tmp_path, capsys):
    target = tmp_path / "notes.json"
    original = b'{"my": "precious notes"}\n\x00binary tail'
    target.write_bytes(original)
    argv = ["simulate", "--gemm", str(files["gemm"]), *SMALL, "--json", str(target)]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, "--json", "notes.json", "--force")
    assert target.read_bytes() == original

    code, out, err = run([*argv, "--force"], capsys)
    assert code == 0, err
    assert json.loads(target.read_text(encoding="utf-8"))["tool"] == "accel"

    # accel's own report is replaced without --force
    target.write_text(target.read_text(encoding="utf-8").replace('"M": 10', '"M": 11'))
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert json.loads(target.read_text(encoding="utf-8"))["layers"][0]["M"] == 10


def test_json_user_file_is_refused_before_anything_is_written(files, tmp_path, capsys):
    target = tmp_path / "mine.json"
    target.write_text("[]", encoding="utf-8")
    plots = tmp_path / "plots"
    argv = ["simulate", "--gemm", str(files["gemm"]), "--json", str(target), "--plot", str(plots)]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, "mine.json")
    assert not plots.exists()
    assert target.read_text(encoding="utf-8") == "[]"


def test_rerun_onto_own_report_with_another_suffix(files, tmp_path, capsys):
    target = tmp_path / "report.out"
    argv = ["simulate", "--gemm", str(files["gemm"]), "--json", str(target), "--quiet"]
    assert run(argv, capsys)[0] == 0
    code, out, err = run(argv, capsys)
    assert code == 0, err  # accel wrote it: no --force needed, whatever the suffix


def test_plot_refuses_a_users_png(files, tmp_path, capsys):
    out_dir = tmp_path / "plots"
    out_dir.mkdir()
    user_png = b"\x89PNG\r\n\x1a\n" + b"a user's own picture"
    (out_dir / "speedup.png").write_bytes(user_png)
    argv = ["simulate", "--gemm", str(files["gemm"]), "--plot", str(out_dir)]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, "--plot", "speedup.png")
    assert (out_dir / "speedup.png").read_bytes() == user_png
    assert sorted(p.name for p in out_dir.iterdir()) == ["speedup.png"]


def test_plot_onto_a_file_is_refused(files, tmp_path, capsys):
    not_dir = tmp_path / "plots"
    not_dir.write_text("x", encoding="utf-8")
    code, out, err = run(["simulate", "--gemm", str(files["gemm"]), "--plot", str(not_dir)], capsys)
    assert_one_line_error(code, err, "--plot", "plots")
    assert not_dir.read_text(encoding="utf-8") == "x"


def test_all_zero_energy_table_is_not_a_crash(files, tmp_path, capsys):
    # Every entry zero is a valid table (entries must be non-negative).
    zero = tmp_path / "zero.toml"
    zero.write_text(
        "[compute]\nmultiply_pj = 0\nadd_pj = 0\ngated_pj = 0\n"
        "[memory]\narray_pj_per_bit = 0\nglb_pj_per_bit = 0\ndram_pj_per_bit = 0\n"
        "[static]\npe_cycle_pj = 0\n",
        encoding="utf-8",
    )
    code, out, err = run(["simulate", "--gemm", str(files["gemm"]), "--energy", str(zero)], capsys)
    assert code in (0, 2)
    assert "Traceback" not in err


# -- success ----------------------------------------------------------------------------------


def test_simulate_gemm_prints_a_table(files, capsys):
    code, out, err = run(["simulate", "--gemm", str(files["gemm"]), *SMALL], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["layer", "MxKxN"]
    assert any(line.startswith("gemm ") and "10x37x9" in line for line in lines)
    assert any(line.startswith("total (1 layers)") for line in lines)
    assert "compute cycles" in out


def test_simulate_gemm_json_matches_the_schedule(files, capsys):
    argv = ["simulate", "--gemm", str(files["gemm"]), *SMALL, "--block", "8", "--json", "-"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    report = json.loads(out)  # stdout is the JSON and nothing else
    assert {"config", "layers", "totals"} <= set(report)
    assert report["tool"] == "accel"
    assert report["config"]["array"]["block"] == 8
    (layer,) = report["layers"]
    assert set(layer) >= LAYER_KEYS
    assert set(layer["counters"]) == COUNTERS
    W, X = files["W"], files["X"]
    assert (layer["M"], layer["K"], layer["N"]) == (10, 37, 9)
    assert layer["macs"] == 10 * 37 * 9
    assert layer["weight_density"] == np.count_nonzero(W) / W.size
    assert layer["act_density"] == np.count_nonzero(X) / X.size

    cfg = ArrayConfig(rows=4, cols=4, block=8)
    wp = weight_pattern(W, 8)
    balanced = permute_pattern(wp, balance_rows(cfg, wp, "auto"))  # the default pass
    expect = schedule(cfg, balanced, act_pattern(X, 8, 4))
    assert layer["balance"] == "auto"
    assert layer["compute_cycles"] == expect.compute_cycles
    assert layer["counters"] == expect.counters.as_dict()
    plain = schedule(cfg, wp, act_pattern(X, 8, 4))
    assert layer["unbalanced_compute_cycles"] == plain.compute_cycles
    dense = schedule(cfg.as_dense(), weight_pattern(W, 8), act_pattern(X, 8, 4))
    assert layer["dense_compute_cycles"] == dense.compute_cycles
    assert report["totals"]["compute_cycles"] == expect.compute_cycles


def test_simulate_mobilenet_json(capsys):
    argv = [
        "simulate",
        "--network",
        "mobilenet_v2",
        *SMALL,
        "--weight-density",
        "0.5",
        "--act-density",
        "0.5",
        "--json",
        "-",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    report = json.loads(out)
    assert len(report["layers"]) == 53 == report["totals"]["layers"]
    assert report["workload"]["weight_density"] == 0.5
    assert report["totals"]["weight_density"] == pytest.approx(0.5, abs=0.01)
    assert report["totals"]["act_density"] == pytest.approx(0.5, abs=0.01)
    assert report["totals"]["speedup"] > 1
    for layer in report["layers"]:
        assert set(layer) >= LAYER_KEYS and set(layer["counters"]) == COUNTERS
    assert "simulating mobilenet_v2" in err  # progress goes to stderr, not into the JSON


def test_simulate_bert_seq_len(capsys):
    argv = ["simulate", "--network", "bert_base", "--seq-len", "16", "--quiet", "--json", "-"]
    argv += ["--rows", "8", "--cols", "8"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert err == ""
    report = json.loads(out)
    assert report["workload"]["seq_len"] == 16
    assert len(report["layers"]) == 96
    assert {layer["N"] for layer in report["layers"] if layer["name"].endswith(".q")} == {16}


def _png_is_ours(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and b"Software\x00accel" in data[:4096]


def test_curve_writes_a_png_and_speedup_grows_as_density_falls(tmp_path, capsys):
    out_dir, report = tmp_path / "plots", tmp_path / "curve.json"
    argv = ["curve", "--network", "mobilenet_v2", "--densities", "1,0.5,0.25"]
    argv += ["--plot", str(out_dir), "--json", str(report)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert _png_is_ours(out_dir / "curve.png")
    points = json.loads(report.read_text(encoding="utf-8"))["points"]
    assert [p["weight_density"] for p in points] == [1.0, 0.5, 0.25]
    speedups = [p["speedup"] for p in points]
    compute = [p["compute_speedup"] for p in points]
    assert speedups[0] < speedups[1] < speedups[2]
    assert compute[0] < compute[1] < compute[2]
    assert "w.density" in out and str(out_dir / "curve.png") in out
    # a second run replaces its own plot and report without --force
    assert run([*argv, "--quiet"], capsys)[0] == 0


def test_simulate_plot_writes_three_pngs_and_rerun_replaces_them(tmp_path, capsys):
    out_dir = tmp_path / "plots"
    argv = ["simulate", *MOBILENET_SMALL, "--weight-density", "0.5", "--plot", str(out_dir)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    names = ("speedup.png", "utilisation.png", "energy.png")
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(names)
    assert all(_png_is_ours(out_dir / n) for n in names)
    code, out, err = run([*argv, "--quiet"], capsys)
    assert code == 0, err
    assert out == "" and err == ""


def test_networks_lists_the_four(capsys):
    code, out, err = run(["networks"], capsys)
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["bert_base", "mobilenet_v2", "resnet50", "vgg16"]
    assert "mobilenet_v2     53 layers" in out


def test_config_prints_toml_with_overrides(tmp_path, capsys):
    code, out, err = run(["config", "--rows", "8", "--no-skip-acts", "--clock-mhz", "400"], capsys)
    assert code == 0, err
    data = tomllib.loads(out)
    assert data["array"]["rows"] == 8 and data["array"]["skip_acts"] is False
    assert data["array"]["cols"] == 16 and data["system"]["clock_mhz"] == 400.0
    # and it is a config file the tool reads back
    path = tmp_path / "c.toml"
    path.write_text(out, encoding="utf-8")
    code, out2, err = run(["config", "--config", str(path)], capsys)
    assert code == 0 and out2 == out


def test_config_file_and_flags_together(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[array]\nrows = 8\ncols = 2\n", encoding="utf-8")
    code, out, err = run(["config", "--config", str(path), "--rows", "4"], capsys)
    assert code == 0, err
    data = tomllib.loads(out)
    assert (data["array"]["rows"], data["array"]["cols"]) == (4, 2)


def test_seed_reproduces_and_changes_the_report(capsys):
    base = ["simulate", *MOBILENET_SMALL, "--weight-density", "0.4", "--act-density", "0.6"]
    base += ["--quiet", "--json", "-"]
    outs = []
    for seed in ("1", "1", "2"):
        code, out, err = run([*base, "--seed", seed], capsys)
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]
    assert json.loads(outs[0])["totals"]["counters"] != json.loads(outs[2])["totals"]["counters"]


def test_success_through_a_real_process(files, tmp_path):
    proc = run_subprocess(["simulate", "--gemm", str(files["gemm"]), "--json", "-"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["layers"][0]["name"] == "gemm"
    assert "Traceback" not in proc.stderr
    assert "total (1 layers)" in proc.stderr  # the table, kept off stdout
    assert list(tmp_path.glob("*.json")) == []


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--seed", "-1"], ["--seed", "-1"]),
        (["--clock-mhz", "inf"], ["--clock-mhz", "inf"]),
        (["--dram-bytes-per-cycle", "nan"], ["--dram-bytes-per-cycle", "nan"]),
        (["--json", ""], ["--json", "empty"]),
        (["--plot", ""], ["--plot", "empty"]),
        (["--plot", "-"], ["--plot", "'-'"]),
    ],
)
def test_more_bad_flags_are_one_line(capsys, extra, needles):
    code, _, err = run(["simulate", *MOBILENET_SMALL, *extra], capsys)
    assert_one_line_error(code, err, *needles)


def test_outputs_under_a_file_fail_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "user.txt"
    blocker.write_text("mine\n")
    for flag, target in (("--plot", blocker / "sub"), ("--json", blocker / "r.json")):
        code, _, err = run(["simulate", *MOBILENET_SMALL, flag, str(target)], capsys)
        assert_one_line_error(code, err, flag, str(target))
        assert "simulating" not in err  # refused before any layer ran
    assert blocker.read_text() == "mine\n"


def test_large_nm_pattern_runs(capsys):
    code, out, _ = run(
        [
            "simulate",
            *MOBILENET_SMALL,
            "--block",
            "64",
            "--pattern",
            "32:64",
            "--quiet",
            "--json",
            "-",
        ],
        capsys,
    )
    assert code == 0
    assert json.loads(out)["workload"]["pattern"] == "32:64"


def test_energy_line_says_more_when_skipping_saves_nothing(tmp_path, capsys):
    """All-dense operands: nothing to skip, so the sparse design's bookkeeping costs a
    little more than the dense baseline, and the summary must not call that a saving."""
    path = tmp_path / "dense.npz"
    np.savez(path, W=np.full((16, 64), 3), X=np.full((64, 16), 2))
    code, out, _ = run(["simulate", "--gemm", str(path)], capsys)
    assert code == 0
    summary = next(ln for ln in out.splitlines() if ln.startswith("compute cycles"))
    report = tmp_path / "r.json"
    run(["simulate", "--gemm", str(path), "--quiet", "--json", str(report)], capsys)
    t = json.loads(report.read_text())["totals"]
    sparse, dense = t["energy_pj"]["total"], t["dense_energy_pj"]["total"]
    assert ("more than dense" in summary) == (sparse > dense)
    assert ("less than dense" in summary) == (sparse <= dense)
