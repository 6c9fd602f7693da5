"""Layer by layer, what the simulator and the RTL need of an imported model: weight and
activation patterns (:func:`layer_patterns`) or the integer operands themselves
(:func:`layer_operands`), from captured activations or synthetic ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ...config import ArrayConfig
from ...encode import ActPattern, WeightPattern, pack_blocks, weight_pattern
from ..sparsity import WeightSparsity, layer_act_pattern, layer_weight_pattern
from .model import OnnxLayer, OnnxModel, forget_quantized

__all__ = ["LayerPatterns", "act_pattern_chunked", "layer_operands", "layer_patterns",
           "lower_activation"]  # fmt: skip

_K_CHUNK_ELEMS = 1 << 23  # activation window counts formed this many values at a time


def lower_activation(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """A layer's integer input tensor as the array's ``X [G, K, N]``."""
    return item.x_lowering(item, q)


def act_pattern_chunked(X: np.ndarray, block: int, cols: int) -> ActPattern:
    """``encode.act_pattern`` of ``X [G, K, N]`` with the window counts formed a slice of K
    at a time, so that a large im2col never needs an int64 copy."""
    G, K, N = X.shape
    ntn = -(-N // cols)
    counts = np.empty((G, ntn, K), dtype=np.int32)
    step = max(1, _K_CHUNK_ELEMS // max(G * ntn * cols, 1))
    for k0 in range(0, K, step):
        nz = np.zeros((G, min(step, K - k0), ntn * cols), dtype=np.int32)
        nz[:, :, :N] = X[:, k0 : k0 + step] != 0
        counts[:, :, k0 : k0 + step] = nz.reshape(G, -1, ntn, cols).sum(axis=-1).transpose(0, 2, 1)
    return ActPattern(
        masks=pack_blocks(counts > 0, block),
        row_nnz=counts.sum(axis=1, dtype=np.int64),
        K=K,
        N=N,
        block=block,
        cols=cols,
    )


def _dynamic_w(item: OnnxLayer, tensors: dict[str, np.ndarray], a_bits: int) -> np.ndarray:
    assert item.weight_input is not None and item.w_lowering is not None
    return item.w_lowering(item, item.weight_ints(tensors[item.weight_input], a_bits))


@dataclass(frozen=True)
class LayerPatterns:
    """What the simulator needs of one layer: its patterns and the output density to charge
    (None: the simulator's default, the input's density)."""

    item: OnnxLayer
    weights: WeightPattern
    acts: ActPattern
    output_density: float | None


def layer_patterns(
    model: OnnxModel,
    cfg: ArrayConfig,
    act_density: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> Iterator[LayerPatterns]:
    """Weight and activation patterns of every layer, in graph order, one at a time.

    Weights are the model's own integers for a quantised graph, else its float weights
    quantised to ``cfg.w_bits`` per output channel. Without ``model.feeds`` the
    activations are synthetic at ``act_density``, layer i drawing from ``(seed, i)`` (a
    MatMul of two activations draws its left operand at ``act_density`` too). With them
    the model runs on onnxruntime and each layer's captured input, as the integers the
    array sees (:meth:`OnnxLayer.act_ints`), is the X.
    """
    total = len(model.layers)
    if model.feeds is None:
        for i, item in enumerate(model.layers):
            if progress:
                progress(i, total, item.node)
            rng = np.random.default_rng([seed, i])
            if item.layer.dynamic_weights:
                wp = layer_weight_pattern(
                    rng, item.layer, cfg, WeightSparsity("unstructured", act_density)
                )
            else:
                wp = item.weight_pattern(cfg)
            ap = layer_act_pattern(rng, item.layer, cfg, act_density)
            yield LayerPatterns(item, wp, ap, act_density)
    else:
        from .capture import capture

        for i, (item, tensors) in enumerate(capture(model)):
            if progress:
                progress(i, total, item.node)
            X = item.gemm_x(tensors[item.act_input], cfg.a_bits)
            ap = act_pattern_chunked(X, cfg.block, cfg.cols)
            del X
            if item.layer.dynamic_weights:
                wp = weight_pattern(_dynamic_w(item, tensors, cfg.a_bits), cfg.block)
            else:
                wp = item.weight_pattern(cfg)
            yield LayerPatterns(item, wp, ap, None)
        forget_quantized()
    if progress:
        progress(total, total, "")


def layer_operands(
    model: OnnxModel,
    cfg: ArrayConfig,
    act_density: float = 1.0,
    seed: int = 0,
) -> Iterator[tuple[OnnxLayer, np.ndarray, np.ndarray]]:
    """Every layer's integer operands ``W [G, Mg, K]`` and ``X [G, K, N]``, in graph order,
    one at a time: what the RTL runs (``accel verify --onnx``). The weights are the ones
    :func:`layer_patterns` sees; the activations are captured (``model.feeds``) or drawn
    from ``(seed, i)`` at ``act_density``."""
    from ..sparsity import random_acts, random_weights

    def weights(item: OnnxLayer, rng, tensors) -> np.ndarray:
        L = item.layer
        if not L.dynamic_weights:
            q = item.quantized_weights(cfg.w_bits)
            assert q is not None
            return np.asarray(q, np.int64).reshape(L.groups, L.m_per_group, L.K)
        if tensors is None:
            shape = (L.groups, L.m_per_group, L.K)
            return random_weights(
                rng, shape, WeightSparsity("unstructured", act_density), cfg.w_bits
            )
        return _dynamic_w(item, tensors, cfg.a_bits).astype(np.int64)

    if model.feeds is None:
        for i, item in enumerate(model.layers):
            rng = np.random.default_rng([seed, i])
            L = item.layer
            W = weights(item, rng, None)
            _check_own_ints(model, item, W, None, cfg)
            yield item, W, random_acts(rng, (L.groups, L.K, L.N), act_density, cfg.a_bits)
    else:
        from .capture import capture

        for item, tensors in capture(model):
            X = np.asarray(item.gemm_x(tensors[item.act_input], cfg.a_bits), np.int64)
            W = weights(item, None, tensors)
            _check_own_ints(model, item, W, X, cfg)
            yield item, W, X
        forget_quantized()


def _signed_bits(lo: int, hi: int) -> int:
    """Bits of the smallest two's-complement integer that holds ``lo..hi``."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


def _check_own_ints(
    model: OnnxModel, item: OnnxLayer, W: np.ndarray, X: np.ndarray | None, cfg: ArrayConfig
) -> None:
    """A quantised model's integers reach the RTL as they are (nothing rescales them):
    refuse, naming the node and the range, those the array's operand widths cannot
    hold (``x - x_zp`` of uint8 with a zero point other than 0 needs 9 bits)."""
    own_w = item.int_weight is not None or (
        item.layer.dynamic_weights and item.weight_zero_point is not None and X is not None
    )
    sides = [("weights", W, cfg.w_bits, "w_bits", own_w),
             ("activations", X, cfg.a_bits, "a_bits", item.act_zero_point is not None)]  # fmt: skip
    for what, ints, bits, name, own in sides:
        if not own or ints is None or ints.size == 0:
            continue
        lo, hi = int(ints.min()), int(ints.max())
        need = _signed_bits(lo, hi)
        if need > bits:
            from ...errors import AccelError

            raise AccelError(
                f"{item.op} node {item.node!r}: the model's {what} less their zero point "
                f"span {lo}..{hi}, which needs {need}-bit signed operands; the array's "
                f"{name} is {bits} ({-(1 << (bits - 1))}..{(1 << (bits - 1)) - 1}): use an "
                f"array with {name} >= {need}",
                source=model.path,
            )
