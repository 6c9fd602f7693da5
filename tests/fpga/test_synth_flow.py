"""The real flow on a small array: Yosys and nextpnr from PyPI, ECP5 and iCE40.

One test, so the two targets run one after the other: the first YoWASP call of a fresh
machine compiles its WebAssembly into a cache of about 200 MB (minutes), which every
later call reuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.config import ArrayConfig
from accel.fpga import flow
from accel.fpga.flow import SynthOptions, synthesize
from accel.fpga.targets import get_target
from accel.hw.verilog import generate, ports


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """Results cached in the test's folder (the tools' own cache stays shared)."""
    monkeypatch.setattr(flow, "cache_dir", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def test_small_array_on_ecp5_and_ice40(tmp_path, private_cache):
    cfg = ArrayConfig(rows=2, cols=2, block=4, queue_depth=1)
    text, dut = generate(cfg, max_blocks=4)
    plist = ports(dut)
    multipliers = cfg.rows * cfg.cols * cfg.lanes
    for name, freq in (("ecp5-25k", 100.0), ("ice40-up5k", 24.0)):
        target = get_target(name)
        opts = SynthOptions(target, target.default_speed, freq)
        seen: list[str] = []
        result = synthesize(
            text, "accel_top", plist, opts, workdir=tmp_path / name, progress=seen.append
        )
        assert seen and seen[0].startswith("yosys")
        assert result["fits"], result["short"]
        assert result["core"]["resources"]["dsp"] == multipliers  # one DSP per multiplier
        assert result["harness"]["resources"]["dsp"] == 0
        assert result["latches"] == [] and result["logic_loops"] == []
        assert result["placed"]["dsp"]["used"] == multipliers
        assert result["placed"]["io"]["used"] == result["harness"]["pins"]
        assert result["placed"]["lut"]["used"] >= result["core"]["resources"]["lut"]
        clk = result["fmax"]["clk"]
        assert clk["constraint"] == freq and clk["achieved"] > 5
        assert result["met"] == (clk["achieved"] >= freq)
        path = result["critical_path"]
        assert path["from_clock"] == path["to_clock"] == "clk" and path["logic_levels"] > 0
        # what nextpnr does not check is stated: SB_MAC16 timing on iCE40, DP16KD pulse
        # width on ECP5 (this small array keeps its weights in LUT RAM: no block RAM)
        uses_bram = result["core"]["resources"]["bram"] > 0
        assert bool(result["caveats"]) == (name == "ice40-up5k" or uses_bram)
        assert (tmp_path / name / "report.json").is_file()
        assert not result["cached"]
        again = synthesize(text, "accel_top", plist, opts, workdir=tmp_path / name)
        assert again["cached"] and again["fmax"] == result["fmax"]
    assert len(list(private_cache.glob("*.json"))) == 2


def test_cli_synthesis_only_exits_0_when_it_fits(tmp_path, private_cache):
    from accel.cli import main

    report = tmp_path / "r.json"
    argv = [
        "synth",
        "--rows",
        "2",
        "--cols",
        "2",
        "--block",
        "4",
        "--queue-depth",
        "1",
        "--max-blocks",
        "4",
        "--target",
        "ecp5-25k",
        "--no-pnr",
        "--quiet",
    ]
    assert main([*argv, "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    assert got["fits"] and got["placed"] is None and got["fmax"] is None
    assert got["core"]["resources"]["dsp"] == got["multipliers"] == 4
    assert Path(got["workdir"]).parent == private_cache / "work"  # a folder per result
    assert main([*argv, "--json", str(report)]) == 0
    assert json.loads(report.read_text())["cached"]


def test_dense_array_instantiates_one_dsp_per_multiplier_and_lut_multipliers_beyond(
    tmp_path, private_cache
):
    """The dense reference on ECP5: DSPs and block RAMs instantiated, the multipliers
    beyond a DSP budget built from logic (no DSP for them), no latch, no loop."""
    from accel.fpga.flow import synthesize_array

    cfg = ArrayConfig(rows=2, cols=3, block=4, dataflow="dense")
    target = get_target("ecp5-25k")
    opts = SynthOptions(target, target.default_speed, 100.0, place_and_route=False)
    result = synthesize_array(cfg, opts, max_blocks=8, workdir=tmp_path / "all")
    core = result["core"]
    assert core["cells"]["MULT18X18D"] == 6 and result["lut_multipliers"] == 0
    assert core["cells"]["DP16KD"] == 2  # one per row: 32-bit records, 16 deep
    assert result["latches"] == [] and result["logic_loops"] == []

    from dataclasses import replace

    small = replace(target, available={**target.available, "dsp": 4})
    few = synthesize_array(
        cfg, replace(opts, target=small), max_blocks=8, workdir=tmp_path / "few"
    )
    assert few["core"]["cells"]["MULT18X18D"] == 4 and few["lut_multipliers"] == 2
    assert few["core"]["resources"]["lut"] > core["resources"]["lut"]  # the LUT products
    assert few["latches"] == [] and few["logic_loops"] == []
