"""The window queue: one shared buffer, a read pointer per row, FIFO timing per row."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
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
    untaken windows and one for the window the slowest row is still working on.

    Ports: ``i`` the windows in; per row r ``available[r]`` (an untaken window waits),
    ``take[r]`` (row r takes it this cycle); ``active[r]`` the activity mask of the window
    row r took last (from the cycle after the take: the row selects positions with it),
    and ``rows[r]`` that window's values one cycle later (the row's pick stage reads them
    one cycle after it selected the positions). One cycle late is safe: the slot of the
    window a row has just finished is rewritten at the earliest at the end of the next
    cycle, and the row's last pick from it happens in that cycle.
    """

    def __init__(self, config: ArrayConfig):
        self._config = cfg = check_config(config)
        entry = queue_entry(cfg)
        members = {
            "i": In(stream.Signature(entry)),
            "available": Out(cfg.rows),
            "take": In(cfg.rows),
            "rows": Out(data.ArrayLayout(entry["rows"].shape, cfg.rows)),
        }
        if cfg.skip_acts:
            members["active"] = Out(data.ArrayLayout(unsigned(cfg.block), cfg.rows))
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self._config
        D, slots = cfg.queue_depth, cfg.queue_depth + 1
        m = Module()
        entry = queue_entry(cfg)
        # One write port, one asynchronous read port per row: on an FPGA with distributed
        # RAM (ECP5) each read port is a copy of the buffer in LUT RAM, whose address
        # decoder is the slot multiplexer; flip-flops and a (D+1)-way multiplexer per row
        # and bit cost about twice the logic. Timing is that of registers: a window written
        # in one cycle is readable in the next. The masks are a buffer of their own: they
        # are read a cycle earlier than the values.
        distributed = {"ram_style": "distributed"}
        m.submodules.values = values = memory.Memory(
            shape=entry["rows"].shape, depth=slots, init=[], attrs=distributed
        )
        write = values.write_port()
        # Without weight skipping the rows run in lockstep (same work, same takes): one
        # read port serves them all, and its data fans out.
        lockstep = not cfg.skip_weights
        ports = 1 if lockstep else cfg.rows
        reads = [values.read_port(domain="comb") for _ in range(ports)]
        if cfg.skip_acts:
            m.submodules.masks = masks = memory.Memory(
                shape=unsigned(cfg.block), depth=slots, init=[], attrs=distributed
            )
            mask_write = masks.write_port()
            mask_reads = [masks.read_port(domain="comb") for _ in range(ports)]
            m.d.comb += [
                mask_write.en.eq(write.en),
                mask_write.addr.eq(write.addr),
                mask_write.data.eq(self.i.payload.active),
                self.active.as_value().eq(
                    Cat(mask_reads[0 if lockstep else r].data for r in range(cfg.rows))
                ),
            ]

        def advance(ptr):
            return Mux(ptr == slots - 1, 0, ptr + 1)

        waiting = [Signal(range(D + 1), name=f"waiting{r}") for r in range(cfg.rows)]
        m.d.comb += [
            self.i.ready.eq(Cat(*(w < D for w in waiting)).all()),
            write.en.eq(self.i.valid & self.i.ready),
            write.data.eq(self.i.payload.rows),
        ]
        with m.If(write.en):
            m.d.sync += write.addr.eq(advance(write.addr))

        # Whole-vector assignments of the per-row outputs: an event-driven simulator
        # resolves a vector assigned in parts anew, whole, on every change of any part.
        m.d.comb += self.available.eq(Cat(w != 0 for w in waiting))
        for r in range(cfg.rows):
            read_ptr = Signal(range(slots), name=f"read_ptr{r}")
            current = Signal(range(slots), name=f"current{r}")  # the window row r took last
            take = self.take[r] & self.available[r]
            with m.If(take):
                m.d.sync += [current.eq(read_ptr), read_ptr.eq(advance(read_ptr))]
            m.d.sync += waiting[r].eq(waiting[r] + write.en - take)
            if r < ports:
                m.d.sync += reads[r].addr.eq(current)
                if cfg.skip_acts:
                    m.d.comb += mask_reads[r].addr.eq(current)
        m.d.comb += self.rows.as_value().eq(
            Cat(reads[0 if lockstep else r].data for r in range(cfg.rows))
        )
        return m
