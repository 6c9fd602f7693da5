"""The area model: exact DSP and block-RAM counts, the fitted terms against every
measured point of ``bench/synth_points.json``, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.fpga import area

POINTS = Path(__file__).parents[2] / "bench" / "synth_points.json"


def measured() -> list[dict]:
    rows = json.loads(POINTS.read_text())
    return [r for r in rows if r["target"].startswith("ecp5")]


def dsps_of(row: dict) -> int | None:
    from accel.fpga.targets import get_target

    dense = row["config"].get("dataflow") == "dense"
    return get_target(row["target"]).available["dsp"] if dense else None


def test_exact_resources():
    cfg = ArrayConfig(rows=8, cols=4, block=16, lanes=2)
    # one DSP per multiplier; each row's weight memory 144 bits wide = 4 DP16KD (x36)
    assert area.exact(cfg, 64) == {"dsp": 64, "bram": 8 * 4}
    assert area.exact(cfg, 1024) == {"dsp": 64, "bram": 8 * 4 * 2}  # deeper than 512
    assert area.exact(cfg, 16)["bram"] == 0  # shallow memories go to LUT RAM
    dense = cfg.as_dense()  # no mask: 128 bits = 4 DP16KD still
    assert area.exact(dense, 64)["bram"] == 8 * 4


@pytest.mark.parametrize("row", measured(), ids=lambda r: r["name"])
def test_exact_terms_match_every_measured_point(row):
    cfg = ArrayConfig(**row["config"])
    assert area.exact(cfg, row["max_blocks"], dsps=dsps_of(row)) == {
        "dsp": row["core"]["dsp"],
        "bram": row["core"]["bram"],
    }


@pytest.mark.parametrize("row", measured(), ids=lambda r: r["name"])
def test_fitted_terms_near_every_measured_point(row):
    cfg = ArrayConfig(**row["config"])
    est = area.estimate(cfg, max_blocks=row["max_blocks"])
    assert est["lut"] == pytest.approx(row["core_logic_cells"], rel=0.25)
    assert est["ff"] == pytest.approx(row["core"]["ff"], rel=0.25)


@pytest.mark.parametrize("dataflow", ["queued", "dense"])
def test_model_file_and_its_error(dataflow):
    model = json.loads(area.MODEL_FILE.read_text())["dataflows"][dataflow]
    names = area.DENSE_FEATURES if dataflow == "dense" else area.FEATURES
    assert set(model["coefficients"]) == {"lut", "ff"}
    for coeffs in model["coefficients"].values():
        assert list(coeffs) == list(names)
    points = [r for r in measured() if r["config"].get("dataflow", "queued") == dataflow]
    assert model["points"] == len(points)
    assert model["dsp_and_bram_exact_on_every_point"] is True
    assert model["held_out"] and all(e["mean"] < 0.25 for e in model["held_out_error"].values())


def test_dense_exact_resources():
    cfg = ArrayConfig(rows=16, cols=16, block=4, dataflow="dense")
    # 156 DSPs on the 85k, the other 100 products from logic; one 512x36 DP16KD per row
    assert area.exact(cfg, 64, dsps=156) == {"dsp": 156, "bram": 16}
    assert area.exact(cfg, 64) == {"dsp": 256, "bram": 16}
    assert area.exact(cfg, 1024, dsps=156)["bram"] == 16 * 4  # 2048 deep: four 2048x9
    assert area.features(cfg, dsps=156)["lut_mults"] == 100


def test_dense_reference_is_smaller_than_the_queued_array():
    cfg = ArrayConfig(rows=8, cols=8, block=16)
    queued = area.estimate(cfg)
    dense = area.estimate(cfg.dense_reference())
    assert dense["lut"] < queued["lut"] and dense["dsp"] == queued["dsp"] == 64


def test_estimate_scales_and_reports_the_share():
    small = area.estimate(ArrayConfig(rows=4, cols=4), target="ecp5-25k")
    big = area.estimate(ArrayConfig(rows=16, cols=16), target="ecp5-25k")
    assert big["lut"] > 4 * small["lut"] * 0.8 and big["dsp"] == 256
    assert big["share"]["dsp"] == 256 / 28 and big["fits"] is False
    assert small["share"]["lut"] == small["lut"] / 24288


def test_only_ecp5():
    with pytest.raises(AccelError, match="fitted for ECP5 only, not ice40-up5k"):
        area.estimate(ArrayConfig(rows=2, cols=2), target="ice40-up5k")


def test_simulate_reports_the_estimate(tmp_path, capsys):
    from accel.cli import main

    report = tmp_path / "r.json"
    argv = ["simulate", "--network", "resnet50", "--rows", "8", "--cols", "8", "--quiet"]
    assert main([*argv, "--json", str(report)]) == 0
    got = json.loads(report.read_text())
    est = got["fpga_estimate"]
    assert est["target"] == "ecp5-85k" and est["max_blocks"] == got["rtl_max_blocks"]
    cfg = ArrayConfig(**got["config"]["array"])
    assert est == {
        **area.estimate(cfg, max_blocks=est["max_blocks"], target="ecp5-85k"),
        "max_blocks": est["max_blocks"],
    }
    assert main([*argv, "--fpga", "none", "--json", str(report), "--force"]) == 0
    assert "fpga_estimate" not in json.loads(report.read_text())
    assert main(argv[:-1] + ["--fpga", "ecp5-25k"]) == 0
    assert "FPGA estimate on ecp5-25k" in capsys.readouterr().out
