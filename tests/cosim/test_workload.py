"""Whole-workload verification without an HDL simulator: operands, layer picking."""

from __future__ import annotations

import numpy as np
import pytest

from accel.config import ArrayConfig, Config
from accel.cosim.workload import memory_depth, network_cases, select_layers
from accel.errors import AccelError
from accel.perf.simulate import simulate_arrays, simulate_network
from accel.workloads.sparsity import WeightSparsity
from accel.workloads.zoo import get_network


@pytest.mark.parametrize(
    ("network", "sparsity", "act"),
    [
        ("resnet50", WeightSparsity("unstructured", 0.2), 0.5),
        ("mobilenet_v2", WeightSparsity("nm", 0.5, 2, 4), 0.7),
        ("bert_base", WeightSparsity("channel", 0.5), 0.6),  # attention: dynamic weights
    ],
)
def test_the_rtl_runs_the_layers_simulate_timed(network, sparsity, act):
    """Same seed: every layer's operands have exactly the patterns ``simulate_network``
    draws, so their cycles and counters are the ones ``accel simulate`` reports."""
    cfg = ArrayConfig(rows=8, cols=8, block=16)
    kw = {"seq_len": 32} if network == "bert_base" else {"image": 64}
    layers = get_network(network, **kw)[:12]
    timed = simulate_network(Config(cfg), layers, sparsity, act, seed=3)
    cases = list(network_cases(cfg, layers, sparsity, act, seed=3))
    assert [c.name for c in cases] == [x.name for x in layers]
    for layer, case, want in zip(layers, cases, timed.layers, strict=True):
        got = simulate_arrays(Config(cfg), layer, case.W, case.X)
        assert got.sparse.core_cycles == want.sparse.core_cycles, layer.name
        assert got.sparse.counters == want.sparse.counters, layer.name
        W = np.asarray(case.W)
        if not layer.dynamic_weights:
            assert np.abs(W).max() <= 127 and (np.asarray(case.X) >= 0).all()


def test_max_n_cuts_every_layer():
    cfg = ArrayConfig(rows=4, cols=4, block=8)
    layers = get_network("resnet50")[:3]
    for case in network_cases(cfg, layers, WeightSparsity("unstructured", 0.3), 0.5, max_n=10):
        assert np.asarray(case.X).shape[-1] == 10


def test_layer_selection_by_name_index_and_range():
    names = ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert select_layers(names, None) == [0, 1, 2, 3, 4]
    assert select_layers(names, "fc3,0-1,conv2") == [0, 1, 4]
    assert select_layers(names, "2") == [2]
    for bad in ("fc9", "3-9", "2-1", "-1"):
        with pytest.raises(AccelError, match="--layers"):
            select_layers(names, bad)


def test_memory_depth_is_the_next_power_of_two():
    cfg = ArrayConfig(block=16)
    assert memory_depth(cfg, [16]) == 1
    assert memory_depth(cfg, [17, 4]) == 2
    assert memory_depth(cfg, [4608]) == 512  # ResNet-50's 3x3x512: 288 blocks
