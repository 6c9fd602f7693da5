# amaranth: UnusedElaboratable=no
"""The window issuer: ``blocks`` windows per ``run`` period, the activity mask, ``issued``."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from accel.config import ArrayConfig
from accel.hw.issuer import WindowIssuer
from accel.hw.layouts import queue_entry, window_beat


def config(skip_acts: bool) -> ArrayConfig:
    return ArrayConfig(rows=2, cols=3, block=5, a_bits=3, skip_acts=skip_acts)


def random_window(rng: random.Random, cfg: ArrayConfig) -> list[list[int]]:
    """Rows all zero, with one nonzero value (in any column), or random."""
    lo, hi = -(1 << (cfg.a_bits - 1)), (1 << (cfg.a_bits - 1)) - 1
    rows = []
    for _ in range(cfg.block):
        kind = rng.randrange(3)
        row = [0] * cfg.cols
        if kind == 1:
            row[rng.randrange(cfg.cols)] = rng.choice([lo, -1, 1, hi])
        elif kind == 2:
            row = [rng.randint(lo, hi) for _ in range(cfg.cols)]
        rows.append(row)
    return rows


def activity(rows: list[list[int]], skip_acts: bool) -> int:
    return sum((any(row) or not skip_acts) << j for j, row in enumerate(rows))


def periods(rng: random.Random, max_blocks: int):
    """(run, blocks) per cycle: run low for a cycle or two, then high for a while."""
    while True:
        blocks = rng.randint(0, max_blocks)
        for _ in range(rng.randint(1, 2)):
            yield False, blocks
        for _ in range(rng.randint(1, 3 * max_blocks)):
            yield True, blocks


def run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("skip_acts", [True, False])
def test_against_model(skip_acts):
    cfg = config(skip_acts)
    max_blocks = 6
    rng = random.Random(int(skip_acts))
    dut = WindowIssuer(cfg, max_blocks=max_blocks)
    layout = window_beat(cfg)
    stats = {"issued": 0, "stopped": 0, "zero_rows": 0}

    async def bench(ctx):
        count = 0
        for cycle, (run_on, blocks) in zip(range(600), periods(rng, max_blocks), strict=False):
            ctx.set(dut.blocks, blocks)
            rows = random_window(rng, cfg)
            valid = rng.random() < 0.7
            o_ready = rng.random() < 0.7
            ctx.set(dut.run, run_on)
            ctx.set(dut.i.valid, valid)
            ctx.set(dut.i.payload, {"rows": rows})
            ctx.set(dut.o.ready, o_ready)

            more = run_on and count < blocks
            where = f"cycle {cycle}: run={run_on} count={count} blocks={blocks}"
            assert ctx.get(dut.o.valid) == (valid and more), where
            assert ctx.get(dut.i.ready) == (o_ready and more), where
            fire = valid and o_ready and more
            assert ctx.get(dut.issued) == fire, where
            if valid and more:
                expect = layout.const({"rows": rows}).as_value().value
                assert ctx.get(dut.o.payload.rows.as_value()) == expect, where
                if skip_acts:  # without skipping there is no mask (every row is worked)
                    assert ctx.get(dut.o.payload.active) == activity(rows, skip_acts), where
                stats["zero_rows"] += sum(not any(row) for row in rows)
            await ctx.tick()
            if not run_on:
                count = 0
            elif fire:
                count += 1
            stats["issued"] += fire
            stats["stopped"] += valid and o_ready and run_on and not more

    run(dut, bench)
    assert min(stats.values()) > 20, stats


@pytest.mark.parametrize("blocks", [1, 3, 4])
def test_blocks_per_run_period(blocks):
    cfg = config(skip_acts=True)
    dut = WindowIssuer(cfg, max_blocks=4)

    async def bench(ctx):
        ctx.set(dut.blocks, blocks)
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 1)
        for _period in range(3):
            ctx.set(dut.run, 1)
            pulses = []
            for _ in range(3 * blocks + 2):
                pulses.append(ctx.get(dut.issued))
                await ctx.tick()
            # one per cycle from the first cycle of the period, then none
            assert pulses == [1] * blocks + [0] * (2 * blocks + 2)
            ctx.set(dut.run, 0)
            assert ctx.get(dut.o.valid) == 0 and ctx.get(dut.i.ready) == 0
            await ctx.tick()

    run(dut, bench)


def test_active_mask_each_row():
    """Exactly one nonzero value, in each (row, column) in turn: exactly that bit."""
    cfg = config(skip_acts=True)
    dut = WindowIssuer(cfg, max_blocks=1)

    async def bench(ctx):
        ctx.set(dut.blocks, 1)
        ctx.set(dut.run, 1)
        ctx.set(dut.i.valid, 1)
        for j in range(cfg.block):
            for c in range(cfg.cols):
                for value in (1, -1, -(1 << (cfg.a_bits - 1))):
                    rows = [[0] * cfg.cols for _ in range(cfg.block)]
                    rows[j][c] = value
                    ctx.set(dut.i.payload, {"rows": rows})
                    assert ctx.get(dut.o.payload.active) == 1 << j, (j, c, value)
        ctx.set(dut.i.payload, {"rows": [[0] * cfg.cols] * cfg.block})
        assert ctx.get(dut.o.payload.active) == 0

    run(dut, bench)


def test_dense_activations_carry_no_mask():
    """Without activation skipping every window row is worked: no mask is made or stored."""
    cfg = config(skip_acts=False)
    dut = WindowIssuer(cfg, max_blocks=1)
    assert "active" not in dict(queue_entry(cfg).members)
    assert "active" in dict(queue_entry(config(skip_acts=True)).members)
    assert len(dut.o.payload.as_value()) == cfg.block * cfg.cols * cfg.a_bits
