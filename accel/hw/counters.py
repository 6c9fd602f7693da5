"""The event counters of the contract's section 6, as hardware counters."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .params import check_config, check_int

__all__ = ["COUNTER_NAMES", "EventCounters"]

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


class EventCounters(wiring.Component):
    """Accumulates per-cycle event counts; ``clear`` zeroes them (at a layer's start).

    Inputs per cycle: ``window_issued``, ``lanes_issued`` (weights read, all rows),
    ``lanes_effectual`` (MACs with both operands nonzero, all PEs), ``rows_busy`` and
    ``rows_idle`` (rows working / not working in a tile's compute cycles), ``output_beat`` (a
    result beat of ``cols`` values left). ``macs_issued`` is ``weight_reads x cols`` and
    ``macs_gated`` the issued MACs that were not effectual, both counted as they happen.
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
        increments = {
            "windows": self.window_issued,
            "weight_reads": self.lanes_issued,
            "macs_issued": self.lanes_issued * C,
            "macs_effectual": self.lanes_effectual,
            "macs_gated": self.lanes_issued * C - self.lanes_effectual,
            "row_busy_cycles": self.rows_busy,
            "row_idle_cycles": self.rows_idle,
            "outputs": self.output_beat * C,
        }
        for name, step in increments.items():
            count = Signal(self._width, name=name)
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(count + step)
            m.d.comb += getattr(self, name).eq(count)
        return m
