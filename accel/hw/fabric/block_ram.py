"""A simple dual-port block RAM with its output register: one write port, one read port."""

from __future__ import annotations

from amaranth import ClockSignal, Const, Module, Signal
from amaranth.hdl import Instance
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ...errors import AccelError
from ..params import check_int
from .names import check_fabric

__all__ = ["BLOCK_RAM_LATENCY", "DP16KD_MAX_DEPTH", "BlockRAM", "dp16kd_tiling"]

BLOCK_RAM_LATENCY = 2
"""An address presented in cycle t reads its word on ``r_data`` in cycle t + 2: the RAM's
registered read, then its output register (DP16KD's OUTREG)."""

DP16KD_MODES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
"""DP16KD's (data bits, rows) per block: 36 is the pseudo-dual-port mode (write on port A,
read on port B, 36 bits wide), the others are either port's own width."""

DP16KD_MAX_DEPTH = 16384
"""The deepest ``fabric="ecp5"`` BlockRAM: one DP16KD's rows at 1 bit. A deeper one would
need a multiplexer behind the output registers, a third cycle."""


def dp16kd_tiling(width: int, depth: int) -> tuple[int, int]:
    """``(bits, blocks)``: the DP16KD data width per block and the number of blocks side
    by side for a ``width`` x ``depth`` RAM. Each block holds every word (its rows cover
    ``depth``), so no block is selected by address and no multiplexer follows; of the
    modes with enough rows, the one needing fewest blocks, then the narrowest."""
    if depth > DP16KD_MAX_DEPTH:
        raise AccelError(
            f"depth must be at most {DP16KD_MAX_DEPTH} on ecp5 (one DP16KD's rows; deeper "
            f"needs a multiplexer and a third cycle), not {depth}"
        )
    fits = [(-(-width // bits), bits) for bits, rows in DP16KD_MODES if rows >= depth]
    blocks, bits = min(fits)
    return bits, blocks


class BlockRAM(wiring.Component):
    """``width`` x ``depth`` words; a write in cycle t (``w_en``) is readable from cycle
    t + 1 on. Reading the address being written in the same cycle gives an undefined word
    (the users never do). The read port runs every cycle: no enable.

    Parameters
    ----------
    width, depth:
        Word width in bits and number of words.
    fabric:
        ``"generic"`` (``amaranth.lib.memory.Memory`` plus a register; also ``"ice40"``,
        where Yosys maps it to SB_RAM40_4K and a fabric register) or ``"ecp5"`` (DP16KD
        instances with the output register on, side by side over the width, each holding
        every word: at most 16384 words, see :func:`dp16kd_tiling`).
    """

    def __init__(self, *, width: int, depth: int, fabric: str = "generic"):
        self._width = check_int("width", width, 1, 1 << 14)
        self._depth = check_int("depth", depth, 1, 1 << 20)
        self._fabric = check_fabric(fabric)
        if self._fabric == "ecp5":
            self._tiling = dp16kd_tiling(width, depth)
        super().__init__(
            {
                "w_addr": In(range(depth)),
                "w_data": In(width),
                "w_en": In(1),
                "r_addr": In(range(depth)),
                "r_data": Out(width),
            }
        )

    @property
    def fabric(self) -> str:
        return self._fabric

    def elaborate(self, platform):
        m = Module()
        if self._fabric in ("generic", "ice40"):
            self._generic(m)
        else:
            self._ecp5(m)
        return m

    def _generic(self, m: Module) -> None:
        m.submodules.memory = mem = memory.Memory(shape=self._width, depth=self._depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(domain="sync")
        out = Signal(self._width, name="r_out")
        m.d.comb += [
            wr.addr.eq(self.w_addr),
            wr.data.eq(self.w_data),
            wr.en.eq(self.w_en),
            rd.addr.eq(self.r_addr),
        ]
        m.d.sync += out.eq(rd.data)
        m.d.comb += self.r_data.eq(out)

    def _ecp5(self, m: Module) -> None:
        # Port A writes, port B reads; CLKA = CLKB = the sync clock, chip selects tied 0
        # and decoded as 0b000 (always selected), no reset. The word address sits in the
        # top bits of AD13..AD0 (the low 14 - log2(rows) bits are unused, or byte enables:
        # ADA1..0 at 18 bits, ADA3..0 at 36). At 36 bits the block is pseudo-dual-port:
        # DIA/DOA carry bits 0..17 of the word, DIB/DOB bits 18..35, as in Yosys's own
        # DP16KD mapping. OUTREG is set on both ports (at 36 bits the B-port read comes
        # out of both halves' output registers).
        bits, blocks = self._tiling
        rows = dict((b, r) for b, r in DP16KD_MODES)[bits]
        shift = 14 - (rows.bit_length() - 1)
        pdp = bits == 36
        zero, one = Const(0, 1), Const(1, 1)
        w_addr = Signal(14 - shift, name="w_word")
        r_addr = Signal(14 - shift, name="r_word")
        m.d.comb += [w_addr.eq(self.w_addr), r_addr.eq(self.r_addr)]
        for k in range(blocks):
            lo = k * bits
            width = min(bits, self._width - lo)
            w_data = Signal(bits, name=f"w_data_{k}")
            r_data = Signal(bits, name=f"r_data_{k}")
            m.d.comb += [
                w_data.eq(self.w_data[lo : lo + width]),
                self.r_data[lo : lo + width].eq(r_data[:width]),
            ]
            ports = {
                "i_CLKA": ClockSignal(),
                "i_CLKB": ClockSignal(),
                "i_CEA": one,
                "i_CEB": one,
                "i_OCEA": one,
                "i_OCEB": one,
                "i_RSTA": zero,
                "i_RSTB": zero,
                "i_WEA": self.w_en,
                "i_WEB": zero,
            }
            for i in range(3):
                ports[f"i_CSA{i}"] = zero
                ports[f"i_CSB{i}"] = zero
            for i in range(14):
                if i >= shift:
                    ports[f"i_ADA{i}"] = w_addr[i - shift]
                    ports[f"i_ADB{i}"] = r_addr[i - shift]
                else:  # the byte enables of a write, unused otherwise
                    byte_enable = (bits == 18 and i < 2) or (pdp and i < 4)
                    ports[f"i_ADA{i}"] = self.w_en if byte_enable else zero
                    ports[f"i_ADB{i}"] = zero
            for i in range(18):
                ports[f"i_DIA{i}"] = w_data[i] if i < bits else zero
                ports[f"i_DIB{i}"] = w_data[18 + i] if pdp else zero
                if pdp:
                    ports[f"o_DOA{i}"] = r_data[i]
                    ports[f"o_DOB{i}"] = r_data[18 + i]
                elif i < bits:
                    ports[f"o_DOB{i}"] = r_data[i]
            m.submodules[f"ebr{k}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=bits,
                p_DATA_WIDTH_B=bits,
                p_REGMODE_A="OUTREG" if pdp else "NOREG",
                p_REGMODE_B="OUTREG",
                p_RESETMODE="SYNC",
                p_ASYNC_RESET_RELEASE="SYNC",
                p_CSDECODE_A="0b000",
                p_CSDECODE_B="0b000",
                p_WRITEMODE_A="NORMAL",
                p_WRITEMODE_B="NORMAL",
                p_CLKAMUX="CLKA",
                p_CLKBMUX="CLKB",
                p_GSR="DISABLED",
                **ports,
            )
