"""The window queue: one shared buffer, a read pointer per row, FIFO timing per row."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .layouts import queue_entry
from .params import check_config

__all__ = ["WindowQueue"]


class WindowQueue(wiring.Component):
    """Holds up to ``queue_depth`` windows not yet taken by every row.

    Each row sees a first-word-fall-through FIFO of depth D (contract, section 5): a
    window written at cycle I can be taken from I + 1, and a write is accepted only
    while every row holds fewer than D untaken windows, counted before this cycle's
    takes. The storage is one buffer shared by all rows, of D + 1 slots: D for the
    untaken windows and one for the window the slowest row is still working on (it
    reads it through ``current`` after taking it).

    Ports: ``i`` the windows in; per row r ``available[r]`` (an untaken window waits),
    ``take[r]`` (row r takes it this cycle) and ``current[r]`` (the window row r took
    last, which it works on).
    """

    def __init__(self, config: ArrayConfig):
        self._config = cfg = check_config(config)
        entry = queue_entry(cfg)
        super().__init__(
            {
                "i": In(stream.Signature(entry)),
                "available": Out(cfg.rows),
                "take": In(cfg.rows),
                "current": Out(data.ArrayLayout(entry, cfg.rows)),
            }
        )

    def elaborate(self, platform):
        cfg = self._config
        D, slots = cfg.queue_depth, cfg.queue_depth + 1
        m = Module()
        entry = queue_entry(cfg)
        buffer = [Signal(entry.size, name=f"slot{k}") for k in range(slots)]
        flat = Cat(*buffer)  # read by slot with word_select: a shifter, no case statement

        def advance(ptr):
            return Mux(ptr == slots - 1, 0, ptr + 1)

        write_ptr = Signal(range(slots))
        waiting = [Signal(range(D + 1), name=f"waiting{r}") for r in range(cfg.rows)]
        write = Signal()
        m.d.comb += [
            self.i.ready.eq(Cat(*(w < D for w in waiting)).all()),
            write.eq(self.i.valid & self.i.ready),
        ]
        with m.If(write):
            m.d.sync += write_ptr.eq(advance(write_ptr))
            for k, slot in enumerate(buffer):
                with m.If(write_ptr == k):
                    m.d.sync += slot.eq(self.i.payload.as_value())

        # Whole-vector assignments of the per-row outputs: an event-driven simulator
        # resolves a vector assigned in parts anew, whole, on every change of any part.
        m.d.comb += self.available.eq(Cat(w != 0 for w in waiting))
        currents = []
        for r in range(cfg.rows):
            read_ptr = Signal(range(slots), name=f"read_ptr{r}")
            current_ptr = Signal(range(slots), name=f"current_ptr{r}")
            take = self.take[r] & self.available[r]
            currents.append(flat.word_select(current_ptr, entry.size))
            with m.If(take):
                m.d.sync += [current_ptr.eq(read_ptr), read_ptr.eq(advance(read_ptr))]
            m.d.sync += waiting[r].eq(waiting[r] + write - take)
        m.d.comb += self.current.as_value().eq(Cat(*currents))
        return m
