"""The schedule against a slow, cycle-by-cycle model of the hardware written here.

The model does not use the contract's recurrence: it steps a clock through an issuer
and R first-word-fall-through FIFOs of depth D, exactly as section 5 describes the
hardware. The work per row and block comes from W and X with Python ints (not from
``accel.encode`` masks), and the effectual MACs are counted pair by pair.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.config import ArrayConfig
from accel.encode import act_pattern, weight_pattern
from accel.perf.schedule import schedule, tile_cycles

COUNTERS = (
    "windows",
    "weight_reads",
    "macs_issued",
    "macs_effectual",
    "macs_gated",
    "row_busy_cycles",
    "row_idle_cycles",
    "outputs",
)


# -- the slow model -----------------------------------------------------------------------


def simulate_tile(c: list[list[int]], depth: int) -> tuple[int, int]:
    """Step the clock through one tile; ``c[r][b]`` cycles of work per row and window.

    Returns the tile's cycles (the last row's last pop plus its work) and the busy
    row-cycles, counted cycle by cycle (row r works in cycles P+1 .. P+c of a pop at P).
    """
    R, nb = len(c), len(c[0])
    writes: list[int] = []  # cycle each window was written into the FIFOs
    pops: list[list[int]] = [[] for _ in range(R)]  # cycle row r took each window
    ready = [0] * R  # earliest cycle row r may take its next window
    busy = 0
    t = 0
    limit = 4 + 2 * nb * (1 + max(max(row) for row in c))
    while True:
        assert t <= limit, "slow model does not terminate"
        done = all(len(p) == nb for p in pops)
        if done and t > max(ready):
            break
        # rows working in this cycle (on a window taken strictly earlier)
        busy += sum(1 for r in range(R) if pops[r] and pops[r][-1] < t <= ready[r])
        # the issuer: one window per cycle, into every FIFO at once, if all have room,
        # counting as free only the slots whose window was taken before this cycle
        if len(writes) < nb and all(
            len(writes) - sum(1 for p in pops[r] if p < t) < depth for r in range(R)
        ):
            writes.append(t)
        # each row takes the head of its FIFO if it is readable and the row is free
        for r in range(R):
            k = len(pops[r])
            if k < len(writes) and writes[k] + 1 <= t and ready[r] <= t:
                pops[r].append(t)
                ready[r] = t + c[r][k]
        t += 1
    # FIFO invariants: never more than `depth` windows held, windows taken in order
    for r in range(R):
        for b in range(depth, nb):
            assert writes[b] > pops[r][b - depth]
        assert all(pops[r][b] > writes[b] for b in range(nb))
    return max(p[-1] + c[r][-1] for r, p in enumerate(pops)), busy


@dataclass
class Slow:
    tile_cycles: list[list[list[int]]]  # [G][ntm][ntn]
    counters: dict[str, int]

    @property
    def compute_cycles(self) -> int:
        return sum(v for g in self.tile_cycles for tm in g for v in tm)


def slow_schedule(cfg: ArrayConfig, W: np.ndarray, X: np.ndarray) -> Slow:
    """W ``[G, Mg, K]``, X ``[G, K, N]``: every tile, row and block by brute force."""
    R, C, B, L = cfg.rows, cfg.cols, cfg.block, cfg.lanes
    G, Mg, K = W.shape
    N = X.shape[2]
    ntm, ntn, nb = -(-Mg // R), -(-N // C), -(-K // B)
    counts = dict.fromkeys(COUNTERS, 0)
    cycles: list[list[list[int]]] = []
    for g in range(G):
        Wl, Xl = W[g].tolist(), X[g].tolist()
        per_g = []
        for tm in range(ntm):
            per_tm = []
            for tn in range(ntn):
                n_cols = [tn * C + i for i in range(C)]  # padding columns included
                x_nz = [[k < K and n < N and Xl[k][n] != 0 for n in n_cols] for k in range(nb * B)]
                c = []
                for r in range(R):
                    m = tm * R + r
                    row_c = []
                    for b in range(nb):
                        e = 0
                        for j in range(B):
                            k = b * B + j
                            w_nz = m < Mg and k < K and Wl[m][k] != 0
                            a_nz = any(x_nz[k])
                            if (w_nz or not cfg.skip_weights) and (a_nz or not cfg.skip_acts):
                                e += 1
                                if w_nz:
                                    counts["macs_effectual"] += sum(x_nz[k])
                        counts["weight_reads"] += e
                        row_c.append(max(1, math.ceil(e / L)))
                    c.append(row_c)
                T, busy = simulate_tile(c, cfg.queue_depth)
                assert busy == sum(map(sum, c))
                per_tm.append(T)
                counts["windows"] += nb
                counts["row_busy_cycles"] += busy
                counts["row_idle_cycles"] += R * T - busy
                counts["outputs"] += R * C
            per_g.append(per_tm)
        cycles.append(per_g)
    counts["macs_issued"] = counts["weight_reads"] * C
    counts["macs_gated"] = counts["macs_issued"] - counts["macs_effectual"]
    return Slow(cycles, counts)


def fast_schedule(cfg: ArrayConfig, W: np.ndarray, X: np.ndarray):
    return schedule(cfg, weight_pattern(W, cfg.block), act_pattern(X, cfg.block, cfg.cols))


# -- the slow model itself, on hand-worked cases --------------------------------------


@pytest.mark.parametrize(
    ("c", "depth", "cycles"),
    [
        ([[3, 3, 3]], 1, 10),  # dense-like: 1 + nb * c
        ([[1, 1, 1]], 1, 6),  # D = 1: two cycles per window
        ([[1, 1, 1]], 2, 4),
        # D = 1: I = 0, 2, 7 (window 2 waits for row 0 to take window 1 at 6); row 1
        # takes it at 8 and ends at 13
        ([[5, 1, 1], [1, 1, 5]], 1, 13),
        # D = 3: I = 0, 1, 2; row 0 ends at 1 + 5 + 1 + 1, row 1 takes window 2 at 3
        ([[5, 1, 1], [1, 1, 5]], 3, 8),
        ([[5, 1, 1], [1, 1, 5]], 2, 8),
    ],
)
def test_slow_model_on_hand_worked_tiles(c, depth, cycles):
    assert simulate_tile(c, depth)[0] == cycles


# -- the simulator against the slow model ---------------------------------------------


@settings(max_examples=400, deadline=None, database=None)
@given(
    R=st.integers(1, 6),
    nb=st.integers(1, 12),
    T=st.integers(1, 3),
    depth=st.integers(1, 5),
    data=st.data(),
)
def test_tile_cycles_matches_cycle_by_cycle_model(R, nb, T, depth, data):
    """The recurrence alone, on arbitrary work: rows whose load changes from block to
    block are where the queues decide the timing (and where a wrong gate would show)."""
    hi = data.draw(st.sampled_from([2, 4, 9, 17]))
    c = data.draw(
        st.lists(
            st.lists(
                st.lists(st.integers(1, hi), min_size=nb, max_size=nb), min_size=R, max_size=R
            ),
            min_size=T,
            max_size=T,
        )
    )  # c[t][r][b]
    block_major = np.array(c, dtype=np.int32).transpose(2, 0, 1).copy()  # [b, t, r]
    got = tile_cycles(block_major, depth)
    assert got.tolist() == [simulate_tile(tile, depth)[0] for tile in c]


def sparse_ints(rng: np.random.Generator, shape, density: float) -> np.ndarray:
    v = rng.integers(1, 128, size=shape) * rng.choice([-1, 1], size=shape)
    return np.where(rng.random(shape) < density, v, 0)


densities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


@st.composite
def layers(draw, max_dim: int = 40):
    block = draw(st.integers(1, 16))
    cfg = ArrayConfig(
        rows=draw(st.integers(1, 6)),
        cols=draw(st.integers(1, 6)),
        block=block,
        queue_depth=draw(st.integers(1, 5)),
        lanes=draw(st.integers(1, min(4, block))),
        skip_weights=draw(st.booleans()),
        skip_acts=draw(st.booleans()),
    )
    G = draw(st.sampled_from([1, 1, 1, 2]))
    M, K, N = (draw(st.integers(1, max_dim)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = sparse_ints(rng, (G, M, K), draw(densities))
    if draw(st.booleans()):
        # bursty rows: each (row, block) is empty or full, so the slowest row changes
        # from block to block and the queues, not the total work, decide the timing
        nb = -(-K // block)
        full = rng.random((G, M, nb)) < draw(st.floats(0.2, 0.8))
        W = np.where(np.repeat(full, block, axis=2)[:, :, :K], W, 0)
        W[np.repeat(full, block, axis=2)[:, :, :K] & (W == 0)] = 1
    X = sparse_ints(rng, (G, K, N), draw(densities))
    X[rng.random((G, K)) < draw(densities)] = 0  # whole zero rows: skippable windows
    return cfg, W, X


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(layer=layers())
def test_schedule_matches_cycle_by_cycle_model(layer):
    cfg, W, X = layer
    slow = slow_schedule(cfg, W, X)
    fast = fast_schedule(cfg, W, X) if W.shape[0] > 1 else fast_schedule(cfg, W[0], X[0])
    assert fast.tile_cycles.tolist() == slow.tile_cycles
    assert fast.compute_cycles == slow.compute_cycles
    assert fast.counters.as_dict() == slow.counters
    got = fast.counters
    assert got.row_busy_cycles + got.row_idle_cycles == cfg.rows * fast.compute_cycles
    assert got.macs_effectual == sum(
        int(np.count_nonzero(W[g][:, k])) * int(np.count_nonzero(X[g][k]))
        for g in range(W.shape[0])
        for k in range(W.shape[2])
    )


# -- invariants -----------------------------------------------------------------------

INVARIANT_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@INVARIANT_SETTINGS
@given(layer=layers(max_dim=60))
def test_deeper_queue_is_never_slower(layer):
    cfg, W, X = layer
    wp, ap = weight_pattern(W, cfg.block), act_pattern(X, cfg.block, cfg.cols)
    shallow = schedule(cfg, wp, ap)
    deep = schedule(dataclasses.replace(cfg, queue_depth=cfg.queue_depth + 1), wp, ap)
    assert (deep.tile_cycles <= shallow.tile_cycles).all()
    assert deep.compute_cycles <= shallow.compute_cycles
    # depth changes only the timing, never the work
    for name in ("windows", "weight_reads", "macs_issued", "macs_effectual", "row_busy_cycles"):
        assert getattr(deep.counters, name) == getattr(shallow.counters, name)


@INVARIANT_SETTINGS
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (2, 8), (4, 8), (4, 16), (8, 16)]),
    depth=st.integers(1, 5),
    skip_acts=st.booleans(),
    M=st.integers(1, 30),
    nb=st.integers(1, 8),
    N=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_n_m_sparsity_has_no_imbalance(rows, cols, nm, depth, skip_acts, M, nb, N, seed):
    n, m = nm
    if n == 1 and depth == 1:
        depth = 2  # the contract's condition: N >= 2 or D >= 2
    cfg = ArrayConfig(
        rows=rows, cols=cols, block=m, queue_depth=depth, lanes=1, skip_acts=skip_acts
    )
    rng = np.random.default_rng(seed)
    W = np.zeros((M, nb * m), dtype=np.int64)
    for r in range(M):
        for b in range(nb):
            keep = rng.choice(m, size=n, replace=False)
            W[r, b * m + keep] = rng.integers(1, 128, size=n)
    X = rng.integers(1, 128, size=(nb * m, N))  # dense activations
    sched = fast_schedule(cfg, W, X)
    tiles = -(-M // rows) * -(-N // cols)
    assert sched.tile_cycles.size == tiles
    assert (sched.tile_cycles == 1 + nb * n).all()
    dense = fast_schedule(cfg.as_dense(), W, X)
    assert (dense.tile_cycles == 1 + nb * m).all()


@INVARIANT_SETTINGS
@given(layer=layers(max_dim=60))
def test_dense_mode_cycles_closed_form(layer):
    cfg, W, X = layer
    cfg = cfg.as_dense()
    per_window = -(-cfg.block // cfg.lanes)
    G, M, K = W.shape
    N = X.shape[2]
    nb = -(-K // cfg.block)
    tiles = G * -(-M // cfg.rows) * -(-N // cfg.cols)
    sched = fast_schedule(cfg, W, X)
    if per_window >= 2 or cfg.queue_depth >= 2:
        assert sched.compute_cycles == tiles * (1 + nb * per_window)
    else:  # one-cycle windows through a depth-1 queue: two cycles per window
        assert sched.compute_cycles == tiles * 2 * nb
    counters = sched.counters
    assert counters.weight_reads == tiles * cfg.rows * nb * cfg.block
    assert counters.row_busy_cycles == tiles * cfg.rows * nb * per_window
    assert counters.windows == tiles * nb
    assert counters.outputs == tiles * cfg.rows * cfg.cols


@INVARIANT_SETTINGS
@given(layer=layers(max_dim=60))
def test_all_zero_weights_cost_one_cycle_per_window(layer):
    cfg, W, X = layer
    cfg = dataclasses.replace(cfg, skip_weights=True)
    W = np.zeros_like(W)
    G, M, K = W.shape
    N = X.shape[2]
    nb = -(-K // cfg.block)
    tiles = G * -(-M // cfg.rows) * -(-N // cfg.cols)
    sched = fast_schedule(cfg, W, X)
    counters = sched.counters
    assert counters.weight_reads == 0
    assert counters.macs_issued == 0
    assert counters.macs_effectual == 0
    assert counters.macs_gated == 0
    assert counters.row_busy_cycles == tiles * cfg.rows * nb  # every c = 1
    per_tile = nb + 1 if cfg.queue_depth >= 2 else 2 * nb
    assert (sched.tile_cycles == per_tile).all()
    assert counters.row_idle_cycles == tiles * cfg.rows * (per_tile - nb)
