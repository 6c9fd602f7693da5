"""The corpus as a Markdown table, for README.md: what each model lowers to and how long
``accel simulate`` takes on it.

    .venv/bin/python models/onnx_zoo/table.py [--accel .venv/bin/accel] [--ops]

For each model of corpus.json: the operator kinds the importer lowered, its MACs, layer
count and how many layers run on the model's own int8 numbers (``load_onnx`` on its
input), and the wall time of one
``accel simulate --onnx M --input X --quiet`` in a subprocess (the whole command: Python
start-up, import, capture and simulation). A model that does not import gets its error.
``--ops`` prints instead each file's size and the operators it holds, counted with onnx
(branches of an ``If`` included), which needs neither accel nor onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def model_path(row: dict) -> Path | None:
    if row["file"]:
        return HERE / row["file"]
    spec = importlib.util.find_spec(row["package"])  # not imported: silero_vad imports torch
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / row["resource"]


def describe(row: dict, accel: str) -> list[str]:
    from accel.errors import AccelError
    from accel.workloads.onnx import load_input, load_onnx

    path, inp = model_path(row), HERE / row["input"]
    if path is None:
        return [row["name"], f"({row['package']} not installed)", "", "", "", ""]
    try:
        model = load_onnx(path, load_input(inp))
    except AccelError as err:
        return [row["name"], f"does not import: {err}", "", "", "", ""]
    kinds = sorted({item.op for item in model.layers})
    t0 = time.perf_counter()
    run = subprocess.run(
        [accel, "simulate", "--onnx", str(path), "--input", str(inp), "--quiet"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    seconds = f"{wall:.1f}" if run.returncode == 0 else f"exit {run.returncode}"
    layers, own = str(len(model.layers)), str(len(model.quantized))
    return [row["name"], ", ".join(kinds), f"{model.macs:,}", layers, own, seconds]


def op_counts(path: Path) -> dict[str, int]:
    """Operator kinds and how many nodes of each, in the graph and its subgraphs."""
    import onnx

    counts: dict[str, int] = {}

    def walk(graph) -> None:
        for node in graph.node:
            key = (
                node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            )
            counts[key] = counts.get(key, 0) + 1
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    walk(sub)

    walk(onnx.load(str(path), load_external_data=False).graph)
    return dict(sorted(counts.items()))


def ops_table(rows: list[dict]) -> None:
    print("| model | bytes | opset | graph inputs | operators (nodes) |")
    print("| --- | ---: | ---: | --- | --- |")
    import onnx

    for row in rows:
        path = model_path(row)
        if path is None:
            print(f"| {row['name']} | ({row['package']} not installed) | | | |")
            continue
        size = path.stat().st_size
        if row.get("external_data"):
            size += (HERE / row["external_data"]).stat().st_size
        m = onnx.load(str(path), load_external_data=False)
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        inits = {t.name for t in m.graph.initializer}
        ins = []
        for v in m.graph.input:
            if v.name not in inits:
                dims = [
                    d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?")
                    for d in v.type.tensor_type.shape.dim
                ]
                ins.append(f"{v.name} [{', '.join(dims)}]")
        ops = ", ".join(f"{k} {n}" for k, n in op_counts(path).items())
        print(f"| {row['name']} | {size:,} | {opset} | {'; '.join(ins)} | {ops} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accel", default=str(ROOT / ".venv" / "bin" / "accel"))
    p.add_argument("--ops", action="store_true", help="sizes and operator counts instead")
    args = p.parse_args(argv)
    rows = json.loads((HERE / "corpus.json").read_text())
    if args.ops:
        ops_table(rows)
        return 0
    header = ["model", "operators lowered", "MACs", "layers", "own int8", "simulate (s)"]
    print("| " + " | ".join(header) + " |")
    print(
        "| "
        + " | ".join(["---"] + ["---:" if h != header[1] else "---" for h in header[1:]])
        + " |"
    )
    for row in rows:
        print("| " + " | ".join(describe(row, args.accel)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
