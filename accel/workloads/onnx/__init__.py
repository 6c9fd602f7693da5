"""ONNX models as workloads: every node the lowering table knows becomes one or more
:class:`~accel.workloads.layer.Layer` s on the array.

- :mod:`.load`: reading the file (external data too) and fixing every tensor's shape;
- :mod:`.constants`: weights from initializers and constant subgraphs;
- :mod:`.ops`: the lowering table, one small function per operator;
- :mod:`.capture`: real activations from an onnxruntime run on ``--input``;
- :mod:`.patterns`: the patterns and operands the simulator and the RTL take.

Only NumPy and ``onnx`` are needed to lower a model; onnxruntime only to run it.
"""

from ...quant import quantize_activation
from .capture import capture, load_input
from .lower import load_onnx
from .model import OnnxLayer, OnnxModel
from .ops import SUPPORTED_OPS
from .patterns import (
    LayerPatterns,
    act_pattern_chunked,
    layer_operands,
    layer_patterns,
    lower_activation,
)

__all__ = [
    "SUPPORTED_OPS",
    "LayerPatterns",
    "OnnxLayer",
    "OnnxModel",
    "act_pattern_chunked",
    "capture",
    "layer_operands",
    "layer_patterns",
    "load_input",
    "load_onnx",
    "lower_activation",
    "quantize_activation",
]
