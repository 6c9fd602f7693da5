"""Memory traffic around the core, per level, and the cycles it needs.

Levels: DRAM, the global buffer (GLB) and the array (row weight memories, window queue,
output buffer). What crosses each level is charged in its encoded size, masks included:
compressed weights and windows when zeros are skipped, dense values otherwise. Feature
maps in DRAM and the GLB are stored as a bitmap (one bit per value) plus the nonzero
values when activations are skipped, dense otherwise; each feature map falls back to its
dense form where that is smaller (a format flag per tensor). Weights move as the packed
stream the array takes (``accel.wstream``: biases, masks and nonzeros, each item padded
to whole lane words), which is what DRAM and the GLB hold. A layer's outputs are charged at
``output_density`` (the next layer's input density). The model is a
roofline per layer: transfers are double-buffered and overlap compute, so a layer takes
``max(core, dram, glb)`` cycles and the excess over the core is reported as stall.
The memory system is modelled here only; the v1 RTL has none (contract, section 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..encode import ActPattern, WeightPattern
from ..workloads.layer import Layer
from ..wstream import LoadProfile
from .latency import weight_loads
from .schedule import Counters

__all__ = ["Traffic", "traffic"]


@dataclass(frozen=True)
class Traffic:
    """Bits moved at each level, by kind of data, and the cycles each level needs."""

    dram: dict[str, int]
    glb: dict[str, int]
    array: dict[str, int]
    input_passes: int
    dram_cycles: int
    glb_cycles: int

    def bytes_by_level(self) -> dict[str, float]:
        return {
            "dram": sum(self.dram.values()) / 8,
            "glb": sum(self.glb.values()) / 8,
            "array": sum(self.array.values()) / 8,
        }


def traffic(
    config: Config,
    layer: Layer,
    wp: WeightPattern,
    ap: ActPattern,
    counters: Counters,
    output_density: float | None = None,
    loads: LoadProfile | None = None,
) -> Traffic:
    """Bits per level for one layer on ``config`` (its skip modes decide the encodings);
    ``loads`` is the layer's weight-stream profile when the caller already has it."""
    cfg, sys = config.array, config.system
    G, Mg, nb = wp.masks.shape
    B, C, R = cfg.block, cfg.cols, cfg.rows
    ntm = -(-Mg // R)
    ntn = ap.masks.shape[1]

    # weights move as the packed stream the array takes (masks, nonzeros and biases, each
    # item padded to the lane's words), from DRAM through the GLB into the row memories
    weight_bits = (loads or weight_loads(cfg, wp)).stream_bits
    if cfg.skip_acts:
        active_rows = int(np.bitwise_count(ap.masks).sum(dtype=np.int64))
        window_bits = G * ntn * nb * B + active_rows * C * cfg.a_bits
    else:
        window_bits = G * ntn * nb * B * C * cfg.a_bits
    window_bits *= ntm  # every row tile streams every window again

    input_bits = layer.input_elems * cfg.a_bits
    output_bits = layer.output_elems * cfg.a_bits
    if cfg.skip_acts:  # bitmap + nonzeros, where that is smaller than the dense map
        out_density = ap.density if output_density is None else output_density
        input_bits = min(round(layer.input_elems * (1 + ap.density * cfg.a_bits)), input_bits)
        output_bits = min(round(layer.output_elems * (1 + out_density * cfg.a_bits)), output_bits)
    # Outputs stream through to DRAM; the input must stay resident in the GLB for every
    # row tile to reuse it, or it is fetched again for each row tile.
    passes = 1 if input_bits / 8 <= sys.glb_bytes else ntm

    dram = {"weights": weight_bits, "inputs": input_bits * passes, "outputs": output_bits}
    glb = {
        "weights": 2 * weight_bits,  # written from DRAM, read into the row memories
        "inputs": input_bits * passes + window_bits,  # written from DRAM, read as windows
        "outputs": 2 * output_bits,  # written by the array, read for DRAM
    }
    mask_reads = counters.windows * R * B if cfg.skip_weights else 0
    array = {
        "weights": counters.weight_reads * cfg.w_bits + mask_reads,
        "windows": window_bits + counters.weight_reads * C * cfg.a_bits,  # queue write, reads
        "outputs": counters.outputs * cfg.acc_bits,
    }
    dram_bytes = sum(dram.values()) / 8
    glb_bytes = sum(glb.values()) / 8
    return Traffic(
        dram=dram,
        glb=glb,
        array=array,
        input_passes=passes,
        dram_cycles=math.ceil(dram_bytes / sys.dram_bytes_per_cycle),
        glb_cycles=math.ceil(glb_bytes / sys.glb_bytes_per_cycle),
    )
