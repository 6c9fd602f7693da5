# amaranth: UnusedElaboratable=no
"""The selector against a Python reference: exhaustive for block 4, random above."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from accel.hw.selector import Selector


def reference(todo: int, lanes: int) -> tuple[list[int], list[int], int]:
    """(onehot, valid, rest): the lowest ``lanes`` set bits of ``todo``."""
    positions = [j for j in range(todo.bit_length()) if todo >> j & 1][:lanes]
    onehot = [1 << p for p in positions] + [0] * (lanes - len(positions))
    valid = [1] * len(positions) + [0] * (lanes - len(positions))
    rest = todo
    for p in positions:
        rest &= ~(1 << p)
    return onehot, valid, rest


def check(block: int, lanes: int, cases: list[tuple[int, int]]) -> int:
    """Drive every ``todo`` of the (todo, mask) ``cases``; return how many lanes were seen
    valid. (The mask is what the row ANDs ``todo`` from: it shapes the patterns.)"""
    dut = Selector(block=block, lanes=lanes)
    seen = {"valid": 0}

    async def bench(ctx):
        for todo, mask in cases:
            ctx.set(dut.todo, todo)
            onehot, valid, rest = reference(todo, lanes)
            where = f"block={block} lanes={lanes} todo={todo:#x} mask={mask:#x}"
            assert [ctx.get(dut.onehot[lane]) for lane in range(lanes)] == onehot, where
            got_valid = ctx.get(dut.valid)
            assert [got_valid >> lane & 1 for lane in range(lanes)] == valid, where
            assert ctx.get(dut.rest) == rest, where
            seen["valid"] += sum(valid)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return seen["valid"]


@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
def test_exhaustive_block_4(lanes):
    cases = [(todo, mask) for todo in range(16) for mask in range(16)]
    assert check(4, lanes, cases) > 0


@pytest.mark.parametrize(
    "block, lanes",
    [(b, n) for b in (8, 11, 16) for n in (1, 2, 3, 4)] + [(8, 8), (16, 16)],
)
def test_random_larger_blocks(block, lanes):
    rng = random.Random(block * 10 + lanes)
    full = (1 << block) - 1
    cases = [(0, full), (full, full), (1 << (block - 1), full), (full, 0)]
    for _ in range(150):
        # as in the row: todo within mask most of the time, sparse and dense patterns
        mask = rng.getrandbits(block) & rng.choice([full, rng.getrandbits(block)])
        todo = mask & rng.getrandbits(block) if rng.random() < 0.8 else rng.getrandbits(block)
        cases.append((todo, mask))
    check(block, lanes, cases)


def test_block_1():
    check(1, 1, [(todo, mask) for todo in range(2) for mask in range(2)])


def test_block_64_top_bits():
    full = (1 << 64) - 1
    cases = [(1 << 63, full), ((1 << 63) | (1 << 62), full), (full, full), (full ^ 1, 1 << 63)]
    check(64, 4, cases)
