"""The lowering table: ONNX operator -> a small function that returns its layers.

Adding an operator is one function in one module here and one entry in its module's
``LOWERINGS``. Operators in ``PASS_THROUGH_OPS`` cost no MACs on the array and are
followed for shapes only; any other operator is refused by name with its nodes.
"""

from __future__ import annotations

from ..context import Lowering
from . import conv, conv_transpose, einsum, gemm, quantized, rnn

__all__ = ["DOMAIN_PASS_THROUGH_OPS", "LOWERINGS", "PASS_THROUGH_OPS", "SUPPORTED_OPS",
           "op_key"]  # fmt: skip

LOWERINGS: dict[str, Lowering] = {**conv.LOWERINGS, **gemm.LOWERINGS, **einsum.LOWERINGS}
LOWERINGS.update(conv_transpose.LOWERINGS)
LOWERINGS.update(rnn.LOWERINGS)  # LSTM, GRU, DynamicQuantizeLSTM: one GEMM per step
# The model's own integers: QOperator nodes, and a QDQ graph's float Conv/Gemm/MatMul
# taking the integers in front of their DequantizeLinear inputs (float graphs unchanged).
LOWERINGS.update(quantized.LOWERINGS)
LOWERINGS.update({op: quantized.qdq(LOWERINGS[op]) for op in quantized.QDQ_OPS if op in LOWERINGS})

# Operators that cost no MACs on the array: followed for shapes only.
# fmt: off
PASS_THROUGH_OPS = frozenset(
    {
        "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan",
        "Atanh", "AveragePool", "BatchNormalization", "Bernoulli", "BitShift", "BitwiseAnd",
        "BitwiseNot", "BitwiseOr", "BitwiseXor", "Cast", "CastLike", "Ceil", "Celu",
        "CenterCropPad", "Clip", "Col2Im", "Compress", "Concat", "ConcatFromSequence",
        "Constant", "ConstantOfShape", "Cos", "Cosh", "CumSum", "DepthToSpace", "Div",
        "Dropout", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor",
        "Gather", "GatherElements", "GatherND", "Gelu", "GlobalAveragePool", "GlobalLpPool",
        "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "GroupNormalization",
        "HardSigmoid", "HardSwish", "Hardmax", "Identity", "InstanceNormalization", "IsInf",
        "IsNaN", "LRN", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log",
        "LogSoftmax", "Loop", "LpNormalization", "LpPool", "Max", "MaxPool", "MaxUnpool",
        "Mean", "MeanVarianceNormalization", "Min", "Mish", "Mod", "Mul", "Neg",
        "NonMaxSuppression", "NonZero", "Not", "OneHot", "Optional", "OptionalGetElement",
        "OptionalHasElement", "Or", "PRelu", "Pad", "Pow", "RMSNormalization",
        "RandomNormalLike", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1",
        "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
        "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence",
        "RoiAlign", "Round", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu",
        "SequenceAt", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice",
        "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "SplitToSequence",
        "Sqrt", "Squeeze", "Sub", "Sum", "Swish", "Tan", "Tanh", "ThresholdedRelu", "Tile",
        "TopK", "Transpose", "Trilu", "Unique", "Unsqueeze", "Upsample", "Where", "Xor",
    }
)
# fmt: on
PASS_THROUGH_OPS = PASS_THROUGH_OPS | quantized.PASS_THROUGH_OPS
# Other domains' operators followed the same way, by op_key ("com.microsoft.QLinearAdd").
DOMAIN_PASS_THROUGH_OPS: frozenset[str] = frozenset(quantized.DOMAIN_PASS_THROUGH_OPS)
SUPPORTED_OPS = frozenset(LOWERINGS) | PASS_THROUGH_OPS | DOMAIN_PASS_THROUGH_OPS


def op_key(node) -> str:
    """``Conv`` for the standard domain, ``com.microsoft.QGemm`` for any other."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
