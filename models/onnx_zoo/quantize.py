"""Quantised variants of corpus models, made by onnxruntime's own quantiser.

    .venv/bin/python models/onnx_zoo/quantize.py [--out models/onnx_zoo]

Runs in the project's venv (onnxruntime, no torch), after make.py. Real int8 graphs come
in the forms onnxruntime writes them, so the importer meets each:

- static, QDQ: QuantizeLinear/DequantizeLinear pairs around float Conv/Gemm
  (``NAME_qdq``);
- static, QOperator: QLinearConv, QLinearMatMul / com.microsoft QGemm (``NAME_qop``);
- dynamic: DynamicQuantizeLinear + MatMulInteger, and com.microsoft DynamicQuantizeLSTM
  for an LSTM (``NAME_dynamic``).

Calibration reads a few seeded random inputs of the float model's input shape. Each
output gets a copy of its float model's input beside it and a row in corpus.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
CALIBRATION_SAMPLES = 8
STATIC = ["resnet_bn", "mobilenetv2"]
DYNAMIC = ["transformer_encoder", "bilstm_tagger"]


class RandomReader:
    """A CalibrationDataReader over a few seeded random inputs shaped like ``sample``."""

    def __init__(self, name: str, sample: np.ndarray, count: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.batches = iter(
            [{name: rng.standard_normal(sample.shape).astype(sample.dtype)} for _ in range(count)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _preprocess(src: Path, tmp: Path) -> Path:
    """onnxruntime's recommended pre-processing (shape inference, graph cleanup)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = tmp / f"{src.stem}_pre.onnx"
    # symbolic shape inference needs sympy, not in the project venv: onnx's own is enough here
    quant_pre_process(str(src), str(out), skip_symbolic_shape=True)
    return out


def _row(out: Path, name: str, base: str, how: str) -> dict:
    inp = next(p for p in (out / f"{base}.npy", out / f"{base}.npz") if p.exists())
    shutil.copyfile(inp, out / f"{name}{inp.suffix}")
    return {
        "name": name,
        "file": f"{name}.onnx",
        "input": f"{name}{inp.suffix}",
        "family": f"{base} quantised by onnxruntime ({how})",
        "made_by": f"quantize.py, onnxruntime {_ort_version()}",
        "external_data": None,
    }


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def make_static(out: Path, base: str, tmp: Path) -> list[dict]:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    pre = _preprocess(out / f"{base}.onnx", tmp)
    model = onnx.load(str(pre))
    (inp,) = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    sample = np.load(out / f"{base}.npy")
    rows = []
    for fmt, suffix in ((QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")):
        name = f"{base}_{suffix}"
        quantize_static(
            str(pre),
            str(out / f"{name}.onnx"),
            RandomReader(inp.name, sample, CALIBRATION_SAMPLES),
            quant_format=fmt,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        how = f"quantize_static {fmt.name}, per-channel int8 weights, uint8 activations"
        rows.append(_row(out, name, base, how))
    return rows


def make_dynamic(out: Path, base: str, tmp: Path) -> list[dict]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    pre = _preprocess(out / f"{base}.onnx", tmp)
    name = f"{base}_dynamic"
    quantize_dynamic(str(pre), str(out / f"{name}.onnx"), weight_type=QuantType.QInt8)
    return [_row(out, name, base, "quantize_dynamic, int8 weights")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)
    manifest_path = args.out / "corpus.json"
    rows = json.loads(manifest_path.read_text())
    made: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for base in STATIC:
            made += make_static(args.out, base, Path(tmp))
        for base in DYNAMIC:
            made += make_dynamic(args.out, base, Path(tmp))
    names = {r["name"] for r in made}
    kept = [r for r in rows if r["name"] not in names]
    # after the committed files, before the models of a wheel
    rows = [r for r in kept if r["file"]] + made + [r for r in kept if not r["file"]]
    manifest_path.write_text(json.dumps(rows, indent=1) + "\n")
    for r in made:
        print(f"{r['name']}: {(args.out / r['file']).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
