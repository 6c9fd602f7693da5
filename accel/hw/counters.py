"""The event counters of the contract's section 6, as hardware counters."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .params import check_config, check_int
from .timing import EFFECTUAL_DELAY

__all__ = ["COUNTER_NAMES", "INPUT_LATENCY", "EventCounters"]

COUNTER_NAMES = (
    "windows",
    "weight_reads",
    "macs_issued",
    "macs_effectual",
    "macs_gated",
    "row_busy_cycles",
    "row_idle_cycles",
    "outputs",
)

INPUT_LATENCY = {
    "window_issued": 1,  # `issue` is deep logic: its counter's carry chain waits a cycle
    "lanes_issued": 1 + EFFECTUAL_DELAY,  # aligned with the effectual count
    "lanes_effectual": 1,
    "rows_busy": 1,
    "rows_idle": 1,
    "output_beat": 0,
}
"""Registers between each input and its counters' adders (a ``clear`` drops what is in
flight): an input presented in cycle t is in the counts from cycle t + 1 + latency on."""


def times(value: Value, constant: int) -> Value:
    """``value x constant`` as shifted adds: Yosys maps a product by a constant that is
    not a power of two to a DSP, which the datapath needs (and the DSP count is checked)."""
    terms = [value << k for k in range(constant.bit_length()) if constant >> k & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0)


class EventCounters(wiring.Component):
    """Accumulates per-cycle event counts; ``clear`` zeroes them (at a layer's start).

    Inputs per cycle: ``window_issued``, ``lanes_issued`` (weights read, all rows),
    ``lanes_effectual`` (MACs with both operands nonzero, all PEs), ``rows_busy`` and
    ``rows_idle`` (rows working / not working in a tile's compute cycles), ``output_beat`` (a
    result beat of ``cols`` values left). ``macs_issued`` is ``weight_reads x cols`` and
    ``macs_gated`` the issued MACs that were not effectual.

    The counts only need to be complete when ``done`` pulses, not exact in every cycle, so
    the wide per-cycle sums are registered before they are added (the counters' adders
    then start at flip-flops): ``lanes_effectual`` arrives ``timing.EFFECTUAL_DELAY``
    cycles after its MACs were issued and goes through one more register, ``lanes_issued``
    through as many to match it (``INPUT_LATENCY``); ``window_issued``, ``rows_busy`` and
    ``rows_idle`` go through one. ``output_beat`` is counted in its cycle: the last result
    beat is one cycle before ``done``. A layer's last MAC is issued ``timing.MAC_PIPELINE + 3`` or
    more cycles before its ``done``, which is more than any of these latencies.
    """

    def __init__(self, config: ArrayConfig, *, width: int = 48):
        self._config = cfg = check_config(config)
        self._width = check_int("width", width, 16, 64)
        rows_lanes = cfg.rows * cfg.lanes
        super().__init__(
            {
                "clear": In(1),
                "window_issued": In(1),
                "lanes_issued": In(range(rows_lanes + 1)),
                "lanes_effectual": In(range(rows_lanes * cfg.cols + 1)),
                "rows_busy": In(range(cfg.rows + 1)),
                "rows_idle": In(range(cfg.rows + 1)),
                "output_beat": In(1),
                **{name: Out(unsigned(width)) for name in COUNTER_NAMES},
            }
        )

    def elaborate(self, platform):
        C = self._config.cols
        m = Module()

        def late(value, name):
            """``value`` one cycle later (zero after ``clear``)."""
            reg = Signal.like(value, name=name)
            m.d.sync += reg.eq(Mux(self.clear, 0, value))
            return reg

        def delayed(name):
            value = getattr(self, name)
            for k in range(INPUT_LATENCY[name]):
                value = late(value, f"{name}_q{k}")
            return value

        issued, effectual = delayed("lanes_issued"), delayed("lanes_effectual")
        increments = {
            "windows": delayed("window_issued"),
            "weight_reads": issued,
            "macs_issued": times(issued, C),
            "macs_effectual": effectual,
            "macs_gated": times(issued, C) - effectual,
            "row_busy_cycles": delayed("rows_busy"),
            "row_idle_cycles": delayed("rows_idle"),
            "outputs": times(delayed("output_beat"), C * self._config.result_rows),
        }
        for name, step in increments.items():
            count = Signal(self._width, name=name)
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + step)
            m.d.comb += getattr(self, name).eq(count)
        return m
