"""Measure SCALE-Sim 3.0.0 as a peer of ``simulate_speed.py``: cycles, wall time, peak memory.

SCALE-Sim runs in its own virtualenv (``bench/.scalesim-venv``) because it breaks with the
numpy 2.4 of our project venv: every run dies at the end of its first layer. Each layer runs
in a fresh subprocess of that venv's python, so its wall time and peak RSS are its own.

Facts this module relies on (measured, see ``/work/shared/peers/scalesim/README.md``):

* The Python API can turn traces off (the CLI's ``-s`` flag is ignored and a large layer
  writes ~150 MB of trace CSVs).
* ``get_total_cycles()`` is broken, so cycles are read from ``COMPUTE_REPORT.csv``.
* Every topology row needs a trailing comma, or SCALE-Sim silently drops the last column.
* Its output-stationary cycles follow a closed form, checked here on every layer.

As a script it runs three dense ResNet-50 layers on a 16x16 array and prints a table and
one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_VENV",
    "NUMPY_VERSION",
    "RESNET50_SAMPLE",
    "SCALESIM_VERSION",
    "closed_form_cycles",
    "ensure_env",
    "layer_macs",
    "read_topology_csv",
    "run_scalesim_layers",
]

SCALESIM_VERSION = "3.0.0"
NUMPY_VERSION = "2.3.5"  # numpy 2.4 breaks SCALE-Sim 3.0.0
DEFAULT_VENV = Path(__file__).resolve().parent / ".scalesim-venv"

LAYER_KEYS = (
    "name", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filter", "strides",
)

# Header of the peer's topology CSV, column for column (order matters, names do not).
TOPOLOGY_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
    "Num Filter, Strides,"
)

# SCALE-Sim insists on a layout file; a header-only one (the peer's layout.csv) means "none".
LAYOUT_CSV = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, "
    "Channel Intraline Factor, Num Filter Intraline Factor, "
    "IFMAP Height Intraline Order, IFMAP Width Intraline Order, Channel Intraline Order, "
    "IFMAP Height Interline Order, IFMAP Width Interline Order, Channel Interline Order, "
    "Num Filter Intraline Order, Channel Intraline Order, Filter Height Intraline Order, "
    "Filter Width Intraline Order, Num Filter Interline Order, Channel Interline Order, "
    "Filter Height Interline Order, Filter Width Interline Order,\n"
)

RUN_NAME = "peer"

# The peer's os16.cfg with the array size left open: output stationary, 1 MB SRAMs,
# bandwidth computed (CALC), no sparsity. Every section is read, so none may be dropped.
CONFIG_TEMPLATE = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   1024
FilterSramSzkB:  1024
OfmapSramSzkB:   1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 100
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 100
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 4
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# Runs inside the SCALE-Sim venv. Times the simulation apart from the imports, and reports
# its own peak RSS: RUSAGE_CHILDREN in the parent is a high-water mark over *all* children
# so far (pip, earlier layers), so it cannot give a per-layer figure.
_CHILD_CODE = """\
import json, resource, sys, time
t0 = time.perf_counter()
from scalesim.scale_sim import scalesim
t1 = time.perf_counter()
config, topology, layout, out, result = sys.argv[1:6]
sim = scalesim(save_disk_space=True, verbose=False,
               config=config, topology=topology, layout=layout)
sim.run_scale(top_path=out)
t2 = time.perf_counter()
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(result, "w") as f:
    json.dump({"import_s": t1 - t0, "run_s": t2 - t1, "maxrss_kib": rss_kib}, f)
"""

# Three dense ResNet-50 layers (rows of the peer's resnet50.csv, padding applied by hand).
RESNET50_SAMPLE: tuple[dict[str, Any], ...] = (
    {"name": "conv2_1b", "ifmap_h": 58, "ifmap_w": 58, "filter_h": 3, "filter_w": 3,
     "channels": 64, "num_filter": 64, "strides": 1},
    {"name": "conv3_2a", "ifmap_h": 28, "ifmap_w": 28, "filter_h": 1, "filter_w": 1,
     "channels": 512, "num_filter": 128, "strides": 1},
    {"name": "fc", "ifmap_h": 1, "ifmap_w": 1, "filter_h": 1, "filter_w": 1,
     "channels": 2048, "num_filter": 1000, "strides": 1},
)


def _log(msg: str) -> None:
    print(f"[scalesim-peer] {msg}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _installed_versions(python: Path) -> tuple[str, str] | None:
    """(scalesim, numpy) versions in the venv, or None if either is missing or it is broken."""
    code = (
        "from importlib.metadata import version as v\n"
        "print(v('scalesim'), v('numpy'))"
    )
    try:
        proc = subprocess.run([str(python), "-I", "-c", code],
                              check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = proc.stdout.split()
    return (parts[0], parts[1]) if proc.returncode == 0 and len(parts) == 2 else None


def ensure_env(venv_dir: Path = DEFAULT_VENV) -> Path:
    """Return the python of a venv holding SCALE-Sim and a numpy it works with.

    Creates the venv and installs into it when needed (about 20 s with a warm cache);
    raises RuntimeError if that fails, so a caller can report the peer as not measured.
    """
    venv_dir = Path(venv_dir)
    python = venv_dir / "bin" / "python"
    wanted = (SCALESIM_VERSION, NUMPY_VERSION)
    if python.exists() and _installed_versions(python) == wanted:
        return python

    start = time.perf_counter()
    if not python.exists():
        # Not sys.executable: that may be a venv whose numpy breaks SCALE-Sim; any plain
        # python3 will do, since the new venv gets its own numpy.
        base = shutil.which("python3")
        if base is None:
            raise RuntimeError("SCALE-Sim peer: no python3 on PATH to create its venv")
        _log(f"creating venv {venv_dir}")
        proc = subprocess.run([base, "-m", "venv", str(venv_dir)],
                              check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"SCALE-Sim peer: `python3 -m venv {venv_dir}` failed "
                f"(exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}"
            )
    specs = [f"scalesim=={SCALESIM_VERSION}", f"numpy=={NUMPY_VERSION}"]
    _log(f"installing {' '.join(specs)} into {venv_dir} (takes about 20 s)")
    proc = subprocess.run([str(python), "-m", "pip", "install", *specs],
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"SCALE-Sim peer: pip install {' '.join(specs)} failed (exit {proc.returncode}); "
            f"delete {venv_dir} to start over:\n{_tail(proc.stdout + proc.stderr)}"
        )
    found = _installed_versions(python)
    if found != wanted:
        raise RuntimeError(
            f"SCALE-Sim peer: after install the venv holds scalesim/numpy {found}, "
            f"not {wanted}; delete {venv_dir} to start over"
        )
    _log(f"venv ready in {time.perf_counter() - start:.1f} s")
    return python


def _out_hw(layer: dict[str, Any]) -> tuple[int, int]:
    s = layer["strides"]
    return ((layer["ifmap_h"] - layer["filter_h"]) // s + 1,
            (layer["ifmap_w"] - layer["filter_w"]) // s + 1)


def layer_macs(layer: dict[str, Any]) -> int:
    """Dense multiply-accumulates of a (pre-padded) conv or fc layer."""
    out_h, out_w = _out_hw(layer)
    return (out_h * out_w * layer["filter_h"] * layer["filter_w"]
            * layer["channels"] * layer["num_filter"])


def closed_form_cycles(layer: dict[str, Any], rows: int, cols: int) -> int:
    """SCALE-Sim's output-stationary cycles, exact on all ResNet-50 layers (peer README).

    Sr output pixels fold over the rows, Sc filters over the columns, and each fold streams
    T = R*S*C operands plus the array's fill and drain.
    """
    out_h, out_w = _out_hw(layer)
    sr, sc = out_h * out_w, layer["num_filter"]
    t = layer["filter_h"] * layer["filter_w"] * layer["channels"]
    return math.ceil(sr / rows) * math.ceil(sc / cols) * (t + rows + cols - 2) - 1


def _check_layer(layer: dict[str, Any]) -> None:
    missing = [k for k in LAYER_KEYS if k not in layer]
    if missing:
        raise ValueError(f"layer {layer.get('name', '?')!r} lacks {', '.join(missing)}")
    name = layer["name"]
    # SCALE-Sim splits rows on commas and treats any name containing "DP" as depthwise.
    if not isinstance(name, str) or not name or "," in name or "DP" in name:
        raise ValueError(f"layer name {name!r} must be non-empty, without ',' or 'DP'")
    for key in LAYER_KEYS[1:]:
        value = layer[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"layer {name!r}: {key} must be a positive integer, not {value!r}")
    if layer["filter_h"] > layer["ifmap_h"] or layer["filter_w"] > layer["ifmap_w"]:
        raise ValueError(f"layer {name!r}: filter larger than the (padded) ifmap")


def _topology_csv(layer: dict[str, Any]) -> str:
    row = ",".join(str(layer[k]) for k in LAYER_KEYS)
    return f"{TOPOLOGY_HEADER}\n{row},\n"  # the trailing comma keeps the last column


def _sum_total_cycles(report: Path) -> int:
    """Sum the ``Total Cycles`` column (headers and cells carry stray spaces)."""
    with report.open(newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    col = header.index("Total Cycles")
    total = 0
    for row in rows[1:]:
        if len(row) > col and row[col].strip():
            value = float(row[col])
            if not value.is_integer():
                raise RuntimeError(f"{report}: non-integer Total Cycles {row[col]!r}")
            total += int(value)
    return total


def _run_one(python: Path, layer: dict[str, Any], rows: int, cols: int,
             timeout: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scalesim-peer-") as tmp_name:
        tmp = Path(tmp_name)
        config, topology = tmp / "peer.cfg", tmp / "topology.csv"
        layout, out, result = tmp / "layout.csv", tmp / "out", tmp / "result.json"
        config.write_text(CONFIG_TEMPLATE.format(run_name=RUN_NAME, rows=rows, cols=cols))
        topology.write_text(_topology_csv(layer))
        layout.write_text(LAYOUT_CSV)
        cmd = [str(python), "-I", "-c", _CHILD_CODE,
               str(config), str(topology), str(layout), str(out), str(result)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=tmp,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"SCALE-Sim peer: layer {layer['name']!r} exceeded {timeout} s"
            ) from exc
        total_s = time.perf_counter() - start
        report = out / RUN_NAME / "COMPUTE_REPORT.csv"
        # SCALE-Sim calls exit() (status 0) on bad input, so check the outputs, not only rc.
        if proc.returncode != 0 or not result.exists() or not report.exists():
            raise RuntimeError(
                f"SCALE-Sim peer: layer {layer['name']!r} failed (exit {proc.returncode}):\n"
                f"{_tail(proc.stdout + proc.stderr)}"
            )
        timing = json.loads(result.read_text())
        cycles = _sum_total_cycles(report)
    return {
        "name": layer["name"],
        "cycles": cycles,
        "closed_form_cycles": closed_form_cycles(layer, rows, cols),
        "seconds": timing["run_s"],
        "total_seconds": total_s,
        "import_seconds": timing["import_s"],
        "peak_rss_mib": timing["maxrss_kib"] / 1024,
        "macs": layer_macs(layer),
        "rows": rows,
        "cols": cols,
    }


def run_scalesim_layers(layers: list[dict[str, Any]], rows: int = 16, cols: int = 16,
                        timeout: float | None = None, *,
                        venv_dir: Path = DEFAULT_VENV) -> list[dict[str, Any]]:
    """Simulate each layer alone in SCALE-Sim (output stationary, rows x cols, no traces).

    Per layer: name, cycles (from COMPUTE_REPORT.csv), closed_form_cycles, seconds (the
    simulation alone), total_seconds (with interpreter start-up and imports),
    import_seconds, peak_rss_mib (of the whole SCALE-Sim process), macs, rows, cols.
    ``timeout`` is per layer, in seconds. Raises RuntimeError when SCALE-Sim cannot run.
    """
    for layer in layers:
        _check_layer(layer)
    python = ensure_env(venv_dir)
    results = []
    for layer in layers:
        res = _run_one(python, layer, rows, cols, timeout)
        if res["cycles"] != res["closed_form_cycles"]:
            _log(f"WARNING {res['name']}: {res['cycles']} cycles, closed form says "
                 f"{res['closed_form_cycles']}")
        results.append(res)
    return results


def read_topology_csv(path: Path) -> list[dict[str, Any]]:
    """Layers of a SCALE-Sim topology CSV (e.g. the peer's resnet50.csv) as input dicts."""
    layers = []
    with Path(path).open(newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            values = [cells[0], *(int(c) for c in cells[1:len(LAYER_KEYS)])]
            layers.append(dict(zip(LAYER_KEYS, values, strict=True)))
    return layers


def _print_table(results: list[dict[str, Any]]) -> None:
    head = (f"{'layer':<10} {'MACs':>13} {'cycles':>10} {'closed form':>11} {'ok':>3} "
            f"{'sim s':>7} {'total s':>7} {'peak MiB':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        ok = "yes" if r["cycles"] == r["closed_form_cycles"] else "NO"
        print(f"{r['name']:<10} {r['macs']:>13,} {r['cycles']:>10,} "
              f"{r['closed_form_cycles']:>11,} {ok:>3} {r['seconds']:>7.2f} "
              f"{r['total_seconds']:>7.2f} {r['peak_rss_mib']:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    """Run the ResNet-50 sample; exit 1 if cycles disagree with the closed form, 2 on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--cols", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per layer")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args(argv)
    try:
        results = run_scalesim_layers(list(RESNET50_SAMPLE), args.rows, args.cols,
                                      args.timeout, venv_dir=args.venv)
    except RuntimeError as exc:
        print(f"SCALE-Sim could not be measured: {exc}", file=sys.stderr)
        return 2
    _print_table(results)
    print(json.dumps({"peer": "scalesim", "version": SCALESIM_VERSION, "dataflow": "os",
                      "rows": args.rows, "cols": args.cols, "layers": results}))
    return 0 if all(r["cycles"] == r["closed_form_cycles"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
