"""The window queue: one shared buffer, a read pointer per row, FIFO timing per row."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
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
        # One write port, one asynchronous read port per row: on an FPGA with distributed
        # RAM (ECP5) each read port is a copy of the buffer in LUT RAM, whose address
        # decoder is the slot multiplexer; flip-flops and a (D+1)-way multiplexer per row
        # and bit cost about twice the logic. Timing is that of registers: a window written
        # in one cycle is readable in the next.
        m.submodules.buffer = buffer = memory.Memory(
            shape=entry, depth=slots, init=[], attrs={"ram_style": "distributed"}
        )
        write = buffer.write_port()
        reads = [buffer.read_port(domain="comb") for _ in range(cfg.rows)]

        def advance(ptr):
            return Mux(ptr == slots - 1, 0, ptr + 1)

        waiting = [Signal(range(D + 1), name=f"waiting{r}") for r in range(cfg.rows)]
        m.d.comb += [
            self.i.ready.eq(Cat(*(w < D for w in waiting)).all()),
            write.en.eq(self.i.valid & self.i.ready),
            write.data.eq(self.i.payload),
        ]
        with m.If(write.en):
            m.d.sync += write.addr.eq(advance(write.addr))

        # Whole-vector assignments of the per-row outputs: an event-driven simulator
        # resolves a vector assigned in parts anew, whole, on every change of any part.
        m.d.comb += self.available.eq(Cat(w != 0 for w in waiting))
        currents = []
        for r, read in enumerate(reads):
            read_ptr = Signal(range(slots), name=f"read_ptr{r}")
            take = self.take[r] & self.available[r]
            currents.append(read.data.as_value())
            with m.If(take):
                m.d.sync += [read.addr.eq(read_ptr), read_ptr.eq(advance(read_ptr))]
            m.d.sync += waiting[r].eq(waiting[r] + write.en - take)
        m.d.comb += self.current.as_value().eq(Cat(*currents))
        return m
