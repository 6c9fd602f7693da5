"""Seeded sparsity generators, so that density can be swept without a trained model.

Two kinds of output: integer arrays (for ``--gemm`` files, tests and the golden model)
and, for whole networks, the patterns the simulator needs (masks and nonzero counts)
drawn directly from the same distributions without materialising every value.

Weights: ``unstructured`` (each weight kept independently with probability = density),
``N:M`` (exactly N of every M consecutive weights along K, positions uniform), or
``channel`` (whole output channels kept, the rest zero; round(density x M) kept).
Activations: ReLU-like, each value nonzero independently with probability = density,
nonzero values drawn from the positive half of the range.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..config import ArrayConfig
from ..encode import ActPattern, WeightPattern, pack_blocks, weight_pattern
from ..errors import AccelError
from .layer import Layer

__all__ = [
    "WeightSparsity",
    "parse_pattern",
    "weight_nonzeros",
    "random_weights",
    "random_acts",
    "layer_weight_pattern",
    "layer_act_pattern",
    "layer_operands",
    "draw_key",
    "layer_rng",
]

_RESOLUTION = 1 << 16  # densities are drawn at 1/65536 resolution


def draw_key(layer: Layer) -> tuple[int, ...]:
    """What a built-in network's layer draws its zeros from besides the seed: its GEMM
    shape, not its name or place. A shape repeated in a network (ResNet's identical
    blocks) or shared by two networks draws the same patterns, so its numbers do not
    depend on where it sits, and a sweep simulates it once."""
    return (layer.groups, layer.M, layer.K, layer.N, int(layer.dynamic_weights))


def layer_rng(seed: int, layer: Layer, *stream: int) -> np.random.Generator:
    """The generator of ``layer``'s zero patterns (``stream`` 1: its values, for the RTL)."""
    return np.random.default_rng([seed, *draw_key(layer), *stream])


def _check_density(name: str, density: float) -> float:
    if isinstance(density, bool) or not isinstance(density, (int, float)):
        raise AccelError(f"{name} must be a number in 0..1, not {density!r}")
    if not 0.0 <= density <= 1.0 or math.isnan(density):
        raise AccelError(f"{name} must be in 0..1, not {density!r}")
    return float(density)


@dataclass(frozen=True)
class WeightSparsity:
    """How to prune weights: a pattern and a density (kept fraction)."""

    pattern: str = "unstructured"  # "unstructured", "channel" or "nm"
    density: float = 1.0
    n: int = 0
    m: int = 0

    def __post_init__(self) -> None:
        if self.pattern not in ("unstructured", "channel", "nm"):
            raise AccelError(f"pattern must be unstructured, N:M or channel, not {self.pattern!r}")
        _check_density("weight density", self.density)

    @property
    def label(self) -> str:
        return f"{self.n}:{self.m}" if self.pattern == "nm" else self.pattern


def parse_pattern(pattern: str, density: float | None) -> WeightSparsity:
    """``"unstructured" | "channel" | "N:M"`` plus a density into a :class:`WeightSparsity`.

    For N:M the density is N/M; a different explicit density is an error.
    """
    text = pattern.strip().lower()
    if ":" in text:
        try:
            n, m = (int(part) for part in text.split(":"))
        except ValueError:
            raise AccelError(
                f"--pattern must be unstructured, channel or N:M, not {pattern!r}"
            ) from None
        from ..prune.arguments import check_nm_pattern  # one N:M rule: pruning and patterns

        try:
            n, m = check_nm_pattern(n, m)
        except AccelError as err:
            raise AccelError(f"--pattern {pattern!r}: {err}") from None
        if density is not None and not math.isclose(density, n / m):
            raise AccelError(
                f"--weight-density {density} contradicts --pattern {pattern} (density {n / m:g})"
            )
        return WeightSparsity("nm", n / m, n, m)
    if text not in ("unstructured", "channel"):
        raise AccelError(f"--pattern must be unstructured, channel or N:M, not {pattern!r}")
    return WeightSparsity(
        text, 1.0 if density is None else _check_density("--weight-density", density)
    )


def _bernoulli(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    threshold = round(density * _RESOLUTION)
    if threshold >= _RESOLUTION:
        return np.ones(shape, dtype=bool)
    return rng.integers(0, _RESOLUTION, size=shape, dtype=np.uint16) < threshold


def weight_nonzeros(
    rng: np.random.Generator, shape: tuple[int, ...], sparsity: WeightSparsity
) -> np.ndarray:
    """Boolean nonzero map ``[..., M, K]`` of pruned weights."""
    *lead, M, K = shape
    if sparsity.pattern == "unstructured":
        return _bernoulli(rng, tuple(shape), sparsity.density)
    if sparsity.pattern == "channel":
        keep = round(sparsity.density * M)
        order = rng.random(tuple(lead) + (M,)).argsort(axis=-1)
        rows = order < keep  # a random subset of exactly `keep` channels
        return np.broadcast_to(rows[..., None], tuple(shape)).copy()
    n, m = sparsity.n, sparsity.m
    groups = -(-K // m)
    if math.comb(m, n) <= _MAX_NM_TABLE:  # pick one of the ways to keep n of m: a gather
        table = _nm_table(n, m)
        kept = table[rng.integers(0, len(table), size=tuple(lead) + (M, groups))]
    else:  # too many ways to list: keep the n smallest of m random keys
        keys = rng.random(tuple(lead) + (M, groups, m), dtype=np.float32)
        kept = np.zeros(keys.shape, dtype=bool)
        np.put_along_axis(kept, np.argpartition(keys, n - 1, axis=-1)[..., :n], True, -1)
    return kept.reshape(tuple(lead) + (M, groups * m))[..., :K]


_MAX_NM_TABLE = 4096


@functools.lru_cache(maxsize=32)
def _nm_table(n: int, m: int) -> np.ndarray:
    """Every way to keep n of m positions, one row each."""
    table = np.zeros((math.comb(m, n), m), dtype=bool)
    for i, kept in enumerate(combinations(range(m), n)):
        table[i, list(kept)] = True
    table.flags.writeable = False
    return table


def random_weights(
    rng: np.random.Generator, shape: tuple[int, ...], sparsity: WeightSparsity, w_bits: int = 8
) -> np.ndarray:
    """Signed integer weights with the requested pattern; kept weights are never zero."""
    hi = (1 << (w_bits - 1)) - 1
    magnitude = rng.integers(1, hi + 1, size=shape)
    sign = np.where(rng.random(shape) < 0.5, -1, 1)
    return np.where(weight_nonzeros(rng, shape, sparsity), sign * magnitude, 0).astype(np.int64)


def random_acts(
    rng: np.random.Generator, shape: tuple[int, ...], density: float, a_bits: int = 8
) -> np.ndarray:
    """ReLU-like activations: zero with probability ``1 - density``, else in 1..2**(a-1)-1."""
    _check_density("activation density", density)
    hi = (1 << (a_bits - 1)) - 1
    values = rng.integers(1, hi + 1, size=shape)
    return np.where(_bernoulli(rng, tuple(shape), density), values, 0).astype(np.int64)


def layer_weight_pattern(
    rng: np.random.Generator, layer: Layer, cfg: ArrayConfig, sparsity: WeightSparsity
) -> WeightPattern:
    """Pattern of a layer's pruned weights, all groups at once."""
    nz = weight_nonzeros(rng, (layer.groups, layer.m_per_group, layer.K), sparsity)
    return weight_pattern(nz, cfg.block)


def _binomial_counts(
    rng: np.random.Generator, shape: tuple[int, ...], n: int, p: float
) -> np.ndarray:
    """Binomial(n, p) draws by inverse CDF on 32-bit uniforms (much faster than numpy's)."""
    k = np.arange(n + 1)
    pmf = np.array([math.comb(n, int(i)) for i in k], float) * p**k * (1.0 - p) ** (n - k)
    cdf = np.minimum(np.cumsum(pmf)[:-1], 1.0)
    thresholds = np.round(cdf * 2.0**32).astype(np.uint64)
    u = rng.integers(0, 1 << 32, size=shape, dtype=np.uint64)
    return np.searchsorted(thresholds, u, side="right").astype(np.uint8 if n < 256 else np.int32)


def _window_row_counts(
    rng: np.random.Generator, layer: Layer, cfg: ArrayConfig, density: float
) -> np.ndarray:
    """Nonzero activations per window row ``[G, ntn, K]`` (each value independently)."""
    _check_density("activation density", density)
    G, K, N, C = layer.groups, layer.K, layer.N, cfg.cols
    ntn = -(-N // C)
    counts = np.empty((G, ntn, K), dtype=np.int32)
    full, tail = divmod(N, C)
    if full:
        counts[:, :full] = _binomial_counts(rng, (G, full, K), C, density)
    if tail:
        counts[:, full] = _binomial_counts(rng, (G, K), tail, density)
    return counts


def layer_act_pattern(
    rng: np.random.Generator, layer: Layer, cfg: ArrayConfig, density: float
) -> ActPattern:
    """Activity masks and nonzero counts of a layer's im2col input, drawn directly.

    Equivalent in distribution to ``act_pattern(random_acts(...))`` (each value nonzero
    independently), at a fraction of the cost: only the per-window-row counts are drawn.
    """
    counts = _window_row_counts(rng, layer, cfg, density)
    return ActPattern(
        masks=pack_blocks(counts > 0, cfg.block),
        row_nnz=counts.sum(axis=1, dtype=np.int64),
        K=layer.K,
        N=layer.N,
        block=cfg.block,
        cols=cfg.cols,
    )


def layer_operands(
    rng: np.random.Generator,
    layer: Layer,
    cfg: ArrayConfig,
    sparsity: WeightSparsity,
    act_density: float,
    values: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer ``W [G, Mg, K]`` and ``X [G, K, N]`` whose patterns are exactly the ones
    :func:`layer_weight_pattern` and :func:`layer_act_pattern` draw from ``rng`` (called
    in that order, as ``simulate_network`` does): so the RTL can run the very layer the
    simulator timed. ``values`` draws what patterns leave open: the nonzero values and
    which columns of a window row hold its nonzeros."""
    G, Mg, K, N, C = layer.groups, layer.m_per_group, layer.K, layer.N, cfg.cols
    nz = weight_nonzeros(rng, (G, Mg, K), sparsity)
    counts = _window_row_counts(rng, layer, cfg, act_density)  # [G, ntn, K]
    w_hi, a_hi = (1 << (cfg.w_bits - 1)) - 1, (1 << (cfg.a_bits - 1)) - 1
    sign = np.where(values.random((G, Mg, K)) < 0.5, -1, 1)
    W = np.where(nz, sign * values.integers(1, w_hi + 1, size=(G, Mg, K)), 0)
    ntn = counts.shape[1]
    keys = values.random((G, K, ntn * C), dtype=np.float32)
    keys[:, :, N:] = 2.0  # padding columns of the last tile rank after every real one
    rank = keys.reshape(G, K, ntn, C).argsort(axis=-1).argsort(axis=-1)
    on = rank < counts.transpose(0, 2, 1)[..., None]  # the count's lowest keys are nonzero
    X = np.where(
        on.reshape(G, K, ntn * C), values.integers(1, a_hi + 1, size=on.shape[:2] + (ntn * C,)), 0
    )
    return W.astype(np.int64), X[:, :, :N].astype(np.int64)
