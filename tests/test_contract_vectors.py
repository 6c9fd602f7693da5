"""The reference vectors of the dataflow contract (section 8), computed from a second,
independent reading of it: golden outputs, cycles and every counter must agree exactly.

A disagreement means one of the two readings is wrong; find out which before changing
either (the contract says so).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accel.config import ArrayConfig
from accel.encode import act_pattern, weight_pattern
from accel.golden import gemm
from accel.perf.schedule import schedule

REPO_ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(__file__).parent / "data" / "contract-v1.1.json"
"""The repo's copy, so a clone with nothing beside it runs them."""
SHARED = REPO_ROOT / ".." / "shared" / "design" / "vectors" / "contract-v1.1.json"
"""The team's file; where it is present the copy must equal it."""


def _load_cases() -> list[dict]:
    if not VECTORS.is_file():
        return []
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert data["contract"] == "v1.1", f"{VECTORS} is for contract {data['contract']!r}"
    return data["cases"]


CASES = _load_cases()


@pytest.fixture(params=CASES or [None], ids=[c["name"] for c in CASES] or ["absent"])
def case(request) -> dict:
    if request.param is None:  # CI has them: a missing file must not pass quietly
        pytest.fail(f"reference vectors not found at {VECTORS.resolve()}")
    return request.param


def _simulate(cfg: ArrayConfig, W: np.ndarray, X: np.ndarray):
    return schedule(cfg, weight_pattern(W, cfg.block), act_pattern(X, cfg.block, cfg.cols))


def test_vectors_file_is_not_empty():
    assert VECTORS.is_file(), f"reference vectors not found at {VECTORS.resolve()}"
    assert len(CASES) > 0


@pytest.mark.skipif(not SHARED.is_file(), reason="no ../shared beside this checkout")
def test_copy_equals_the_shared_vectors():
    assert json.loads(VECTORS.read_text()) == json.loads(SHARED.read_text())


def test_golden_output(case):
    cfg = ArrayConfig(**case["array"])
    Y = gemm(np.array(case["W"]), np.array(case["X"]), cfg)
    assert Y.tolist() == case["Y"]


def test_compute_cycles(case):
    cfg = ArrayConfig(**case["array"])
    sched = _simulate(cfg, np.array(case["W"]), np.array(case["X"]))
    assert sched.compute_cycles == case["compute_cycles"]


def test_dense_compute_cycles(case):
    cfg = ArrayConfig(**case["array"]).as_dense()
    sched = _simulate(cfg, np.array(case["W"]), np.array(case["X"]))
    assert sched.compute_cycles == case["dense_compute_cycles"]


def test_counters(case):
    cfg = ArrayConfig(**case["array"])
    got = _simulate(cfg, np.array(case["W"]), np.array(case["X"])).counters.as_dict()
    expect = case["counters"]
    assert expect, "the case lists no counters"
    assert {name: got[name] for name in expect} == expect
    if "macs_issued" in expect and "macs_effectual" in expect:
        assert got["macs_gated"] == expect["macs_issued"] - expect["macs_effectual"]
