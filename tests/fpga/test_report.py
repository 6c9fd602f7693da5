"""The report parser on reports that Yosys 0.70 and nextpnr 0.11 wrote here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.errors import AccelError
from accel.fpga import report as rp
from accel.fpga.targets import get_target

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_cell_counts_of_the_core_and_the_top():
    stat = load("ecp5_4x4_stat.json")
    core = rp.cell_counts(stat, "accel_top")
    assert core["MULT18X18D"] == 16  # one per multiplier of the 4x4 array
    assert core["DP16KD"] == 8
    assert "$scopeinfo" not in core
    top = rp.cell_counts(stat, "synth_top")
    assert top["accel_top"] == 1 and top["TRELLIS_FF"] > 0
    with pytest.raises(AccelError, match="no module 'nope'"):
        rp.cell_counts(stat, "nope")


def test_core_resources_use_the_report_names():
    ecp5 = get_target("ecp5-85k")
    res = rp.core_resources(rp.cell_counts(load("ecp5_4x4_stat.json"), "accel_top"), ecp5)
    assert res["dsp"] == 16 and res["bram"] == 8 and res["lutram"] == 264
    assert res["lut"] > 1000 and res["ff"] > 1000 and res["carry"] > 0
    ice = get_target("ice40-up5k")
    cells = rp.cell_counts(load("ice40_4x2_stat.json"), "accel_top")
    res = rp.core_resources(cells, ice)
    assert res["dsp"] == 8  # SB_MAC16, one per multiplier of 4x2
    assert res["ff"] == sum(n for c, n in cells.items() if c.startswith("SB_DFF"))


def test_placed_utilisation_fmax_and_critical_path():
    ecp5 = get_target("ecp5-85k")
    report = load("ecp5_4x4_report.json")
    placed = rp.placed_resources(report, ecp5)
    assert placed["dsp"] == {"used": 16, "available": 156}
    assert placed["lut"]["available"] == 83640
    assert placed["io"]["used"] == 20
    clocks = rp.fmax(report)
    assert list(clocks) == ["clk"]  # $glbnet$clk$TRELLIS_IO_IN is the pin clk
    assert 10 < clocks["clk"]["achieved"] < clocks["clk"]["constraint"] == 100
    paths = rp.critical_paths(report, top=0)
    worst = paths[0]
    assert worst["from_clock"] == worst["to_clock"] == "clk"
    assert worst["delay_ns"] == pytest.approx(1e3 / clocks["clk"]["achieved"], rel=0.02)
    assert 0 < worst["routing_ns"] < worst["delay_ns"]
    assert worst["logic_levels"] > 5
    assert {p["from_clock"] for p in paths} >= {"clk", "<async>"}


def test_placement_overflow_names_the_resource_and_the_numbers():
    ice = get_target("ice40-up5k")
    log = (DATA / "ice40_4x2_overflow.log").read_text()
    assert rp.placement_overflow(log, ice) == {"lut": {"needed": 5518, "available": 5280}}
    assert rp.placement_overflow("Info: Program finished normally.\n", ice) is None


def test_check_problems_finds_logic_loops():
    text = (
        "Checking module top...\n"
        "Warning: found logic loop in module top:\n"
        "Warning: multiple conflicting drivers for top.x:\n"
        "Found and reported 2 problems.\n"
    )
    found = rp.check_problems(text)
    assert found["logic_loops"] == ["found logic loop in module top:"]
    assert len(found["other"]) == 1
    assert rp.check_problems("Found and reported 0 problems.\n") == {
        "logic_loops": [],
        "other": [],
    }


def test_read_json_names_the_file(tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text("{not json")
    with pytest.raises(AccelError, match="report.json: cannot read the nextpnr report"):
        rp.read_json(bad, "nextpnr report")


def test_progress_names_the_phase(tmp_path):
    from accel.fpga.tools import _last_phase

    log = tmp_path / "nextpnr.log"
    log.write_text(
        "Info: Running simulated annealing placer for refinement.\n"
        "Info:     415000 |    78097     335745 |  267   729 |     73903|       2.71    1070.21|\n"
    )
    phase, offset = _last_phase(log, 0)
    assert phase == "routing, 73,903 arcs left" and offset == log.stat().st_size
    log.write_text("6.46.15.5. Executing ABC9.\n")
    assert _last_phase(log, 0)[0] == "6.46.15.5. Executing ABC9."
