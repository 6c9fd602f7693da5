"""Run a layer on the Amaranth model of the array: the protocol of ``accel.hw.driver``,
with optional random stalls on the result stream and gaps on the inputs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from amaranth.sim import Simulator

from accel.hw.counters import COUNTER_NAMES
from accel.hw.driver import Program
from accel.hw.top import Accelerator


@dataclass
class Run:
    results: list[int]
    cycles: int  # from the cycle after start to the last result's transfer, inclusive
    counters: dict[str, int]


def run_programs(
    dut: Accelerator,
    progs: list[Program],
    *,
    stall: float = 0.0,
    gaps: float = 0.0,
    seed: int = 0,
    vcd: str | None = None,
) -> list[Run]:
    """Run layers back to back on one instance (no reset between them)."""
    rng = random.Random(seed)
    runs = [Run(results=[], cycles=0, counters={}) for _ in progs]

    async def feed(ctx, stream, beats):
        for beat in beats:
            while gaps and rng.random() < gaps:
                ctx.set(stream.valid, 0)
                await ctx.tick()
            ctx.set(stream.payload.as_value(), beat)
            ctx.set(stream.valid, 1)
            while True:
                ready = ctx.get(stream.ready)
                await ctx.tick()
                if ready:
                    break
        ctx.set(stream.valid, 0)

    async def feed_weights(ctx):
        await feed(ctx, dut.weights, [b for p in progs for b in p.weight_beats])

    async def feed_acts(ctx):
        await feed(ctx, dut.acts, [b for p in progs for b in p.window_beats])

    async def main(ctx):
        for prog, out in zip(progs, runs, strict=True):
            for name, value in prog.control().items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycle = 0
            while len(out.results) < prog.result_beats:
                ready = not (stall and rng.random() < stall)
                ctx.set(dut.results.ready, ready)
                fire = ready and ctx.get(dut.results.valid)
                beat = ctx.get(dut.results.payload.as_value())
                await ctx.tick()
                cycle += 1
                if fire:
                    out.results.append(beat)
                    out.cycles = cycle
                if cycle > 10_000_000:
                    raise RuntimeError("the array hangs")
            ctx.set(dut.results.ready, 0)
            while not ctx.get(dut.done):
                await ctx.tick()
            out.counters = {name: ctx.get(getattr(dut, name)) for name in COUNTER_NAMES}

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(feed_weights, background=True)
    sim.add_testbench(feed_acts, background=True)
    sim.add_testbench(main)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return runs


def run_program(dut: Accelerator, prog: Program, **kwargs) -> Run:
    return run_programs(dut, [prog], **kwargs)[0]
