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

OUTPUT_STAGES = 3
"""Registers between the output buffer and the results port (bias, then the shift, then
rounding, saturation and ReLU): the last result leaves this many cycles after it left
the buffer."""

# The dense reference dataflow (``accel.hw.dense_top``): one K row issued per cycle.

DENSE_READ = 2
"""A row's weight record read from block RAM, with the RAM's output register
(``fabric.BLOCK_RAM_LATENCY``)."""

DENSE_OPERANDS = 1
"""The weight picked from the record and the activation row, registered: the operands
every PE of a row or column shares."""

DENSE_PRODUCT = 3 + 2
"""The multiplier's input, pipeline and output registers (``fabric.MULTIPLIER_LATENCY``),
then two fabric registers that carry the product away from the DSP."""

DENSE_ACCUMULATE = 2
"""The accumulator in two halves: the low half adds the product, the high half its carry
and sign one cycle later."""

DENSE_LANDING = DENSE_READ + DENSE_OPERANDS + DENSE_PRODUCT + DENSE_ACCUMULATE
"""From a tile's last row issued to its capture (the high half in the output buffer)."""

DENSE_DRAIN = 1
"""The dense array's drain register between its output buffer's row multiplexer and the
output stages: its results leave one cycle later than the queued array's."""
