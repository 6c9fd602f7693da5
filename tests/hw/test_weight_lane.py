# amaranth: UnusedElaboratable=no
"""One weight-stream lane on Amaranth's simulator: every item out, in order, in the cycle
``accel.wstream`` says, and never more words held than it has room for."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import wstream
from accel.config import ArrayConfig
from accel.hw.weight_lane import WeightLane
from accel.wstream import LoadProfile


def _pack(values, width: int) -> int:
    out = 0
    for v in reversed([int(x) for x in values]):
        out = (out << width) | (v & ((1 << width) - 1))
    return out


def lane_items(cfg, W, bias, lane):
    """The lane's items of one row tile as (value, words), read off ``accel.wstream``'s
    format: per row its bias, then per block the mask and the nonzeros packed low first
    (without weight skipping every value), each item padded to whole words."""
    B, items = cfg.block, []
    for r in wstream.lane_rows(cfg, lane):
        items.append((int(bias[r]) & ((1 << cfg.acc_bits) - 1), wstream.bias_words(cfg)))
        for blk in range(W.shape[1] // B):
            vals = W[r, blk * B : (blk + 1) * B]
            if cfg.skip_weights:
                keep = vals != 0
                record = _pack(keep, 1) | (_pack(vals[keep], cfg.w_bits) << B)
                items.append((record, int(wstream.record_words(cfg, int(keep.sum())))))
            else:
                items.append((_pack(vals, cfg.w_bits), int(wstream.record_words(cfg, B))))
    return items


def run_lane(cfg, tiles, lane, blocks, gaps, seed):
    """Feed the lane's words of every row tile (``tiles``: (W, bias) pairs), with idle
    cycles at random; return [(cycle, item, is_bias, row, block, bank, tile_end)]."""
    rows = len(wstream.lane_rows(cfg, lane))
    dut = WeightLane(cfg, rows=rows, max_blocks=blocks)
    w = cfg.weight_word_bits
    words = []
    for W, bias in tiles:
        for value, n in lane_items(cfg, W, bias, lane):
            words += [(value >> (k * w)) & ((1 << w) - 1) for k in range(n)]
    rng = random.Random(seed)
    out = []

    async def bench(ctx):
        ctx.set(dut.blocks, blocks)
        ctx.set(dut.clear, 1)  # as the arrays do at a layer's start, with `blocks` set
        await ctx.tick()
        ctx.set(dut.clear, 0)
        cycle = 0
        queue = list(words)
        total = sum(len(lane_items(cfg, W, b, lane)) for W, b in tiles)
        while len(out) < total:
            push = bool(queue) and not (gaps and rng.random() < gaps)
            ctx.set(dut.push, push)
            ctx.set(dut.word, queue[0] if push else 0)
            if ctx.get(dut.emit):
                out.append(
                    (
                        cycle,
                        ctx.get(dut.item),
                        ctx.get(dut.is_bias),
                        ctx.get(dut.row),
                        ctx.get(dut.block),
                        ctx.get(dut.bank),
                        ctx.get(dut.tile_end),
                    )
                )
            if push:
                queue.pop(0)
            await ctx.tick()
            cycle += 1
            assert cycle < 100_000

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def random_tile(rng, cfg, nb, density):
    W = rng.integers(-(1 << (cfg.w_bits - 1)), 1 << (cfg.w_bits - 1), (cfg.rows, nb * cfg.block))
    W = W * (rng.random(W.shape) < density)
    bias = rng.integers(-(1 << (cfg.acc_bits - 1)), 1 << (cfg.acc_bits - 1), cfg.rows)
    return W, bias


@settings(max_examples=25, deadline=None)
@given(
    block=st.sampled_from([4, 8, 16]),
    bus=st.sampled_from([(32, 2), (64, 4), (128, 4), (48, 3)]),
    rows=st.integers(1, 6),
    nb=st.integers(1, 3),
    density=st.sampled_from([0.0, 0.2, 0.6, 1.0]),
    skip=st.booleans(),
    gaps=st.sampled_from([0.0, 0.4]),
    seed=st.integers(0, 2**16),
)
def test_items_in_order_and_on_time(block, bus, rows, nb, density, skip, gaps, seed):
    cfg = ArrayConfig(
        rows=rows,
        cols=2,
        block=block,
        weight_bus_bits=bus[0],
        weight_lanes=bus[1],
        skip_weights=skip,
        acc_bits=24,
    )
    rng = np.random.default_rng(seed)
    tiles = [random_tile(rng, cfg, nb, density) for _ in range(2)]
    for lane in range(min(cfg.weight_lanes, rows)):
        got = run_lane(cfg, tiles, lane, nb, gaps, seed)
        expect = [item for W, b in tiles for item in lane_items(cfg, W, b, lane)]
        assert len(got) == len(expect)
        rows_here = len(wstream.lane_rows(cfg, lane))
        k = 0
        for tile in range(2):
            for q in range(rows_here):
                for blk in range(-1, nb):  # -1: the row's bias
                    cycle, item, is_bias, row, block_, bank, end = got[k]
                    value, n = expect[k]
                    width = cfg.acc_bits if blk < 0 else wstream.record_bits(cfg, block)
                    assert item & ((1 << int(width)) - 1) == value, (tile, q, blk)
                    assert (is_bias, row, bank) == (int(blk < 0), q, tile % 2)
                    if blk >= 0:
                        assert block_ == blk
                    assert end == int(q == rows_here - 1 and blk == nb - 1)
                    k += 1
        if not gaps:  # back-to-back words: the emit cycles of accel.wstream
            per_tile = len(expect) // 2
            words = np.array([n for _, n in expect])
            e = np.cumsum(words)  # the lane's words, both row tiles in a row
            cycles = [c for c, *_ in got]
            E = -1
            for m in range(len(expect)):
                E = max(E + 1, int(e[m]))
                assert cycles[m] == E, m
            assert per_tile * 2 == len(expect)


def test_load_profile_matches_the_lane():
    """``accel.wstream.load_profile`` predicts a lane's last write of a row tile."""
    cfg = ArrayConfig(rows=6, cols=2, block=8, weight_bus_bits=64, weight_lanes=4)
    rng = np.random.default_rng(3)
    W, bias = random_tile(rng, cfg, 2, 0.4)
    masks = np.zeros((1, 6, 2), dtype=np.uint64)
    for r in range(6):
        for b in range(2):
            masks[0, r, b] = sum(1 << j for j in range(8) if W[r, b * 8 + j])
    profile: LoadProfile = wstream.load_profile(cfg, masks)
    for lane in range(4):
        got = run_lane(cfg, [(W, bias)], lane, 2, 0.0, 0)
        last = int(profile.last[0, lane])
        assert got[-1][0] == last + int(profile.D[0, lane])  # LS = 0, nothing before


def test_rows_validated():
    with pytest.raises(Exception, match="rows"):
        WeightLane(ArrayConfig(rows=2), rows=3, max_blocks=4)
