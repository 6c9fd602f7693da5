"""The layers every co-simulation runs: random, structured, real-layer slices, edges."""

from __future__ import annotations

import numpy as np

from accel.config import ArrayConfig
from accel.cosim.runner import Case
from accel.workloads.sparsity import WeightSparsity, random_acts, random_weights
from accel.workloads.zoo import get_network

MAX_BLOCKS = 192

CONFIGS = {
    # two PE rows per result beat, a 64-bit weight stream in two lanes
    "4x4-B8-D2-L1-sparse-out2-bus64x2": ArrayConfig(
        rows=4, cols=4, block=8, queue_depth=2, result_rows=2, weight_bus_bits=64, weight_lanes=2
    ),
    "2x8-B16-D3-L2-weights": ArrayConfig(
        rows=2, cols=8, block=16, queue_depth=3, lanes=2, skip_acts=False
    ),
    # 16-bit accumulators, so that the acc-wrap layer really wraps (32 bits would need K > 2**17)
    "4x2-B4-D1-L1-acts-acc16": ArrayConfig(
        rows=4, cols=2, block=4, queue_depth=1, skip_weights=False, acc_bits=16
    ),
    "3x3-B8-D2-L4-dense": ArrayConfig(
        rows=3, cols=3, block=8, queue_depth=2, lanes=4, skip_weights=False, skip_acts=False
    ),
    # the dense reference dataflow, two rows per result beat
    "dataflow-dense-4x4-B4-out2-bus64x2": ArrayConfig(
        dataflow="dense", rows=4, cols=4, block=4, result_rows=2, weight_bus_bits=64,
        weight_lanes=2,
    ),  # fmt: skip
}


def _layer(name: str, network: str, **params):
    return next(layer for layer in get_network(network, **params) if layer.name == name)


def cases_for(cfg: ArrayConfig, seed: int = 0, *, real: bool = True) -> list[Case]:
    """Layers for one configuration, run back to back in one simulation."""
    rng = np.random.default_rng([seed, cfg.rows, cfg.cols, cfg.block])
    R, C, B = cfg.rows, cfg.cols, cfg.block
    out: list[Case] = []

    def add(name, M, K, N, sparsity, act_density, **kw):
        W = random_weights(rng, (M, K), sparsity, cfg.w_bits)
        X = random_acts(rng, (K, N), act_density, cfg.a_bits)
        out.append(Case(name, W, X, **kw))

    for wd, ad in ((0.1, 0.3), (0.4, 0.6), (0.8, 0.9)):
        add(
            f"random-w{wd}-a{ad}",
            2 * R + 1,
            3 * B + 2,
            2 * C + 1,
            WeightSparsity("unstructured", wd),
            ad,
        )
    add("nm-2:4", 2 * R, 4 * B, 2 * C, WeightSparsity("nm", 0.5, 2, 4), 1.0)
    add("nm-1:4", R + 1, 2 * B + 3, C + 1, WeightSparsity("nm", 0.25, 1, 4), 0.5)
    add("channel-0.5", 3 * R, 2 * B, C, WeightSparsity("channel", 0.5), 0.7)
    add("zero-weights", R + 1, B + 1, C + 1, WeightSparsity("unstructured", 0.0), 0.8)
    add("zero-acts", R + 1, B + 1, C + 1, WeightSparsity("unstructured", 0.7), 0.0)
    add("dense", R + 1, 2 * B - 1, C + 2, WeightSparsity("unstructured", 1.0), 1.0)
    add("ragged-1x1x1", 1, 1, 1, WeightSparsity("unstructured", 1.0), 1.0)
    add(
        "bias-relu-requant",
        2 * R - 1,
        2 * B + 1,
        2 * C - 1,
        WeightSparsity("unstructured", 0.5),
        0.6,
        relu=True,
        shift=4,
        bias=None,
    )
    out[-1] = Case(
        out[-1].name,
        out[-1].W,
        out[-1].X,
        bias=rng.integers(-3000, 3000, out[-1].W.shape[0]),
        relu=True,
        shift=4,
    )
    lo_w, lo_a = -(1 << (cfg.w_bits - 1)), -(1 << (cfg.a_bits - 1))
    K = min(MAX_BLOCKS * B, 1 << 10)
    out.append(Case("acc-wrap", np.full((R, K), lo_w), np.full((K, C), lo_a)))
    if real:
        conv = _layer("layer1.0.conv2", "resnet50")  # 3x3, 64 -> 64, K = 576
        add(
            "resnet50.layer1.0.conv2[N=2C]",
            conv.M,
            conv.K,
            2 * C,
            WeightSparsity("unstructured", 0.3),
            0.5,
        )
        proj = _layer("enc0.q", "bert_base", seq_len=128)  # 768 -> 768
        add("bert.enc0.q[M=64,N=C]", 64, proj.K, C, WeightSparsity("unstructured", 0.3), 0.8)
    return out
