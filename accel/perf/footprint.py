"""What simulating a layer costs, known from its shape before anything is allocated.

Memory: the weight and activation patterns grow with the layer's weights and window rows,
the schedule with its padded weight blocks and one chunk of row-block steps
(``schedule.CHUNK_STEPS``); the coefficients are bytes per element of each, fitted with
``tracemalloc`` on VGG-16, BERT-base, ResNet-50 and MobileNetV2 layers (the estimate is
within 0.4-1.2x of the measured peak). Time grows with the row-block steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import ArrayConfig
from ..limits import check_bytes, gib
from ..workloads.layer import Layer
from .schedule import CHUNK_STEPS, steps

__all__ = ["STEPS_PER_SECOND", "check_fits", "describe_time", "layer_bytes", "network_steps"]

STEPS_PER_SECOND = 40e6  # row-block steps a second on one core here (bench/simulator_speed)


def layer_bytes(cfg: ArrayConfig, layer: Layer) -> int:
    """Peak bytes of ``simulate_layer`` on ``layer`` with drawn patterns (an estimate)."""
    R, C, B = cfg.rows, cfg.cols, cfg.block
    G, Mg, K, N = layer.groups, layer.m_per_group, layer.K, layer.N
    ntm, ntn, nb = -(-Mg // R), -(-N // C), -(-K // B)
    weights, weight_blocks = G * Mg * K, G * ntm * R * nb
    window_rows, window_blocks = G * ntn * K, G * ntn * nb
    chunk = min(CHUNK_STEPS, steps(cfg, G, Mg, K, N))
    return int(1.2 * (4 * weights + 24 * weight_blocks + 20 * window_rows
                      + 16 * window_blocks + 14 * chunk))  # fmt: skip


def check_fits(cfg: ArrayConfig, layers: Sequence[Layer], extra: int = 0) -> None:
    """Refuse, before the first layer, a run whose largest layer would not fit in memory
    (``extra``: what the caller holds besides, such as a GEMM's operands)."""
    if not layers:
        return
    need, layer = max(((layer_bytes(cfg, L), L) for L in layers), key=lambda t: t[0])
    check_bytes(
        need + extra,
        f"layer {layer.name} (G={layer.groups}, M={layer.M}, K={layer.K}, N={layer.N})",
        "a smaller --batch, --image or --seq-len, or a larger --block or --cols, needs less",
    )


def network_steps(cfg: ArrayConfig, layers: Sequence[Layer]) -> int:
    return sum(steps(cfg, L.groups, L.m_per_group, L.K, L.N) for L in layers)


def describe_time(cfg: ArrayConfig, layers: Sequence[Layer]) -> str | None:
    """One line for a run expected to take over a minute (what it is told up front)."""
    n = network_steps(cfg, layers)
    seconds = n / STEPS_PER_SECOND
    if seconds < 60:
        return None
    return (
        f"{n / 1e9:.1f} G row-block steps to schedule: about {seconds / 60:.0f} min "
        f"on one core (memory at most {gib(max(layer_bytes(cfg, L) for L in layers))})"
    )
