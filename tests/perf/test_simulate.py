"""Invariants of whole simulations: skipping never costs cycles, the dense configuration
is its own baseline, and the totals of a report are the sums of its layers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel.config import ArrayConfig, Config, SystemConfig
from accel.encode import blocks
from accel.perf.energy import load_energy_table
from accel.perf.simulate import result_beat_cycles, simulate_arrays, simulate_network
from accel.report import report_dict
from accel.workloads.layer import Layer
from accel.workloads.sparsity import WeightSparsity
from accel.workloads.zoo import get_network

SMALL = Config(ArrayConfig(rows=4, cols=4, block=16, queue_depth=2))
MOBILENET = get_network("mobilenet_v2", image=32)
TABLE = load_energy_table()

SPARSITIES = [
    WeightSparsity("unstructured", 1.0),
    WeightSparsity("unstructured", 0.6),
    WeightSparsity("unstructured", 0.1),
    WeightSparsity("unstructured", 0.0),
    WeightSparsity("nm", 0.5, 2, 4),
    WeightSparsity("nm", 0.125, 1, 8),
    WeightSparsity("channel", 0.5),
]


def _run(config=SMALL, layers=MOBILENET, weights=SPARSITIES[1], act=0.5, seed=0):
    return simulate_network(config, layers, weights, act, seed, TABLE)


@pytest.mark.parametrize("weights", SPARSITIES, ids=lambda w: f"{w.label}-{w.density:g}")
@pytest.mark.parametrize("act", [1.0, 0.4, 0.05])
def test_skipping_never_costs_cycles(weights, act):
    res = _run(weights=weights, act=act)
    for r in res.layers:
        name = r.layer.name
        assert r.sparse.compute_cycles <= r.dense.compute_cycles, name
        if weights.density < 1.0:  # unpruned weights stream their masks on top
            assert r.sparse.core_cycles <= r.dense.core_cycles, name
            # with the default (compute-bound) memory system, the total follows
            assert r.sparse.total_cycles <= r.dense.total_cycles, name
            assert r.speedup >= 1.0
    t = res.totals()
    assert t["compute_speedup"] >= 1.0
    assert t["speedup"] >= (1.0 if weights.density < 1.0 else 0.97)


@pytest.mark.parametrize(("wd", "ad"), [(0.5, 1.0), (0.3, 1.0)])
def test_skipping_never_costs_total_cycles_when_dram_bound(wd, ad):
    """Pruned weights stream fewer words than dense ones (at density 1 the masks would be
    extra: the weight stream has no dense format)."""
    config = Config(ArrayConfig(rows=8, cols=8), SystemConfig(dram_bytes_per_cycle=1.0))
    res = _run(config=config, weights=WeightSparsity("unstructured", wd), act=ad)
    worse = [
        (r.layer.name, r.sparse.total_cycles, r.dense.total_cycles)
        for r in res.layers
        if r.sparse.total_cycles > r.dense.total_cycles
    ]
    assert worse == []


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_dense_configuration_is_its_own_baseline(lanes):
    config = Config(ArrayConfig(rows=4, cols=4, block=16, lanes=lanes).as_dense())
    res = _run(config=config, weights=SPARSITIES[2], act=0.3)
    for r in res.layers:
        assert r.speedup == 1.0
        assert r.sparse.counters == r.dense.counters
        assert r.sparse.compute_cycles == r.dense.compute_cycles
        assert r.sparse.energy_pj == r.dense.energy_pj
        # and it runs the contract's dense tile, 1 + nb * B / L, whatever the data
        tiles = r.layer.groups * -(-r.layer.m_per_group // 4) * -(-r.layer.N // 4)
        nb = blocks(r.layer.K, 16)
        assert r.sparse.compute_cycles == tiles * (1 + nb * 16 // lanes), r.layer.name
    t = res.totals()
    assert t["speedup"] == 1.0 and t["compute_speedup"] == 1.0
    assert t["counters"] == t["dense_counters"]


def test_dense_baseline_ignores_the_data():
    a = _run(weights=SPARSITIES[0], act=1.0)
    b = _run(weights=SPARSITIES[3], act=0.05, seed=9)
    for ra, rb in zip(a.layers, b.layers, strict=True):
        assert ra.dense.compute_cycles == rb.dense.compute_cycles
        assert ra.dense.counters.weight_reads == rb.dense.counters.weight_reads


def test_nm_with_block_m_has_no_imbalance():
    # Contract, section 5: with B = M and N >= 2 (or D >= 2), every tile takes exactly
    # 1 + nb * N compute cycles when no window row is empty (activation density 1).
    layers = [
        Layer("a", M=8, K=32, N=12),
        Layer("b", M=6, K=20, N=5, groups=2),  # padded rows in every row tile
        Layer("c", M=5, K=4, N=9),
    ]
    config = Config(ArrayConfig(rows=4, cols=4, block=4, queue_depth=2))
    res = _run(config=config, layers=layers, weights=WeightSparsity("nm", 0.5, 2, 4), act=1.0)
    for r in res.layers:
        tiles = r.layer.groups * -(-r.layer.m_per_group // 4) * -(-r.layer.N // 4)
        nb = r.layer.K // 4
        assert r.sparse.compute_cycles == tiles * (1 + nb * 2), r.layer.name
        assert r.dense.compute_cycles == tiles * (1 + nb * 4), r.layer.name


def test_json_totals_are_the_sums_of_the_layers():
    res = _run(weights=SPARSITIES[4], act=0.3)
    report = json.loads(json.dumps(report_dict(SMALL, res, {"name": "mobilenet_v2"}, TABLE)))
    layers, totals = report["layers"], report["totals"]
    assert totals["layers"] == len(layers) == len(MOBILENET)
    for key in (
        "macs",
        "compute_cycles",
        "total_cycles",
        "core_cycles",
        "stall_cycles",
        "dense_compute_cycles",
        "dense_total_cycles",
    ):
        assert totals[key] == sum(d[key] for d in layers), key
    for group in ("counters", "dense_counters"):
        for name, value in totals[group].items():
            assert value == sum(d[group][name] for d in layers), (group, name)
    for group in ("energy_pj", "dense_energy_pj"):
        e = totals[group]
        assert e["total"] == pytest.approx(sum(d[group]["total"] for d in layers), rel=1e-12)
        for part in ("by_level", "by_action"):
            for name, value in e[part].items():
                expect = sum(d[group][part][name] for d in layers)
                assert value == pytest.approx(expect, rel=1e-12), (group, name)
        assert e["total"] == pytest.approx(sum(e["by_level"].values()), rel=1e-12)
    for group in ("traffic_bytes", "dense_traffic_bytes"):
        for name, value in totals[group].items():
            assert value == pytest.approx(sum(d[group][name] for d in layers), rel=1e-12)
    assert totals["speedup"] == totals["dense_total_cycles"] / totals["total_cycles"]
    busy = totals["counters"]["row_busy_cycles"]
    assert totals["utilisation"] == busy / (busy + totals["counters"]["row_idle_cycles"])
    weights = sum(d["M"] * d["K"] for d in layers)
    expect_wd = sum(d["weight_density"] * d["M"] * d["K"] for d in layers) / weights
    assert totals["weight_density"] == pytest.approx(expect_wd, rel=1e-12)


def test_layer_counters_are_consistent_with_the_cycles():
    res = _run()
    for r in res.layers:
        c = r.sparse.counters
        assert c.macs_issued == c.weight_reads * 4
        assert c.macs_gated == c.macs_issued - c.macs_effectual >= 0
        assert c.row_busy_cycles + c.row_idle_cycles == 4 * r.sparse.compute_cycles
        assert 0 < r.utilisation <= 1
        assert r.sparse.total_cycles == max(
            r.sparse.core_cycles, r.sparse.dram_cycles, r.sparse.glb_cycles
        )


def test_measured_densities_follow_the_requested_ones():
    res = _run(weights=WeightSparsity("unstructured", 0.3), act=0.6)
    t = res.totals()
    assert t["weight_density"] == pytest.approx(0.3, abs=0.01)
    assert t["act_density"] == pytest.approx(0.6, abs=0.01)


def test_attention_operands_are_drawn_at_activation_density_not_pruned():
    layers = get_network("bert_base", seq_len=8)[:7]  # one encoder layer
    res = _run(layers=layers, weights=WeightSparsity("unstructured", 0.1), act=0.9)
    for r in res.layers:
        expect = 0.9 if r.layer.dynamic_weights else 0.1
        assert r.weight_density == pytest.approx(expect, abs=0.05), r.layer.name
    assert any(r.layer.dynamic_weights for r in res.layers)


def test_seed_reproduces_and_changes_the_draw():
    a, b, c = _run(seed=1), _run(seed=1), _run(seed=2)
    assert [r.to_dict() for r in a.layers] == [r.to_dict() for r in b.layers]
    assert [r.sparse.counters for r in a.layers] != [r.sparse.counters for r in c.layers]


def test_a_layers_draw_does_not_depend_on_the_layers_before_it():
    other = [Layer("other", M=3, K=5, N=7), *MOBILENET[1:4]]
    a = _run(layers=MOBILENET[:4])
    b = _run(layers=other)
    for ra, rb in zip(a.layers[1:], b.layers[1:], strict=True):
        assert ra.to_dict() == rb.to_dict()


def test_progress_is_reported_for_every_layer_and_within_it(monkeypatch):
    import accel.perf.schedule

    monkeypatch.setattr(accel.perf.schedule, "CHUNK_STEPS", 64)  # several chunks a layer
    calls = []
    simulate_network(SMALL, MOBILENET[:3], SPARSITIES[1], 0.5, 0, TABLE, lambda *a: calls.append(a))
    whole = [c[:2] for c in calls if float(c[0]).is_integer()]
    assert whole[0] == (0, 3) and whole[-1] == (3, 3)
    assert {d for d, _ in whole} == {0, 1, 2, 3}
    done = [c[0] for c in calls]
    assert done == sorted(done) and any(not float(d).is_integer() for d in done)
    names = {name for d, _, name in calls if not float(d).is_integer()}
    assert names <= {layer.name for layer in MOBILENET[:3]}


def test_grouped_layer_is_the_sum_of_its_groups():
    """A grouped GEMM is simulated as independent GEMMs (contract, section 1)."""
    rng = np.random.default_rng(7)
    config = Config(ArrayConfig(rows=3, cols=2, block=4, queue_depth=2))
    G, Mg, K, N = 3, 5, 11, 7
    W = rng.integers(-3, 4, (G, Mg, K)) * (rng.random((G, Mg, K)) < 0.4)
    X = rng.integers(0, 4, (G, K, N)) * (rng.random((G, K, N)) < 0.5)
    whole = simulate_arrays(config, Layer("g", G * Mg, K, N, groups=G), W, X)
    parts = [simulate_arrays(config, Layer(f"g{g}", Mg, K, N), W[g], X[g]) for g in range(G)]
    assert whole.sparse.compute_cycles == sum(p.sparse.compute_cycles for p in parts)
    assert whole.dense.compute_cycles == sum(p.dense.compute_cycles for p in parts)
    total = parts[0].sparse.counters
    for p in parts[1:]:
        total = total + p.sparse.counters
    assert whole.sparse.counters == total


def test_result_beat_cycles_end_at_core_cycles():
    """The per-beat list and the total come from the same recurrence: the last beat is the
    layer's last core cycle, beats of a tile are consecutive, and tiles never go back."""
    cfg = ArrayConfig(rows=4, cols=4, block=8, result_rows=2)
    rng = np.random.default_rng(3)
    W = rng.integers(-5, 6, (9, 40)) * (rng.random((9, 40)) < 0.3)
    X = rng.integers(0, 6, (40, 11)) * (rng.random((40, 11)) < 0.5)
    beats = result_beat_cycles(cfg, W, X)
    res = simulate_arrays(Config(cfg), Layer("t", 9, 40, 11), W, X)
    assert len(beats) == 3 * 3 * 2  # row tiles x column tiles x beats per tile
    assert beats[-1] + 1 == res.sparse.core_cycles
    per_tile = beats.reshape(-1, 2)
    assert (np.diff(per_tile, axis=1) == 1).all() and (np.diff(per_tile[:, 0]) > 0).all()
