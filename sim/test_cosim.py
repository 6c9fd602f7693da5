"""Co-simulation of the generated Verilog on Icarus and Verilator, through cocotb.

The cocotb testbench is the one that dumps waveforms and drives random stalls from
Python; it runs one configuration on both simulators here, and the whole configuration
matrix (every skip mode, several lane counts and queue depths) runs on the file-driven
testbench in ``sim/test_file_testbench.py``, which builds and runs several times faster. Each
(simulator, configuration) is compiled once into ``sim_build/`` and reused. Every layer
must be bit-exact with the golden model, take exactly the simulator's ``total_cycles``
(no injected stalls) and show every counter equal to the simulator's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import CONFIGS, MAX_BLOCKS, cases_for

from accel.cosim.runner import SIMULATORS, build, run_cases

BUILD_ROOT = Path(__file__).resolve().parents[1] / "sim_build"


def describe(v: dict) -> str:
    return (
        f"{v['name']}: outputs {'ok' if v['outputs_ok'] else v['first_mismatch']}, "
        f"cycles rtl {v['rtl_cycles']} sim {v['sim_cycles']}, counters "
        f"{'ok' if v['counters_ok'] else (v['rtl_counters'], v['sim_counters'])}"
    )


# the first queued and the dense reference; the rest: sim/test_file_testbench.py
@pytest.mark.parametrize("config_id", [list(CONFIGS)[0], "dataflow-dense-4x4-B4-out2-bus64x2"])
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


@pytest.mark.parametrize(
    "config_id", ["4x4-B8-D2-L1-sparse-out2-bus64x2", "dataflow-dense-4x4-B4-out2-bus64x2"]
)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_gaps_and_backpressure_lose_nothing(config_id, simulator):
    """Random idle cycles on both inputs and 40 % back-pressure on the results."""
    cfg = CONFIGS[config_id]
    built = build(cfg, simulator, BUILD_ROOT, max_blocks=MAX_BLOCKS)
    verdicts = run_cases(built, cases_for(cfg, seed=1, real=False), idle=0.25, stall=0.4, seed=3)
    bad = [describe(v) for v in verdicts if not (v["outputs_ok"] and v["counters_ok"])]
    assert not bad, "\n".join(bad)
