# amaranth: UnusedElaboratable=no
"""The event counters: each one's increment per cycle, ``clear``, wrap at ``width``."""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from accel.config import ArrayConfig
from accel.hw.counters import COUNTER_NAMES, INPUT_LATENCY, EventCounters


def increments(cfg: ArrayConfig, step: dict[str, int]) -> dict[str, int]:
    """What the docstring and the contract's section 6 say each input adds."""
    C = cfg.cols
    return {
        "windows": step["window_issued"],
        "weight_reads": step["lanes_issued"],
        "macs_issued": step["lanes_issued"] * C,
        "macs_effectual": step["lanes_effectual"],
        "macs_gated": step["lanes_issued"] * C - step["lanes_effectual"],
        "row_busy_cycles": step["rows_busy"],
        "row_idle_cycles": step["rows_idle"],
        "outputs": step["output_beat"] * C,
    }


def random_step(rng: random.Random, cfg: ArrayConfig) -> dict[str, int]:
    lanes_issued = rng.randint(0, cfg.rows * cfg.lanes)
    busy = rng.randint(0, cfg.rows)
    return {
        "window_issued": rng.randint(0, 1),
        "lanes_issued": lanes_issued,
        "lanes_effectual": rng.randint(0, lanes_issued * cfg.cols),
        "rows_busy": busy,
        "rows_idle": rng.randint(0, cfg.rows - busy),
        "output_beat": rng.randint(0, 1),
    }


def drive(cfg: ArrayConfig, steps, clears, width: int = 48) -> None:
    """Apply ``steps`` (with ``clear`` where ``clears`` says) against the running sums."""
    dut = EventCounters(cfg, width=width)
    mod = 1 << width

    idle = dict.fromkeys(steps[0], 0)
    tail = max(INPUT_LATENCY.values())
    steps = list(steps) + [idle] * tail
    clears = list(clears) + [False] * tail

    def seen(t: int) -> dict[str, int]:
        """The inputs that reach the adders in cycle t: each from t - its latency, unless a
        clear came in between (it drops what is in flight)."""
        out = {}
        for name, lat in INPUT_LATENCY.items():
            s = t - lat
            dropped = s < 0 or any(clears[s : t + 1])
            out[name] = 0 if dropped else steps[s][name]
        return out

    async def bench(ctx):
        totals = dict.fromkeys(COUNTER_NAMES, 0)
        for cycle, (step, clear) in enumerate(zip(steps, clears, strict=True)):
            for name, value in step.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.clear, clear)
            await ctx.tick()
            for name, inc in increments(cfg, seen(cycle)).items():
                totals[name] = 0 if clear else (totals[name] + inc) % mod
            got = {name: ctx.get(getattr(dut, name)) for name in COUNTER_NAMES}
            assert got == totals, f"cycle {cycle}: step {step}, clear {clear}"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_one_step_each():
    cfg = ArrayConfig(rows=4, cols=3, lanes=2)
    dut = EventCounters(cfg)
    step = {
        "window_issued": 1,
        "lanes_issued": 5,
        "lanes_effectual": 11,
        "rows_busy": 3,
        "rows_idle": 1,
        "output_beat": 1,
    }

    async def bench(ctx):
        assert {name: ctx.get(getattr(dut, name)) for name in COUNTER_NAMES} == dict.fromkeys(
            COUNTER_NAMES, 0
        )
        for name, value in step.items():
            ctx.set(getattr(dut, name), value)
        await ctx.tick()
        for name in step:
            ctx.set(getattr(dut, name), 0)
        expect = {
            "windows": 1,
            "weight_reads": 5,
            "macs_issued": 15,
            "macs_effectual": 11,
            "macs_gated": 4,
            "row_busy_cycles": 3,
            "row_idle_cycles": 1,
            "outputs": 3,
        }
        for _ in range(max(INPUT_LATENCY.values())):  # in flight
            await ctx.tick()
        for _ in range(3):  # all in, then held while the inputs are zero
            assert {name: ctx.get(getattr(dut, name)) for name in COUNTER_NAMES} == expect
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_each_input_alone():
    """One input at a time: a counter wired to the wrong input shows up here."""
    cfg = ArrayConfig(rows=3, cols=5, lanes=2)
    full = {
        "window_issued": 1,
        "lanes_issued": 6,
        "lanes_effectual": 30,
        "rows_busy": 3,
        "rows_idle": 2,
        "output_beat": 1,
    }
    steps = []
    for name in full:
        step = dict.fromkeys(full, 0)
        step[name] = full[name]
        steps += [step, step]
    drive(cfg, steps, [False] * len(steps))


def test_random_with_clear():
    cfg = ArrayConfig(rows=3, cols=4, lanes=2)
    rng = random.Random(7)
    steps = [random_step(rng, cfg) for _ in range(300)]
    clears = [rng.random() < 0.05 for _ in steps]
    assert any(clears)
    drive(cfg, steps, clears)


def test_clear_wins_over_events():
    cfg = ArrayConfig(rows=2, cols=2)
    steps = [{**random_step(random.Random(1), cfg), "lanes_issued": 2, "lanes_effectual": 1}] * 4
    drive(cfg, steps, [False, False, True, False])


def test_wraps_at_width():
    # up to 16 weights read per cycle into 256 columns: 4096 MACs per cycle, so the
    # 16-bit counters wrap within 17 cycles
    cfg = ArrayConfig(rows=4, cols=256, block=4, lanes=4)
    rng = random.Random(3)
    steps = []
    for _ in range(40):
        step = random_step(rng, cfg)
        step["lanes_issued"] = rng.randint(12, 16)
        step["lanes_effectual"] = rng.randint(0, step["lanes_issued"] * 256)
        steps.append(step)
    assert sum(s["lanes_issued"] * 256 for s in steps) > 2 * (1 << 16)
    drive(cfg, steps, [False] * len(steps), width=16)
