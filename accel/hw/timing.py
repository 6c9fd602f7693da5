"""The datapath's pipeline, in cycles: what the top level waits for and the counters align.

The performance model keeps its own copy of ``MAC_PIPELINE`` (``accel.perf.latency``:
the two packages never import each other); the tests hold the two equal, and the
cycle-exact tests would fail if they differed.
"""

SELECT = 1
"""Positions chosen (the selector, from the masks) and registered as one-hot vectors."""

PICK = 1
"""Weight and activations picked by those one-hot vectors, and registered."""

PE_STAGES = 3
"""In the PE: gated operand registers, the product register, the accumulator."""

MAC_PIPELINE = SELECT + PICK + PE_STAGES
"""From a row's last work cycle to its last product in the accumulator."""

EFFECTUAL_DELAY = SELECT + PICK + 1 + 1
"""From a MAC's issue to the row's registered count of effectual MACs (the PE's gate
register, then the row's sum register)."""

OUTPUT_STAGES = 2
"""Registers between the output buffer and the results port (bias and ReLU, then
requantisation): the last result leaves this many cycles after it left the buffer."""
