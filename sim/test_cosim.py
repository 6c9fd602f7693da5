"""Co-simulation of the generated Verilog on Icarus and Verilator, through cocotb.

Parametrised over both simulators and over configurations (every skip mode, several
lane counts and queue depths). Each (simulator, configuration) is compiled once into
``sim_build/`` and reused. Every layer must be bit-exact with the golden model, take
exactly the simulator's ``total_cycles`` (no injected stalls) and show every counter
equal to the simulator's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import MAX_BLOCKS, cases_for

from accel.config import ArrayConfig
from accel.cosim.runner import SIMULATORS, build, run_cases

BUILD_ROOT = Path(__file__).resolve().parents[1] / "sim_build"

CONFIGS = {
    # two PE rows per result beat, a 64-bit weight stream in two lanes
    "4x4-B8-D2-L1-sparse-out2-bus64x2": ArrayConfig(
        rows=4, cols=4, block=8, queue_depth=2, result_rows=2, weight_bus_bits=64, weight_lanes=2
    ),
    "2x8-B16-D3-L2-weights": ArrayConfig(
        rows=2, cols=8, block=16, queue_depth=3, lanes=2, skip_acts=False
    ),
    # 16-bit accumulators, so that the acc-wrap layer really wraps (32 bits would need K > 2**17)
    "4x2-B4-D1-L1-acts-acc16": ArrayConfig(
        rows=4, cols=2, block=4, queue_depth=1, skip_weights=False, acc_bits=16
    ),
    "3x3-B8-D2-L4-dense": ArrayConfig(
        rows=3, cols=3, block=8, queue_depth=2, lanes=4, skip_weights=False, skip_acts=False
    ),
}


def describe(v: dict) -> str:
    return (
        f"{v['name']}: outputs {'ok' if v['outputs_ok'] else v['first_mismatch']}, "
        f"cycles rtl {v['rtl_cycles']} sim {v['sim_cycles']}, counters "
        f"{'ok' if v['counters_ok'] else (v['rtl_counters'], v['sim_counters'])}"
    )


@pytest.mark.parametrize("config_id", list(CONFIGS))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_layers_match_golden_and_simulator(simulator, config_id):
    cfg = CONFIGS[config_id]
    built = build(cfg, simulator, BUILD_ROOT, max_blocks=MAX_BLOCKS)
    verdicts = run_cases(built, cases_for(cfg))
    bad = [
        describe(v)
        for v in verdicts
        if not (v["outputs_ok"] and v["cycles_ok"] and v["counters_ok"])
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_gaps_and_backpressure_lose_nothing(simulator):
    """Random idle cycles on both inputs and 40 % back-pressure on the results."""
    cfg = CONFIGS["4x4-B8-D2-L1-sparse-out2-bus64x2"]
    built = build(cfg, simulator, BUILD_ROOT, max_blocks=MAX_BLOCKS)
    verdicts = run_cases(built, cases_for(cfg, seed=1, real=False), idle=0.25, stall=0.4, seed=3)
    bad = [describe(v) for v in verdicts if not (v["outputs_ok"] and v["counters_ok"])]
    assert not bad, "\n".join(bad)
