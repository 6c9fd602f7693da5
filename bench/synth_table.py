"""What the array costs on an FPGA, measured: Yosys (and nextpnr for chosen points) on a
grid of configurations, and the area model fitted to them.

Why this exists: sparse-accelerator papers report what zero skipping costs in area
against a dense array on the same fabric; sweeps need an area model they can call
without placing and routing. Both come from real tool runs here, kept as JSON
(``bench/synth_points.json``) with the tools' wall times, because big points take long.

    .venv/bin/python bench/synth_table.py            # run what is missing, print the table
    .venv/bin/python bench/synth_table.py --fit      # also fit accel/fpga/area_ecp5.json
                                                     # and accel/fpga/fmax_ecp5.json
    .venv/bin/python bench/synth_table.py --only 8x8  # points whose name contains 8x8

Points already in the JSON are not run again (delete an entry to re-measure it); the
flow's own cache also makes a repeated point free.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig
from accel.fpga import area, fmax, report
from accel.fpga.flow import SynthOptions, cache_dir, synthesize
from accel.fpga.targets import fabric_for, get_target
from accel.hw.verilog import generate, ports

HERE = Path(__file__).parent
POINTS = HERE / "synth_points.json"
MAX_BLOCKS = 64


def point(name, *, pnr=False, target="ecp5-85k", freq=125.0, max_blocks=MAX_BLOCKS, **kw):
    return {
        "name": name,
        "config": kw,
        "pnr": pnr,
        "target": target,
        "freq": freq,
        "max_blocks": max_blocks,
    }


def grid() -> list[dict]:
    pts = []
    for r, c in ((2, 2), (4, 4), (4, 8), (8, 4), (8, 8), (16, 16)):
        pts.append(
            point(
                f"{r}x{c} b16 d4",
                rows=r,
                cols=c,
                block=16,
                queue_depth=4,
                pnr=(r, c) in ((4, 4), (8, 8)),
                freq=150.0 if (r, c) == (8, 8) else 125.0,  # issue 8's 8x8 target
            )
        )
    for b in (8, 32):
        pts.append(point(f"4x4 b{b} d4", rows=4, cols=4, block=b, queue_depth=4))
    for d in (1, 2, 3):
        pts.append(point(f"4x4 b16 d{d}", rows=4, cols=4, block=16, queue_depth=d))
    for r, c in ((4, 4), (8, 8)):
        pts.append(point(f"{r}x{c} b16 d4 l2", rows=r, cols=c, block=16, queue_depth=4, lanes=2))
    for r, c in ((4, 4), (8, 8)):
        pts.append(
            point(
                f"{r}x{c} b16 d4 dense",
                rows=r,
                cols=c,
                block=16,
                queue_depth=4,
                skip_weights=False,
                skip_acts=False,
            )
        )
    pts.append(
        point("4x4 b16 d4 weights", rows=4, cols=4, block=16, queue_depth=4, skip_acts=False)
    )
    pts.append(
        point("4x4 b16 d4 acts", rows=4, cols=4, block=16, queue_depth=4, skip_weights=False)
    )
    pts.append(point("8x4 b8 d2", rows=8, cols=4, block=8, queue_depth=2))
    pts.append(point("2x8 b32 d3 l2", rows=2, cols=8, block=32, queue_depth=3, lanes=2))
    for b, d in ((8, 2), (4, 1)):  # the larger does not fit the UP5K, the smaller does
        pts.append(
            point(
                f"4x2 b{b} d{d} ice40",
                rows=4,
                cols=2,
                block=b,
                queue_depth=d,
                target="ice40-up5k",
                freq=24.0,
                max_blocks=16,
                pnr=True,
            )
        )
    pts += dense_grid()
    return pts


def dense_grid() -> list[dict]:
    """The dense reference dataflow: sizes (routed where the Fmax model needs them; 16x16
    with LUT multipliers beyond the 85k's 156 DSPs), blocks, result rows, accumulators."""
    pts = []
    routed = {(2, 2), (4, 4), (8, 8), (16, 16)}
    for r, c in ((2, 2), (4, 4), (4, 8), (8, 4), (8, 8), (8, 16), (16, 8), (16, 16)):
        pts.append(
            point(
                f"dense {r}x{c} b4",
                dataflow="dense",
                rows=r,
                cols=c,
                block=4,
                pnr=(r, c) in routed,
                freq=200.0,
            )
        )
    for b in (1, 2, 8):
        pts.append(point(f"dense 4x4 b{b}", dataflow="dense", rows=4, cols=4, block=b))
    pts.append(point("dense 8x8 b4 out2", dataflow="dense", rows=8, cols=8, block=4, result_rows=2))
    pts.append(point("dense 4x8 b4 acc24", dataflow="dense", rows=4, cols=8, block=4, acc_bits=24))
    pts.append(
        point("dense 8x8 b4 bus64", dataflow="dense", rows=8, cols=8, block=4, weight_bus_bits=64)
    )
    return pts


def cost(p: dict) -> int:
    c = p["config"]
    return c["rows"] * c["cols"] * c.get("block", 16) * c.get("lanes", 1) * (8 if p["pnr"] else 1)


def measure(p: dict, progress) -> dict:
    cfg = ArrayConfig(**p["config"])
    target = get_target(p["target"])
    fabric, max_dsps = fabric_for(cfg, target)
    text, dut = generate(cfg, max_blocks=p["max_blocks"], fabric=fabric, max_dsps=max_dsps)
    opts = SynthOptions(target, target.default_speed, p["freq"], place_and_route=p["pnr"])
    work = cache_dir() / "work" / ("bench-" + p["name"].replace(" ", "-"))
    start = time.monotonic()
    res = synthesize(text, "accel_top", ports(dut), opts, workdir=work, progress=progress)
    row = {
        **p,
        "core_cells": res["core"]["cells"],
        "core": res["core"]["resources"],
        "harness": res["harness"]["resources"],
        "placed": res["placed"],
        "fmax": res["fmax"],
        "critical_path": res["critical_path"],
        "fits": res["fits"],
        "short": res["short"],
        "latches": len(res["latches"]),
        "logic_loops": len(res["logic_loops"]),
        "wall": res["wall"],
        "elapsed_s": round(time.monotonic() - start, 1),
        "tools": res["tools"],
    }
    if target.family == "ecp5":
        # logic cells the core takes: a LUT4 one, a carry cell two, a 16x4 LUT RAM six
        row["core_logic_cells"] = report.logic_cells(res["core"]["cells"], target)
    return row


def fit_dataflow(rows: list[dict], dataflow: str) -> dict:
    """Least squares per resource on the dataflow's structural features; error on
    held-out points (every fifth, at least three, drawn with a fixed seed)."""
    rng = np.random.default_rng(0)
    held = set(rng.choice(len(rows), size=max(3, len(rows) // 5), replace=False).tolist())
    names = area.DENSE_FEATURES if dataflow == "dense" else area.FEATURES
    cfgs = [ArrayConfig(**r["config"]) for r in rows]
    dsps = [get_target(r["target"]).available["dsp"] for r in rows]
    X = np.array(
        [[area.features(c, dsps=d)[f] for f in names] for c, d in zip(cfgs, dsps, strict=True)]
    )
    targets = {"lut": [r["core_logic_cells"] for r in rows], "ff": [r["core"]["ff"] for r in rows]}
    coefficients, errors = {}, {}
    train = [i for i in range(len(rows)) if i not in held]
    test = sorted(held)
    for res, y in targets.items():
        y = np.array(y, float)
        coef, *_ = np.linalg.lstsq(X[train], y[train], rcond=None)
        pred = X[test] @ coef
        rel = np.abs(pred - y[test]) / y[test]
        errors[res] = {"mean": float(rel.mean()), "max": float(rel.max())}
        coef_all, *_ = np.linalg.lstsq(X, y, rcond=None)  # the shipped model uses every point
        coefficients[res] = {f: float(c) for f, c in zip(names, coef_all, strict=True)}
    exact_ok = all(
        {k: r["core"][k] for k in ("dsp", "bram")}
        == area.exact(c, r["max_blocks"], dsps=d if dataflow == "dense" else None)
        for r, c, d in zip(rows, cfgs, dsps, strict=True)
    )
    return {
        "points": len(rows),
        "held_out": [rows[i]["name"] for i in test],
        "held_out_error": errors,
        "dsp_and_bram_exact_on_every_point": exact_ok,
        "coefficients": coefficients,
    }


def fit(rows: list[dict]) -> dict:
    """The area model of every dataflow with measured ECP5 points."""
    ecp5 = [r for r in rows if r["target"].startswith("ecp5")]
    by_flow: dict[str, list[dict]] = {}
    for r in ecp5:
        by_flow.setdefault(r["config"].get("dataflow", "queued"), []).append(r)
    return {
        "tool": "accel",
        "what": "ECP5 area model of the core (harness excluded): logic cells (LUT4 + 2 per "
        "CCU2C + 6 per DPR16X4) and flip-flops, linear in the structural features of "
        "accel/fpga/area.py, one fit per dataflow; fitted by bench/synth_table.py --fit",
        "dataflows": {flow: fit_dataflow(pts, flow) for flow, pts in sorted(by_flow.items())},
    }


def fit_fmax(rows: list[dict]) -> dict:
    """The Fmax model of every dataflow with routed ECP5 points at speed 6."""
    routed: dict[str, list] = {}
    for r in rows:
        if r["target"].startswith("ecp5") and r.get("fmax") and r.get("fits"):
            cfg = ArrayConfig(**r["config"])
            routed.setdefault(cfg.dataflow, []).append(
                (r["name"], cfg, r["fmax"]["clk"]["achieved"])
            )
    out = {}
    for flow, pts in sorted(routed.items()):
        model = fmax.fit_period([(c, f) for _, c, f in pts])
        out[flow] = {**model, "points": {n: round(f, 1) for n, _, f in pts}}
    return {
        "tool": "accel",
        "what": "ECP5 (speed 6) Fmax model per dataflow: period_ns = a_ns + b_ns * "
        "log2(rows * cols), least squares on the routed points of bench/synth_table.py; "
        "capped at the block RAM's 212 MHz by accel/fpga/fmax.py",
        "dataflows": out,
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'point':<20} {'target':<10} {'LUT4':>7} {'carry':>6} {'LUTRAM':>6} "
        f"{'cells':>7} {'FF':>6} {'DSP':>4} {'BRAM':>4} {'placed':>7} {'Fmax':>6} "
        f"{'time':>6}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        placed = r["placed"]["lut"]["used"] if r.get("placed") else None
        fmax = r["fmax"]["clk"]["achieved"] if r.get("fmax") else None
        c = r["core"]
        out.append(
            f"{r['name']:<20} {r['target']:<10} {c['lut']:>7,} {c['carry']:>6,} "
            f"{c['lutram']:>6,} {r.get('core_logic_cells', 0):>7,} {c['ff']:>6,} "
            f"{c['dsp']:>4} {c['bram']:>4} "
            f"{(f'{placed:,}' if placed else '-'):>7} {(f'{fmax:.1f}' if fmax else '-'):>6} "
            f"{sum(r['wall'].values()):>5.0f}s"  # the tools' own time, even when cached
        )
    dense = {r["name"].removesuffix(" dense"): r for r in rows if r["name"].endswith("dense")}
    for name, d in dense.items():
        s = next((r for r in rows if r["name"] == name), None)
        if s and "core_logic_cells" in s:
            out.append(
                f"zero skipping costs {s['core_logic_cells'] / d['core_logic_cells']:.2f}x the "
                f"logic cells and {s['core']['ff'] / d['core']['ff']:.2f}x the flip-flops of the "
                f"dense array ({name})"
            )
    return "\n".join(out)


def save(row: dict) -> list[dict]:
    """Add one point to the JSON, re-read first: two runs (``--only``) may share it."""
    rows = json.loads(POINTS.read_text()) if POINTS.exists() else []
    rows = [r for r in rows if r["name"] != row["name"]] + [row]
    order = [q["name"] for q in grid()]
    rows.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    tmp = POINTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    tmp.replace(POINTS)
    return rows


def markdown(rows: list[dict]) -> str:
    """The table for the README: one line a point, the figures as measured."""
    out = [
        "| point | target | LUT4 | carry | LUT RAM | logic cells | FF | DSP | BRAM "
        "| placed cells | Fmax MHz | tool time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        c = r["core"]
        placed = r["placed"]["lut"] if r.get("placed") else None
        cells = f"{r['core_logic_cells']:,}" if "core_logic_cells" in r else "-"
        if placed:
            shown = f"{placed['used']:,} ({100 * placed['used'] / placed['available']:.0f} %)"
        elif r["short"]:
            shown = "does not fit: " + ", ".join(
                f"{k} {v['needed']:,} > {v['available']:,}" for k, v in r["short"].items()
            )
        else:
            shown = "-"
        fmax = f"{r['fmax']['clk']['achieved']:.1f}" if r.get("fmax") else "-"
        out.append(
            f"| {r['name']} | {r['target']} | {c['lut']:,} | {c['carry']:,} | {c['lutram']:,} "
            f"| {cells} | {c['ff']:,} | {c['dsp']} | {c['bram']} | {shown} | {fmax} "
            f"| {sum(r['wall'].values()):.0f} s |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run only points whose name contains this")
    ap.add_argument("--skip", action="append", default=[], help="skip points containing this")
    ap.add_argument("--fit", action="store_true", help="fit and write the area model")
    ap.add_argument("--markdown", action="store_true", help="print the README's table too")
    args = ap.parse_args()
    rows = json.loads(POINTS.read_text()) if POINTS.exists() else []
    done = {r["name"] for r in rows}
    todo = [
        p
        for p in grid()
        if p["name"] not in done
        and (not args.only or args.only in p["name"])
        and not any(s in p["name"] for s in args.skip)
    ]
    todo.sort(key=cost)  # cheap points first: a table and a fit early, big points last
    for k, p in enumerate(todo, 1):
        print(
            f"[{k}/{len(todo)}] {p['name']} on {p['target']}"
            + (" (placed and routed)" if p["pnr"] else ""),
            file=sys.stderr,
            flush=True,
        )
        row = measure(p, lambda s: print(f"    {s}", file=sys.stderr, flush=True))
        rows = save(row)
    print(table(rows))
    if args.markdown:
        print(markdown(rows))
    if args.fit:
        model = fit(rows)
        area.MODEL_FILE.write_text(json.dumps(model, indent=1) + "\n")
        for flow, m in model["dataflows"].items():
            print(f"area model, {flow}: {m['points']} points, held out {m['held_out']}")
            for res, e in m["held_out_error"].items():
                print(f"  {res}: mean error {100 * e['mean']:.1f} %, max {100 * e['max']:.1f} %")
            exact = m["dsp_and_bram_exact_on_every_point"]
            print(f"  DSP and block RAM exact on every point: {exact}")
        speed = fit_fmax(rows)
        fmax.MODEL_FILE.write_text(json.dumps(speed, indent=1) + "\n")
        for flow, m in speed["dataflows"].items():
            err = m["leave_one_out_error"]
            shown = (
                f"leave-one-out error {100 * err['mean']:.1f} % mean"
                if err
                else "no error: under 3 points"
            )
            print(f"Fmax model, {flow}: {len(m['points'])} routed points, {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
