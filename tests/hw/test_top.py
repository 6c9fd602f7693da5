"""The whole array on Amaranth's simulator against the golden model and the simulator.

For every configuration of the matrix and every layer: outputs bit-exact with
``accel.golden``, cycles from start to the last result equal to the simulator's
``total_cycles`` (memory bandwidth unbounded: the RTL has no memory system), and every
event counter equal to the simulator's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from harness import run_program, run_programs
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.balance import balance_rows
from accel.config import ArrayConfig, Config, SystemConfig
from accel.encode import weight_pattern
from accel.golden import layer_output
from accel.hw.arrays import build_array
from accel.hw.driver import program
from accel.perf.latency import DENSE_LANDING
from accel.perf.simulate import simulate_arrays
from accel.workloads.layer import Layer

MAX_BLOCKS = 16
UNBOUNDED = SystemConfig(dram_bytes_per_cycle=1e12, glb_bytes_per_cycle=1e12)

CONFIGS = [
    ArrayConfig(rows=1, cols=1, block=4, queue_depth=1),
    ArrayConfig(rows=2, cols=3, block=4, queue_depth=2),
    ArrayConfig(rows=3, cols=2, block=5, queue_depth=1, lanes=2),
    ArrayConfig(rows=4, cols=4, block=8, queue_depth=3),
    ArrayConfig(rows=4, cols=2, block=8, queue_depth=2, skip_acts=False),
    ArrayConfig(rows=2, cols=4, block=8, queue_depth=2, skip_weights=False),
    ArrayConfig(rows=3, cols=3, block=6, queue_depth=4, skip_weights=False, skip_acts=False),
    ArrayConfig(rows=8, cols=2, block=16, queue_depth=4, lanes=4),
    ArrayConfig(rows=2, cols=8, block=16, queue_depth=1, lanes=2),
    ArrayConfig(rows=5, cols=1, block=12, queue_depth=2, lanes=3, acc_bits=20),
    ArrayConfig(rows=4, cols=3, block=8, queue_depth=2, result_rows=2, weight_lanes=2),
    ArrayConfig(rows=6, cols=2, block=4, queue_depth=3, result_rows=3, weight_bus_bits=48),
    # the dense reference dataflow: blocks of 1 to 8 rows, narrow accumulators (the high
    # half one bit; the low half narrower than the product), two rows per result beat
    ArrayConfig(rows=2, cols=3, block=4, dataflow="dense"),
    ArrayConfig(rows=4, cols=3, block=2, dataflow="dense", result_rows=2, weight_lanes=2),
    ArrayConfig(rows=5, cols=2, block=1, dataflow="dense", acc_bits=20),
    ArrayConfig(rows=3, cols=4, block=8, dataflow="dense", acc_bits=16, weight_bus_bits=64),
]


def _id(cfg: ArrayConfig) -> str:
    mode = {(True, True): "sparse", (True, False): "w", (False, True): "a", (False, False): "dense"}
    extra = f"-out{cfg.result_rows}" if cfg.result_rows > 1 else ""
    if cfg.dataflow != "queued":
        return f"{cfg.dataflow}-{cfg.rows}x{cfg.cols}-B{cfg.block}-acc{cfg.acc_bits}{extra}"
    return (
        f"{cfg.rows}x{cfg.cols}-B{cfg.block}-D{cfg.queue_depth}-L{cfg.lanes}"
        f"-{mode[cfg.skip_weights, cfg.skip_acts]}{extra}"
    )


@pytest.fixture(scope="module", params=CONFIGS, ids=_id)
def dut_config(request):
    return request.param


def random_layer(rng, cfg, M, K, N, wd, ad, groups=1):
    lo, hi = -(1 << (cfg.w_bits - 1)), 1 << (cfg.w_bits - 1)
    W = rng.integers(lo, hi, (groups, M, K)) * (rng.random((groups, M, K)) < wd)
    lo, hi = -(1 << (cfg.a_bits - 1)), 1 << (cfg.a_bits - 1)
    X = rng.integers(lo, hi, (groups, K, N)) * (rng.random((groups, K, N)) < ad)
    return W, X


def check(
    cfg, W, X, *, bias=None, relu=False, shift=None, stall=0.0, gaps=0.0, seed=0, balance="auto"
):
    """Run on the RTL model and compare with the golden model and the simulator."""
    G, Mg, K = W.shape
    N = X.shape[2]
    prog = program(
        cfg, W, X, bias=bias, relu=relu, shift=shift, max_blocks=MAX_BLOCKS, balance=balance
    )
    run = run_program(
        build_array(cfg, max_blocks=MAX_BLOCKS), prog, stall=stall, gaps=gaps, seed=seed
    )
    Y = prog.decode(run.results)
    b = None if bias is None else bias.reshape(G, Mg)
    expect = np.stack(
        [
            layer_output(W[g], X[g], cfg, bias=None if b is None else b[g], relu=relu, shift=shift)
            for g in range(G)
        ]
    )
    assert np.array_equal(Y.reshape(expect.shape), expect), "outputs differ from the golden model"
    layer = Layer("t", G * Mg, K, N, groups=G)
    res = simulate_arrays(Config(cfg, UNBOUNDED), layer, W, X, balance=balance)
    expect_counters = res.sparse.counters.as_dict()
    if gaps:  # input gaps make rows wait: idle row-cycles are timing, not work
        del run.counters["row_idle_cycles"], expect_counters["row_idle_cycles"]
    assert run.counters == expect_counters
    if not stall and not gaps:
        assert run.cycles == res.sparse.total_cycles
    return run, res


@pytest.mark.parametrize("balance", ["sort", "swap"])
def test_balanced_layers(dut_config, balance):
    """Rows of very different work, permuted by the driver: the results come back in the
    layer's order, bit-exact, and cycles and counters are the simulator's for the
    permuted layer."""
    cfg = dut_config
    rng = np.random.default_rng([7, cfg.rows, cfg.block])
    M, K, N = 4 * cfg.rows + 1, 3 * cfg.block, cfg.cols + 1
    W, X = random_layer(rng, cfg, M, K, N, 1.0, 0.6)
    W = W * (rng.random(W.shape) < rng.choice([0.1, 0.9], size=(1, M, 1)))
    bias = rng.integers(-1000, 1000, size=M)
    perm = balance_rows(cfg, weight_pattern(W, cfg.block), balance)
    assert (perm[0] != np.arange(M)).any() == cfg.skip_weights  # the pass did move rows
    check(cfg, W, X, bias=bias, relu=True, balance=balance)


@pytest.mark.parametrize("seed", range(4))
def test_random_layers(dut_config, seed):
    rng = np.random.default_rng([seed, dut_config.rows, dut_config.block])
    cfg = dut_config
    M, K, N = (
        int(rng.integers(1, 3 * cfg.rows + 2)),
        int(rng.integers(1, 4 * cfg.block)),
        int(rng.integers(1, 3 * cfg.cols + 2)),
    )
    wd, ad = rng.choice([0.1, 0.3, 0.6, 1.0]), rng.choice([0.2, 0.5, 0.9, 1.0])
    W, X = random_layer(rng, cfg, M, K, N, wd, ad)
    bias = rng.integers(-1000, 1000, M) if seed % 2 else None
    shift = int(rng.integers(0, 10)) if seed % 3 == 1 else None
    check(cfg, W, X, bias=bias, relu=bool(seed % 2), shift=shift)


@pytest.mark.parametrize(
    "case", ["zero_weights", "zero_acts", "dense", "ragged", "grouped", "wrap"]
)
def test_edge_cases(dut_config, case):
    cfg = dut_config
    rng = np.random.default_rng(11)
    M, K, N = 2 * cfg.rows + 1, 2 * cfg.block + 3, 2 * cfg.cols + 1
    if case == "zero_weights":
        W, X = random_layer(rng, cfg, M, K, N, 0.0, 0.7)
    elif case == "zero_acts":
        W, X = random_layer(rng, cfg, M, K, N, 0.7, 0.0)
    elif case == "dense":
        W, X = random_layer(rng, cfg, M, K, N, 1.0, 1.0)
    elif case == "ragged":
        W, X = random_layer(rng, cfg, cfg.rows + 1, cfg.block + 1, cfg.cols + 1, 0.5, 0.5)
    elif case == "grouped":
        W, X = random_layer(
            rng, cfg, cfg.rows + 1, cfg.block - 1 or 1, cfg.cols, 0.5, 0.6, groups=3
        )
    else:  # extreme values: the accumulator wraps
        narrow = dataclasses.replace(cfg, acc_bits=cfg.w_bits + cfg.a_bits)
        W = np.full((1, M, K), -(1 << (cfg.w_bits - 1)))
        X = np.full((1, K, N), -(1 << (cfg.a_bits - 1)))
        run, _ = check(narrow, W, X)
        return
    check(cfg, W, X)


@pytest.mark.parametrize("bound", ["load", "compute", "empty_rows", "identity"])
def test_double_buffered_row_tiles(dut_config, bound):
    """Several row tiles back to back, the next one's weights loading while the current
    computes: loads longer than compute (long K, one column tile), shorter (short K, many
    column tiles), row tiles with empty rows, and a layer the pass leaves in order."""
    cfg = dut_config
    rng = np.random.default_rng([3, cfg.rows, cfg.cols])
    R, B, C = cfg.rows, cfg.block, cfg.cols
    balance = "auto"
    if bound == "load":
        W, X = random_layer(rng, cfg, 3 * R, 6 * B, C, 0.3, 0.5)
    elif bound == "compute":
        W, X = random_layer(rng, cfg, 3 * R, B, 6 * C, 0.8, 0.9)
    elif bound == "empty_rows":
        W, X = random_layer(rng, cfg, 3 * R, 2 * B, 2 * C, 0.5, 0.6)
        W[:, 1::2] = 0  # every other output channel pruned away
    else:
        W, X = random_layer(rng, cfg, 3 * R, 2 * B, 2 * C, 0.5, 0.6)
        balance = "none"
    run, res = check(cfg, W, X, balance=balance)
    nb = -(-W.shape[2] // B)
    loads = 3 * R * nb  # every row tile's load, had none overlapped compute
    # what a tile adds beyond its compute: the queued array's flush; the dense array's
    # landing and drain when the tile is shorter than them
    flush = 6 if cfg.dataflow == "queued" else DENSE_LANDING + R // cfg.result_rows + 1
    serial = loads + res.sparse.compute_cycles + 3 * -(-X.shape[2] // C) * flush + R + 3
    assert run.cycles < serial  # the loads of row tiles 1 and 2 ran under compute


def test_overlapped_tiles(dut_config):
    """One row tile of long tiles (at least R + 3 cycles each): every column tile but the
    last starts while the previous one's products are still in the pipeline."""
    cfg = dut_config
    rng = np.random.default_rng([4, cfg.rows, cfg.cols])
    if cfg.dataflow == "dense":
        # tiles longer than landing and drain follow each other without a gap: five more
        # column tiles cost exactly five tiles' rows
        K = cfg.block * -(-(DENSE_LANDING + cfg.rows + 1) // cfg.block)
        W, X = random_layer(rng, cfg, cfg.rows, K, 6 * cfg.cols, 1.0, 0.9)
        run6, _ = check(cfg, W, X)
        run1, _ = check(cfg, W, X[:, :, : cfg.cols])
        assert run6.cycles - run1.cycles == 5 * K
        return
    W, X = random_layer(rng, cfg, cfg.rows, 4 * cfg.block, 6 * cfg.cols, 1.0, 0.9)
    run, res = check(cfg, W, X)
    flushed = res.sparse.compute_cycles + 6 * 6  # each of the 6 tiles followed by its flush
    assert run.cycles < cfg.rows * 4 + flushed + cfg.rows + 2


@pytest.mark.parametrize("seed", range(2))
def test_backpressure_and_gaps_keep_results_exact(dut_config, seed):
    """Random stalls on the results and idle cycles on the inputs: nothing lost, nothing
    repeated (decode checks the beat count), every value exact."""
    cfg = dut_config
    rng = np.random.default_rng(100 + seed)
    W, X = random_layer(rng, cfg, 2 * cfg.rows + 1, 2 * cfg.block + 1, 2 * cfg.cols + 1, 0.5, 0.6)
    check(cfg, W, X, stall=0.4, gaps=0.2 * seed, seed=seed)


@pytest.mark.parametrize("dataflow", ["queued", "dense"])
def test_layers_back_to_back_without_reset(dataflow):
    """Three layers on one instance: counters restart at each start, each layer exact."""
    cfg = ArrayConfig(rows=2, cols=2, block=4, queue_depth=2, dataflow=dataflow)
    rng = np.random.default_rng(5)
    layers = [
        random_layer(rng, cfg, M, K, N, 0.6, 0.5) for M, K, N in ((3, 9, 5), (5, 6, 3), (1, 13, 2))
    ]
    progs = [program(cfg, W, X, max_blocks=MAX_BLOCKS) for W, X in layers]
    runs = run_programs(build_array(cfg, max_blocks=MAX_BLOCKS), progs)
    for (W, X), prog, run in zip(layers, progs, runs, strict=True):
        assert np.array_equal(prog.decode(run.results), layer_output(W[0], X[0], cfg))
        res = simulate_arrays(Config(cfg, UNBOUNDED), Layer("t", *W.shape[1:], X.shape[2]), W, X)
        assert run.counters == res.sparse.counters.as_dict()
        assert run.cycles == res.sparse.total_cycles


@settings(max_examples=8, deadline=None, database=None)
@given(
    rows=st.integers(1, 8),
    cols=st.integers(1, 8),
    block=st.integers(4, 16),
    depth=st.integers(1, 4),
    lanes=st.sampled_from([1, 2, 4]),
    skip=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
    dataflow=st.sampled_from(["queued", "dense"]),
    seed=st.integers(0, 2**16),
)
def test_random_configurations(rows, cols, block, depth, lanes, skip, dataflow, seed):
    cfg = ArrayConfig(
        dataflow=dataflow,
        rows=rows,
        cols=cols,
        block=block,
        queue_depth=depth,
        lanes=1 if dataflow == "dense" else min(lanes, block),
        skip_weights=skip[0],
        skip_acts=skip[1],
    )
    rng = np.random.default_rng(seed)
    M, K, N = (
        int(rng.integers(1, 2 * rows + 2)),
        int(rng.integers(1, 3 * block)),
        int(rng.integers(1, 2 * cols + 2)),
    )
    W, X = random_layer(rng, cfg, M, K, N, rng.uniform(0, 1), rng.uniform(0, 1))
    check(cfg, W, X, relu=bool(seed % 2), shift=int(seed % 7) if seed % 3 else None)


def test_dense_array_with_lut_multipliers_beyond_a_dsp_budget():
    """PEs beyond ``max_dsps`` get pipelined LUT multipliers of the same latency: the
    layer is still bit-exact and cycle-exact (extreme operands included)."""
    cfg = ArrayConfig(rows=2, cols=3, block=4, dataflow="dense")
    rng = np.random.default_rng(21)
    W, X = random_layer(rng, cfg, 5, 11, 7, 0.8, 0.8)
    W[0, 0, :] = -128
    X[0, :, 0] = -128
    prog = program(cfg, W, X, max_blocks=MAX_BLOCKS)
    dut = build_array(cfg, max_blocks=MAX_BLOCKS, max_dsps=2)
    assert dut.dsp_multipliers == 2
    run = run_program(dut, prog)
    assert np.array_equal(prog.decode(run.results), layer_output(W[0], X[0], cfg))
    res = simulate_arrays(Config(cfg, UNBOUNDED), Layer("t", 5, 11, 7), W, X)
    assert run.cycles == res.sparse.total_cycles
