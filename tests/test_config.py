"""Configuration: every bad value is refused at construction with a message naming the
field and the value, and a TOML file's errors also name the file."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.config import ArrayConfig, Config, SystemConfig, config_from_dict, load_config
from accel.errors import AccelError

# -- construction ---------------------------------------------------------------------------


def test_defaults_are_valid_and_match_the_contract_typicals():
    cfg = Config()
    a = cfg.array
    assert (a.rows, a.cols, a.block, a.queue_depth, a.lanes) == (16, 16, 16, 4, 1)
    assert (a.w_bits, a.a_bits, a.acc_bits) == (8, 8, 32)
    assert a.skip_weights and a.skip_acts and not a.dense
    assert cfg.system.glb_bytes == cfg.system.glb_kib * 1024


def test_as_dense_turns_off_both_skips_and_keeps_the_rest():
    a = ArrayConfig(rows=4, cols=8, block=32, lanes=2)
    d = a.as_dense()
    assert d.dense and not d.skip_weights and not d.skip_acts
    assert dataclasses.replace(d, skip_weights=True, skip_acts=True) == a


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ArrayConfig().rows = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SystemConfig().clock_mhz = 1.0  # type: ignore[misc]


BAD_ARRAY = [
    ("rows", 0),
    ("rows", -1),
    ("rows", 257),
    ("rows", True),
    ("rows", 4.0),
    ("rows", "4"),
    ("rows", None),
    ("cols", 0),
    ("cols", 257),
    ("cols", False),
    ("cols", 2.5),
    ("block", 0),
    ("block", 65),
    ("block", True),
    ("queue_depth", 0),
    ("queue_depth", 65),
    ("queue_depth", 1.0),
    ("lanes", 0),
    ("lanes", 17),  # more than the default block of 16
    ("lanes", True),
    ("w_bits", 1),
    ("w_bits", 33),
    ("a_bits", 1),
    ("a_bits", 33),
    ("acc_bits", 15),  # below w_bits + a_bits = 16
    ("acc_bits", 65),
    ("acc_bits", 32.0),
    ("skip_weights", 1),
    ("skip_weights", "yes"),
    ("skip_acts", 0),
    ("skip_acts", None),
]


@pytest.mark.parametrize(("name", "value"), BAD_ARRAY, ids=lambda v: repr(v))
def test_bad_array_value_names_field_and_value(name, value):
    with pytest.raises(AccelError) as info:
        ArrayConfig(**{name: value})
    msg = str(info.value)
    assert name in msg
    assert repr(value) in msg


@pytest.mark.parametrize(
    ("kwargs", "name", "value"),
    [
        ({"block": 8, "lanes": 9}, "lanes", 9),
        ({"block": 64, "lanes": 65}, "lanes", 65),
        ({"w_bits": 16, "a_bits": 16, "acc_bits": 31}, "acc_bits", 31),
        ({"w_bits": 4, "a_bits": 4, "acc_bits": 7}, "acc_bits", 7),
        ({"weight_bus_bits": 100, "weight_lanes": 8}, "weight_bus_bits", 100),
        ({"weight_bus_bits": 16, "weight_lanes": 4}, "weight_bus_bits", 16),
        ({"weight_lanes": 0}, "weight_lanes", 0),
        ({"weight_bus_bits": 8192}, "weight_bus_bits", 8192),
        ({"rows": 6, "result_rows": 4}, "result_rows", 4),
        ({"rows": 4, "result_rows": 8}, "result_rows", 8),
    ],
)
def test_cross_field_limits(kwargs, name, value):
    with pytest.raises(AccelError) as info:
        ArrayConfig(**kwargs)
    msg = str(info.value)
    assert name in msg and repr(value) in msg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"block": 64, "lanes": 64},
        {"block": 1, "lanes": 1},
        {"rows": 1, "cols": 256, "queue_depth": 1},
        {"w_bits": 4, "a_bits": 4, "acc_bits": 8},
        {"w_bits": 32, "a_bits": 32, "acc_bits": 64},
        {"weight_bus_bits": 8, "weight_lanes": 1},
        {"weight_bus_bits": 4096, "weight_lanes": 64},
        {"rows": 6, "result_rows": 6},
    ],
)
def test_limits_themselves_are_accepted(kwargs):
    cfg = ArrayConfig(**kwargs)
    for key, value in kwargs.items():
        assert getattr(cfg, key) == value


BAD_SYSTEM = [
    ("clock_mhz", 0),
    ("clock_mhz", -200.0),
    ("clock_mhz", True),
    ("clock_mhz", "200"),
    ("clock_mhz", math.nan),
    ("dram_bytes_per_cycle", 0.0),
    ("dram_bytes_per_cycle", -1),
    ("glb_kib", 0),
    ("glb_kib", 1.5),
    ("glb_kib", True),
    ("glb_bytes_per_cycle", -0.5),
    ("glb_bytes_per_cycle", None),
]


@pytest.mark.parametrize(("name", "value"), BAD_SYSTEM, ids=lambda v: repr(v))
def test_bad_system_value_names_field_and_value(name, value):
    with pytest.raises(AccelError) as info:
        SystemConfig(**{name: value})
    msg = str(info.value)
    assert name in msg
    assert repr(value) in msg


# -- dicts and TOML files -----------------------------------------------------------------


def test_config_from_dict_unknown_table_and_non_table():
    with pytest.raises(AccelError, match=r"unknown table \[arary\]"):
        config_from_dict({"arary": {"rows": 4}})
    with pytest.raises(AccelError, match=r"array must be a table, not 5"):
        config_from_dict({"array": 5})


def _write(tmp_path, text: str, name: str = "cfg.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_without_a_file_gives_the_defaults():
    assert load_config() == Config()
    assert load_config(None, {"array": {"rows": None}}) == Config()


def test_load_config_reads_both_tables(tmp_path):
    path = _write(
        tmp_path,
        "[array]\nrows = 8\ncols = 4\nskip_acts = false\n\n[system]\nclock_mhz = 500.0\n"
        "glb_kib = 64\n",
    )
    cfg = load_config(path)
    assert (cfg.array.rows, cfg.array.cols, cfg.array.skip_acts) == (8, 4, False)
    assert cfg.array.block == ArrayConfig().block
    assert cfg.system.clock_mhz == 500.0 and cfg.system.glb_kib == 64
    assert load_config(str(path)) == cfg


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[arrays]\nrows = 8\n", ["[arrays]"]),
        ("[array]\nrowz = 8\n", ["[array]", "rowz"]),
        ("[system]\nclock = 8.0\n", ["[system]", "clock"]),
        ('[array]\nrows = "8"\n', ["rows", "'8'"]),
        ("[array]\nrows = 8.0\n", ["rows", "8.0"]),
        ("[array]\nrows = 0\n", ["rows", "0"]),
        ("[array]\nskip_acts = 1\n", ["skip_acts", "1"]),
        ("[array]\nblock = 65\n", ["block", "65"]),
        ("[array]\nblock = 8\nlanes = 16\n", ["lanes", "16"]),
        ("[system]\nclock_mhz = -1.0\n", ["clock_mhz", "-1.0"]),
        ("[system]\nglb_kib = true\n", ["glb_kib", "True"]),
        ("array = 3\n", ["array", "3"]),
    ],
)
def test_file_errors_name_the_file_the_key_and_the_value(tmp_path, text, needles):
    path = _write(tmp_path, text)
    with pytest.raises(AccelError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert info.value.source == str(path)
    for needle in needles:
        assert needle in msg


def test_invalid_toml_names_the_file_and_the_line(tmp_path):
    path = _write(tmp_path, "[array]\nrows = 8\ncols = = 4\n")
    with pytest.raises(AccelError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and "TOML" in msg and "line 3" in msg


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(AccelError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "no such file" in str(info.value)


def test_directory_names_it(tmp_path):
    with pytest.raises(AccelError) as info:
        load_config(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_binary_file_is_an_accel_error(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"\xff\xfe\x00rows")
    with pytest.raises(AccelError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_overrides_win_over_the_file(tmp_path):
    path = _write(tmp_path, "[array]\nrows = 8\ncols = 4\n[system]\nclock_mhz = 100.0\n")
    cfg = load_config(path, {"array": {"rows": 2, "cols": None}, "system": {"clock_mhz": 50.0}})
    assert cfg.array.rows == 2  # the override
    assert cfg.array.cols == 4  # None means "not given": the file's value stays
    assert cfg.system.clock_mhz == 50.0


def test_bad_override_is_blamed_on_the_override_not_the_file(tmp_path):
    path = _write(tmp_path, "[array]\nrows = 8\n")
    with pytest.raises(AccelError) as info:
        load_config(path, {"array": {"rows": 0}})
    msg = str(info.value)
    assert "rows" in msg and "0" in msg
    assert str(path) not in msg


def test_bad_value_in_the_file_is_blamed_on_the_file_despite_other_overrides(tmp_path):
    path = _write(tmp_path, "[array]\nqueue_depth = 0\n")
    with pytest.raises(AccelError) as info:
        load_config(path, {"array": {"rows": 4}})
    msg = str(info.value)
    assert str(path) in msg and "queue_depth" in msg and "0" in msg


def test_override_combined_with_file_is_checked_as_a_whole(tmp_path):
    # Valid on its own, the file's lanes = 8 clashes with a smaller block from the flags.
    path = _write(tmp_path, "[array]\nblock = 16\nlanes = 8\n")
    with pytest.raises(AccelError, match=r"lanes .*8"):
        load_config(path, {"array": {"block": 4}})


# -- round trip -------------------------------------------------------------------------------


def test_default_to_toml_round_trips(tmp_path):
    path = _write(tmp_path, Config().to_toml())
    assert load_config(path) == Config()


def test_to_toml_writes_toml_booleans(tmp_path):
    text = Config(ArrayConfig(skip_weights=False)).to_toml()
    assert "skip_weights = false" in text and "skip_acts = true" in text


_array = st.builds(
    lambda rows, cols, block, depth, lane_frac, w, a, extra, sw, sa: ArrayConfig(
        rows=rows,
        cols=cols,
        block=block,
        queue_depth=depth,
        lanes=max(1, round(lane_frac * block)),
        w_bits=w,
        a_bits=a,
        acc_bits=min(64, w + a + extra),
        skip_weights=sw,
        skip_acts=sa,
    ),
    st.integers(1, 256),
    st.integers(1, 256),
    st.integers(1, 64),
    st.integers(1, 64),
    st.floats(0, 1),
    st.integers(2, 32),
    st.integers(2, 32),
    st.integers(0, 40),
    st.booleans(),
    st.booleans(),
)
_positive = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)
_clock = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
_system = st.builds(SystemConfig, _clock, _positive, st.integers(1, 1 << 20), _positive)


@settings(max_examples=60, deadline=None)
@given(array=_array, system=_system)
def test_to_toml_round_trips_through_load_config(tmp_path_factory, array, system):
    cfg = Config(array, system)
    path = tmp_path_factory.mktemp("rt") / "cfg.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    assert load_config(path) == cfg


def test_dataflow_is_validated_and_the_dense_one_skips_nothing():
    from accel.config import ArrayConfig

    with pytest.raises(AccelError, match="dataflow must be one of queued, dense, not 'lockstep'"):
        ArrayConfig(dataflow="lockstep")
    dense = ArrayConfig(dataflow="dense")
    assert not dense.skip_weights and not dense.skip_acts and dense.dense
    with pytest.raises(AccelError, match="lanes must be 1 with dataflow dense"):
        ArrayConfig(dataflow="dense", lanes=2, block=4)


def test_dense_reference_of_a_design():
    from accel.config import ArrayConfig

    cfg = ArrayConfig(rows=8, cols=8, block=16, queue_depth=4, lanes=2, result_rows=2)
    ref = cfg.dense_reference()
    assert (ref.rows, ref.cols, ref.result_rows, ref.weight_bus_bits) == (8, 8, 2, 128)
    assert (ref.dataflow, ref.block, ref.lanes) == ("dense", 4, 1)  # 32-bit lane words
    assert ref.dense_reference() == ref
    assert ArrayConfig(weight_bus_bits=64, weight_lanes=4, w_bits=4).dense_reference().block == 4


def test_dataflow_in_toml_and_flags(tmp_path):
    from accel.config import Config, load_config

    path = tmp_path / "c.toml"
    path.write_text('[array]\ndataflow = "dense"\nblock = 4\n')
    cfg = load_config(path)
    assert cfg.array.dataflow == "dense"
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml())
    assert load_config(again) == cfg
    assert isinstance(cfg, Config)
    with pytest.raises(AccelError, match="--dataflow systolic: dataflow must be one of"):
        load_config(None, {"array": {"dataflow": "systolic"}})
