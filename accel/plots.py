"""PNG plots of reports. matplotlib is imported here only, and only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .outputs import TOOL_MARK, check_writable

__all__ = ["plot_report", "plot_curve", "plot_tradeoff", "plot_pareto"]

_META = {"Software": TOOL_MARK}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from .outputs import replacing

    fig.tight_layout()
    with replacing(path, what="plot") as (temp,):
        fig.savefig(temp, dpi=120, metadata=_META, format="png")
    return path


def plot_report(report: dict[str, Any], out_dir: str | Path, force: bool = False) -> list[Path]:
    """Speedup and utilisation per layer, and the energy breakdown sparse against dense."""
    out = Path(out_dir)
    paths = [
        check_writable(out / n, force, "--plot")
        for n in ("speedup.png", "utilisation.png", "energy.png")
    ]
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    layers = report["layers"]
    names = [d["name"] for d in layers]
    x = range(len(layers))
    width = max(6.0, 0.18 * len(layers))
    title = report["workload"].get("name", "")

    fig, ax = plt.subplots(figsize=(width, 4))
    ax.bar(x, [d["speedup"] for d in layers], label="total cycles", color="tab:blue")
    ax.plot(
        x,
        [d["compute_speedup"] for d in layers],
        "o",
        ms=3,
        color="tab:orange",
        label="compute cycles",
    )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(list(x), names, rotation=90, fontsize=6)
    ax.set_ylabel("speedup over dense (same array)")
    ax.set_title(f"{title}: speedup per layer")
    ax.legend()
    _save(fig, paths[0])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(width, 4))
    ax.bar(x, [d["utilisation"] for d in layers], color="tab:green")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(list(x), names, rotation=90, fontsize=6)
    ax.set_ylabel("row utilisation (busy / all row-cycles)")
    ax.set_title(f"{title}: utilisation per layer")
    _save(fig, paths[1])
    plt.close(fig)

    t = report["totals"]
    levels = list(t["energy_pj"]["by_level"])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    bottoms = [0.0, 0.0]
    for level in levels:
        vals = [
            t["energy_pj"]["by_level"][level] / 1e6,
            t["dense_energy_pj"]["by_level"][level] / 1e6,
        ]
        ax.bar(["sparse", "dense"], vals, bottom=bottoms, label=level)
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    ax.set_ylabel("energy (uJ)")
    ax.set_title(f"{title}: energy by level")
    ax.legend()
    _save(fig, paths[2])
    plt.close(fig)
    return paths


def plot_curve(curve: dict[str, Any], out_dir: str | Path, force: bool = False) -> Path:
    """Speedup and energy saving against weight density, with the 1/density ideal."""
    out = Path(out_dir)
    path = check_writable(out / "curve.png", force, "--plot")
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    pts = curve["points"]
    dens = [p["weight_density"] for p in pts]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(dens, [p["speedup"] for p in pts], "o-", label="speedup (total cycles)")
    ax.plot(dens, [p["compute_speedup"] for p in pts], "s--", label="speedup (compute cycles)")
    saving = [(d, p["energy_saving"]) for d, p in zip(dens, pts, strict=True) if p["energy_saving"]]
    if saving:
        ax.plot(*zip(*saving, strict=True), "^-", label="energy saving (dense / sparse)")
    fine = [d for d in dens if d > 0]
    ax.plot(fine, [1 / d for d in fine], ":", color="grey", label="ideal 1 / density")
    ax.set_xlabel("weight density (nonzero fraction)")
    ax.set_ylabel("x over dense on the same array")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"{curve['workload']}: act density {curve['act_density']:g}")
    ax.legend()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_tradeoff(report: dict[str, Any], out_dir: str | Path, force: bool = False) -> Path:
    """Test accuracy against simulated speedup and against energy saving, one labelled
    point per pruning method (int8 filled, float hollow)."""
    out = Path(out_dir)
    path = check_writable(out / "tradeoff.png", force, "--plot")
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    rows = report["methods"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, key, label in (
        (axes[0], "speedup", "speedup over dense baseline (same array, total cycles)"),
        (axes[1], "energy_saving", "energy saving (dense baseline energy / energy)"),
    ):
        pts = [r for r in rows if r.get(key)]
        xs = [r[key] for r in pts]
        ax.scatter(xs, [100 * r["int8_accuracy"] for r in pts], color="tab:blue", label="int8")
        ax.scatter(
            xs,
            [100 * r["float_accuracy"] for r in pts],
            facecolors="none",
            edgecolors="tab:orange",
            label="float",
        )
        for x, r in zip(xs, pts, strict=True):
            ax.annotate(
                r["method"],
                (x, 100 * r["int8_accuracy"]),
                xytext=(4, -10),
                textcoords="offset points",
                fontsize=7,
            )
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(loc="lower left")
    cfg = report.get("config", {}).get("array", {})
    shape = f"{cfg.get('rows', '?')}x{cfg.get('cols', '?')} array" if cfg else "array"
    fig.suptitle(
        f"{report.get('workload', '')}: accuracy on {report.get('split', {}).get('test', '?')} "
        f"held-out images, {report.get('simulated_images', '?')} of them simulated on a "
        f"{shape}, seed {report.get('seed', '?')}"
    )
    _save(fig, path)
    plt.close(fig)
    return path


def plot_pareto(report: dict[str, Any], out_dir: str | Path, force: bool = False) -> Path:
    """Every design's energy against latency, and against area, the front marked."""
    import numpy as np

    out = Path(out_dir)
    path = check_writable(out / "pareto.png", force, "--plot")
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    from matplotlib import ticker

    p = np.asarray(report["points"], float)
    on = np.asarray(report["on_front"], bool)
    area_label = report["objectives"]["area"]
    scale = {"cmap": "viridis", "vmin": p[:, 2].min(), "vmax": p[:, 2].max()}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, x, xlabel in ((axes[0], 1, "latency (ms)"), (axes[1], 2, area_label)):
        shade = ax.scatter(
            p[~on, x], p[~on, 0], c=p[~on, 2], s=10, alpha=0.35, label="dominated", **scale
        )
        ax.scatter(p[on, x], p[on, 0], c=p[on, 2], s=36, edgecolors="red", linewidths=1.2,
                   label=f"Pareto front ({on.sum()})", **scale)  # fmt: skip
        ax.set_xlabel(xlabel if len(xlabel) < 40 else "FPGA area (scarcest resource share)")
        ax.set_ylabel("energy per run (uJ)")
        ax.set_xscale("log")  # designs span decades of latency and area, not of energy
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.colorbar(shade, ax=axes[1], label="area")
    fig.suptitle(
        f"{' + '.join(report['workloads'])} on {report['fpga']}: "
        f"{report['considered']:,} designs, hypervolume "
        f"{report['hypervolume_fraction']:.3f} of the reference box"
    )
    _save(fig, path)
    plt.close(fig)
    return path
