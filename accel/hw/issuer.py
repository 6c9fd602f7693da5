"""The window issuer: takes activation windows in, marks their active rows, issues
``blocks`` of them per tile into the queue, at most one per cycle."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .layouts import queue_entry, window_beat
from .params import check_config, check_int

__all__ = ["WindowIssuer"]


class WindowIssuer(wiring.Component):
    """Passes windows from ``i`` to ``o`` while ``run`` and fewer than ``blocks`` went out.

    The activity mask is made here: bit j is set iff any of the ``cols`` values of row j
    is nonzero (``skip_acts``), or always (dense activations). ``issued`` pulses with
    every window issued; the count restarts whenever ``run`` is low (between tiles).
    """

    def __init__(self, config: ArrayConfig, *, max_blocks: int):
        self._config = cfg = check_config(config)
        self._max_blocks = check_int("max_blocks", max_blocks, 1)
        super().__init__(
            {
                "i": In(stream.Signature(window_beat(cfg))),
                "o": Out(stream.Signature(queue_entry(cfg))),
                "run": In(1),
                "blocks": In(range(max_blocks + 1)),
                "issued": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        count = Signal(range(self._max_blocks + 1))
        more = self.run & (count < self.blocks)
        m.d.comb += [
            self.o.valid.eq(self.i.valid & more),
            self.i.ready.eq(self.o.ready & more),
            self.issued.eq(self.o.valid & self.o.ready),
        ]
        rows = self.i.payload.rows
        # The payload is assigned as one vector: an event-driven simulator resolves a
        # vector assigned in parts anew, whole, on every change of any part.
        if cfg.skip_acts:
            # a window row is active iff any of its C values has a bit set: one OR tree
            active = Cat(rows[j].as_value().any() for j in range(cfg.block))
            m.d.comb += self.o.payload.as_value().eq(Cat(rows.as_value(), active))
        else:  # dense: no mask at all
            m.d.comb += self.o.payload.as_value().eq(rows.as_value())
        with m.If(~self.run):
            m.d.sync += count.eq(0)
        with m.Elif(self.issued):
            m.d.sync += count.eq(count + 1)
        return m
