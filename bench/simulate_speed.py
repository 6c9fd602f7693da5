"""How fast the cycle-exact simulator is, alone and against SCALE-Sim, from one run.

Why this exists: the simulator is only useful for design-space sweeps (block, queue depth,
lanes, density, many networks) if a whole network costs well under a second while staying
cycle-exact. This script measures that claim instead of asserting it (target: a pruned
ResNet-50 in under 1 s, over 4 G simulated MAC/s) and sets it beside the field's usual
tool, SCALE-Sim 3.0.0 (output stationary, 16x16), on the same dense ResNet-50 layers
(target: at least 500x its simulated MAC/s). Every figure and ratio printed comes from
this one run, on this machine; nothing is carried over from earlier measurements.

The two simulators count different machines, so their cycles differ by design and both
are printed: SCALE-Sim's systolic OS array streams K through a pipeline, which costs
``ceil(Sr/R) * ceil(Sc/C) * (T + R + C - 2) - 1`` cycles; ours issues one window per
cycle, ``1 + nb * B / L`` compute cycles per dense tile, plus fixed latencies (weight
load, MAC pipeline, output drain) and the memory system.

Run ``.venv/bin/python bench/simulate_speed.py`` (about 1-2 min, most of it SCALE-Sim;
its venv is created on first use) or add ``--skip-scalesim`` on a machine without
network access.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from accel.config import ArrayConfig, Config
from accel.perf.simulate import NetworkResult, simulate_network
from accel.workloads.layer import Layer, conv2d, linear
from accel.workloads.sparsity import WeightSparsity
from accel.workloads.zoo import get_network

try:  # run as a script (bench/ is on sys.path) or as ``python -m bench.simulate_speed``
    from scalesim_peer import RESNET50_SAMPLE, SCALESIM_VERSION, run_scalesim_layers
except ImportError:  # pragma: no cover - depends on how the script is started
    from bench.scalesim_peer import RESNET50_SAMPLE, SCALESIM_VERSION, run_scalesim_layers

ARRAY = ArrayConfig(rows=16, cols=16, block=16, queue_depth=4, lanes=1)
WEIGHT_DENSITY = 0.2  # 80 % unstructured weight sparsity
ACT_DENSITY = 0.5  # 50 % activation sparsity
SEED = 1
TARGET_SECONDS = 1.0
TARGET_MACS_PER_S = 4e9
TARGET_RATIO = 500.0
LAYER_REPEAT_FACTOR = 10  # per-layer runs take milliseconds: take more samples of them

TOTAL_KEYS = (
    "layers",
    "macs",
    "compute_cycles",
    "total_cycles",
    "core_cycles",
    "stall_cycles",
    "dense_compute_cycles",
    "dense_total_cycles",
    "speedup",
    "compute_speedup",
    "utilisation",
)


def _peak_rss_mib() -> float:
    """Peak resident set of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _si(value: float, unit: str = "") -> str:
    """Short engineering notation (``12.3 G``), so wide rates fit a table column."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def _timed(fn: Callable[[], NetworkResult]) -> tuple[float, NetworkResult]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _time_repeats(
    fn: Callable[[], NetworkResult], repeats: int
) -> tuple[float, list[float], NetworkResult]:
    """Cold first call (it is also the warm-up), then ``repeats`` warm calls.

    Every call must give the same totals: the simulation is seeded, so a difference would
    mean hidden state between runs, which would make the timings meaningless too.
    """
    cold, first = _timed(fn)
    reference = first.totals()
    warm = []
    for _ in range(repeats):
        seconds, result = _timed(fn)
        if result.totals() != reference:
            raise RuntimeError("repeated simulation gave different totals")
        warm.append(seconds)
    return cold, warm, first


def _pick(totals: dict[str, Any]) -> dict[str, Any]:
    return {k: totals[k] for k in TOTAL_KEYS}


def measure_network(repeats: int) -> dict[str, Any]:
    """Part 1: the whole pruned ResNet-50, and its dense baseline on its own."""
    config = Config(ARRAY)
    layers = get_network("resnet50")
    pruned = WeightSparsity("unstructured", WEIGHT_DENSITY)
    cold, warm, result = _time_repeats(
        lambda: simulate_network(config, layers, pruned, ACT_DENSITY, seed=SEED), repeats
    )
    totals = _pick(result.totals())
    best = min(warm)

    dense_config = Config(ARRAY.as_dense())
    dense_cold, dense_warm, dense_result = _time_repeats(
        lambda: simulate_network(
            dense_config, layers, WeightSparsity("unstructured", 1.0), 1.0, seed=SEED
        ),
        repeats,
    )
    dense_totals = dense_result.totals()
    return {
        "network": "resnet50",
        "weight_density": WEIGHT_DENSITY,
        "act_density": ACT_DENSITY,
        "seed": SEED,
        "repeats": repeats,
        "cold_seconds": cold,
        "best_seconds": best,
        "median_seconds": statistics.median(warm),
        "warm_seconds": warm,
        "macs_per_second": totals["macs"] / best,
        "cold_macs_per_second": totals["macs"] / cold,
        "peak_rss_mib": _peak_rss_mib(),
        "totals": totals,
        "dense_alone": {
            "cold_seconds": dense_cold,
            "best_seconds": min(dense_warm),
            "warm_seconds": dense_warm,
            "compute_cycles": dense_totals["compute_cycles"],
            "total_cycles": dense_totals["total_cycles"],
            # The pruned run's baseline must be the same machine on the same layers.
            "matches_pruned_baseline": (
                dense_totals["compute_cycles"] == totals["dense_compute_cycles"]
                and dense_totals["total_cycles"] == totals["dense_total_cycles"]
            ),
        },
    }


def sample_layers() -> list[Layer]:
    """The three layers of ``RESNET50_SAMPLE`` as our simulator sees them.

    SCALE-Sim's rows carry padding applied by hand (conv2_1b: 56 + 2 = 58), so ours get
    the unpadded input and ``pad``. :func:`_check_same_shapes` holds the two to one GEMM.
    """
    return [
        conv2d("conv2_1b", 64, 64, 56, 3, pad=1),
        conv2d("conv3_2a", 512, 128, 28, 1),
        linear("fc", 2048, 1000),
    ]


def _check_same_shapes(layers: list[Layer]) -> None:
    """SCALE-Sim's OS GEMM is Sr (output pixels) x Sc (filters) x T (R*S*C): ours is N x M x K."""
    for ours, peer in zip(layers, RESNET50_SAMPLE, strict=True):
        s = peer["strides"]
        out_h = (peer["ifmap_h"] - peer["filter_h"]) // s + 1
        out_w = (peer["ifmap_w"] - peer["filter_w"]) // s + 1
        theirs = (
            out_h * out_w,
            peer["num_filter"],
            peer["filter_h"] * peer["filter_w"] * peer["channels"],
        )
        if (ours.name, (ours.N, ours.M, ours.K)) != (peer["name"], theirs):
            raise SystemExit(f"layer shapes differ from RESNET50_SAMPLE: {ours} vs {peer}")


def dense_tile_closed_form(layer: Layer, cfg: ArrayConfig) -> int:
    """Our dense compute cycles: ``1 + nb * ceil(B / L)`` per tile (contract, section 5)."""
    nb = -(-layer.K // cfg.block)
    tiles = layer.groups * -(-layer.m_per_group // cfg.rows) * -(-layer.N // cfg.cols)
    return tiles * (1 + nb * -(-cfg.block // cfg.lanes))


def _time_layer(
    layer: Layer, weight_density: float, act_density: float, repeats: int
) -> tuple[float, dict[str, Any]]:
    """Median seconds of ``repeats`` warm runs through the same API as the whole network."""
    config = Config(ARRAY)
    sparsity = WeightSparsity("unstructured", weight_density)
    _cold, warm, result = _time_repeats(
        lambda: simulate_network(config, [layer], sparsity, act_density, seed=SEED), repeats
    )
    return statistics.median(warm), result.layers[0].to_dict()


def measure_layers(repeats: int) -> list[dict[str, Any]]:
    """Part 2, our side: the sample layers dense (the peer's workload) and pruned as in 1."""
    layers = sample_layers()
    _check_same_shapes(layers)
    rows = []
    for layer in layers:
        dense_s, dense = _time_layer(layer, 1.0, 1.0, repeats)
        pruned_s, pruned = _time_layer(layer, WEIGHT_DENSITY, ACT_DENSITY, repeats)
        rows.append(
            {
                "name": layer.name,
                "M": layer.M,
                "K": layer.K,
                "N": layer.N,
                "macs": layer.macs,
                "repeats": repeats,
                "dense_seconds": dense_s,
                "dense_macs_per_second": layer.macs / dense_s,
                "dense_compute_cycles": dense["dense_compute_cycles"],
                "dense_total_cycles": dense["dense_total_cycles"],
                "dense_closed_form_compute_cycles": dense_tile_closed_form(layer, ARRAY),
                "pruned_seconds": pruned_s,
                "pruned_macs_per_second": layer.macs / pruned_s,
                "pruned_compute_cycles": pruned["compute_cycles"],
                "pruned_total_cycles": pruned["total_cycles"],
                "pruned_speedup": pruned["speedup"],
            }
        )
    return rows


def run_peer(timeout: float | None) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Part 2, SCALE-Sim's side: (results, None), or (None, why it could not be measured)."""
    print(
        f"running SCALE-Sim {SCALESIM_VERSION} on {len(RESNET50_SAMPLE)} layers "
        "(about 1 min; progress on stderr) ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        return run_scalesim_layers(list(RESNET50_SAMPLE), ARRAY.rows, ARRAY.cols, timeout), None
    except (RuntimeError, OSError, ValueError) as exc:
        return None, str(exc)


def ratios(
    network: dict[str, Any], layers: list[dict[str, Any]], peer: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """MAC/s ratios, ours over SCALE-Sim's; empty when SCALE-Sim was not measured."""
    if peer is None:
        return {}
    peer_macs = sum(p["macs"] for p in peer)
    peer_seconds = sum(p["seconds"] for p in peer)
    peer_rate = peer_macs / peer_seconds
    ours_dense_rate = sum(r["macs"] for r in layers) / sum(r["dense_seconds"] for r in layers)
    return {
        "per_layer_dense": {
            r["name"]: r["dense_macs_per_second"] / (p["macs"] / p["seconds"])
            for r, p in zip(layers, peer, strict=True)
        },
        "scalesim_macs_per_second": peer_rate,
        "scalesim_seconds": peer_seconds,
        "three_layers_dense": ours_dense_rate / peer_rate,
        "network_pruned_vs_scalesim": network["macs_per_second"] / peer_rate,
        "network_pruned_cold_vs_scalesim": network["cold_macs_per_second"] / peer_rate,
        "scalesim_resnet50_extrapolated_seconds": network["totals"]["macs"] / peer_rate,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_network(net: dict[str, Any]) -> None:
    t, dense = net["totals"], net["dense_alone"]
    print(
        f"== 1. Pruned ResNet-50 ({t['layers']} layers), {ARRAY.rows}x{ARRAY.cols}, "
        f"block {ARRAY.block}, queue depth {ARRAY.queue_depth}, lanes {ARRAY.lanes}"
    )
    print(
        f"   weights {1 - WEIGHT_DENSITY:.0%} unstructured sparse (density {WEIGHT_DENSITY}),"
        f" activations density {ACT_DENSITY}, seed {SEED}"
    )
    print(
        f"   wall time   cold (first run) {net['cold_seconds']:.3f} s; best of "
        f"{net['repeats']} warm {net['best_seconds']:.3f} s "
        f"(median {net['median_seconds']:.3f} s)"
    )
    print(
        f"   speed       {_si(net['macs_per_second'], 'MAC/s')} simulated "
        f"({t['macs']:,} MACs / best time); cold {_si(net['cold_macs_per_second'], 'MAC/s')}"
    )
    print(f"   peak RSS    {net['peak_rss_mib']:.1f} MiB (whole process, getrusage)")
    print(
        f"   simulated   compute {t['compute_cycles']:,} cycles, core {t['core_cycles']:,},"
        f" total {t['total_cycles']:,} (memory stalls {t['stall_cycles']:,})"
    )
    print(
        f"   dense       compute {t['dense_compute_cycles']:,} cycles,"
        f" total {t['dense_total_cycles']:,}"
    )
    print(
        f"               speedup {t['speedup']:.3f}x (compute {t['compute_speedup']:.3f}x),"
        f" utilisation {t['utilisation']:.1%}"
    )
    same = "same cycles as" if dense["matches_pruned_baseline"] else "DIFFERENT cycles from"
    print(
        f"   dense baseline alone: cold {dense['cold_seconds']:.3f} s, best "
        f"{dense['best_seconds']:.3f} s ({same} the pruned run's baseline)"
    )
    fast = net["best_seconds"] < TARGET_SECONDS
    rate = net["macs_per_second"] > TARGET_MACS_PER_S
    print(
        f"   target: under {TARGET_SECONDS:g} s -> {_verdict(fast)}; over "
        f"{_si(TARGET_MACS_PER_S, 'MAC/s')} -> {_verdict(rate)}"
    )


def print_layers(
    layers: list[dict[str, Any]],
    peer: list[dict[str, Any]] | None,
    ratio: dict[str, Any],
    peer_error: str | None,
) -> None:
    print()
    print(
        f"== 2. Dense ResNet-50 layers, {ARRAY.rows}x{ARRAY.cols}: SCALE-Sim "
        f"{SCALESIM_VERSION} (OS) vs ours (median of {layers[0]['repeats']} runs)"
    )
    head = (
        f"{'layer':<9}{'MACs':>12}{'SS cycles':>10}{'SS s':>7}{'SS MAC/s':>10}"
        f"{'our comp':>10}{'our total':>10}{'our ms':>8}{'our MAC/s':>11}{'ratio':>8}"
    )
    print(head)
    print("-" * len(head))
    for i, r in enumerate(layers):
        if peer is None:
            ss = f"{'-':>10}{'-':>7}{'-':>10}"
            ratio_text = "-"
        else:
            p = peer[i]
            ss = f"{p['cycles']:>10,}{p['seconds']:>7.1f}{_si(p['macs'] / p['seconds']):>10}"
            ratio_text = f"{ratio['per_layer_dense'][r['name']]:,.0f}x"
        print(
            f"{r['name']:<9}{r['macs']:>12,}{ss}{r['dense_compute_cycles']:>10,}"
            f"{r['dense_total_cycles']:>10,}{r['dense_seconds'] * 1e3:>8.2f}"
            f"{_si(r['dense_macs_per_second']):>11}{ratio_text:>8}"
        )
    macs = sum(r["macs"] for r in layers)
    ours_s = sum(r["dense_seconds"] for r in layers)
    if peer is None:
        ss, ratio_text = f"{'-':>10}{'-':>7}{'-':>10}", "-"
    else:
        ss = (
            f"{sum(p['cycles'] for p in peer):>10,}{ratio['scalesim_seconds']:>7.1f}"
            f"{_si(ratio['scalesim_macs_per_second']):>10}"
        )
        ratio_text = f"{ratio['three_layers_dense']:,.0f}x"
    print(
        f"{'all 3':<9}{macs:>12,}{ss}{sum(r['dense_compute_cycles'] for r in layers):>10,}"
        f"{sum(r['dense_total_cycles'] for r in layers):>10,}{ours_s * 1e3:>8.2f}"
        f"{_si(macs / ours_s):>11}{ratio_text:>8}"
    )
    print(
        "   (SS = SCALE-Sim, its simulation alone, without interpreter start-up and imports;"
        "\n    ours = compute and total cycles of our dense baseline, timed through "
        "simulate_network)"
    )
    print()
    print(
        "   Cycles differ by design: SCALE-Sim's OS array streams K through a systolic "
        "pipeline,\n   ceil(Sr/R)*ceil(Sc/C)*(T+R+C-2)-1; ours issues one window a cycle, "
        "1 + nb*B/L per tile,\n   plus fixed latencies (weight load, MAC pipeline, drain) "
        "and memory stalls in 'total'."
    )
    head = (
        f"{'layer':<9}{'SS cycles':>11}{'SS closed':>11}{'our comp':>11}{'our closed':>11}"
        f"{'pruned comp':>12}{'pruned tot':>11}{'speedup':>8}{'pruned ms':>10}"
    )
    print(head)
    print("-" * len(head))
    for i, r in enumerate(layers):
        if peer is None:
            ss = f"{'-':>11}{'-':>11}"
        else:
            ss = f"{peer[i]['cycles']:>11,}{peer[i]['closed_form_cycles']:>11,}"
        print(
            f"{r['name']:<9}{ss}{r['dense_compute_cycles']:>11,}"
            f"{r['dense_closed_form_compute_cycles']:>11,}{r['pruned_compute_cycles']:>12,}"
            f"{r['pruned_total_cycles']:>11,}{r['pruned_speedup']:>7.2f}x"
            f"{r['pruned_seconds'] * 1e3:>10.2f}"
        )
    print()
    if peer is None:
        print(f"   SCALE-Sim ratio NOT MEASURED: {peer_error}")
        return
    rss = ", ".join(f"{p['name']} {p['peak_rss_mib']:.0f}" for p in peer)
    total_s = sum(p["total_seconds"] for p in peer)
    print(
        f"   SCALE-Sim: {ratio['scalesim_seconds']:.1f} s simulating "
        f"({total_s:.1f} s with start-up), {_si(ratio['scalesim_macs_per_second'], 'MAC/s')}"
        " aggregated"
    )
    print(f"   SCALE-Sim peak RSS per layer process (MiB): {rss}")
    print(
        f"   ratio on the three dense layers (ours dense / SCALE-Sim): "
        f"{ratio['three_layers_dense']:,.0f}x"
    )
    best, cold = ratio["network_pruned_vs_scalesim"], ratio["network_pruned_cold_vs_scalesim"]
    print(
        f"   ratio, our pruned ResNet-50 (best run) / SCALE-Sim aggregated: {best:,.0f}x\n"
        f"   (cold run: {cold:,.0f}x) -> target {TARGET_RATIO:g}x {_verdict(best >= TARGET_RATIO)}"
    )
    print(
        f"   (at that rate SCALE-Sim would take about "
        f"{ratio['scalesim_resnet50_extrapolated_seconds']:,.0f} s for the whole ResNet-50:\n"
        "    an extrapolation, not a run)"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Measure, print, optionally write JSON; exit 0 even when SCALE-Sim cannot run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-scalesim", action="store_true", help="do not run SCALE-Sim (no ratio is measured)"
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=5,
        help="warm runs of the network after the cold one (default 5); "
        f"each sample layer runs {LAYER_REPEAT_FACTOR}x as often",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH"
    )
    parser.add_argument(
        "--scalesim-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds allowed per SCALE-Sim layer (default 600)",
    )
    args = parser.parse_args(argv)

    rss_at_start = _peak_rss_mib()
    network = measure_network(args.repeats)
    print_network(network)
    layers = measure_layers(args.repeats * LAYER_REPEAT_FACTOR)

    peer: list[dict[str, Any]] | None = None
    peer_error: str | None = "skipped (--skip-scalesim)"
    if not args.skip_scalesim:
        peer, peer_error = run_peer(args.scalesim_timeout)
    ratio = ratios(network, layers, peer)
    print_layers(layers, peer, ratio, peer_error)
    print()
    print(
        f"peak RSS of this process: {_peak_rss_mib():.1f} MiB "
        f"({rss_at_start:.1f} MiB after imports); Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}"
    )

    if args.json:
        report = {
            "config": Config(ARRAY).to_dict(),
            "network": network,
            "layers": layers,
            "scalesim": {"version": SCALESIM_VERSION, "layers": peer, "error": peer_error},
            "ratios": ratio or None,
            "targets": {
                "seconds": TARGET_SECONDS,
                "macs_per_second": TARGET_MACS_PER_S,
                "ratio": TARGET_RATIO,
            },
            "peak_rss_mib": _peak_rss_mib(),
            "peak_rss_mib_after_imports": rss_at_start,
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
