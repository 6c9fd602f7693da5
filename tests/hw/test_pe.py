# amaranth: UnusedElaboratable=no
"""The processing element against a Python model of its three-stage pipeline.

The model is written from the docstring, not from the code: operands of the lanes issued
in cycle t are registered at its end, their product at the end of t + 1, and added to the
accumulator at the end of t + 2 (visible in ``acc`` from cycle t + 3); sums wrap at
``acc_bits``, a lane with a zero operand adds nothing and leaves its operand registers
alone.
"""

from __future__ import annotations

import random
import re
from collections import deque

import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from accel.errors import AccelError
from accel.hw.pe import ProcessingElement
from accel.hw.timing import PE_STAGES

assert PE_STAGES == 3  # the model below is written for three stages


def wrap_int(v: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return (v + half) % (1 << bits) - half


def operand(rng: random.Random, bits: int) -> int:
    """Zeros and the extremes often, anything else otherwise."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return rng.choice([0, 0, lo, hi, rng.randint(lo, hi), rng.randint(lo, hi)])


def simulate(pe: ProcessingElement, bench) -> None:
    """Run ``bench(ctx, regs)`` on the PE; ``regs`` maps internal signal names to signals."""
    frag = Fragment.get(pe, None)
    regs = {}
    for statements in frag.statements.values():
        for stmt in statements:
            for sig in stmt._lhs_signals():
                regs[sig.name] = sig
    sim = Simulator(frag)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await bench(ctx, regs)

    sim.add_testbench(testbench)
    sim.run()


def test_three_stage_timing():
    pe = ProcessingElement(lanes=2, w_bits=8, a_bits=8, acc_bits=32)

    async def bench(ctx, regs):
        assert ctx.get(pe.acc) == 0
        ctx.set(pe.w, [7, -3])
        ctx.set(pe.x, [5, 11])
        ctx.set(pe.issue, 0b11)
        await ctx.tick()  # end of the issue cycle: operands registered
        ctx.set(pe.issue, 0)
        ctx.set(pe.w, [100, 100])
        ctx.set(pe.x, [100, 100])
        assert ctx.get(pe.acc) == 0, "the sum must not be visible one cycle after issue"
        await ctx.tick()  # the products registered
        assert ctx.get(pe.acc) == 0, "nor two cycles after"
        await ctx.tick()
        assert ctx.get(pe.acc) == 7 * 5 - 3 * 11
        for _ in range(3):  # nothing issued: it holds
            await ctx.tick()
            assert ctx.get(pe.acc) == 2

    simulate(pe, bench)


def test_only_issued_lanes_count():
    pe = ProcessingElement(lanes=3, w_bits=8, a_bits=8, acc_bits=32)

    async def bench(ctx, regs):
        ctx.set(pe.w, [2, 3, 5])
        ctx.set(pe.x, [7, 11, 13])
        ctx.set(pe.issue, 0b101)
        await ctx.tick()
        ctx.set(pe.issue, 0b010)
        await ctx.tick()
        ctx.set(pe.issue, 0)
        await ctx.tick()
        assert ctx.get(pe.acc) == 2 * 7 + 5 * 13
        await ctx.tick()
        assert ctx.get(pe.acc) == 2 * 7 + 5 * 13 + 3 * 11

    simulate(pe, bench)


@pytest.mark.parametrize(
    "lanes, w_bits, a_bits, acc_bits",
    [
        (1, 8, 8, 32),
        (2, 8, 8, 16),  # acc_bits = w_bits + a_bits: large products wrap quickly
        (4, 4, 4, 8),
        (3, 5, 3, 9),
    ],
)
def test_accumulates_and_wraps(lanes, w_bits, a_bits, acc_bits):
    rng = random.Random(lanes * 1000 + acc_bits)
    pe = ProcessingElement(lanes=lanes, w_bits=w_bits, a_bits=a_bits, acc_bits=acc_bits)
    wrapped = []

    async def bench(ctx, regs):
        acc = 0
        pending = deque([0, 0])  # sums issued 2 and 1 cycles ago; the first lands now
        for cycle in range(300):
            ws = [operand(rng, w_bits) for _ in range(lanes)]
            xs = [operand(rng, a_bits) for _ in range(lanes)]
            issue = rng.getrandbits(lanes)
            # clear only when no product lands in the same cycle (the top never does both)
            clear = pending[0] == 0 and rng.random() < 0.05
            ctx.set(pe.w, ws)
            ctx.set(pe.x, xs)
            ctx.set(pe.issue, issue)
            ctx.set(pe.clear, clear)
            assert ctx.get(pe.acc) == acc, f"cycle {cycle}"
            await ctx.tick()
            landing = pending.popleft()
            if clear:
                acc = 0
            else:
                acc, raw = wrap_int(acc + landing, acc_bits), acc + landing
                if acc != raw:
                    wrapped.append(cycle)
            pending.append(
                sum(
                    w * x
                    for lane, (w, x) in enumerate(zip(ws, xs, strict=True))
                    if issue >> lane & 1
                )
            )
        ctx.set(pe.issue, 0)
        ctx.set(pe.clear, 0)
        await ctx.tick()
        await ctx.tick()
        assert ctx.get(pe.acc) == wrap_int(acc + sum(pending), acc_bits)

    simulate(pe, bench)
    if acc_bits <= w_bits + a_bits + 1:
        assert wrapped, "the stimulus should have made the accumulator wrap"


def test_wraps_at_acc_bits():
    # (-128) * (-128) = 16384 twice = 32768: one past the 16-bit maximum
    pe = ProcessingElement(lanes=2, w_bits=8, a_bits=8, acc_bits=16)

    async def bench(ctx, regs):
        ctx.set(pe.w, [-128, -128])
        ctx.set(pe.x, [-128, -128])
        ctx.set(pe.issue, 0b11)
        await ctx.tick()
        ctx.set(pe.issue, 0)
        await ctx.tick()
        await ctx.tick()
        assert ctx.get(pe.acc) == -32768

    simulate(pe, bench)


def test_clear_zeroes():
    pe = ProcessingElement(lanes=1, w_bits=8, a_bits=8, acc_bits=32)

    async def bench(ctx, regs):
        ctx.set(pe.w, [9])
        ctx.set(pe.x, [9])
        ctx.set(pe.issue, 1)
        for _ in range(3):
            await ctx.tick()
        ctx.set(pe.issue, 0)
        for _ in range(3):
            await ctx.tick()
        assert ctx.get(pe.acc) == 3 * 81
        ctx.set(pe.clear, 1)
        await ctx.tick()
        ctx.set(pe.clear, 0)
        assert ctx.get(pe.acc) == 0
        await ctx.tick()
        assert ctx.get(pe.acc) == 0
        # a lane issued in the clear cycle lands after it, in the fresh accumulator
        ctx.set(pe.clear, 1)
        ctx.set(pe.issue, 1)
        ctx.set(pe.w, [-4])
        ctx.set(pe.x, [6])
        await ctx.tick()
        ctx.set(pe.clear, 0)
        ctx.set(pe.issue, 0)
        assert ctx.get(pe.acc) == 0
        await ctx.tick()
        assert ctx.get(pe.acc) == 0
        await ctx.tick()
        assert ctx.get(pe.acc) == -24

    simulate(pe, bench)


@pytest.mark.parametrize("lanes", [1, 3])
def test_gating_keeps_operand_registers(lanes):
    rng = random.Random(lanes)
    pe = ProcessingElement(lanes=lanes, w_bits=6, a_bits=6, acc_bits=20)
    counts = {"gated": 0, "effectual": 0}

    async def bench(ctx, regs):
        names = [f"{kind}_reg{lane}" for lane in range(lanes) for kind in ("w", "x")]
        assert set(names) <= set(regs), f"operand registers not found among {sorted(regs)}"
        acc = 0
        pending = deque([0, 0])
        for cycle in range(300):
            ws = [operand(rng, 6) for _ in range(lanes)]
            xs = [operand(rng, 6) for _ in range(lanes)]
            issue = rng.getrandbits(lanes)
            ctx.set(pe.w, ws)
            ctx.set(pe.x, xs)
            ctx.set(pe.issue, issue)
            before = {name: ctx.get(regs[name]) for name in names}
            await ctx.tick()
            acc = wrap_int(acc + pending.popleft(), 20)
            issued = 0
            for lane in range(lanes):
                w_reg, x_reg = ctx.get(regs[f"w_reg{lane}"]), ctx.get(regs[f"x_reg{lane}"])
                if issue >> lane & 1 and ws[lane] and xs[lane]:
                    counts["effectual"] += 1
                    assert (w_reg, x_reg) == (ws[lane], xs[lane]), f"cycle {cycle}"
                    issued += ws[lane] * xs[lane]
                else:
                    counts["gated"] += issue >> lane & 1
                    assert w_reg == before[f"w_reg{lane}"], f"w_reg{lane} toggled, cycle {cycle}"
                    assert x_reg == before[f"x_reg{lane}"], f"x_reg{lane} toggled, cycle {cycle}"
            pending.append(issued)
            assert ctx.get(pe.acc) == acc, f"cycle {cycle}"

    simulate(pe, bench)
    assert counts["gated"] > 50 and counts["effectual"] > 50


def test_gated_lane_adds_nothing():
    # a zero operand after an effectual MAC: the registers still hold the old nonzero
    # operands, so a PE that forgot the valid bit would add their product again
    pe = ProcessingElement(lanes=1, w_bits=8, a_bits=8, acc_bits=32)

    async def bench(ctx, regs):
        ctx.set(pe.issue, 1)
        ctx.set(pe.w, [5])
        ctx.set(pe.x, [6])
        await ctx.tick()
        ctx.set(pe.x, [0])
        await ctx.tick()
        ctx.set(pe.w, [0])
        ctx.set(pe.x, [7])
        await ctx.tick()
        ctx.set(pe.issue, 0)
        for _ in range(3):
            await ctx.tick()
            assert ctx.get(pe.acc) == 30

    simulate(pe, bench)


def _names(message: str, name: str, value: object) -> bool:
    return bool(
        re.search(rf"\b{name}\b", message)
        and re.search(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])", message)
    )


@pytest.mark.parametrize(
    "params, name, value",
    [
        (dict(lanes=0, w_bits=8, a_bits=8, acc_bits=32), "lanes", 0),
        (dict(lanes=65, w_bits=8, a_bits=8, acc_bits=32), "lanes", 65),
        (dict(lanes=True, w_bits=8, a_bits=8, acc_bits=32), "lanes", True),
        (dict(lanes=1, w_bits=1, a_bits=8, acc_bits=32), "w_bits", 1),
        (dict(lanes=1, w_bits=8, a_bits=1, acc_bits=32), "a_bits", 1),
        (dict(lanes=1, w_bits=8, a_bits=33, acc_bits=64), "a_bits", 33),
        (dict(lanes=1, w_bits=8, a_bits=8, acc_bits=15), "acc_bits", 15),
        (dict(lanes=1, w_bits=8, a_bits=8, acc_bits=65), "acc_bits", 65),
        (dict(lanes=1, w_bits=8, a_bits=8, acc_bits=32.0), "acc_bits", 32.0),
    ],
)
def test_rejects_bad_parameters(params, name, value):
    with pytest.raises(AccelError) as info:
        ProcessingElement(**params)
    assert _names(str(info.value), name, value), str(info.value)


def test_accepts_the_limits():
    assert ProcessingElement(lanes=1, w_bits=2, a_bits=2, acc_bits=4).lanes == 1
    assert ProcessingElement(lanes=64, w_bits=32, a_bits=32, acc_bits=64).lanes == 64
