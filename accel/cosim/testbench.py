"""The cocotb testbench of the array: streams, control, and the checks of every layer.

Runs inside the HDL simulator's Python. Cases come from the file named by the
``ACCEL_CASES`` environment variable (written by ``accel.cosim.runner``); the verdicts
go to the JSON file named by ``ACCEL_RESULTS``, and the cocotb test fails if any layer
does not match.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from accel.config import ArrayConfig
from accel.cosim.checks import check_layer
from accel.hw.counters import COUNTER_NAMES
from accel.hw.driver import Program, program

TIMEOUT_CYCLES = 5_000_000


def read_int(handle: Any) -> int:
    """A port's value as an unsigned integer (one-bit ports read as ``Logic``)."""
    v = handle.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


class StreamSource:
    """Drives a valid/ready stream from a list of packed beats, with random idle cycles."""

    def __init__(self, dut: Any, name: str, rng: random.Random, idle: float):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.rng, self.idle = rng, idle
        self.beats: list[int] = []
        self.offered = False
        self.shown: int | None = None  # the payload on the wires (writes are costly)

    def drive(self) -> None:
        """At a falling edge: offer the next beat, or idle for a cycle."""
        offer = bool(self.beats) and not (self.idle and self.rng.random() < self.idle)
        if offer != self.offered:
            self.valid.value = int(offer)
        self.offered = offer
        if offer and self.shown != self.beats[0]:
            self.payload.value = self.shown = self.beats[0]

    def sample(self) -> None:
        """In the read-only phase: the beat moves at the coming edge if ready is high."""
        if self.offered and read_int(self.ready):
            self.beats.pop(0)


class StreamSink:
    """Takes result beats with random back-pressure; records them and their cycles."""

    def __init__(self, dut: Any, name: str, rng: random.Random, stall: float):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.rng, self.stall = rng, stall
        self.accepting = False
        self.beats: list[int] = []
        self.last_cycle = -1

    def drive(self) -> None:
        accepting = not (self.stall and self.rng.random() < self.stall)
        if accepting != self.accepting:
            self.ready.value = int(accepting)
        self.accepting = accepting

    def sample(self, cycle: int) -> None:
        if self.accepting and read_int(self.valid):
            self.beats.append(read_int(self.payload))
            self.last_cycle = cycle


@dataclass
class LayerRun:
    results: list[int] = field(default_factory=list)
    cycles: int = 0
    counters: dict[str, int] = field(default_factory=dict)


class Testbench:
    """Wires the streams, the control port and the clock of one ``accel_top`` instance."""

    def __init__(self, dut: Any, *, seed: int, idle: float, stall: float):
        self.dut = dut
        rng = random.Random(seed)
        self.weights = StreamSource(dut, "weights", rng, idle)
        self.acts = StreamSource(dut, "acts", rng, idle)
        self.results = StreamSink(dut, "results", rng, stall)

    async def reset(self) -> None:
        dut = self.dut
        Clock(dut.clk, 10, unit="ns").start()
        dut.rst.value = 1
        dut.start.value = 0
        for port in (self.weights.valid, self.acts.valid, self.results.ready):
            port.value = 0
        self.weights.offered = self.acts.offered = self.results.accepting = False
        for _ in range(2):
            await FallingEdge(dut.clk)
        dut.rst.value = 0

    async def run(self, prog: Program) -> LayerRun:
        """One layer: control, start pulse, streams until the last result; then counters."""
        dut, out = self.dut, LayerRun()
        await FallingEdge(dut.clk)
        for name, value in prog.control().items():
            getattr(dut, name).value = value
        self.weights.beats = list(prog.weight_beats)
        self.acts.beats = list(prog.window_beats)
        self.results.beats, self.results.last_cycle = [], -1
        dut.start.value = 1
        cycle = -1  # the rising edge after this falling edge is the start edge
        while len(self.results.beats) < prog.result_beats:
            await FallingEdge(dut.clk)
            cycle += 1
            dut.start.value = 0
            for port in (self.weights, self.acts, self.results):
                port.drive()
            await ReadOnly()
            self.weights.sample()
            self.acts.sample()
            self.results.sample(cycle)
            if cycle > TIMEOUT_CYCLES:
                raise TimeoutError(f"no result for {TIMEOUT_CYCLES} cycles: the array hangs")
        await FallingEdge(dut.clk)
        for port in (self.weights, self.acts):
            port.valid.value = 0
            port.offered = False
        self.results.ready.value = 0
        self.results.accepting = False
        while not read_int(dut.done):
            await FallingEdge(dut.clk)
        out.results = self.results.beats
        out.cycles = self.results.last_cycle + 1
        out.counters = {n: read_int(getattr(dut, n)) for n in COUNTER_NAMES}
        return out


def check_case(
    cfg: ArrayConfig, case: dict[str, Any], run: LayerRun, prog: Program, timed: bool
) -> dict[str, Any]:
    """Compare one layer's run with the golden model and the simulator."""
    return check_layer(
        cfg,
        case["name"],
        case["W"],
        case["X"],
        prog.decode(run.results),
        run.cycles,
        run.counters,
        bias=case.get("bias"),
        relu=case["relu"],
        shift=case["shift"],
        balance=case["balance"],
        timed=timed,
    )


def load_cases(path: str) -> tuple[ArrayConfig, dict[str, Any], list[dict[str, Any]]]:
    with open(path + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    arrays = np.load(path + ".npz")
    cases = []
    for i, info in enumerate(meta["cases"]):
        case = dict(info)
        case["W"], case["X"] = arrays[f"W{i}"], arrays[f"X{i}"]
        case["bias"] = arrays[f"b{i}"] if f"b{i}" in arrays.files else None
        cases.append(case)
    return ArrayConfig(**meta["config"]), meta, cases


@cocotb.test()
async def run_layers(dut: Any) -> None:
    """Every layer of the cases file, back to back on one instance, without a reset."""
    cfg, meta, cases = load_cases(os.environ["ACCEL_CASES"])
    tb = Testbench(dut, seed=meta["seed"], idle=meta["idle"], stall=meta["stall"])
    await tb.reset()
    verdicts = []
    timed = not meta["idle"] and not meta["stall"]
    for case in cases:
        prog = program(
            cfg,
            case["W"],
            case["X"],
            bias=case["bias"],
            relu=case["relu"],
            shift=case["shift"],
            max_blocks=meta["max_blocks"],
            balance=case["balance"],
        )
        run = await tb.run(prog)
        verdicts.append(check_case(cfg, case, run, prog, timed))
        with open(os.environ["ACCEL_RESULTS"], "w", encoding="utf-8") as f:
            json.dump(verdicts, f, indent=1)
    bad = [
        v["name"]
        for v in verdicts
        if not (v["outputs_ok"] and v["counters_ok"] and v["cycles_ok"] is not False)
    ]
    assert not bad, f"layers that do not match: {bad}"
