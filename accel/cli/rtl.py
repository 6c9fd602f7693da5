"""``accel rtl``: the array as Verilog, with a JSON sidecar of its ports and latencies."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .. import __version__
from ..errors import AccelError
from .common import Heartbeat, add_config_flags, make_dir, resolve_config

NAME = "rtl"
HELP = "write the array as Verilog, with a JSON sidecar"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.v", help="Verilog file")
    p.add_argument("--top", default="accel_top", help="top module name (default accel_top)")
    p.add_argument(
        "--max-blocks",
        type=int,
        default=64,
        metavar="N",
        help="weight memory depth per row: K up to N x block (default 64)",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite files even if accel did not write them"
    )
    p.add_argument("--quiet", action="store_true", help="no progress while generating")


# Verilog-2005 reserved words: a module may not be named after one.
_VERILOG_KEYWORDS = frozenset(
    """always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config
    deassign default defparam design disable edge else end endcase endconfig endfunction
    endgenerate endmodule endprimitive endspecify endtable endtask event for force forever
    fork function generate genvar highz0 highz1 if ifnone incdir include initial inout input
    instance integer join large liblist library localparam macromodule medium module nand
    negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
    primitive pull0 pull1 pulldown pullup pulsestyle_onevent pulsestyle_ondetect rcmos real
    realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled
    signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
    tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
    weak0 weak1 while wire wor xnor xor""".split()  # noqa: SIM905
)


def run(args: argparse.Namespace) -> int:
    from ..outputs import TOOL_MARK, check_writable, write_texts

    config = resolve_config(args)
    out = Path(args.output)
    if out.suffix != ".v":
        raise AccelError(f"-o {out}: the Verilog file name must end in .v")
    sidecar = out.with_suffix(".json")
    check_writable(out, args.force, "-o")
    check_writable(sidecar, args.force, "-o (sidecar)")
    if not args.top.isidentifier() or args.top in _VERILOG_KEYWORDS:
        raise AccelError(f"--top must be a Verilog identifier, not {args.top!r}")
    if not 1 <= args.max_blocks <= 1 << 16:
        raise AccelError(f"--max-blocks must be in 1..65536, not {args.max_blocks}")
    make_dir(out.parent, "-o", args.output)

    from ..hw.params import check_wire_widths
    from ..hw.verilog import generate, ports
    from ..perf import latency

    cfg = check_wire_widths(config.array)  # before anything is said or elaborated
    label = f"accel rtl: generating the {cfg.rows}x{cfg.cols} array ({cfg.rows * cfg.cols} PEs)"
    start = time.monotonic()
    with Heartbeat(label, not args.quiet):
        text, dut = generate(cfg, top=args.top, max_blocks=args.max_blocks)
    meta = {
        "tool": TOOL_MARK,
        "version": __version__,
        "top": args.top,
        "verilog": out.name,
        "config": config.to_dict()["array"],
        "max_blocks": args.max_blocks,
        "max_K": args.max_blocks * config.array.block,
        "ports": ports(dut),
        "fixed_latencies": {
            "weight_stream": (
                f"{config.array.weight_lanes} lanes of {config.array.weight_word_bits} bits; "
                "one item per lane per cycle once its words are in (accel.wstream)"
            ),
            "overlap_restart_cycles": latency.OVERLAP_RESTART,
            "mac_pipeline_cycles": latency.MAC_PIPELINE,
            "output_capture_cycles": latency.OUTPUT_CAPTURE,
            "output_pipeline_cycles": latency.OUTPUT_PIPELINE,
            "drain_cycles_per_tile": latency.drain_cycles(config.array),
            "documented_in": "docs/architecture.md",
        },
    }
    write_texts({out: text, sidecar: json.dumps(meta, indent=1) + "\n"})  # both or neither
    took = time.monotonic() - start
    print(f"wrote {out} ({len(text.splitlines())} lines, {took:.1f} s) and {sidecar}")
    return 0
