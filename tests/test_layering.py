"""The contract joins the hardware and the performance model; neither imports the other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "accel"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("hw", "perf"), ("perf", "hw")])
def test_no_imports_across_the_contract(package, forbidden):
    offenders = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        for name in imported_modules(path):
            parts = name.lstrip(".").split(".")
            if forbidden in parts and ("accel" in parts or name.startswith("..")):
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_matplotlib_only_in_plots():
    users = [
        p.name
        for p in PACKAGE.rglob("*.py")
        if any(m.startswith("matplotlib") for m in imported_modules(p))
    ]
    assert users == ["plots.py"]


def test_hardware_and_simulator_agree_on_the_pipelines():
    """Two copies of one fact (the packages never import each other): held equal here."""
    from accel.hw import timing
    from accel.perf import latency

    assert timing.MAC_PIPELINE == latency.MAC_PIPELINE
    assert timing.OUTPUT_STAGES == latency.OUTPUT_PIPELINE


def test_dense_latencies_agree():
    from accel.hw import timing
    from accel.perf import latency

    assert timing.DENSE_LANDING == latency.DENSE_LANDING
    assert timing.DENSE_DRAIN == latency.DENSE_DRAIN
