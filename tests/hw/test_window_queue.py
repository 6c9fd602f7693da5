# amaranth: UnusedElaboratable=no
"""The window queue against R separate first-word-fall-through FIFOs of depth D.

The reference is the contract's (section 5): a window written at cycle I can be taken
from I + 1; a write is accepted only while every row holds fewer than D untaken windows,
counted before this cycle's takes; ``current[r]`` is the window row r took last.
Each window carries a sequence number as its payload, so a window that is overwritten,
duplicated or reordered shows up as a wrong number.
"""

from __future__ import annotations

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from accel.config import ArrayConfig
from accel.hw.layouts import queue_entry
from accel.hw.window_queue import WindowQueue


def small_config(rows: int, depth: int) -> ArrayConfig:
    # a 12-bit queue entry: 4 rows of one 2-bit value, and a 4-bit activity mask
    return ArrayConfig(
        rows=rows, cols=1, block=4, queue_depth=depth, w_bits=2, a_bits=2, acc_bits=4
    )


VALUE_BITS = 8  # the entry's rows field; the mask is above it


def current(ctx, dut, r: int) -> tuple[int, int]:
    """(mask of the window row r took last, values of the one it held a cycle ago)."""
    return ctx.get(dut.active[r]), ctx.get(dut.rows[r].as_value())


def split(entry: int) -> tuple[int, int]:
    return entry >> VALUE_BITS, entry & ((1 << VALUE_BITS) - 1)


def run(dut: WindowQueue, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize(
    "rows, depth", [(r, d) for r in (1, 3) for d in (1, 2, 3, 4)] + [(2, 7), (5, 2)]
)
def test_matches_fifo_model(rows, depth):
    cfg = small_config(rows, depth)
    rng = random.Random(rows * 10 + depth)
    dut = WindowQueue(cfg)
    modulus = 1 << queue_entry(cfg).size
    stats = {"refused": 0, "written": 0, "taken": 0, "ignored_takes": 0}

    async def bench(ctx):
        fifos = [deque() for _ in range(rows)]
        held: list[int | None] = [None] * rows
        before: list[int | None] = [None] * rows
        seq = 0
        # each row takes at its own rate, which changes now and then: imbalance and catch-up
        rates = [rng.random() for _ in range(rows)]
        for cycle in range(500):
            if cycle % 60 == 0:
                rates = [rng.choice([0.1, 0.3, 0.6, 0.9, 1.0]) for _ in range(rows)]
            valid = rng.random() < 0.8
            takes = [rng.random() < rates[r] for r in range(rows)]
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload.as_value(), seq % modulus)
            ctx.set(dut.take, sum(t << r for r, t in enumerate(takes)))

            ready = all(len(f) < depth for f in fifos)
            available = [len(f) > 0 for f in fifos]
            where = f"cycle {cycle}, waiting {[len(f) for f in fifos]}"
            assert ctx.get(dut.i.ready) == ready, where
            got = ctx.get(dut.available)
            assert [bool(got >> r & 1) for r in range(rows)] == available, where
            await ctx.tick()

            before = list(held)
            for r in range(rows):
                if takes[r] and available[r]:
                    held[r] = fifos[r].popleft()
                    stats["taken"] += 1
                elif takes[r]:
                    stats["ignored_takes"] += 1
            if valid and ready:
                for f in fifos:
                    f.append(seq % modulus)
                seq += 1
                stats["written"] += 1
            elif valid:
                stats["refused"] += 1
            for r in range(rows):
                mask, values = current(ctx, dut, r)
                if held[r] is not None:
                    assert mask == split(held[r])[0], f"row {r} mask after {where}"
                if before[r] is not None:
                    assert values == split(before[r])[1], f"row {r} values after {where}"

    run(dut, bench)
    assert min(stats.values()) > 10, stats


def test_depth_1_cannot_refill_in_the_take_cycle():
    """Contract: a full FIFO accepts a write only in the cycle after a read."""
    cfg = small_config(rows=1, depth=1)
    dut = WindowQueue(cfg)

    async def bench(ctx):
        ctx.set(dut.i.payload.as_value(), 0x111)
        ctx.set(dut.i.valid, 1)
        assert ctx.get(dut.i.ready) == 1
        assert ctx.get(dut.available) == 0
        await ctx.tick()  # cycle 0: written
        ctx.set(dut.i.payload.as_value(), 0x222)
        assert ctx.get(dut.available) == 1  # readable at I + 1
        assert ctx.get(dut.i.ready) == 0  # full
        ctx.set(dut.take, 1)
        assert ctx.get(dut.i.ready) == 0  # a take this cycle does not free the slot yet
        await ctx.tick()  # cycle 1: taken, the write refused
        ctx.set(dut.take, 0)
        assert ctx.get(dut.active[0]) == 0x1  # the mask from the cycle after the take
        assert ctx.get(dut.available) == 0
        assert ctx.get(dut.i.ready) == 1
        await ctx.tick()  # cycle 2: 0x222 written
        ctx.set(dut.i.valid, 0)
        assert ctx.get(dut.available) == 1
        assert current(ctx, dut, 0) == (0x1, 0x11)  # the values a cycle later; not overwritten
        for _ in range(3):
            await ctx.tick()
            assert current(ctx, dut, 0) == (0x1, 0x11)
        ctx.set(dut.take, 1)
        await ctx.tick()
        ctx.set(dut.take, 0)
        assert current(ctx, dut, 0) == (0x2, 0x11)
        await ctx.tick()
        assert current(ctx, dut, 0) == (0x2, 0x22)

    run(dut, bench)


def test_slow_row_holds_the_queue():
    """Row 1 never takes: after D writes the queue refuses, row 0 drains, and row 1's
    first window stays intact while row 0 works through the rest."""
    depth = 3
    cfg = small_config(rows=2, depth=depth)
    dut = WindowQueue(cfg)

    async def bench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload.as_value(), 100)
        await ctx.tick()  # cycle 0: window 100 written
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.take, 0b10)
        await ctx.tick()  # cycle 1: row 1 takes it, and then never again
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.take, 0b01)  # from now on only row 0 takes
        accepted = [100]
        for cycle in range(12):
            ctx.set(dut.i.payload.as_value(), 101 + cycle)
            if ctx.get(dut.i.ready):
                accepted.append(101 + cycle)
            await ctx.tick()
            assert current(ctx, dut, 1) == split(100)
        # row 1 took 100 and holds D more untaken windows; nothing else got in
        assert accepted == list(range(100, 101 + depth))
        await ctx.tick()
        assert current(ctx, dut, 0) == split(accepted[-1])

    run(dut, bench)
