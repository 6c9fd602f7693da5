"""Co-simulation of the generated Verilog on Icarus and Verilator.

``harness`` is the file-driven Verilog testbench (no VPI, no Python per cycle) that
``accel verify`` and ``workload`` run whole networks on; ``runner`` and ``testbench``
are the cocotb side (waveforms, Python-driven stalls); ``checks`` judges a layer for
both against the golden model and the simulator. ``sim/`` (pytest) uses all of them.
"""
