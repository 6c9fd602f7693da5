"""``accel prune``: prune the weights of a model file into a new file, and check it."""

from __future__ import annotations

import argparse

from ..errors import AccelError
from ..limits import MAX_STEPS

NAME = "prune"
HELP = "prune the weights of an .onnx, .npz or .safetensors file into a new file, and check it"

# Shown verbatim (RawDescriptionHelpFormatter) under the usage line of `accel prune --help`.
DESCRIPTION = """\
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


def add_arguments(p: argparse.ArgumentParser) -> None:
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
        "--steps",
        type=int,
        metavar="N",
        help=f"--method gradual: pruning steps, 1..{MAX_STEPS} (default 4; one file each)",
    )
    p.add_argument(
        "--block", metavar="RxC", help="--method block: tile of the [O, K] view (default 1x16)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing OUT")


def _parse_nm(text: str) -> tuple[int, int]:
    try:
        n, m = (int(part) for part in text.split(":"))
    except ValueError:
        raise AccelError(f"--nm must be N:M with integers (e.g. 2:4), not {text!r}") from None
    from ..prune.arguments import check_nm_pattern  # the rule of --pattern too

    try:
        return check_nm_pattern(n, m)
    except AccelError as err:
        raise AccelError(f"--nm {text}: {err}") from None


def _parse_block(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise AccelError(f"--block must be ROWSxCOLS (e.g. 1x16), not {text!r}") from None
    if rows < 1 or cols < 1:
        raise AccelError(f"--block {text}: both sides must be at least 1")
    return rows, cols


def _prune_spec(args: argparse.Namespace):
    from ..prune.arguments import check_sparsity
    from ..prune.files import PruneSpec

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


def run(args: argparse.Namespace) -> int:
    from ..prune.files import prune_file, prune_file_gradual

    if args.method == "gradual":
        _prune_spec(args)  # the flag checks
        steps = 4 if args.steps is None else args.steps
        if not 1 <= steps <= MAX_STEPS:
            raise AccelError(f"--steps must be an integer in 1..{MAX_STEPS}, not {steps}")
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
