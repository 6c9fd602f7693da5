"""The input for the one trained model of the corpus: Silero VAD, from the silero-vad wheel.

    .venv/bin/python models/onnx_zoo/silero_input.py [--out models/onnx_zoo]

The model (``silero_vad/data/silero_vad.onnx``, MIT) is not copied here: the Makefile
installs the wheel (``DATA_WHEELS``, ``--no-deps``). This writes ``silero_vad.npz`` with
the three graph inputs the way the package's own OnnxWrapper feeds them at 16 kHz: one
512-sample chunk after 64 samples of context (``input`` [1, 576]), a zero LSTM state
(``state`` [2, 1, 128]) and the sample rate (``sr``, int64 16000, which decides the
model's top-level ``If``). The audio is a seeded synthetic vowel (harmonics of 140 Hz
with a little noise), so the run is speech-like without shipping a recording.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PACKAGE, RESOURCE = "silero_vad", "data/silero_vad.onnx"
SR, CHUNK, CONTEXT = 16000, 512, 64


def wheel_model() -> Path | None:
    """The wheel's ONNX file, found without importing the package (it imports torch)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / RESOURCE
    return path if path.is_file() else None


def audio(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(CONTEXT + CHUNK) / SR
    f0 = 140.0
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9))
    wave = 0.3 * wave / np.max(np.abs(wave)) + 0.01 * rng.standard_normal(t.size)
    return wave.astype(np.float32)[None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    arrays = {
        "input": audio(),
        "state": np.zeros((2, 1, 128), np.float32),
        "sr": np.array(SR, np.int64),
    }
    np.savez(args.out / "silero_vad.npz", **arrays)
    model = wheel_model()
    if model is not None:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        prob, _ = sess.run(None, arrays)
        print(f"{model}: speech probability {float(prob.reshape(-1)[0]):.3f}")
    manifest = args.out / "corpus.json"
    rows = [r for r in json.loads(manifest.read_text()) if r["name"] != "silero_vad"]
    rows.append(
        {
            "name": "silero_vad",
            "file": None,
            "package": PACKAGE,
            "resource": RESOURCE,
            "input": "silero_vad.npz",
            "family": "trained Silero VAD v6 (MIT): STFT "
            "conv, conv encoder, LSTM decoder, If on the sample rate, state input",
            "made_by": "the silero-vad 6.2.3 wheel (DATA_WHEELS in the Makefile)",
            "external_data": None,
        }
    )
    manifest.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
