"""Memory traffic, energy and the fixed latencies, on layers small enough to work out by
hand in the test."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from accel import wstream
from accel.config import ArrayConfig, Config, SystemConfig
from accel.encode import act_pattern, weight_pattern
from accel.errors import AccelError
from accel.perf import latency
from accel.perf.energy import energy_breakdown, load_energy_table
from accel.perf.memory import traffic
from accel.perf.schedule import schedule
from accel.perf.simulate import simulate_layer
from accel.workloads.layer import Layer
from accel.wstream import LoadProfile

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "accel" / "perf" / "energy_45nm.toml"

# A 3 x 20 weight matrix with 7 nonzeros, and a 20 x 6 input with 4 nonzeros.
W = np.zeros((3, 20), dtype=np.int64)
W[0, [0, 9, 19]] = [1, -2, 3]
W[1, [4]] = [5]
W[2, [1, 2, 17]] = [-1, 7, 2]
X = np.zeros((20, 6), dtype=np.int64)
X[0, 0] = 1  # column tile 0, window row 0
X[5, 1] = 3  # column tile 0, window row 5
X[5, 5] = 2  # column tile 1, window row 5
X[19, 4] = 1  # column tile 1, window row 19
LAYER = Layer("tiny", M=3, K=20, N=6)

# rows 2, cols 4, block 8: nb = 3, ntm = 2, ntn = 2
ARRAY = ArrayConfig(rows=2, cols=4, block=8)


def _traffic(array: ArrayConfig, system: SystemConfig | None = None, out_density=None):
    cfg = Config(array, system or SystemConfig())
    wp = weight_pattern(W, array.block)
    ap = act_pattern(X, array.block, array.cols)
    counters = schedule(array, wp, ap).counters
    return traffic(cfg, LAYER, wp, ap, counters, out_density), counters


# -- traffic ----------------------------------------------------------------------------------


def test_sparse_traffic_by_hand():
    t, counters = _traffic(ARRAY, out_density=0.5)
    # the weight stream: 2 row tiles of 2 rows (one padding), a lane of 32-bit words per
    # row; per row a bias word and 3 records of an 8-bit mask and at most 3 nonzeros of 8
    # bits, one word each
    assert t.dram["weights"] == 2 * 2 * (1 + 3) * 32 == 512
    # inputs: a bitmap of K x N plus 4 values of 8 bits
    assert t.dram["inputs"] == 120 + 4 * 8
    # outputs at the given density: 18 bits of bitmap + 9 values of 8 bits
    assert t.dram["outputs"] == 18 + 9 * 8
    assert t.input_passes == 1
    # windows: per (column tile, block) an 8-bit mask, plus 4 active rows of 4 x 8 bits,
    # all streamed once per row tile (2 of them)
    windows = (2 * 3 * 8 + 4 * 4 * 8) * 2
    assert t.glb == {"weights": 2 * 512, "inputs": 152 + windows, "outputs": 2 * 90}
    assert t.array == {
        "weights": counters.weight_reads * 8 + counters.windows * 2 * 8,
        "windows": windows + counters.weight_reads * 4 * 8,
        "outputs": counters.outputs * 32,
    }
    assert t.bytes_by_level() == {
        "dram": sum(t.dram.values()) / 8,
        "glb": sum(t.glb.values()) / 8,
        "array": sum(t.array.values()) / 8,
    }


def test_output_density_defaults_to_the_input_density():
    t, _ = _traffic(ARRAY)
    assert t.dram["outputs"] == round(18 * (1 + 4 / 120 * 8))


def test_dense_traffic_has_no_metadata():
    t, counters = _traffic(ARRAY.as_dense(), out_density=0.5)
    # per row a bias word and 3 records of 8 values, 2 words each; 4 rows with padding
    assert t.dram == {"weights": 4 * (1 + 3 * 2) * 32, "inputs": 120 * 8, "outputs": 18 * 8}
    windows = 2 * 3 * 8 * 4 * 8 * 2  # every window row of every block, twice
    assert t.glb == {"weights": 2 * 896, "inputs": 960 + windows, "outputs": 2 * 144}
    assert t.array["weights"] == counters.weight_reads * 8  # no mask reads
    assert counters.weight_reads == 2 * 2 * 2 * 3 * 8  # tiles x R x nb x B


def test_each_skip_mode_charges_its_own_metadata():
    only_w, _ = _traffic(ArrayConfig(rows=2, cols=4, block=8, skip_acts=False))
    assert only_w.dram["weights"] == 512 and only_w.dram["inputs"] == 960
    only_a, _ = _traffic(ArrayConfig(rows=2, cols=4, block=8, skip_weights=False))
    assert only_a.dram["weights"] == 896 and only_a.dram["inputs"] == 152


def _big_input_traffic(glb_kib: int, M: int = 10):
    # a 64 x 64 dense input is 4 KiB; rows 4 gives ceil(M / 4) row tiles
    array = ArrayConfig(rows=4, cols=8, block=16).as_dense()
    layer = Layer("big", M=M, K=64, N=64)
    Wb = np.ones((M, 64), dtype=np.int64)
    Xb = np.ones((64, 64), dtype=np.int64)
    wp, ap = weight_pattern(Wb, 16), act_pattern(Xb, 16, 8)
    cfg = Config(array, SystemConfig(glb_kib=glb_kib))
    return traffic(cfg, layer, wp, ap, schedule(array, wp, ap).counters)


def test_input_larger_than_the_glb_is_reread_per_row_tile():
    t = _big_input_traffic(glb_kib=1)
    assert t.input_passes == 3
    assert t.dram["inputs"] == 3 * 64 * 64 * 8
    assert t.glb["inputs"] - 3 * 64 * 64 * 8 == _big_input_traffic(64).glb["inputs"] - 64 * 64 * 8
    fits = _big_input_traffic(glb_kib=64)
    assert fits.input_passes == 1 and fits.dram["inputs"] == 64 * 64 * 8


def test_glb_fit_boundary_is_inclusive():
    # The input must stay resident in the GLB for the row tiles to share it; outputs
    # stream through to DRAM and do not count against it.
    array = ArrayConfig(rows=2, cols=8, block=16).as_dense()
    sys1 = Config(array, SystemConfig(glb_kib=1))

    def passes(K: int, M: int = 4) -> int:
        layer = Layer("b", M=M, K=K, N=8)  # input 8 K bytes
        wp = weight_pattern(np.ones((M, K), np.int64), 16)
        ap = act_pattern(np.ones((K, 8), np.int64), 16, 8)
        return traffic(sys1, layer, wp, ap, schedule(array, wp, ap).counters).input_passes

    assert passes(128) == 1  # 1024 bytes: exactly fits
    assert passes(129) == 2  # 1032 bytes: re-read once per row tile (2 of them)
    assert passes(129, M=5) == 3


@pytest.mark.parametrize("bpc", [3.0, 1.0, 0.7, 1000.0])
def test_dram_and_glb_cycles_are_ceil_of_bytes_over_bandwidth(bpc):
    t, _ = _traffic(ARRAY, SystemConfig(dram_bytes_per_cycle=bpc, glb_bytes_per_cycle=bpc))
    assert t.dram_cycles == math.ceil(sum(t.dram.values()) / 8 / bpc)
    assert t.glb_cycles == math.ceil(sum(t.glb.values()) / 8 / bpc)


def test_dram_cycles_by_hand():
    t, _ = _traffic(ARRAY, SystemConfig(dram_bytes_per_cycle=3.0), out_density=0.5)
    assert sum(t.dram.values()) == 512 + 152 + 90  # 94.25 bytes
    assert t.dram_cycles == 32  # ceil(94.25 / 3) = ceil(31.42)


def test_total_cycles_is_the_roofline_of_core_and_memory():
    cfg = Config(ARRAY, SystemConfig(dram_bytes_per_cycle=0.5))
    res = simulate_layer(cfg, LAYER, weight_pattern(W, 8), act_pattern(X, 8, 4))
    s = res.sparse
    assert s.total_cycles == max(s.core_cycles, s.dram_cycles, s.glb_cycles)
    assert s.bound == "dram" and s.stall_cycles == s.dram_cycles - s.core_cycles > 0


# -- energy -----------------------------------------------------------------------------------


def _breakdown(table, array: ArrayConfig = ARRAY, total_cycles: int = 1000):
    t, counters = _traffic(array)
    return energy_breakdown(table, array, counters, t, total_cycles), counters, t


def test_default_table_has_a_source_for_every_entry():
    table = load_energy_table()
    keys = {
        "multiply_pj",
        "add_pj",
        "gated_pj",
        "array_pj_per_bit",
        "glb_pj_per_bit",
        "dram_pj_per_bit",
        "pe_cycle_pj",
    }
    assert set(table.values) == keys
    assert set(table.sources) == keys
    assert all(table.sources[k].strip() for k in keys)
    assert table.name and table.path.endswith("energy_45nm.toml")
    assert load_energy_table(DEFAULT_TABLE).values == table.values


def test_breakdown_sums_to_the_total():
    e, _, _ = _breakdown(load_energy_table())
    assert set(e["by_level"]) == {"compute", "array", "glb", "dram", "static"}
    assert e["total"] == pytest.approx(sum(e["by_action"].values()), rel=1e-12)
    assert e["total"] == pytest.approx(sum(e["by_level"].values()), rel=1e-12)
    assert all(v >= 0 for v in e["by_action"].values())
    assert e["by_level"]["compute"] > 0 and e["by_level"]["dram"] > 0


def test_breakdown_prices_each_count():
    table = load_energy_table()
    e, counters, t = _breakdown(table, total_cycles=777)
    v = table.values
    assert e["by_action"]["mac_effectual"] == counters.macs_effectual * table.mac_pj(ARRAY)
    assert e["by_action"]["mac_gated"] == counters.macs_gated * table.gated_pj(ARRAY)
    assert e["by_action"]["dram"] == sum(t.dram.values()) * v["dram_pj_per_bit"]
    assert e["by_action"]["glb"] == sum(t.glb.values()) * v["glb_pj_per_bit"]
    assert e["by_action"]["static"] == 777 * 2 * 4 * v["pe_cycle_pj"]


def test_effectual_macs_by_hand():
    # k = 0: one nonzero weight (row 0) x one nonzero activation (col 0) -> 1
    # k = 5: no weight in column 5 -> 0
    # k = 19: one nonzero weight (row 0) x one nonzero activation (col 4) -> 1
    _, counters = _traffic(ARRAY)
    assert counters.macs_effectual == 2
    assert counters.macs_gated == counters.macs_issued - 2


def test_mac_energy_scales_with_widths_by_hand():
    table = load_energy_table()
    assert table.mac_pj(ArrayConfig()) == pytest.approx(0.2 + 0.1)
    narrow = ArrayConfig(w_bits=4, a_bits=4, acc_bits=16)
    assert table.mac_pj(narrow) == pytest.approx(0.2 * 16 / 64 + 0.1 * 16 / 32)
    assert table.gated_pj(narrow) == pytest.approx(0.03 * 4 / 8)


@pytest.mark.parametrize(
    "array",
    [ArrayConfig(), ArrayConfig(w_bits=4, a_bits=4, acc_bits=8), ArrayConfig(w_bits=16)],
)
def test_gated_mac_is_cheaper_than_effectual(array):
    table = load_energy_table()
    assert 0 < table.gated_pj(array) < table.mac_pj(array)


def _user_table(tmp_path, edit=None) -> Path:
    data = tomllib.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    lines = ['[meta]\nname = "user"\n']
    for section in ("compute", "memory", "static"):
        lines.append(f"[{section}]")
        for key, entry in data[section].items():
            value = entry["value"]
            if edit and key in edit:
                value = edit[key](value)
            bits = f", bits = {entry['bits']}" if "bits" in entry else ""
            lines.append(f'{key} = {{ value = {value!r}{bits}, source = "test" }}')
    path = tmp_path / "user.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_user_table_that_doubles_dram_doubles_the_dram_entry_exactly(tmp_path):
    base = load_energy_table()
    user = load_energy_table(_user_table(tmp_path, {"dram_pj_per_bit": lambda v: 2 * v}))
    assert user.name == "user" and user.path == str(tmp_path / "user.toml")
    e0, _, _ = _breakdown(base)
    e1, _, _ = _breakdown(user)
    assert e1["by_action"]["dram"] == 2 * e0["by_action"]["dram"]
    assert e1["by_level"]["dram"] == 2 * e0["by_level"]["dram"]
    for key in e0["by_action"]:
        if key != "dram":
            assert e1["by_action"][key] == e0["by_action"][key]


def test_plain_numbers_are_accepted_as_entries(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(
        "[compute]\nmultiply_pj = 1.0\nadd_pj = 0.5\ngated_pj = 0\n"
        "[memory]\narray_pj_per_bit = 1\nglb_pj_per_bit = 2\ndram_pj_per_bit = 3\n"
        "[static]\npe_cycle_pj = 0.0\n",
        encoding="utf-8",
    )
    table = load_energy_table(path)
    assert table.values["dram_pj_per_bit"] == 3.0
    assert table.name == "plain"  # the file's stem when [meta] has no name
    assert table.mac_pj(ArrayConfig()) == 1.5  # default reference widths 8 and 32


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[compute]\nmultiply_pj = 1\n", ["[compute]", "add_pj"]),
        ("", ["[compute]"]),
        (None, ["[static]"]),  # the default table without [static]
        ("[compute\n", ["TOML"]),
        ("meta = 3\n", ["meta", "3"]),
        (DEFAULT_TABLE.read_text(encoding="utf-8") + "\n[metaa]\n", ["[metaa]"]),
    ],
)
def test_energy_table_structure_errors(tmp_path, text, needles):
    path = tmp_path / "e.toml"
    if text is None:
        text = DEFAULT_TABLE.read_text(encoding="utf-8").split("[static]")[0]
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccelError) as info:
        load_energy_table(path)
    assert str(path) in str(info.value)
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize(
    ("key", "raw", "needles"),
    [
        ("dram_pj_per_bit", "-1.5", ["dram_pj_per_bit", "-1.5"]),
        ("pe_cycle_pj", "true", ["pe_cycle_pj", "True"]),
        ("add_pj", '"cheap"', ["add_pj", "'cheap'"]),
        ("multiply_pj", "{ source = 'x' }", ["multiply_pj", "missing field 'value'"]),
        ("multiply_pj", "{ value = 0.2, foo = 1 }", ["multiply_pj", "'foo'"]),
        ("dram_pj_per_bit", "nan", ["dram_pj_per_bit", "nan"]),
        ("pe_cycle_pj", "inf", ["pe_cycle_pj", "inf"]),
        ("multiply_pj", "{ value = 0.2, bits = 0 }", ["multiply_pj.bits", "0"]),
        ("gated_pj", "{ value = 0.2, bits = 2.5 }", ["gated_pj.bits", "2.5"]),
    ],
)
def test_energy_table_value_errors_name_file_key_and_value(tmp_path, key, raw, needles):
    text = DEFAULT_TABLE.read_text(encoding="utf-8")
    lines = [f"{key} = {raw}" if line.startswith(f"{key} =") else line for line in text.split("\n")]
    path = tmp_path / "e.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(AccelError) as info:
        load_energy_table(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg


def test_energy_table_unknown_key(tmp_path):
    text = DEFAULT_TABLE.read_text(encoding="utf-8").replace(
        "[static]\n", "[static]\nleak_pj = 1.0\n"
    )
    path = tmp_path / "e.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccelError, match=r"\[static\] unknown key 'leak_pj'") as info:
        load_energy_table(path)
    assert str(path) in str(info.value)


def test_energy_table_missing_file_and_directory(tmp_path):
    with pytest.raises(AccelError, match="no such file") as info:
        load_energy_table(tmp_path / "none.toml")
    assert str(tmp_path / "none.toml") in str(info.value)
    with pytest.raises(AccelError) as info:
        load_energy_table(tmp_path)
    assert str(tmp_path) in str(info.value)


# -- latency ----------------------------------------------------------------------------------


def test_fixed_latency_parts():
    cfg = ArrayConfig(rows=4, cols=8)
    assert latency.drain_cycles(cfg) == 4
    assert latency.MAC_PIPELINE + latency.OUTPUT_CAPTURE == 6
    assert latency.OUTPUT_PIPELINE == 3


def one_lane(T: int, items: int) -> LoadProfile:
    """Row tiles whose weights are ``items`` one-word items on one lane: beat k comes
    in cycle LS + k and its item is written in the next cycle."""
    ones = np.ones((T, 1), dtype=np.int64)
    return LoadProfile(
        beats=np.full(T, items), bits=ones * items * 32, last=ones * (items - 1), D=ones
    )


def test_core_cycles_by_hand():
    cfg = ArrayConfig(rows=4, cols=8)
    tiles = np.array([[[10, 1, 5], [2, 20, 3]]])  # G = 1, 2 row tiles x 3 column tiles
    # Row tile 0: beats in cycles 0..11, the last item written in 12, start at 13. Tile
    # (0, 0): nothing to drain, so it overlaps the next: captured at 13 + 10 + 5 = 28,
    # next start 13 + 10 + 2 = 25. Tile (0, 1): the drain of 28 ends at 32 > 25 + 1, so
    # no overlap: captured at max(25 + 1 + 5, 32) = 32, next start 33. Tile (0, 2), the
    # row tile's last: captured at max(33 + 5 + 5, 36) = 43. Row tile 1's beats came in
    # 12..23 (under row tile 0's compute), written by 24; it starts at 44. Tile (1, 0):
    # 47 > 46, captured at max(51, 47) = 51, next 52. Tile (1, 1): 55 <= 72, overlaps:
    # captured at 77, next 74. Tile (1, 2): max(82, 81). The last result: 82 + R (drain)
    # + 3 (output pipeline); core cycles one more.
    assert latency.core_cycles(cfg, tiles, one_lane(2, 12)) == 82 + 4 + 3 + 1 == 90


def test_core_cycles_load_bound():
    """Row tiles shorter than their loads: the beats run back to back, each row tile
    starts as its last item is written, and only the first load and the last tile are
    exposed."""
    cfg = ArrayConfig(rows=16, cols=8)
    tiles = np.full((3, 2, 1), 7)  # 3 groups x 2 row tiles, one tiny tile each
    # row tile t's beats come in 16 t .. 16 t + 15, its last item at 16 t + 16, it starts
    # at 16 t + 17 and captures at 16 t + 17 + 12, exactly the previous capture + R = 16
    assert latency.core_cycles(cfg, tiles, one_lane(6, 16)) == 80 + 29 + 1 + 16 + 3


def test_core_cycles_compute_bound_hides_loads():
    cfg = ArrayConfig(rows=4, cols=8)
    # 5 row tiles of 2 tiles of 30 cycles: the first overlaps the second (30 + 2), the
    # second, the row tile's last, takes 30 + 6; each row tile's 68 cycles hide a load of 8
    tiles = np.full((1, 5, 2), 30)
    assert latency.core_cycles(cfg, tiles, one_lane(5, 8)) == 8 + 1 + 5 * (32 + 36) + 4 + 3


def test_overlap_needs_a_drained_buffer():
    """Tiles shorter than the drain cannot overlap back to back: R = 16, F = 10."""
    cfg = ArrayConfig(rows=16, cols=8)
    tiles = np.full((1, 1, 3), 10)
    # start at 17; tile 0 overlaps (nothing to drain): captured at 32, tile 1 starts at
    # 29; its buffer drains until 48 > 39, so it captures at 48 and tile 2 starts at 49;
    # tile 2 captures at max(64, 64) = 64; the last result at 64 + 16 + 3
    assert latency.core_cycles(cfg, tiles, one_lane(1, 16)) == 64 + 16 + 3 + 1


def test_lanes_load_in_parallel_and_follow_the_compressed_size():
    """Four lanes of 32 bits, 8 rows of one block: a bias word and a record per row. At
    16 x 8-bit values a record is 5 words (mask + 128 bits); with 2 nonzeros it is one."""
    cfg = ArrayConfig(rows=8, cols=4, block=16)
    dense_masks = np.full((1, 8, 1), (1 << 16) - 1, dtype=np.uint64)
    sparse_masks = np.full((1, 8, 1), 0b101, dtype=np.uint64)
    full = wstream.load_profile(cfg, dense_masks)
    light = wstream.load_profile(cfg, sparse_masks)
    # lane i: rows i and i + 4, each bias (1 word) + record
    assert full.beats.tolist() == [2 * (1 + 5)] and light.beats.tolist() == [2 * (1 + 1)]
    assert light.bits.tolist() == [[4 * 32] * 4]
    assert light.last.tolist() == [[3] * 4] and light.D.tolist() == [[1] * 4]
    # items of 1, 5, 1, 5 words end at words 1, 6, 7, 12: D = max(1, 5, 5, 9) = 9
    assert full.D.tolist() == [[9] * 4] and full.last.tolist() == [[3] * 4]


def test_dense_layer_core_cycles_end_to_end():
    # dense tile: 1 + nb * B / L = 1 + 2 * 16 = 33 compute cycles
    array = ArrayConfig(rows=4, cols=4, block=16).as_dense()
    layer = Layer("d", M=8, K=32, N=8)
    wp = weight_pattern(np.ones((8, 32), np.int64), 16)
    ap = act_pattern(np.ones((32, 8), np.int64), 16, 4)
    res = simulate_layer(Config(array), layer, wp, ap)
    assert res.sparse.compute_cycles == 4 * 33
    # the first row tile's load: 4 lanes of one row each, a bias word and two records of
    # 16 values (4 words each): 9 beats, the last record written in cycle 9; per row tile
    # one overlapped tile (33 + 2) and its last (33 + 6); R + 3. The second row tile's
    # load ran while the first computed.
    assert res.sparse.core_cycles == 10 + 2 * (35 + 39) + 4 + 3
