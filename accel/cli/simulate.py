"""``accel simulate``: one network, ONNX model, BERT checkpoint or GEMM, sparse and dense."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import AccelError
from .common import (
    Progress,
    act_density,
    add_config_flags,
    add_workload_flags,
    check_outputs,
    check_seed,
    emit,
    flag_of,
    network_layers,
    network_params,
    resolve_config,
)

NAME = "simulate"
HELP = "simulate a network or one GEMM, sparse and dense"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)
    add_workload_flags(p)
    p.add_argument(
        "--fpga",
        default="ecp5-85k",
        choices=["ecp5-25k", "ecp5-45k", "ecp5-85k", "none"],
        metavar="TARGET",
        help="estimate the array's LUT, FF, DSP and block RAM on this FPGA with the fitted "
        "area model (ecp5-25k, ecp5-45k, ecp5-85k or none; default ecp5-85k; "
        "`accel synth` measures it)",
    )


def _densities(args: argparse.Namespace):
    from ..workloads.sparsity import parse_pattern

    weights = parse_pattern(args.pattern, getattr(args, "weight_density", None))
    check_seed(args)
    return weights, act_density(args)


def _simulate_onnx(args: argparse.Namespace, config: Config, table: Any):
    """``--onnx``: the model's own weights; activations captured (``--input``) or synthetic."""
    from ..perf.simulate import NetworkResult, simulate_layer
    from ..workloads.onnx import layer_patterns, load_onnx

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
                f"{flag_of(flag)} does not apply to --onnx (the file fixes its shapes; "
                "--input DATA.npy|.npz sets open dims)"
            )
    check_seed(args)
    data = None
    if args.input is not None:
        if args.act_density is not None:
            raise AccelError("--act-density does not apply with --input (activations are real)")
        from ..workloads.onnx import load_input

        data = load_input(args.input)
    act = act_density(args)
    model = load_onnx(args.onnx, data)
    progress = Progress(f"simulating {Path(args.onnx).name}", not args.quiet)
    results = [
        simulate_layer(
            config, p.item.layer, p.weights, p.acts, table, p.output_density, args.balance
        )
        for p in layer_patterns(model, config.array, act, args.seed, progress)
    ]
    shapes = {name: list(shape) for name, shape in model.inputs.items()}
    workload: dict[str, Any] = {
        "name": Path(args.onnx).stem,
        "onnx": str(args.onnx),
        "inputs": shapes,
        "input_shape": next(iter(shapes.values())),
        "weights": f"the model's own, quantised per output channel to {config.array.w_bits} bits",
    }
    own = _own_quantisation(model, config, data is not None)
    if own:
        workload["weights"] = own["weights"]
        workload["quantization"] = own
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
            act_model=own.get(
                "activations",
                f"onnxruntime on --input, one scale per tensor, {config.array.a_bits} bits",
            ),
        )
    workload["notes"] = model.notes
    return NetworkResult(results), workload


def _own_quantisation(model: Any, config: Config, captured: bool) -> dict[str, Any]:
    """What a quantised model's own integers stand for in the report (empty for a float
    model): the densities reported are then those the array really sees."""
    own = model.quantized
    if not own:
        return {}
    total = len(model.layers)
    kinds: dict[str, int] = {}
    for item in own:
        kinds[item.quant] = kinds.get(item.quant, 0) + 1
    n_w = sum(item.int_weight is not None for item in own)
    n_a = sum(item.act_zero_point is not None for item in own)
    ops = ", ".join(f"{k} {n}" for k, n in kinds.items())
    rest_w = total - n_w
    weights = (
        f"the model's own integer weights and zero points in {n_w} of {total} layers ({ops}): "
        "the integers less their zero points, as the array sees them"
        + (f"; the other {rest_w} quantised per output channel to "
           f"{config.array.w_bits} bits" if rest_w else "")
    )  # fmt: skip
    out: dict[str, Any] = {
        "source": "the model's own",
        "layers": len(own),
        "of": total,
        "ops": kinds,
        "own_weights": n_w,
        "own_activations": n_a,
        "weights": weights,
    }
    if captured:
        rest_a = total - n_a
        out["activations"] = (
            f"onnxruntime on --input: in {n_a} of {total} layers the model's captured "
            "integers less their zero points, as the array sees them"
            + (f"; the other {rest_a} one scale per tensor, {config.array.a_bits} bits"
               if rest_a else "")
        )  # fmt: skip
    out["summary"] = (
        "weights: " + weights + ("; activations: " + out["activations"] if captured else "")
    )
    return out


def _simulate_safetensors(args: argparse.Namespace, config: Config, table: Any):
    """``--safetensors``: a BERT encoder's own weights, pruned in memory if asked;
    activations captured (``--text``) or synthetic."""
    from ..perf.simulate import NetworkResult, simulate_layer
    from ..workloads import bert_weights as bw
    from ..workloads.sparsity import parse_pattern

    for flag in ("image",) + (("batch",) if args.text is not None else ()):
        if getattr(args, flag) is not None:
            why = "the sentences fix the batch" if flag == "batch" else "it is a text model"
            raise AccelError(f"{flag_of(flag)} does not apply to --safetensors ({why})")
    if args.text is not None and args.act_density is not None:
        raise AccelError("--act-density does not apply with --text (activations are real)")
    weights = parse_pattern(args.pattern, args.weight_density)
    check_seed(args)
    act = act_density(args)
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
        from ..workloads.bert_forward import encode, read_sentences, tokenize

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
    progress = Progress(f"simulating {name}", not args.quiet)
    results = [
        simulate_layer(
            config, p.item.layer, p.weights, p.acts, table, p.output_density, args.balance
        )
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


def _tell_time(args: argparse.Namespace, config: Config, layers) -> None:
    """Say up front when a run will take minutes (it is refused if it cannot fit)."""
    from ..perf.footprint import check_fits, describe_time

    check_fits(config.array, layers)
    note = describe_time(config.array, layers)
    if note and not args.quiet:
        print(f"accel simulate: {note}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..golden import nonzero_outputs
    from ..perf.energy import load_energy_table
    from ..perf.simulate import NetworkResult, simulate_arrays, simulate_network
    from ..report import format_table, report_dict
    from ..workloads.gemm_file import load_gemm
    from ..workloads.layer import Layer

    config = resolve_config(args)
    table = load_energy_table(args.energy)
    check_outputs(args, ("speedup.png", "utilisation.png", "energy.png"))
    check_seed(args)
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
                raise AccelError(
                    f"{flag_of(flag)} does not apply to --gemm (the file holds W and X)"
                )
        if args.pattern != "unstructured":
            raise AccelError("--pattern does not apply to --gemm (the file holds W and X)")
        W, X, _ = load_gemm(args.gemm, config.array)
        layer = Layer(
            name=Path(args.gemm).stem, M=W.shape[0], K=W.shape[1], N=X.shape[1], kind="gemm"
        )
        _tell_time(args, config, [layer])
        density = nonzero_outputs(W, X, config.array) / (W.shape[0] * X.shape[1])
        res = simulate_arrays(config, layer, W, X, table, density, args.balance)
        result = NetworkResult([res])
        workload = {
            "name": layer.name,
            "gemm": str(args.gemm),
            "weight_nonzeros": int(np.count_nonzero(W)),
            "act_nonzeros": int(np.count_nonzero(X)),
        }
    else:
        weights, act = _densities(args)
        layers = network_layers(args)
        _tell_time(args, config, layers)
        progress = Progress(f"simulating {args.network}", not args.quiet)
        result = simulate_network(
            config, layers, weights, act, args.seed, table, progress, args.balance
        )
        workload = {
            "name": args.network,
            **network_params(args),
            "pattern": weights.label,
            "weight_density": weights.density,
            "act_density": act,
            "seed": args.seed,
            "act_model": "each activation nonzero independently (ReLU-like)",
        }
    report = report_dict(config, result, workload, table)
    if args.fpga != "none":
        from ..fpga.area import estimate

        depth = max(1, report["rtl_max_blocks"])
        report["fpga_estimate"] = {
            **estimate(config.array, max_blocks=depth, target=args.fpga),
            "max_blocks": depth,
        }
        totals = report["totals"]
        if totals.get("reference_total_cycles"):
            from ..fpga.equal_area import modelled

            report["equal_area"] = modelled(
                config.array,
                cycles=totals["total_cycles"],
                reference_cycles=totals["reference_total_cycles"],
                max_blocks=depth,
                target=args.fpga,
            ).to_dict()
    emit(args, report, format_table(report))
    if args.plot:
        from ..plots import plot_report

        paths = plot_report(report, args.plot, force=args.force)
        if not args.quiet and args.json != "-":
            print("wrote " + ", ".join(str(p) for p in paths))
    return 0
