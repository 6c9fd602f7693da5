"""The lowering table: ONNX operator -> a small function that returns its layers.

Adding an operator is one function in one module here and one entry in its module's
``LOWERINGS``. Operators in ``PASS_THROUGH_OPS`` cost no MACs on the array and are
followed for shapes only; any other operator is refused by name with its nodes.
"""

from __future__ import annotations

from ..context import Lowering
from . import conv, gemm

__all__ = ["LOWERINGS", "PASS_THROUGH_OPS", "SUPPORTED_OPS", "op_key"]

LOWERINGS: dict[str, Lowering] = {**conv.LOWERINGS, **gemm.LOWERINGS}

# Operators that cost no MACs on the array: followed for shapes only.
# fmt: off
PASS_THROUGH_OPS = frozenset(
    {
        "Abs", "Acos", "Add", "And", "ArgMax", "ArgMin", "AveragePool",
        "BatchNormalization", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat",
        "Constant", "ConstantOfShape", "DepthToSpace", "Div", "Dropout", "Elu", "Equal",
        "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
        "Gelu", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater",
        "GreaterOrEqual", "GroupNormalization", "HardSigmoid", "HardSwish", "Identity",
        "InstanceNormalization", "LRN", "LayerNormalization", "LeakyRelu", "Less",
        "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "LpPool", "Max", "MaxPool",
        "Mean", "Min", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "PRelu", "Pad", "Pow",
        "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMax",
        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
        "Reshape", "Resize", "Round", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin",
        "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt",
        "Squeeze", "Sub", "Sum", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
        "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
    }
)
# fmt: on
SUPPORTED_OPS = frozenset(LOWERINGS) | PASS_THROUGH_OPS


def op_key(node) -> str:
    """``Conv`` for the standard domain, ``com.microsoft.QGemm`` for any other."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
