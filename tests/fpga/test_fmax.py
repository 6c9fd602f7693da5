"""The Fmax model: its fit on routed points, the block-RAM cap, and the shipped file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.fpga import fmax

POINTS = Path(__file__).parents[2] / "bench" / "synth_points.json"


def test_fit_recovers_a_known_law():
    law = lambda c: 1000.0 / (4.0 + 0.5 * __import__("math").log2(c.rows * c.cols))  # noqa: E731
    cfgs = [ArrayConfig(rows=r, cols=r) for r in (2, 4, 8, 16)]
    model = fmax.fit_period([(c, law(c)) for c in cfgs])
    assert model["a_ns"] == pytest.approx(4.0) and model["b_ns"] == pytest.approx(0.5)
    assert model["leave_one_out_error"]["max"] == pytest.approx(0.0, abs=1e-9)
    two = fmax.fit_period([(c, law(c)) for c in cfgs[:2]])
    assert two["leave_one_out_error"] is None  # too few points to hold one out
    with pytest.raises(AccelError, match="no routed point"):
        fmax.fit_period([])


def test_model_matches_its_routed_points():
    model = json.loads(fmax.MODEL_FILE.read_text())["dataflows"]
    rows = {r["name"]: r for r in json.loads(POINTS.read_text())}
    assert {"queued", "dense"} <= set(model)
    for entry in model.values():
        for name, mhz in entry["points"].items():
            assert rows[name]["fmax"]["clk"]["achieved"] == pytest.approx(mhz, abs=0.06)


def test_capped_by_block_ram_and_ecp5_only():
    tiny = ArrayConfig(rows=1, cols=1, block=4, dataflow="dense")
    assert fmax.fmax_mhz(tiny) <= fmax.BRAM_CAP_MHZ
    with pytest.raises(AccelError, match="fitted for ECP5 only"):
        fmax.fmax_mhz(tiny, target="ice40-up5k")
