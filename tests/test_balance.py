"""Row balancing (``accel.balance``): valid permutations, outputs unchanged, never slower
on the weight-only model, and what it buys on unstructured sparsity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.balance import (
    BALANCE_METHODS,
    balance_rows,
    check_balance,
    permute_pattern,
    row_costs,
    weight_only_cycles,
)
from accel.config import ArrayConfig, Config, SystemConfig
from accel.encode import act_pattern, weight_pattern
from accel.errors import AccelError
from accel.golden import gemm
from accel.hw.driver import program
from accel.perf.schedule import schedule
from accel.perf.simulate import simulate_arrays
from accel.workloads.layer import Layer

UNBOUNDED = SystemConfig(dram_bytes_per_cycle=1e12, glb_bytes_per_cycle=1e12)


@st.composite
def layers(draw):
    cfg = ArrayConfig(
        rows=draw(st.integers(1, 6)),
        cols=draw(st.integers(1, 4)),
        block=draw(st.sampled_from([2, 4, 8, 16])),
        queue_depth=draw(st.integers(1, 4)),
        lanes=1,
        skip_acts=draw(st.booleans()),
    )
    G = draw(st.integers(1, 2))
    M = draw(st.integers(1, 5 * cfg.rows))
    K = draw(st.integers(1, 40))
    N = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    row_density = rng.choice([0.05, 0.3, 0.9], size=(G, M, 1))
    W = rng.integers(-128, 128, (G, M, K)) * (rng.random((G, M, K)) < row_density)
    X = rng.integers(-128, 128, (G, K, N)) * (rng.random((G, K, N)) < 0.6)
    return cfg, W, X


@settings(max_examples=60, deadline=None)
@given(layers(), st.sampled_from(BALANCE_METHODS))
def test_permutations_are_valid(case, method):
    cfg, W, _ = case
    perm = balance_rows(cfg, weight_pattern(W, cfg.block), method)
    assert perm.shape == W.shape[:2]
    assert (np.sort(perm, axis=1) == np.arange(W.shape[1])).all()


@settings(max_examples=60, deadline=None)
@given(layers(), st.sampled_from(BALANCE_METHODS))
def test_outputs_unchanged(case, method):
    """The driver's permuted layer, decoded, is the layer's own result: the array's rows
    compute ``W[perm] . X`` and ``decode`` scatters them back."""
    cfg, W, X = case
    prog = program(cfg, W, X, balance=method)
    G, Mg, _ = W.shape
    Wp = np.take_along_axis(W, prog.perm[:, :, None], axis=1)
    Yp = np.stack([gemm(Wp[g], X[g], cfg) for g in range(G)])  # what the array computes
    R, C = cfg.rows, cfg.cols
    ntm, ntn = -(-Mg // R), -(-X.shape[2] // C)
    pad = np.zeros((G, ntm * R, ntn * C), np.int64)
    pad[:, :Mg, : X.shape[2]] = Yp
    mask = (1 << cfg.acc_bits) - 1
    beats = [
        sum((int(pad[g, tm * R + r, tn * C + c]) & mask) << (c * cfg.acc_bits) for c in range(C))
        for g in range(G)
        for tm in range(ntm)
        for tn in range(ntn)
        for r in range(R)
    ]
    Y = prog.decode(beats).reshape(G, Mg, -1)
    expect = np.stack([gemm(W[g], X[g], cfg) for g in range(G)])
    assert np.array_equal(Y, expect)


@settings(max_examples=80, deadline=None)
@given(layers())
def test_auto_never_slower_on_the_weights(case):
    """``auto`` keeps the identity unless sorting is faster on the weight-only schedule."""
    cfg, W, _ = case
    wp = weight_pattern(W, cfg.block)
    cost = row_costs(cfg, wp)
    perm = balance_rows(cfg, wp, "auto")
    for g in range(W.shape[0]):
        assert weight_only_cycles(cfg, cost[g][perm[g]]) <= weight_only_cycles(cfg, cost[g])


@settings(max_examples=60, deadline=None)
@given(layers(), st.sampled_from(BALANCE_METHODS))
def test_larger_queue_never_slower(case, method):
    cfg, W, X = case
    wp = permute_pattern(
        weight_pattern(W, cfg.block), balance_rows(cfg, weight_pattern(W, cfg.block), method)
    )
    ap = act_pattern(X, cfg.block, cfg.cols)
    deeper = dataclasses.replace(cfg, queue_depth=cfg.queue_depth + 1)
    assert schedule(deeper, wp, ap).compute_cycles <= schedule(cfg, wp, ap).compute_cycles


@settings(max_examples=40, deadline=None)
@given(layers())
def test_counters_follow_the_work(case):
    """A permutation moves work between PE rows, never changes how much there is."""
    cfg, W, X = case
    layer = Layer("t", W.shape[0] * W.shape[1], W.shape[2], X.shape[2], groups=W.shape[0])
    config = Config(cfg, UNBOUNDED)
    plain = simulate_arrays(config, layer, W, X, balance="none")
    for method in ("sort", "swap", "auto"):
        res = simulate_arrays(config, layer, W, X, balance=method)
        a, b = res.sparse.counters, plain.sparse.counters
        for name in ("windows", "weight_reads", "macs_issued", "macs_effectual", "outputs"):
            assert getattr(a, name) == getattr(b, name)
        assert res.unbalanced_compute_cycles == plain.sparse.compute_cycles
        assert res.dense.total_cycles == plain.dense.total_cycles


def test_sorting_evens_unstructured_rows():
    """A 256 x 576 x 784 layer at 90 % unstructured, block 64 (16 x 16 array): balancing
    takes compute cycles from about 0.8 of 1/density to above 0.95."""
    from accel.workloads.sparsity import WeightSparsity, layer_act_pattern, layer_weight_pattern

    cfg = ArrayConfig(rows=16, cols=16, block=64, queue_depth=4)
    layer = Layer("l", 256, 576, 784)
    rng = np.random.default_rng(1)
    wp = layer_weight_pattern(rng, layer, cfg, WeightSparsity("unstructured", 0.1))
    ap = layer_act_pattern(rng, layer, cfg, 0.5)
    dense = schedule(cfg.as_dense(), wp, ap).compute_cycles
    share = {
        m: dense
        / schedule(cfg, permute_pattern(wp, balance_rows(cfg, wp, m)), ap).compute_cycles
        * 0.1
        for m in ("none", "sort", "auto")
    }
    assert share["none"] < 0.85 < 0.95 < share["sort"] == share["auto"]


def test_dense_rows_are_not_moved():
    cfg = ArrayConfig(rows=2, cols=2, block=4, skip_weights=False)
    W = np.arange(1, 25).reshape(6, 4) * (np.arange(24).reshape(6, 4) % 3 == 0)
    assert (balance_rows(cfg, weight_pattern(W, 4), "sort") == np.arange(6)).all()


def test_bad_method():
    with pytest.raises(AccelError, match="balance must be one of none, sort, swap, auto"):
        check_balance("best")
