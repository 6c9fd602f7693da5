"""Co-simulation of the generated Verilog with cocotb on Icarus and Verilator.

``runner`` builds a configuration's Verilog once per simulator (cached build folder)
and runs layers on it; ``testbench`` is the cocotb side: stream drivers and a monitor
with random gaps and back-pressure, the host driver, golden model and simulator of
``accel`` as the reference. Both ``sim/`` (pytest) and ``accel verify`` use them.
"""
