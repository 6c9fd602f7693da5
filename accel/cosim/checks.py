"""What a co-simulated layer is checked against, for every testbench (cocotb and files).

Outputs against the golden model, bit for bit; cycles and the section-6 counters against
the cycle-level simulator; and, from the file-driven testbench, every result beat's cycle
stamp against the simulator's ``result_beat_cycles``, so a timing slip is named by the
first beat it moves rather than only by the total.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..balance import DEFAULT_BALANCE
from ..config import ArrayConfig, Config, SystemConfig
from ..golden import layer_output
from ..perf.simulate import result_beat_cycles, simulate_arrays
from ..workloads.layer import Layer

__all__ = ["UNBOUNDED", "expected_output", "first_mismatch", "check_layer"]

UNBOUNDED = SystemConfig(dram_bytes_per_cycle=1e12, glb_bytes_per_cycle=1e12)


def _grouped(W: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    W, X = np.asarray(W), np.asarray(X)
    return (W, X) if W.ndim == 3 else (W[None], X[None])


def expected_output(
    cfg: ArrayConfig,
    W: np.ndarray,
    X: np.ndarray,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
) -> np.ndarray:
    """The golden model's output ``[G, Mg, N]`` of ``W [G, Mg, K]`` (or ``[M, K]``)."""
    Wg, Xg = _grouped(W, X)
    G = Wg.shape[0]
    bg = None if bias is None else np.asarray(bias).reshape(G, -1)
    return np.stack(
        [
            layer_output(
                Wg[g], Xg[g], cfg, bias=None if bg is None else bg[g], relu=relu, shift=shift
            )
            for g in range(G)
        ]
    )


def first_mismatch(got: np.ndarray, expect: np.ndarray) -> dict[str, Any] | None:
    diff = np.argwhere(got != expect)
    if not len(diff):
        return None
    index = tuple(int(i) for i in diff[0])
    return {"index": list(index), "expected": int(expect[index]), "got": int(got[index])}


def check_layer(
    cfg: ArrayConfig,
    name: str,
    W: np.ndarray,
    X: np.ndarray,
    got: np.ndarray,
    rtl_cycles: int,
    rtl_counters: dict[str, int],
    *,
    bias: np.ndarray | None = None,
    relu: bool = False,
    shift: int | None = None,
    balance: str = DEFAULT_BALANCE,
    timed: bool = True,
    stamps: np.ndarray | None = None,
) -> dict[str, Any]:
    """One layer's verdict. ``got`` is the decoded output; ``timed`` is False when the
    testbench injected idle inputs or back-pressure (cycles then measure the testbench,
    so they and the idle row-cycles are not compared); ``stamps`` are the RTL's result-beat
    cycles, compared beat by beat when timed."""
    Wg, Xg = _grouped(W, X)
    G, Mg, K = Wg.shape
    expect = expected_output(cfg, Wg, Xg, bias, relu, shift)
    layer = Layer(name, G * Mg, K, Xg.shape[2], groups=G)
    res = simulate_arrays(Config(cfg, UNBOUNDED), layer, Wg, Xg, balance=balance)
    sim_counters = res.sparse.counters.as_dict()
    compared, rtl = dict(sim_counters), dict(rtl_counters)
    if not timed:
        compared.pop("row_idle_cycles")
        rtl.pop("row_idle_cycles")
    late = None
    if timed and stamps is not None:
        want = result_beat_cycles(cfg, Wg, Xg, balance)
        if len(want) != len(stamps) or not np.array_equal(want, stamps):
            n = min(len(want), len(stamps))
            at = int(np.argmax(want[:n] != stamps[:n])) if (want[:n] != stamps[:n]).any() else n
            late = {
                "beat": at,
                "expected": int(want[at]) if at < len(want) else None,
                "got": int(stamps[at]) if at < len(stamps) else None,
            }
    mismatch = first_mismatch(np.asarray(got).reshape(expect.shape), expect)
    return {
        "name": name,
        "shape": [G * Mg, K, int(Xg.shape[2])],
        "groups": G,
        "outputs_ok": mismatch is None,
        "first_mismatch": mismatch,
        "rtl_cycles": int(rtl_cycles),
        "sim_cycles": res.sparse.core_cycles,
        "cycles_ok": (rtl_cycles == res.sparse.core_cycles and late is None) if timed else None,
        "first_late_beat": late,
        "rtl_counters": dict(rtl_counters),
        "sim_counters": sim_counters,
        "counters_ok": rtl == compared,
    }
