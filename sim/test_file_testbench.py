"""The file-driven testbench (``accel.cosim.harness``) on Icarus and Verilator.

The same layers as the cocotb suite, back to back in one process without a reset: each
must be bit-exact with the golden model, and every result beat must leave the array in
the cycle the simulator predicts (so the totals agree too), with every counter equal. The
checks themselves are shown to fail: a flipped result bit, a late beat and a hang are each
reported, not passed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from cases import CONFIGS, MAX_BLOCKS, cases_for

from accel.cosim.checks import check_layer
from accel.cosim.harness import build_harness
from accel.cosim.runner import SIMULATORS
from accel.cosim.workload import verify_cases
from accel.hw.driver import program

BUILD_ROOT = Path(__file__).resolve().parents[1] / "sim_build"


def describe(v: dict) -> str:
    if "error" in v:
        return f"{v['name']}: {v['error']}"
    return (
        f"{v['name']}: outputs {'ok' if v['outputs_ok'] else v['first_mismatch']}, "
        f"cycles rtl {v['rtl_cycles']} sim {v['sim_cycles']} (first late beat "
        f"{v['first_late_beat']}), counters "
        f"{'ok' if v['counters_ok'] else (v['rtl_counters'], v['sim_counters'])}"
    )


def run_all(harness, cases, tmp_path, **kw):
    return verify_cases(harness, cases, tmp_path, total_work=1, count=len(cases), **kw)


@pytest.mark.parametrize("config_id", list(CONFIGS))
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_every_beat_on_the_predicted_cycle(simulator, config_id, tmp_path):
    cfg = CONFIGS[config_id]
    harness = build_harness(cfg, simulator, BUILD_ROOT, max_blocks=MAX_BLOCKS)
    cases = cases_for(cfg) + cases_for(cfg, seed=5, real=False)
    verdicts = run_all(harness, cases, tmp_path)
    assert len(verdicts) == len(cases)
    bad = [describe(v) for v in verdicts if "error" in v or not (
        v["outputs_ok"] and v["cycles_ok"] and v["counters_ok"])]  # fmt: skip
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "config_id", ["4x4-B8-D2-L1-sparse-out2-bus64x2", "dataflow-dense-4x4-B4-out2-bus64x2"]
)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_gaps_and_backpressure_lose_nothing(config_id, simulator, tmp_path):
    """Idle inputs a quarter of the time and 40 % back-pressure, drawn by the testbench."""
    cfg = CONFIGS[config_id]
    harness = build_harness(cfg, simulator, BUILD_ROOT, max_blocks=MAX_BLOCKS)
    cases = cases_for(cfg, seed=2, real=False)
    verdicts = run_all(harness, cases, tmp_path, idle=0.25, stall=0.4, seed=3)
    bad = [describe(v) for v in verdicts if not (v["outputs_ok"] and v["counters_ok"])]
    assert not bad, "\n".join(bad)
    assert all(v["cycles_ok"] is None for v in verdicts)  # stalls: cycles not compared
    calm = run_all(harness, cases[:3], tmp_path)
    assert sum(v["rtl_cycles"] for v in verdicts[:3]) > sum(v["rtl_cycles"] for v in calm)


@pytest.fixture(scope="module")
def icarus_run(tmp_path_factory):
    cfg = CONFIGS["4x4-B8-D2-L1-sparse-out2-bus64x2"]
    harness = build_harness(cfg, "icarus", BUILD_ROOT, max_blocks=MAX_BLOCKS)
    case = cases_for(cfg, real=False)[0]
    prog = program(cfg, case.W, case.X, max_blocks=MAX_BLOCKS)
    (run,) = harness.run([prog], tmp_path_factory.mktemp("run"))
    return cfg, harness, case, prog, run


def _verdict(cfg, case, prog, results, stamps):
    return check_layer(
        cfg, case.name, case.W, case.X, prog.decode(results), int(stamps[-1]) + 1,
        {}, stamps=stamps,
    )  # fmt: skip


def test_a_flipped_result_bit_is_named(icarus_run):
    cfg, _, case, prog, run = icarus_run
    assert _verdict(cfg, case, prog, run.results, run.stamps)["outputs_ok"]
    broken = run.results.copy()
    # 9 x 26 x 9 on 4x4, two PE rows a beat: beat 3 is row tile 0, column tile 1, PE rows
    # 2 and 3; its byte 0 the low byte of PE row 2, column 4 (of the layer's columns)
    assert (prog.row_tiles, prog.col_tiles, cfg.result_rows) == (3, 3, 2)
    broken[3, 0] ^= 0x04
    v = _verdict(cfg, case, prog, broken, run.stamps)
    assert not v["outputs_ok"]
    row = int(prog.perm[0, 2])  # the channel PE row 2 computed after row balancing
    assert v["first_mismatch"]["index"] == [0, row, 4]
    assert abs(v["first_mismatch"]["got"] - v["first_mismatch"]["expected"]) == 4


def test_a_late_beat_is_named(icarus_run):
    cfg, _, case, prog, run = icarus_run
    stamps = run.stamps.copy()
    stamps[5:] += 1  # beat 5 and every later one a cycle late
    v = _verdict(cfg, case, prog, run.results, stamps)
    assert v["cycles_ok"] is False
    assert v["first_late_beat"] == {"beat": 5, "expected": int(run.stamps[5]),
                                    "got": int(run.stamps[5]) + 1}  # fmt: skip


def test_a_hang_is_reported_not_waited_for(icarus_run, tmp_path):
    """Control words that promise one more column tile than the windows sent: the array
    waits for windows that never come, and the testbench gives up after the timeout."""
    _, harness, _, prog, _ = icarus_run
    starved = dataclasses.replace(prog, col_tiles=prog.col_tiles + 1)
    with pytest.raises(RuntimeError, match="no beat moved"):
        harness.run([starved], tmp_path, timeout=500)


def test_stimulus_files_are_removed(icarus_run, tmp_path):
    _, harness, _, prog, _ = icarus_run
    harness.run([prog, prog], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_beats_cross_the_files_unchanged(icarus_run):
    """What the RTL returned decodes to the golden output: the byte order of the stimulus
    files, the fixed-width hex of the results and the decode agree."""
    cfg, _, case, prog, run = icarus_run
    from accel.cosim.checks import expected_output

    assert np.array_equal(prog.decode(run.results), expected_output(cfg, case.W, case.X)[0])
