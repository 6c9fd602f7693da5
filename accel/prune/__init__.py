"""Pruning in pure NumPy: masks for the patterns the array skips, a gradual schedule for
training loops, soft thresholding for L1, and pruning of ``.npz``/``.onnx`` files.

Every weight tensor has its output channels on axis 0 (OIHW conv, ``[out, in]`` linear);
structured patterns work on its GEMM view ``w.reshape(O, K)``, K in (in-channel, kh, kw)
order, as :func:`accel.golden.im2col` lowers convolutions. Masks are boolean arrays of
the weight's shape, True = keep. ``onnx`` is imported only when an ONNX file is pruned.
"""

from .arguments import check_sparsity, gemm_view
from .files import PruneResult, PruneSpec, TensorResult, prune_file
from .gradual import GradualPruner, cubic_sparsity
from .masks import (
    apply_mask,
    block_mask,
    channel_mask,
    global_magnitude_masks,
    magnitude_mask,
    nm_mask,
)
from .patterns import check_blocks, check_channels, check_nm, sparsity, zero_blocks, zero_channels
from .proximal import l1_penalty, l1_subgradient, soft_threshold

__all__ = [
    "magnitude_mask",
    "global_magnitude_masks",
    "nm_mask",
    "channel_mask",
    "block_mask",
    "apply_mask",
    "gemm_view",
    "check_sparsity",
    "cubic_sparsity",
    "GradualPruner",
    "soft_threshold",
    "l1_penalty",
    "l1_subgradient",
    "sparsity",
    "check_nm",
    "zero_channels",
    "check_channels",
    "zero_blocks",
    "check_blocks",
    "PruneSpec",
    "PruneResult",
    "TensorResult",
    "prune_file",
]
