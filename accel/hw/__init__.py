"""The zero-skipping PE array in Amaranth HDL, built from the same config as the simulator.

One hardware unit per module; ``top.Accelerator`` wires them. ``driver`` is the host side:
it turns (config, W, X) into the exact stream beats and the output beats back into Y.
This package never imports the performance model (``accel.perf``): the contract joins them.
"""
