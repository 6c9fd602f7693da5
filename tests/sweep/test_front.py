"""`accel pareto`: the front of a store, checked against the designs' own numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel.cli import main
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.fpga.area import estimate
from accel.sweep.derive import per_design, priced
from accel.sweep.evaluate import simulator_version
from accel.sweep.front import front_report
from accel.sweep.store import Store

SPACE = """
[array]
rows = [4, 8, 32]
cols = [4, 16]
queue_depth = [2, 4]
[system]
clock_mhz = [100, 200]
[sweep]
fpga = ["ecp5-25k", "ecp5-85k"]
"""
FLAGS = ["--image", "32", "--weight-density", "0.3", "--act-density", "0.6", "-j", "1"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("front")
    (d / "space.toml").write_text(SPACE)
    args = ["sweep", "--space", str(d / "space.toml"), "--store", str(d / "s.db"),
            "--network", "resnet50", "--network", "mobilenet_v2", *FLAGS, "--quiet"]  # fmt: skip
    assert main(args) == 0
    return d / "s.db"


def _load(path):
    with Store(path, create=False) as s:
        return list(s.rows(simulator_version())), s.meta("sweep")


def test_front_is_the_non_dominated_set_of_feasible_designs(store):
    rows, meta = _load(store)
    report = front_report(rows, meta, fpga="ecp5-25k")
    assert report["designs"] == 12 * 2  # designs x clocks
    p = np.array(report["points"])
    on = np.array(report["on_front"])
    for i in range(len(p)):  # independent O(n^2) check
        beaten = ((p <= p[i]).all(axis=1) & (p < p[i]).any(axis=1)).any()
        assert on[i] == (not beaten)
    # every design counted fits the device by the area model, the others are counted
    for e in report["front"]:
        a = estimate(ArrayConfig(**e["array"]), max_blocks=64, target="ecp5-25k")
        assert a["dsp"] == e["dsp"] and e["area"] <= 1
    assert report["considered"] + report["infeasible"] == report["designs"]
    assert report["infeasible"] > 0  # 32 x 16 DSPs do not fit a 25k
    # energy and latency are sums over both networks
    one = front_report(rows, meta, workloads=["resnet50-i32"], fpga="ecp5-25k", area="dsp")
    assert one["workloads"] == ["resnet50-i32"]


def test_a_slower_clock_lengthens_latency_up_to_fmax_only(store):
    rows, meta = _load(store)
    designs = per_design(priced(rows, [100.0, 200.0], ["default"], ["ecp5-85k"]),
                         ["resnet50-i32", "mobilenet_v2-i32"])  # fmt: skip
    by_key: dict[str, dict[float, dict]] = {}
    for d in designs:
        by_key.setdefault(d["design_key"], {})[d["clock_mhz"]] = d
    assert len(by_key) == 12
    for pair in by_key.values():
        slow, fast = pair[100.0], pair[200.0]
        # latency is priced at min(clock, modelled Fmax): a clock above Fmax buys nothing
        f = slow["fmax_mhz"]
        assert fast["run_clock_mhz"] == min(200.0, f) and slow["run_clock_mhz"] == min(100.0, f)
        ratio = min(200.0, f) / min(100.0, f)
        assert slow["latency_ms"] == pytest.approx(ratio * fast["latency_ms"])
        assert slow["energy_uj"] == fast["energy_uj"] and slow["area"] == fast["area"]
    report = front_report(rows, meta, fpga="ecp5-85k", feasible_only=False)
    assert report["hypervolume"] > 0 and 0 < report["hypervolume_fraction"] < 1


def test_cli_writes_json_and_plot_and_names_bad_input(store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["pareto", "--store", str(store), "--json", str(out / "p.json"),
                 "--plot", str(out)]) == 0  # fmt: skip
    report = json.loads((out / "p.json").read_text())
    assert report["tool"] == "accel" and report["front"]
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    text = capsys.readouterr().out
    assert "designs on the front" in text and "hypervolume" in text
    cases = [
        (["--store", str(tmp_path / "none.db")], "no such file"),
        (["--store", str(store), "--workload", "vgg16"], "holds no row of it"),
        (["--store", str(store), "--reference", "1,2"], "three numbers"),
        (["--store", str(store), "--fpga", "ecp5-45k"], "the sweep applied"),
    ]
    for args, message in cases:
        assert main(["pareto", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_reference_point_is_stated_and_used(store):
    rows, meta = _load(store)
    wide = front_report(rows, meta, reference=[1e9, 1e6, 1.0])
    assert wide["reference"] == [1e9, 1e6, 1.0]
    with pytest.raises(AccelError, match="three positive numbers"):
        front_report(rows, meta, reference=[1.0, -1.0, 1.0])
