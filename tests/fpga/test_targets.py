"""The target table: every entry complete and consistent; bad names refused."""

from __future__ import annotations

import pytest

from accel.errors import AccelError
from accel.fpga.flow import SynthOptions
from accel.fpga.targets import RESOURCES, TARGETS, get_target


@pytest.mark.parametrize("name", list(TARGETS))
def test_entries_are_complete(name):
    t = TARGETS[name]
    assert t.name == name
    assert set(t.available) <= set(RESOURCES)
    assert {"lut", "ff", "dsp", "bram", "io"} <= set(t.available)
    assert set(t.cells.values()) <= set(RESOURCES)
    assert set(t.bels.values()) <= set(RESOURCES)
    assert t.default_speed is None or t.default_speed in t.speeds
    assert t.pnr_tool.startswith("yowasp-nextpnr-")
    assert t.scan_pins * 2 + 4 <= t.available["io"]


def test_published_device_sizes():
    # Lattice's data sheets: LUT4s, 18x18 multipliers, 18 Kb block RAMs
    assert TARGETS["ecp5-85k"].available["lut"] == 83640
    assert TARGETS["ecp5-85k"].available["dsp"] == 156
    assert TARGETS["ecp5-85k"].available["bram"] == 208
    assert TARGETS["ecp5-25k"].available["dsp"] == 28
    assert TARGETS["ice40-up5k"].available == {
        "lut": 5280,
        "ff": 5280,
        "dsp": 8,
        "bram": 30,
        "io": 39,
    }


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(AccelError, match=r"--target must be one of ecp5-25k, .* not 'xc7'"):
        get_target("xc7")


def test_options_are_checked():
    ecp5, ice = TARGETS["ecp5-85k"], TARGETS["ice40-up5k"]
    with pytest.raises(AccelError, match="--speed for ecp5-85k must be one of 6, 7, 8, not 5"):
        SynthOptions(ecp5, 5, 100.0)
    with pytest.raises(AccelError, match="--speed for ice40-up5k must be not set"):
        SynthOptions(ice, 6, 100.0)
    with pytest.raises(AccelError, match="--freq must be in 1..1000 MHz, not 0"):
        SynthOptions(ecp5, 6, 0.0)
    with pytest.raises(AccelError, match="--threads"):
        SynthOptions(ecp5, 6, 100.0, threads=0)
    assert SynthOptions(ice, None, 48.0).speed is None
