# amaranth: UnusedElaboratable=no
"""The hardware output stage against ``accel.golden.output_stage``, bit for bit.

Beats go in as a stream with idle cycles and come out under random back-pressure, so the
pipeline's stalls are exercised as well as its arithmetic; every case may change
``relu``, ``requant`` and ``shift``, which travel with their beat. A few hand-worked
values pin the rounding and saturation down independently of both.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from accel.config import ArrayConfig
from accel.golden import output_stage
from accel.hw.output_stage import OutputStage

# (a_bits, acc_bits); w_bits = 2 only so that ArrayConfig accepts acc_bits >= a_bits + 2
WIDTHS = [(8, 32), (8, 16), (5, 13), (3, 20), (16, 64)]


def golden(cfg: ArrayConfig, accs, bias: int, relu: bool, shift: int | None) -> list[int]:
    y = output_stage(
        np.array([accs], dtype=np.int64), cfg, bias=np.array([bias]), relu=relu, shift=shift
    )
    return [int(v) for v in y[0]]


def drive(dut: OutputStage, cols: int, cases, seed: int = 0) -> list[list[int]]:
    """Push every case through the stream (idle inputs, random ``o.ready``); the results."""
    rng = random.Random(seed)
    got: list[list[int]] = []

    async def bench(ctx):
        k, cycles = 0, 0
        while len(got) < len(cases):
            offer = k < len(cases) and rng.random() < 0.8
            if offer:
                accs, bias, relu, shift = cases[k]
                ctx.set(dut.i.payload.acc, accs)
                ctx.set(dut.i.payload.bias, bias)
                ctx.set(dut.relu, relu)
                ctx.set(dut.requant, shift is not None)
                ctx.set(dut.shift, shift or 0)
            ctx.set(dut.i.valid, offer)
            ready = rng.random() < 0.7
            ctx.set(dut.o.ready, ready)
            taken = offer and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ready:
                got.append([ctx.get(dut.o.payload[c]) for c in range(cols)])
            await ctx.tick()
            k += taken
            cycles += 1
            assert cycles < 10 * len(cases) + 100, "the stage stopped moving"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


def wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def run_cases(a_bits: int, acc_bits: int, cols: int, cases, *, biased: bool = False) -> None:
    """``cases``: (accs, bias, relu, shift or None); every one against the golden model.
    ``biased``: the stage is given the sums with the bias added (what the dense array
    does) and a bias port that holds a decoy it must not read."""
    cfg = ArrayConfig(w_bits=2, a_bits=a_bits, acc_bits=acc_bits)
    dut = OutputStage(cols=cols, a_bits=a_bits, acc_bits=acc_bits, biased=biased)
    driven = cases
    if biased:
        decoy = wrap(0x5A5A5A5A5A5A5A5A, acc_bits)
        driven = [
            ([wrap(v + bias, acc_bits) for v in accs], decoy, relu, shift)
            for accs, bias, relu, shift in cases
        ]
    got = drive(dut, cols, driven, seed=len(cases))
    assert len(got) == len(cases)
    for (accs, bias, relu, shift), y in zip(cases, got, strict=True):
        assert y == golden(cfg, accs, bias, relu, shift), (
            f"acc={accs} bias={bias} relu={relu} shift={shift}"
        )


def test_three_cycles_of_latency_and_full_throughput():
    """With ``o.ready`` high a beat leaves three cycles after it entered, one per cycle."""
    dut = OutputStage(cols=1, a_bits=8, acc_bits=16)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for cycle in range(8):
            ctx.set(dut.i.valid, cycle < 4)
            ctx.set(dut.i.payload.acc, [cycle + 10])
            assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                seen.append((cycle, ctx.get(dut.o.payload[0])))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(3, 10), (4, 11), (5, 12), (6, 13)]


def chunks(values, n: int):
    values = list(values)
    return [values[i : i + n] for i in range(0, len(values), n)]


def extremes(bits: int) -> list[int]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return [lo, lo + 1, -2, -1, 0, 1, 2, hi - 1, hi]


@pytest.mark.parametrize("biased", [False, True])
@pytest.mark.parametrize("a_bits, acc_bits", WIDTHS)
def test_random(a_bits, acc_bits, biased):
    rng = random.Random(acc_bits * 100 + a_bits)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1

    def value() -> int:
        # extremes, values near the a_bits range after a shift, anything
        kind = rng.randrange(4)
        if kind == 0:
            return rng.choice(extremes(acc_bits))
        if kind == 1:
            return rng.randint(-(1 << (a_bits + 3)), 1 << (a_bits + 3))
        return rng.randint(lo, hi)

    cases = []
    for _ in range(400):
        accs = [value() for _ in range(4)]
        bias = value() if rng.random() < 0.8 else 0
        shift = rng.choice([None, rng.randrange(acc_bits), rng.randrange(min(acc_bits, 6))])
        cases.append((accs, bias, rng.random() < 0.5, shift))
    run_cases(a_bits, acc_bits, 4, cases, biased=biased)


@pytest.mark.parametrize("biased", [False, True])
@pytest.mark.parametrize("a_bits, acc_bits", WIDTHS)
def test_every_shift_on_extremes(a_bits, acc_bits, biased):
    """Every shift 0..acc_bits-1 on the accumulator extremes and on halves of each shift
    (``-(2**s) * k - 2**(s-1)``: a negative value exactly half-way), with and without
    ReLU and bias."""
    cases = []
    for shift in range(acc_bits):
        half = 1 << shift >> 1
        ties = [(1 << shift) * k + half for k in (-3, -2, -1, 0, 1, 2)]
        ties = [v for v in ties if -(1 << (acc_bits - 1)) <= v < 1 << (acc_bits - 1)]
        values = extremes(acc_bits) + ties
        for group in chunks(values, 4):
            accs = list(group) + [0] * (4 - len(group))
            for bias, relu in [(0, False), (0, True), (-1, False), (1, True)]:
                cases.append((accs, bias, relu, shift))
    run_cases(a_bits, acc_bits, 4, cases, biased=biased)


@pytest.mark.parametrize("a_bits, acc_bits", WIDTHS)
def test_bias_wraps(a_bits, acc_bits):
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    cases = [
        ([hi, hi, lo, lo], 1, False, None),
        ([hi, hi, lo, lo], -1, False, None),
        ([hi, lo, 0, -1], hi, False, None),
        ([hi, lo, 0, -1], lo, False, None),
        ([hi, lo, 0, -1], lo, True, None),
        ([hi, hi, lo, lo], 1, True, 0),
        ([hi, lo, 0, -1], lo, False, 1),
    ]
    run_cases(a_bits, acc_bits, 4, cases)


def test_exhaustive_tiny():
    """a_bits = 2, acc_bits = 4: every accumulator, bias, ReLU and shift."""
    cases = []
    for bias in range(-8, 8):
        for relu in (False, True):
            for shift in (None, 0, 1, 2, 3):
                for accs in chunks(range(-8, 8), 4):
                    cases.append((list(accs), bias, relu, shift))
    run_cases(2, 4, 4, cases)
    run_cases(2, 4, 4, cases, biased=True)


@pytest.mark.parametrize(
    "acc, bias, relu, shift, expect",
    [
        (-3, 0, False, 1, -1),  # -1.5 rounds up to -1
        (-5, 0, False, 2, -1),  # -1.25
        (-6, 0, False, 2, -1),  # -1.5
        (-7, 0, False, 2, -2),  # -1.75
        (-2, 0, False, 2, 0),  # -0.5 rounds up to 0
        (-10, 0, False, 2, -2),  # -2.5
        (5, 0, False, 1, 3),  # 2.5
        (255, 0, False, 1, 127),  # 128 saturates
        (-257, 0, False, 1, -128),  # -128.5 rounds up to -128
        (-259, 0, False, 1, -128),  # -129.5 rounds to -129, saturates
        (200, 0, False, 0, 127),  # shift 0: saturation only
        (-200, 0, False, 0, -128),
        (-200, 0, True, 0, 0),
        (-100, 0, True, None, 0),
        (100, -101, True, None, 0),  # ReLU after the bias
        (100, -101, False, None, -1),
        (32767, 1, False, None, -32768),  # bias wraps at acc_bits = 16
        (32767, 1, True, None, 0),
        (-32768, -1, False, 15, 1),  # wraps to 32767, / 2**15 = 0.99997 rounds to 1
        (-32768, 0, False, 15, -1),
        (-16384, 0, False, 15, 0),  # exactly -0.5
        (-16385, 0, False, 15, -1),
    ],
)
def test_hand_worked(acc, bias, relu, shift, expect):
    dut = OutputStage(cols=1, a_bits=8, acc_bits=16)
    assert drive(dut, 1, [([acc], bias, relu, shift)]) == [[expect]]
    cfg = ArrayConfig(a_bits=8, acc_bits=16)
    assert golden(cfg, [acc], bias, relu, shift) == [expect]  # and the model agrees


def test_columns_independent():
    """Each column gets its own accumulator (a wiring slip would repeat one)."""
    run_cases(8, 32, 5, [([1000, -1000, 7, -7, 0], 3, False, 2), ([1, 2, 3, 4, 5], 0, False, None)])
