"""Reports of a simulation: the JSON document and the terminal table."""

from __future__ import annotations

from typing import Any

from . import __version__
from .config import Config
from .outputs import TOOL_MARK
from .perf.energy import EnergyTable
from .perf.simulate import NetworkResult

__all__ = ["report_dict", "format_table"]


def report_dict(
    config: Config,
    result: NetworkResult,
    workload: dict[str, Any],
    table: EnergyTable,
) -> dict[str, Any]:
    """The JSON report: config, per-layer results and totals.

    ``rtl_max_blocks`` is the weight-memory depth a row needs for the largest K of the
    workload (``accel rtl --max-blocks``): the simulator, like the RTL, keeps a row's whole
    K on chip and does not split it into partial sums.
    """
    block = config.array.block
    need = max((-(-layer.layer.K // block) for layer in result.layers), default=0)
    return {
        "tool": TOOL_MARK,
        "version": __version__,
        "config": config.to_dict(),
        "workload": workload,
        "energy_table": {"name": table.name, "path": table.path},
        "notes": (
            "compute_cycles: contract section 5, sum over tiles of max_r F[r, nb-1] with "
            "I[0] = 0; total_cycles adds the RTL's fixed latencies (docs/architecture.md) "
            "and memory stalls; the memory system is modelled, not built in RTL (v1)."
        ),
        "rtl_max_blocks": need,
        "layers": [layer.to_dict() for layer in result.layers],
        "totals": result.totals(),
    }


def _shape(d: dict[str, Any]) -> str:
    s = f"{d['M']}x{d['K']}x{d['N']}"
    return s + (f"/g{d['groups']}" if d["groups"] > 1 else "")


def _uj(pj: float) -> str:
    return f"{pj / 1e6:.2f}"


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width table, one line per layer and a total line."""
    header = (
        f"{'layer':<22} {'MxKxN':>18} {'w.dens':>6} {'a.dens':>6} {'cycles':>11} "
        f"{'dense':>11} {'speedup':>7} {'util':>5} {'bound':>7} {'uJ':>9} {'dense uJ':>9}"
    )
    lines = [header, "-" * len(header)]

    def line(name: str, shape: str, d: dict[str, Any]) -> str:
        return (
            f"{name[:22]:<22} {shape:>18} {d['weight_density']:>6.3f} {d['act_density']:>6.3f} "
            f"{d['total_cycles']:>11,} {d['dense_total_cycles']:>11,} {d['speedup']:>6.2f}x "
            f"{d['utilisation']:>5.2f} {d.get('bound', ''):>7} "
            f"{_uj(d['energy_pj']['total']):>9} {_uj(d['dense_energy_pj']['total']):>9}"
        )

    for d in report["layers"]:
        lines.append(line(d["name"], _shape(d), d))
    t = report["totals"]
    lines.append("-" * len(header))
    lines.append(line(f"total ({t['layers']} layers)", f"{t['macs'] / 1e9:.3f} GMAC", t))
    cfg = report["config"]
    clock = cfg["system"]["clock_mhz"]
    e_sparse, e_dense = t["energy_pj"]["total"], t["dense_energy_pj"]["total"]
    if not e_sparse:
        e_ratio = "n/a"
    elif e_sparse <= e_dense:
        e_ratio = f"{e_dense / e_sparse:.2f}x less than dense"
    else:  # skipping saves nothing and its bookkeeping costs a little
        e_ratio = f"{e_sparse / e_dense:.2f}x more than dense"
    balanced = report["layers"][0]["balance"] if report["layers"] else "none"
    lines.append(
        f"row balancing {balanced}: utilisation {t['utilisation']:.2f} "
        f"(unbalanced {t['unbalanced_utilisation']:.2f}), compute cycles "
        f"{t['compute_cycles']:,} (unbalanced {t['unbalanced_compute_cycles']:,})"
    )
    lines.append(
        f"compute cycles {t['compute_cycles']:,} (dense {t['dense_compute_cycles']:,}, "
        f"{t['compute_speedup']:.2f}x); total {t['total_cycles']:,} cycles = "
        f"{t['total_cycles'] / clock / 1e3:.3f} ms at {clock:g} MHz; "
        f"energy {t['energy_pj']['total'] / 1e6:,.1f} uJ ({e_ratio})"
    )
    own = report.get("workload", {}).get("quantization")
    if own:  # a quantised ONNX model simulated on its own integers
        lines.append(f"quantisation: {own['summary']}")
    fpga = report.get("fpga_estimate")
    if fpga:
        share = fpga["share"]
        err = fpga["model_error"]["lut"]["mean"]
        lines.append(
            f"FPGA estimate on {fpga['target']} (area model, weight memory "
            f"{fpga['max_blocks']} blocks deep; LUT error {100 * err:.0f} % on held-out "
            f"points): {fpga['lut']:,} logic cells ({100 * share['lut']:.0f} %), "
            f"{fpga['ff']:,} FF ({100 * share['ff']:.0f} %), {fpga['dsp']} DSP "
            f"({100 * share['dsp']:.0f} %), {fpga['bram']} block RAM "
            f"({100 * share['bram']:.0f} %)" + ("" if fpga["fits"] else ": DOES NOT FIT")
        )
        over = [res for res, v in share.items() if v > 1]
        if over:
            names = {"lut": "logic cells", "ff": "flip-flops", "dsp": "DSPs", "bram": "block RAMs"}
            needs = ", ".join(f"{100 * share[r]:.0f} % of the {names[r]}" for r in over)
            lines.append(
                f"  why: the array needs {needs} of {fpga['target']}; a smaller array "
                "(--rows/--cols) or a larger device (--fpga) fits"
            )
    eq = report.get("equal_area")
    if eq:
        d, r = eq["design"], eq["reference"]
        lines.append(
            f"speedup at equal area ({eq['source']}: area and Fmax models) against the dense "
            f"reference {report['config']['array']['rows']}x{report['config']['array']['cols']}: "
            f"{eq['speedup']:.2f}x = {eq['cycle_ratio']:.2f}x cycles x {eq['clock_ratio']:.2f} "
            f"clock ({d['fmax_mhz']:.0f} / {r['fmax_mhz']:.0f} MHz) / {eq['area_ratio']:.2f} "
            f"area ({d['logic_cells']:,} / {r['logic_cells']:,} logic cells); break-even "
            f"at {eq['break_even']:.2f}x fewer cycles"
            + ("; the design needs more DSPs than the device has" if d["over_budget"] else "")
        )
    return "\n".join(lines)
