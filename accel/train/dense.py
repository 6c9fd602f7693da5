"""The dense LeNet: its training recipe, and the file it is kept in.

The recipe is data: a file made with the same recipe is the same model (training is
seeded throughout), so the trade-off loads ``models/lenet/lenet_dense.npz`` instead of
training again, and trains afresh when any field differs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AccelError
from . import data, lenet
from .optim import fit

__all__ = ["Recipe", "DEFAULT_FILE", "train_dense", "save_model", "load_model", "dense_model"]

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "models" / "lenet" / "lenet_dense.npz"
FORMAT = "accel-lenet-1"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the dense model (and the split it is evaluated on)."""

    seed: int = 0
    n_train: int = 4000
    n_test: int = 1000
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    lr_end: float = 5e-5

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise AccelError(f"seed must be a non-negative integer, not {self.seed!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise AccelError(f"epochs must be a positive integer, not {self.epochs!r}")

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def train_dense(recipe: Recipe, split: data.Split) -> dict[str, np.ndarray]:
    """Train LeNet from its seeded initialisation on ``split``'s training images."""
    params = lenet.init_params(recipe.seed)
    result = fit(
        params,
        split.x_train,
        split.y_train,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        lr_end=recipe.lr_end,
        seed=(recipe.seed, 1),
    )
    return result.params


def save_model(path: str | Path, params: dict[str, np.ndarray], recipe: Recipe) -> Path:
    """Parameters (float32) and the recipe that made them, in one ``.npz``."""
    path = Path(path)
    meta = json.dumps({"format": FORMAT, "recipe": recipe.to_dict()}, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(meta), **params)
    return path


def load_model(path: str | Path) -> tuple[dict[str, np.ndarray], Recipe]:
    """Parameters and recipe of a file written by :func:`save_model`."""
    path = Path(path)
    try:
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            params = {k: f[k] for k in f.files if k != "meta"}
    except (OSError, KeyError, ValueError) as err:
        raise AccelError(f"{path}: not a LeNet model file ({err})") from None
    if meta.get("format") != FORMAT:
        raise AccelError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    expect = {f"{s.name}.{p}" for s in lenet.LAYERS for p in ("weight", "bias")}
    if set(params) != expect:
        raise AccelError(f"{path}: parameters {sorted(params)}, expected {sorted(expect)}")
    return params, Recipe(**meta["recipe"])


def dense_model(
    recipe: Recipe, split: data.Split, path: str | Path | None = DEFAULT_FILE
) -> tuple[dict[str, np.ndarray], bool]:
    """The dense model of ``recipe``: loaded from ``path`` if made with the same recipe,
    trained otherwise. Returns the parameters and whether they were loaded."""
    if path is not None and Path(path).is_file():
        try:
            params, made_with = load_model(path)
        except AccelError:
            made_with = None
        if made_with == recipe:
            return params, True
    return train_dense(recipe, split), False
