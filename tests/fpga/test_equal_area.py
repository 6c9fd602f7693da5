"""Speedup at equal area: the formula against hand-computed cases, its inputs checked."""

from __future__ import annotations

import pytest

from accel.errors import AccelError
from accel.fpga.equal_area import (
    Implementation,
    logic_cells,
    measured_implementation,
    speedup_at_equal_area,
)


def test_logic_cells_count_carry_twice_and_lutram_six_times():
    assert logic_cells(lut4=100) == 100
    assert logic_cells(lut4=100, carry=10, lutram=3) == 100 + 20 + 18
    with pytest.raises(AccelError, match="carry must be a non-negative integer, not -1"):
        logic_cells(lut4=1, carry=-1)


@pytest.mark.parametrize(
    ("cycles", "ref_cycles", "cells", "ref_cells", "mhz", "ref_mhz", "expect"),
    [
        # the issue's own example: 7.7x fewer cycles, 4.1x the area, 2.8x slower clock
        (100, 770, 4100, 1000, 65.0, 182.0, 7.7 / 4.1 / (182.0 / 65.0)),
        # equal in everything: 1
        (1000, 1000, 5000, 5000, 180.0, 180.0, 1.0),
        # twice the area, same clock, twice fewer cycles: break even
        (500, 1000, 10000, 5000, 150.0, 150.0, 1.0),
        # T = cycles / Fmax: the reference takes 1000 / 200 = 5 us, the design 400 / 100 =
        # 4 us; areas 6000 and 3000: (5 x 3000) / (4 x 6000) = 0.625
        (400, 1000, 6000, 3000, 100.0, 200.0, 0.625),
    ],
)
def test_hand_computed(cycles, ref_cycles, cells, ref_cells, mhz, ref_mhz, expect):
    eq = speedup_at_equal_area(
        cycles=cycles,
        reference_cycles=ref_cycles,
        design=Implementation(logic_cells=cells, fmax_mhz=mhz),
        reference=Implementation(logic_cells=ref_cells, fmax_mhz=ref_mhz),
    )
    assert eq.speedup == pytest.approx(expect)
    t, t_ref = cycles / mhz, ref_cycles / ref_mhz
    assert eq.speedup == pytest.approx((t_ref * ref_cells) / (t * cells))
    assert eq.speedup == pytest.approx(eq.cycle_ratio * eq.clock_ratio / eq.area_ratio)
    assert eq.break_even == pytest.approx(eq.area_ratio / eq.clock_ratio)
    assert eq.source == "modelled"


def test_sources_and_budget():
    measured = Implementation(
        logic_cells=10, fmax_mhz=100.0, dsp=200, source="measured", dsp_available=156
    )
    modelled = Implementation(logic_cells=10, fmax_mhz=100.0, dsp=64, dsp_available=156)
    eq = speedup_at_equal_area(
        cycles=1, reference_cycles=1, design=measured, reference=modelled
    )
    assert eq.source == "mixed"
    assert measured.over_budget and not modelled.over_budget
    assert eq.to_dict()["design"]["over_budget"] is True
    both = speedup_at_equal_area(cycles=1, reference_cycles=1, design=measured, reference=measured)
    assert both.source == "measured"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"logic_cells": 0, "fmax_mhz": 1.0}, "logic_cells"),
        ({"logic_cells": 1, "fmax_mhz": 0.0}, "fmax_mhz"),
        ({"logic_cells": 1, "fmax_mhz": 1.0, "source": "guessed"}, "source"),
    ],
)
def test_bad_implementations_name_the_field(kwargs, field):
    with pytest.raises(AccelError) as err:
        Implementation(**kwargs)
    assert err.value.field == field


def test_cycles_must_be_positive():
    impl = Implementation(logic_cells=1, fmax_mhz=1.0)
    with pytest.raises(AccelError, match="cycles must be a positive integer, not 0"):
        speedup_at_equal_area(cycles=0, reference_cycles=1, design=impl, reference=impl)


def test_measured_from_a_synth_report():
    report = {
        "target": "ecp5-85k",
        "core": {
            "cells": {"LUT4": 1000, "CCU2C": 100, "TRELLIS_DPR16X4": 10, "TRELLIS_FF": 999},
            "resources": {"dsp": 64, "bram": 8},
        },
        "fmax": {"clk": {"achieved": 181.5, "constraint": 200.0}},
    }
    impl = measured_implementation(report)
    assert impl.logic_cells == 1000 + 200 + 60
    assert impl.fmax_mhz == 181.5 and impl.dsp == 64 and impl.bram == 8
    assert impl.source == "measured" and impl.dsp_available == 156
    with pytest.raises(AccelError, match="not placed and routed"):
        measured_implementation({**report, "fmax": None})
