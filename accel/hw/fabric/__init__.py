"""Fabric primitives behind small, fabric-independent interfaces.

The arrays instantiate these units, never a vendor primitive directly: ``fabric`` selects
a description in plain Amaranth (``"generic"``: the simulators, any FPGA, Yosys infers
what it can) or the family's hard blocks instantiated with their registers on (``"ecp5"``:
MULT18X18D, DP16KD; ``"ice40"``: SB_MAC16). Every variant has the same latency in cycles,
so the generic description simulated against the golden model times exactly what the
instantiated one does on the device.
"""

from .adder import ClearingAdder
from .block_ram import BLOCK_RAM_LATENCY, BlockRAM
from .fanout import FanoutRegister
from .multiplier import MULTIPLIER_LATENCY, Multiplier
from .names import FABRICS, check_fabric

__all__ = [
    "BLOCK_RAM_LATENCY",
    "BlockRAM",
    "ClearingAdder",
    "FABRICS",
    "FanoutRegister",
    "MULTIPLIER_LATENCY",
    "Multiplier",
    "check_fabric",
]
