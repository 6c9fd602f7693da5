"""A layer's memory and time known from its shape; the schedule computed in chunks."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accel.perf.schedule as sched
from accel.config import ArrayConfig, Config, load_config
from accel.errors import AccelError
from accel.perf.footprint import check_fits, describe_time, layer_bytes
from accel.perf.simulate import simulate_network
from accel.workloads.layer import Layer
from accel.workloads.sparsity import layer_act_pattern, layer_weight_pattern, parse_pattern
from accel.workloads.zoo import get_network


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    block=st.sampled_from([1, 3, 8, 16]),
    skip_acts=st.booleans(),
    G=st.integers(1, 3),
    M=st.integers(1, 20),
    K=st.integers(1, 40),
    N=st.integers(1, 20),
    chunk=st.integers(1, 200),
    seed=st.integers(0, 99),
)
def test_chunked_schedule_is_the_whole_schedule(
    rows, cols, block, skip_acts, G, M, K, N, chunk, seed
):
    cfg = ArrayConfig(rows=rows, cols=cols, block=block, skip_acts=skip_acts)
    layer = Layer("l", M=G * M, K=K, N=N, groups=G)
    rng = np.random.default_rng(seed)
    wp = layer_weight_pattern(rng, layer, cfg, parse_pattern("unstructured", 0.4))
    ap = layer_act_pattern(rng, layer, cfg, 0.5)
    whole = sched.schedule(cfg, wp, ap)
    saved = sched.CHUNK_STEPS
    sched.CHUNK_STEPS = chunk
    try:
        ticks = []
        parts = sched.schedule(cfg, wp, ap, ticks.append)
    finally:
        sched.CHUNK_STEPS = saved
    assert (parts.tile_cycles == whole.tile_cycles).all()
    assert parts.counters == whole.counters
    assert ticks == sorted(ticks) and ticks[-1] == 1.0


@pytest.mark.parametrize(
    ("network", "array", "params", "index"),
    [
        ("vgg16", {}, {}, 14),  # fc7: the weights dominate
        ("resnet50", {"rows": 4, "cols": 2, "block": 4}, {}, 0),  # the window rows do
        ("bert_base", {}, {"seq_len": 1024, "batch": 2}, 4),  # attention context
        ("resnet50", {}, {"batch": 8}, 0),
    ],
)
def test_the_estimate_is_near_the_measured_peak(network, array, params, index):
    config = load_config(None, {"array": array, "system": {}})
    layer = get_network(network, **params)[index]
    tracemalloc.start()
    try:
        simulate_network(config, [layer], parse_pattern("unstructured", 0.5), 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.3 * peak <= layer_bytes(config.array, layer) <= 3.0 * peak


def test_a_layer_too_large_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("ACCEL_MEMORY_GIB", "0.05")
    cfg = ArrayConfig()
    with pytest.raises(AccelError, match=r"layer big \(G=1, M=4096, K=4096, N=4096\)"):
        check_fits(cfg, [Layer("small", M=4, K=4, N=4), Layer("big", M=4096, K=4096, N=4096)])
    check_fits(cfg, [Layer("small", M=4, K=4, N=4)])


def test_long_runs_are_announced():
    assert describe_time(ArrayConfig(), get_network("resnet50")) is None
    tall = Config(ArrayConfig(rows=256, cols=1, block=1))
    note = describe_time(tall.array, get_network("vgg16"))
    assert note is not None and "min" in note and "G row-block steps" in note
