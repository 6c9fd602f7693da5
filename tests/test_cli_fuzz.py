"""Fuzzing the command line: random flag values and random small files into ``accel.cli.main``.

Whatever the argv, ``main`` must end in exit code 0, 2 or 130, never in a traceback; an
exit code of 2 is one line on stderr that says ``error``; and a run that fails leaves the
directory exactly as it found it: every file the user had is byte-identical (and keeps
its mtime), and nothing new is left behind (no report, no plot, no half-written
``.r.json.XXXX.tmp``). A run that succeeds changes only what it was asked to write.

Each value is drawn valid most of the time and hostile (negative, zero, NaN, infinite,
denormal, huge, blank, oddly spelled, a missing or special path, a broken file) now and
then, so that examples get past the first check and reach the later ones.

Every workload is kept tiny so that an example runs in well under a second: built-in
networks get small shapes (``--image 32``, ``--seq-len 8``), and the array parameters
that make a simulation slow (small ``--rows``/``--cols``/``--block`` on the large
networks, ``--balance swap``) are drawn for a large network only from values that are
either cheap or refused before any work. Values above the documented maxima are drawn
freely: they must be refused at once. ``rtl`` and ``tradeoff`` are only run with one
argument that is refused before any hardware is built or any model is trained.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from accel.cli import main
from accel.outputs import NPZ_MARK
from accel.workloads.zoo import LIMITS, NETWORKS, network_key

ROOT = Path(__file__).resolve().parents[1]
ENERGY_TEXT = (ROOT / "accel" / "perf" / "energy_45nm.toml").read_text(encoding="utf-8")

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

# One example that runs longer than this is a hang (a FIFO opened, a runaway workload).
EXAMPLE_TIMEOUT = 60

# A real argv cannot hold a NUL byte (execve takes C strings); everything else can.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=8)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def hostile(draw, one_in: int = 8) -> bool:
    """True now and then; shrinks to False (the valid choice)."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


@dataclass(frozen=True)
class Values:
    """What a flag may be given: valid values and values it must refuse (or, for floats
    and text, values that are mostly refused)."""

    valid: st.SearchStrategy[str]
    bad: st.SearchStrategy[str]
    plain: st.SearchStrategy[str] | None = None  # valid values as TOML writes them


# --- values --------------------------------------------------------------------------------

_ARABIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
NOT_INTS = [
    "", " ", "abc", "1.5", "1e3", "nan", "inf", "-inf", "0x10", "1_", "_1", "1__0", "1e400",
    "1e-320", "1e308", "True", "--", "-", "4 4", "\u0663\u0663a", "1,000", "0b1",
]  # fmt: skip
NOT_FLOATS = ["", " ", "abc", "0x1p-3", "1,5", "--", "1__0", "_1", "e", "nan(1)", "infinity!"]
SPECIAL_FLOATS = [
    "nan", "-nan", "inf", "-inf", "1e-320", "1e308", "1e400", "-0.0", "0", "1", "0.5", "1_0",
    "0_5", " 0.5 ", "+1", "1e-7", "2.5e-324", "\u0660.\u0665", "-1", "1e-5", "1e6", "1e12",
]  # fmt: skip


def spellings(value: int) -> st.SearchStrategy[str]:
    """``value`` as int() reads it, in the forms a user (or a shell) might write it."""
    s = str(value)
    forms = [s, s, s, f" {s} ", s.translate(_ARABIC)]
    if value >= 0:
        forms += [f"+{s}", f"0{s}"]
    if len(s.lstrip("-")) > 1:
        forms.append(s[0] + "_" + s[1:] if s[0] != "-" else "-" + s[1] + "_" + s[2:])
    return st.sampled_from(forms)


def _int_in(text: str, lo: int, hi: int | None) -> bool:
    try:
        v = int(text)
    except ValueError:
        return False
    return lo <= v and (hi is None or v <= hi)


def refused_int(lo: int, hi: int | None) -> st.SearchStrategy[str]:
    """Text that an integer flag accepting ``lo..hi`` must refuse."""
    outside = [st.integers(max_value=lo - 1), st.sampled_from([lo - 1, -(10**20), -(2**63)])]
    if hi is not None:
        outside += [st.integers(min_value=hi + 1), st.sampled_from([hi + 1, 10**5, 2**63, 10**30])]
    return st.one_of(
        st.one_of(outside).map(str),
        st.sampled_from(NOT_INTS),
        TEXT.filter(lambda s: not _int_in(s, lo, hi)),
    )


def ints(valid: st.SearchStrategy[int], lo: int, hi: int | None) -> Values:
    """An integer flag: cheap valid values (oddly spelled at times), or refused ones."""
    return Values(valid.flatmap(spellings), refused_int(lo, hi), valid.map(str))


def toml_float(x: float) -> str:
    text = repr(x)
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def floats(lo: float, hi: float) -> Values:
    return Values(
        st.one_of(st.floats(lo, hi).map(repr), st.sampled_from([repr(lo), repr(hi)])),
        st.one_of(st.floats().map(repr), st.sampled_from(SPECIAL_FLOATS + NOT_FLOATS), TEXT),
        st.floats(lo, hi).map(toml_float),
    )


def words(valid: list[str], bad: st.SearchStrategy[str] | list[str]) -> Values:
    bad = st.sampled_from(bad) if isinstance(bad, list) else bad
    return Values(st.sampled_from(valid), st.one_of(bad, TEXT))


# Workload budgets: how cheap the array parameters must be for the workload to stay fast.
#   tiny:  a GEMM of a few elements, an ONNX model of one small layer, or a run refused
#          anyway: any valid value;
#   light: MobileNet-V2 at image <= 32;
#   heavy: ResNet-50, VGG-16 and BERT-base: no small blocks or arrays.
ROWS = {
    "tiny": st.integers(1, 256),
    "light": st.sampled_from([1, 4, 16, 32, 256]),
    "heavy": st.sampled_from([8, 16, 64, 256]),
}
BLOCK = {
    "tiny": st.integers(1, 64),
    "light": st.sampled_from([4, 16, 64]),
    "heavy": st.sampled_from([16, 32, 64]),
}
BALANCE = {
    "tiny": ["auto", "none", "sort", "swap"],
    "light": ["auto", "none", "sort"],
    "heavy": ["auto", "none", "sort"],
}


def array_flags(budget: str) -> dict[str, Values]:
    """The config flags (the [array] and [system] keys) with values for ``budget``."""
    return {
        "--rows": ints(ROWS[budget], 1, 256),
        "--cols": ints(ROWS[budget], 1, 256),
        "--block": ints(BLOCK[budget], 1, 64),
        "--queue-depth": ints(st.integers(1, 64), 1, 64),
        "--lanes": ints(st.integers(1, 16), 1, 64),
        "--w-bits": ints(st.integers(2, 16), 2, 32),
        "--a-bits": ints(st.integers(2, 16), 2, 32),
        "--acc-bits": ints(st.integers(32, 64), 4, 64),
        "--weight-bus-bits": ints(st.sampled_from([32, 64, 128, 256, 4096]), 8, 4096),
        "--weight-lanes": ints(st.sampled_from([1, 2, 4]), 1, 64),
        "--result-rows": ints(st.sampled_from([1, 2]), 1, 256),
        "--glb-kib": ints(st.sampled_from([1, 64, 1024, 10**9, 2**62]), 1, None),
        "--clock-mhz": floats(1e-3, 1e6),
        "--dram-bytes-per-cycle": floats(1e-6, 1e12),
        "--glb-bytes-per-cycle": floats(1e-6, 1e12),
    }


SWITCHES = ["--skip-weights", "--no-skip-weights", "--skip-acts", "--no-skip-acts"]


# --- file contents -------------------------------------------------------------------------

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint64", "bool"]
FLOAT_DTYPES = ["float16", "float32", "float64"]
ODD_KINDS = ("object", "str", "complex", "datetime", "void")


def _elements(dtype: np.dtype, wide: bool):
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "f":
        return st.floats(width=8 * dtype.itemsize) if wide else st.floats(-4, 4, width=16)
    if wide:
        return None  # the whole range of the dtype
    return st.integers(0 if dtype.kind == "u" else -4, 4)


@st.composite
def array_of(draw, shape, kind: str = "int", wide: bool | None = None) -> np.ndarray:
    """An array of ``shape``: small integers (any integer dtype), floats, or an odd dtype.
    ``wide`` values fill the dtype's whole range (NaN and infinities for floats)."""
    if kind == "object":
        return np.array([[1, 2], [3, None]], dtype=object)
    if kind == "str":
        return np.full(shape, "7")
    if kind == "complex":
        return np.ones(shape, dtype=np.complex64)
    if kind == "datetime":
        return np.zeros(shape, dtype="datetime64[s]")
    if kind == "void":
        return np.zeros(shape, dtype=[("a", "i1"), ("b", "f4")])
    names = INT_DTYPES if kind == "int" else FLOAT_DTYPES
    dtype = np.dtype(draw(st.sampled_from(names)))
    wide = draw(st.booleans()) if wide is None else wide
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, wide)))


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    if comment:
        with zipfile.ZipFile(buf, "a") as zf:
            zf.comment = comment
    return buf.getvalue()


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def lying_npy(shape: tuple[int, ...], descr: str) -> bytes:
    """An .npy whose header claims ``shape`` but that holds only a few bytes."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + b"\x00" * 16


def lying_npz(shape: tuple[int, ...], other: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("W.npy", lying_npy(shape, "<i8"))
        zf.writestr("X.npy", npy_bytes(other))
    return buf.getvalue()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` cut short, or with one byte changed."""
    if not data:
        return data
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    i = draw(st.integers(0, len(data) - 1))
    return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]


def junk() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=48), st.text(max_size=48).map(encoded))


dims = st.integers(1, 6)
LIES = [(10**6, 10**6), (4000, 4000), (2, 7), (2**40,), (3, 2**62)]


@st.composite
def gemm_npz(draw) -> bytes:
    """A --gemm file: W (M x K) and X (K x N) of small integers, or one of many ways not
    to be one."""
    M, K, N = draw(dims), draw(dims), draw(dims)
    W = draw(array_of((M, K), wide=False))
    X = draw(array_of((K, N), wide=False))
    arrays = {"W": W, "X": X}
    compressed = draw(st.booleans())
    if not hostile(draw, 3):
        return npz_bytes(arrays, compressed)
    variant = draw(
        st.sampled_from(
            ["wide", "float", "odd-dtype", "shape", "ndim", "missing", "empty", "extra",
             "lying-header", "npy", "damaged", "junk"]
        )
    )  # fmt: skip
    which = draw(st.sampled_from("WX"))
    if variant == "wide":  # values outside the 8-bit range (or inside, for int8)
        arrays[which] = draw(array_of(arrays[which].shape, wide=True))
    elif variant == "float":
        arrays[which] = draw(array_of(arrays[which].shape, "float"))
    elif variant == "odd-dtype":
        arrays[which] = draw(array_of(arrays[which].shape, draw(st.sampled_from(ODD_KINDS))))
    elif variant == "shape":
        arrays["X"] = draw(array_of((K + draw(st.integers(1, 3)), N)))
    elif variant == "ndim":
        shape = draw(st.sampled_from([(), (K,), (M, K, 2), (1, 1, 1, 1)]))
        arrays[which] = draw(array_of(shape))
    elif variant == "missing":
        keep = draw(st.sampled_from(["W", "X", "w", "x"]))
        arrays = {keep: arrays[keep.upper()]}
    elif variant == "empty":
        arrays[which] = np.zeros((0, K) if which == "W" else (K, 0), dtype=np.int8)
    elif variant == "extra":
        arrays[draw(st.sampled_from(["bias", "b", "W.npy", "x/y"]))] = draw(array_of((M,)))
    elif variant == "lying-header":
        return lying_npz(draw(st.sampled_from(LIES)), X)
    elif variant == "npy":
        return npy_bytes(W)
    elif variant == "junk":
        return draw(junk())
    data = npz_bytes(arrays, compressed)
    return draw(damaged(data)) if variant == "damaged" else data


@st.composite
def weights_npz(draw) -> bytes:
    """A model for `prune`: float or integer weights (ndim >= 2) and biases, or oddities."""
    arrays = {}
    for i in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from([(4, 8), (2, 3), (8, 2, 3, 3), (1, 16), (6, 1)]))
        kind = draw(st.sampled_from(["float", "int"]))
        wide = False
        if hostile(draw):
            shape = draw(st.sampled_from([(3,), (0, 4), (4, 0), (), (1, 1, 1, 1, 1)]))
        if hostile(draw):
            kind = draw(st.sampled_from(("float", "int") + ODD_KINDS))
            wide = True
        name = draw(st.sampled_from([f"w{i}", f"layer{i}.weight", "W", "X"]))
        if hostile(draw):
            name = draw(st.one_of(st.sampled_from(["", "a/b", "../x", "x.npy", " "]), TEXT))
        arrays[name] = draw(array_of(shape, kind, wide))
    if hostile(draw):
        arrays["bias"] = draw(array_of((4,), "float"))
    data = npz_bytes(arrays, draw(st.booleans()))
    if hostile(draw):
        return draw(st.one_of(damaged(data), junk(), st.sampled_from([lying_npz(LIES[0], X)])))
    return data


X = np.ones((2, 2), dtype=np.int8)


@st.composite
def npy_file(draw, shape: tuple[int, ...] | None = None) -> bytes:
    """An --input array: floats of ``shape`` (or of any small shape), or a broken file."""
    if shape is None or hostile(draw, 4):
        shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    kind, wide = "float", False
    if hostile(draw):
        kind = draw(st.sampled_from(("float", "int") + ODD_KINDS))
        wide = True
    data = npy_bytes(draw(array_of(shape, kind, wide)))
    if hostile(draw):
        lie = lying_npy(draw(st.sampled_from(LIES)), "<f4")
        return draw(st.one_of(damaged(data), junk(), st.just(lie), st.just(npz_bytes({}, False))))
    return data


ONNX_VARIANTS = [
    "constant", "external", "unsupported", "undefined", "chain", "rank", "version", "no-nodes",
]  # fmt: skip
ONNX_SHAPES = [(0, 3), (3, 0), (7,), (), (2, 2, 2, 2, 2), (1, 1)]
EXTERNAL_PATHS = [
    "missing.bin", "r.json", "plots", "fifo", "loop", "../x.bin", "/etc/hostname", "",
    "out.npz", "sub/../r.json", "dangling.json",
]  # fmt: skip


@st.composite
def onnx_model(draw) -> tuple[bytes, tuple[int, ...]]:
    """One Gemm, MatMul or Conv with its weight as an initializer (or a broken file), and
    the shape of an input it takes."""
    from onnx import TensorProto, helper, numpy_helper

    op = draw(st.sampled_from(["Gemm", "MatMul", "Conv"]))
    K, N = draw(dims), draw(dims)
    batch = draw(st.sampled_from(["b", 1, 2]))
    if hostile(draw):
        batch = draw(st.sampled_from([0, "h", -1]))
    wdtype, wide = np.dtype("float32"), False
    if hostile(draw):
        wdtype, wide = np.dtype(draw(st.sampled_from(["float32", "float64", "int8"]))), True
    attrs = {}
    if op == "Conv":
        size = draw(st.integers(1, 4))
        wshape, xshape, yshape = (N, K, 3, 3), [batch, K, size, size], None
        attrs = {"pads": [1, 1, 1, 1]}
    elif op == "Gemm":
        trans = draw(st.booleans())
        wshape, xshape, yshape = ((N, K) if trans else (K, N)), [batch, K], [batch, N]
        attrs = {"transB": int(trans)}
    else:
        wshape, xshape, yshape = (K, N), [batch, K], [batch, N]
    shape = draw(st.sampled_from(ONNX_SHAPES)) if hostile(draw) else None
    W = draw(hnp.arrays(wdtype, shape or wshape, elements=_elements(wdtype, wide)))
    weight = numpy_helper.from_array(W, "W")
    nodes = [helper.make_node(op, ["x", "W"], ["y"], **attrs)]
    initializers = [weight]
    opset, ir_version = 17, 8
    variant = draw(st.sampled_from(ONNX_VARIANTS)) if hostile(draw, 4) else "plain"
    if variant == "constant":  # the weight as a Constant node: valid
        nodes.insert(0, helper.make_node("Constant", [], ["W"], value=weight))
        initializers = []
    elif variant == "external":  # the weight's bytes in another file
        weight.ClearField("raw_data")
        weight.ClearField("float_data")
        weight.data_location = TensorProto.EXTERNAL
        location = draw(st.sampled_from(EXTERNAL_PATHS))
        entries = {"location": location}
        if draw(st.booleans()):
            entries["offset"] = draw(st.sampled_from(["0", "-1", "7", "99999999999", "x"]))
        if draw(st.booleans()):
            entries["length"] = draw(st.sampled_from(["0", "4", "-4", "99999999999", "x"]))
        for key, value in entries.items():
            weight.external_data.add(key=key, value=value)
    elif variant == "unsupported":
        kind = draw(st.sampled_from(["LSTM", "TopK", "Loop", "Relu", "Add", "Reshape", "My"]))
        domain = "custom.domain" if kind == "My" else ""
        nodes.append(helper.make_node(kind, ["y", "y"], ["z"], domain=domain))
    elif variant == "undefined":
        nodes[0].input[0] = draw(st.sampled_from(["nope", "", "y"]))
    elif variant == "chain":  # two layers, the second fed by the first: valid
        nodes[0].output[0] = "h"
        nodes.append(helper.make_node("Relu", ["h"], ["y"]))
    elif variant == "rank":
        xshape = draw(st.sampled_from([[batch], [batch, K, 1], [], [batch, K, 2, 2, 2]]))
    elif variant == "version":
        opset, ir_version = draw(st.sampled_from([(1, 3), (99, 8), (17, 99), (17, 0)]))
    elif variant == "no-nodes":
        nodes = []
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    data = model.SerializeToString()
    if hostile(draw):
        data = draw(st.one_of(damaged(data), junk()))
    concrete = tuple(2 if isinstance(d, str) else d for d in xshape)
    return data, concrete


NON_INT_LITERALS = st.one_of(
    st.floats().map(toml_float),
    st.booleans().map(lambda b: str(b).lower()),
    TEXT.map(json.dumps),
    st.sampled_from(['"16"', "[16]", "[]", "{}", "{ value = 16 }", "1979-05-27", "16.0", "nan"]),
)
LITERALS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.integers(-3, 300).map(str),
    NON_INT_LITERALS,
    st.sampled_from(
        ["inf", "-inf", "+inf", "1e400", "1_000", "0x10", "0o7", "99999999999999999999", "= 1"]
    ),
)
COSTLY_KEYS = {"rows": ROWS, "cols": ROWS, "block": BLOCK}


def config_keys(budget: str) -> dict[tuple[str, str], Values]:
    """``(table, key)`` of a --config file, with TOML literals for ``budget``."""
    keys: dict[tuple[str, str], Values] = {}
    for flag, values in array_flags(budget).items():
        key = flag[2:].replace("-", "_")
        table = "system" if key in ("glb_kib", "clock_mhz") or "per_cycle" in key else "array"
        if key in COSTLY_KEYS:  # never a literal (0b1, 0o7) that is a small valid int
            outside = st.one_of(st.integers(max_value=0), st.integers(min_value=257))
            bad = st.one_of(outside.map(str), NON_INT_LITERALS)
        else:
            bad = LITERALS
        assert values.plain is not None
        keys[table, key] = Values(values.plain, bad)
    for key in ("skip_weights", "skip_acts"):
        keys["array", key] = Values(st.sampled_from(["true", "false"]), LITERALS)
    return keys


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


@st.composite
def config_toml(draw, budget: str) -> bytes:
    """A --config file: [array] and [system] with valid values, now and then a hostile
    value, an unknown key or table, a key outside any table, or not TOML at all."""
    if hostile(draw):
        return draw(junk())
    keys = config_keys(budget)
    chosen = draw(st.lists(st.sampled_from(sorted(keys)), max_size=4, unique=True))
    tables: dict[str, list[str]] = {}
    for table, key in chosen:
        values = keys[table, key]
        value = draw(values.bad if hostile(draw) else values.valid)
        if hostile(draw, 16):
            table = draw(
                st.sampled_from(["", "meta", "Array", "system" if table == "array" else "array"])
            )
        tables.setdefault(table, []).append(f"{key} = {value}")
    if hostile(draw, 16):
        unknown = draw(TEXT.filter(lambda k: k not in [k for _, k in keys]))
        tables.setdefault("array", []).append(f"{toml_key(unknown)} = 1")
    lines = list(tables.pop("", []))
    for table, entries in tables.items():
        lines += [f"[{toml_key(table)}]", *entries]
    return encoded("\n".join(lines) + "\n")


ENERGY_KEYS = re.findall(r"^(\w+) = \{", ENERGY_TEXT, flags=re.M)
PJ = floats(0.0, 1e6)


@st.composite
def energy_toml(draw) -> bytes:
    """An --energy file: the default table, with a valid change or a hostile one."""
    text = ENERGY_TEXT
    key = draw(st.sampled_from(ENERGY_KEYS))
    if not hostile(draw, 3):
        if draw(st.booleans()):
            value = draw(PJ.valid)
            line = f"{key} = {{ value = {value}"  # a function: no escapes read in it
            text = re.sub(rf"^{key} = \{{ value = [^,]+", lambda _: line, text, flags=re.M)
        return encoded(text)
    variant = draw(st.sampled_from(["value", "bare", "bits", "drop", "extra", "table", "junk"]))
    if variant == "value":
        line = f"{key} = {{ value = {draw(LITERALS)}"
        text = re.sub(rf"^{key} = \{{ value = [^,]+", lambda _: line, text, flags=re.M)
    elif variant == "bare":
        line = f"{key} = {draw(LITERALS)}"
        text = re.sub(rf"^{key} = .*$", lambda _: line, text, flags=re.M)
    elif variant == "bits":
        text = text.replace("bits = 8", f"bits = {draw(LITERALS)}", 1)
    elif variant == "drop":
        text = re.sub(rf"^{key} = .*$", "", text, flags=re.M)
    elif variant == "extra":
        text = text.replace(f"{key} = {{", f"{key} = {{ {toml_key(draw(TEXT))} = 1, ", 1)
    elif variant == "table":
        text += f"\n[{toml_key(draw(TEXT))}]\nx = 1\n"
    else:
        return draw(junk())
    return encoded(text)


WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d", "e", "f", "g", "h"]
BERT_CONFIG = {  # key in config.json -> (its BertConfig field, small values)
    "hidden_size": ("hidden", [2, 4, 8]),
    "num_attention_heads": ("heads", [1, 2]),
    "num_hidden_layers": ("layers", [1, 2]),
    "intermediate_size": ("ffn", [1, 4, 8]),
    "vocab_size": ("vocab", [8, 12, 16]),
    "max_position_embeddings": ("max_positions", [4, 16, 64]),
    "type_vocab_size": ("type_vocab", [1, 2]),
}
JSON_VALUES = st.one_of(
    st.integers(-5, 10).filter(lambda v: v < 1),
    st.sampled_from([10**9, 2**31, 1 << 25, 2.0, 1e308, True, None, "4", [4], {}, float("nan")]),
    TEXT,
)


@st.composite
def bert_files(draw) -> dict[str, bytes]:
    """A tiny BERT encoder: model.safetensors, config.json and (mostly) tokenizer.json,
    each valid or with one hostile change."""
    from safetensors.numpy import save
    from tokenizers import Tokenizer, models, pre_tokenizers

    from accel.workloads.bert_weights import BertConfig, _expected_shapes

    sizes = {key: draw(st.sampled_from(small)) for key, (_, small) in BERT_CONFIG.items()}
    sizes["hidden_size"] -= sizes["hidden_size"] % sizes["num_attention_heads"]
    config = BertConfig(**{BERT_CONFIG[k][0]: v for k, v in sizes.items()}, eps=1e-12)
    document: dict = dict(sizes)
    if hostile(draw):
        key = draw(st.sampled_from([*BERT_CONFIG, "layer_norm_eps", "hidden_act",
                                    "position_embedding_type"]))  # fmt: skip
        if draw(st.integers(0, 4)) == 0:
            document.pop(key, None)
        else:
            document[key] = draw(JSON_VALUES)
    files = {"config.json": json.dumps(document).encode()}
    wide = hostile(draw)
    tensors = {}
    prefix = draw(st.sampled_from(["", "bert."]))
    for name, shape in _expected_shapes(config).items():
        elements = st.floats(width=32) if wide else st.floats(-2, 2, width=32)
        tensors[prefix + name] = draw(hnp.arrays(np.float32, shape, elements=elements))
    if hostile(draw):
        name = draw(st.sampled_from(sorted(tensors)))
        change = draw(st.sampled_from(["drop", "shape", "int", "float16", "float64", "nan"]))
        if change == "drop":
            del tensors[name]
        elif change == "shape":
            tensors[name] = np.zeros((3, 5), np.float32)
        elif change == "nan":
            tensors[name] = np.full(tensors[name].shape, np.nan, np.float32)
        else:
            tensors[name] = tensors[name].astype({"int": np.int8}.get(change, change))
    files["w.safetensors"] = save(tensors)
    if not hostile(draw):
        size = draw(st.integers(4, len(WORDS)))  # above the model's vocabulary now and then
        vocab = {word: i for i, word in enumerate(WORDS[:size])}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        files["tokenizer.json"] = tok.to_str().encode()
    elif draw(st.booleans()):
        files["tokenizer.json"] = draw(junk())
    if hostile(draw):
        files = {name: draw(damaged(data)) if name == draw(st.sampled_from(sorted(files)))
                 else data for name, data in files.items()}  # fmt: skip
    return files


SENTENCES = st.one_of(
    st.lists(
        st.lists(st.sampled_from(WORDS[4:] + ["zz", "[SEP]"]), min_size=1, max_size=20).map(
            " ".join
        ),
        min_size=1,
        max_size=3,
    ).map(lambda lines: encoded("\n".join(lines) + "\n")),
    junk(),
    st.just(b"\n\n  \n"),
)


@st.composite
def safetensors_file(draw) -> bytes:
    if draw(st.booleans()):
        return draw(junk())
    entry = {
        "dtype": draw(st.sampled_from(["F32", "I8", "F64", "Q9"])),
        "shape": draw(st.lists(st.integers(0, 4), max_size=3)),
        "data_offsets": [0, 16],
    }
    header = json.dumps({"x.weight": entry}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(16)


# --- the user's own files, there before every run ------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"
USER_JSON = st.one_of(
    junk(),
    st.dictionaries(TEXT, st.integers() | TEXT, max_size=3).map(lambda d: json.dumps(d).encode()),
    st.just(b'{"tool": "accel", "version": "0.1.0"}\n'),  # a report of ours: may be replaced
    st.just(b""),
)
USER_NPZ = st.one_of(
    junk(),
    st.just(npz_bytes({"W": np.ones((2, 2))}, False)),
    st.just(npz_bytes({"W": np.ones((2, 2))}, False, NPZ_MARK)),  # pruned by accel: replaceable
)
USER_PNG = st.one_of(
    junk(),
    st.binary(max_size=20).map(lambda b: PNG + b),
    st.just(PNG + b"\x00\x00\x00\x0ftEXtSoftware\x00accel\x00\x00\x00\x00"),  # ours
)

DASHES = st.sampled_from(["--", "-", "---", "-x"])  # argv words argparse treats specially
BAD_PATHS = [
    "missing", "plots", "fifo", "loop", "dangling.json", "", " ", "-", "r.json", "out.npz",
    "/dev/null", "plots/speedup.png", "new\udcff", "--",
]  # fmt: skip


@dataclass
class Case:
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)  # what argv asks to write (may change)
    prefixes: set[str] = field(default_factory=set)  # directories argv asks to write into

    def may_write(self, rel: str) -> bool:
        inside = (p == "." or rel.startswith(p + "/") for p in self.prefixes)
        return rel in self.outputs or any(inside)


class Argv:
    """Collects an argv, the input files it names (their contents drawn when named) and
    the outputs it asks for."""

    def __init__(self, draw, *words: str):
        self.draw = draw
        self.case = Case(list(words))
        files = self.case.files
        files["r.json"] = draw(USER_JSON)
        files["out.npz"] = draw(USER_NPZ)
        files["plots/speedup.png"] = draw(USER_PNG)

    def add(self, flag: str, value: str | None = None) -> None:
        if value is None:
            self.case.argv.append(flag)
        elif value.startswith("-") or not value or self.draw(st.booleans()):
            self.case.argv.append(f"{flag}={value}")  # the one form argparse takes for '-x'
        else:
            self.case.argv += [flag, value]

    def value(self, values: Values, one_in: int = 8) -> str:
        if not hostile(self.draw, one_in):
            return self.draw(values.valid)
        return self.draw(st.one_of(values.bad, values.bad, values.bad, DASHES))

    def maybe(self, flag: str, values: Values) -> None:
        if self.draw(st.booleans()):
            self.add(flag, self.value(values))

    def some(self, flags: dict[str, Values], most: int = 4) -> None:
        chosen = self.draw(st.lists(st.sampled_from(sorted(flags)), max_size=most, unique=True))
        for flag in chosen:
            self.add(flag, self.value(flags[flag]))

    def input(self, name: str, contents: st.SearchStrategy[bytes]) -> str:
        """A path for an input flag: ``name`` with drawn contents, now and then a path that
        is missing, a directory, a FIFO, a symlink, blank, or one of the user's files."""
        if hostile(self.draw):
            return self.draw(st.sampled_from(BAD_PATHS + ["missing" + Path(name).suffix]))
        if name not in self.case.files:
            self.case.files[name] = self.draw(contents)
        return self.draw(st.sampled_from([name, name, name, "./" + name, "plots/../" + name]))

    def output(self, valid: list[str], bad: list[str]) -> str:
        value = self.draw(st.sampled_from(bad if hostile(self.draw, 6) else valid))
        if value.strip() and value != "-" and not value.startswith("/"):
            self.case.outputs.add(os.path.normpath(value))
        return value

    def config(self, budget: str) -> None:
        self.some(array_flags(budget))
        if hostile(self.draw, 4):
            self.add(self.draw(st.sampled_from(SWITCHES)))
        if self.draw(st.booleans()):
            self.add("--config", self.input("c.toml", config_toml(budget)))

    def report_outputs(self) -> None:
        """--energy, --json, --plot and --force, and --quiet always."""
        if hostile(self.draw, 3):
            self.add("--energy", self.input("e.toml", energy_toml()))
        if self.draw(st.booleans()):
            json_valid = ["new.json", "sub/dir/new.json", "-", "r.json"]
            json_bad = ["plots", "", " ", ".", "r.json/x.json", "fifo", "dangling.json", "--",
                        "/dev/null", "plots/speedup.png", "new\udcff.json", "loop"]  # fmt: skip
            self.add("--json", self.output(json_valid, json_bad))
        if hostile(self.draw, 4):
            plot = self.draw(
                st.sampled_from(["plots", "plots", "newplots", "r.json", "-", "", ".", "--"])
            )
            if plot.strip() and plot != "-":
                self.case.prefixes.add(os.path.normpath(plot))
            self.add("--plot", plot)
        if self.draw(st.booleans()):
            self.add("--force")
        self.add("--quiet")


NETWORK_NAMES = ["resnet50", "mobilenet_v2", "mobilenet_v2", "vgg16", "bert_base"]
IMAGES = {"resnet50": [8, 16, 32], "mobilenet_v2": [8, 16, 32], "vgg16": [32, 16]}
BATCHES = {"mobilenet_v2": [1, 2]}


def network(b: Argv) -> str:
    """--network and its shape flags, always small; returns the budget of the run."""
    draw = b.draw
    name = draw(st.sampled_from(NETWORK_NAMES))
    if hostile(draw):
        name = draw(
            st.one_of(
                st.sampled_from(["MobileNet-V2", " resnet50 ", "BERT-BASE", "resnet", ""]),
                TEXT.filter(lambda s: network_key(s) not in NETWORKS),
            )
        )
    key = network_key(name)
    budget = "light" if key == "mobilenet_v2" else "heavy" if key in NETWORKS else "tiny"
    b.add("--network", name)
    image = ints(st.sampled_from(IMAGES.get(key, [8, 32])), 1, LIMITS["image"])
    seq = ints(st.sampled_from([1, 4, 8]), 1, LIMITS["seq_len"])
    batch = ints(st.sampled_from(BATCHES.get(key, [1])), 1, LIMITS["batch"])
    # A CNN always gets a small --image, BERT a small --seq-len: the defaults are large.
    # The other one is refused (the network has no such parameter).
    if key == "bert_base":
        b.add("--seq-len", b.value(seq))
        if hostile(draw):
            b.add("--image", b.value(image))
    else:
        b.add("--image", b.value(image))
        if hostile(draw):
            b.add("--seq-len", b.value(seq))
    b.maybe("--batch", batch)
    return budget


NM = st.tuples(st.integers(1, 63), st.integers(2, 64)).filter(lambda t: t[0] < t[1])
PATTERNS = Values(
    st.one_of(
        st.sampled_from(["unstructured", "channel", "2:4", "1:2", "1:64", " 2:4 ", "CHANNEL"]),
        NM.map(lambda t: f"{t[0]}:{t[1]}"),
    ),
    st.one_of(
        st.sampled_from(["2:4:8", "2:", ":4", "0:4", "4:4", "4:2", "1:65", "-1:4", "2 : 4",
                         "\u0968:\u096a", "dense", "", "nm", "0:0", "1:0"]),
        st.tuples(st.integers(-2, 70), st.integers(-2, 70)).map(lambda t: f"{t[0]}:{t[1]}"),
        TEXT,
    ),
)  # fmt: skip
SEEDS = ints(st.one_of(st.integers(0, 2**32), st.sampled_from([2**63, 2**64, 10**40])), 0, None)
DENSITY = floats(0.0, 1.0)


def density_flags(b: Argv, curve: bool = False) -> None:
    if not curve:
        b.maybe("--weight-density", DENSITY)
    b.maybe("--pattern", PATTERNS)
    b.maybe("--act-density", DENSITY)
    b.maybe("--seed", SEEDS)


# --- one run -------------------------------------------------------------------------------


class Hang(BaseException):
    """An example ran longer than EXAMPLE_TIMEOUT."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise Hang(f"no exit after {EXAMPLE_TIMEOUT} s")


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.mkfifo(root / "fifo")
    os.symlink("loop", root / "loop")
    os.symlink("nowhere/x.json", root / "dangling.json")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file, FIFO and symlink under ``root``: its kind, bytes (or target) and mtime."""
    found = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path), info.st_mtime_ns)
            elif stat.S_ISREG(info.st_mode):
                found[rel] = ("file", path.read_bytes(), info.st_mtime_ns)
            else:  # never opened: a FIFO would block
                found[rel] = ("other", stat.S_IFMT(info.st_mode), info.st_mtime_ns)
    return found


def run_case(case: Case) -> None:
    note(f"argv = {case.argv!r}")
    for rel, data in case.files.items():
        note(f"file {rel} = {data!r}")
    with tempfile.TemporaryDirectory(prefix="accel-fuzz-") as tmp:
        root = Path(tmp)
        make_tree(root, case.files)
        before = snapshot(root)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(EXAMPLE_TIMEOUT)
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(case.argv))
                except SystemExit as exc:  # argparse's own usage errors, --help, --version
                    code = 0 if exc.code is None else exc.code
        finally:
            os.chdir(cwd)
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        after = snapshot(root)
    stderr = err.getvalue()
    note(f"exit {code!r}; stderr = {stderr!r}; stdout = {out.getvalue()[-300:]!r}")
    event(f"exit {code!r}")

    assert code in (0, 2, 130), f"exit code {code!r}"
    assert "Traceback" not in stderr
    if code == 2:
        assert stderr.endswith("\n") and stderr.count("\n") == 1, f"not one line: {stderr!r}"
        assert "error" in stderr
    leftovers = [rel for rel in after if rel.endswith(".tmp") or "/.accel-probe-" in "/" + rel]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    for rel, was in before.items():
        if code == 0 and case.may_write(rel):
            continue
        assert rel in after, f"{rel} removed (exit {code})"
        assert after[rel] == was, f"{rel} changed (exit {code})"
    new = sorted(rel for rel in set(after) - set(before) if code != 0 or not case.may_write(rel))
    assert not new, f"new files left behind (exit {code}): {new}"


# --- the commands --------------------------------------------------------------------------


@st.composite
def simulate_cases(draw) -> Case:
    b = Argv(draw, "simulate")
    source = draw(st.sampled_from(["network", "network", "gemm", "gemm", "onnx", "safetensors"]))
    if hostile(draw, 10):
        source = draw(st.sampled_from(["none", "two"]))
    budget = "tiny"
    if source == "network":
        budget = network(b)
        density_flags(b)
        if hostile(draw):  # refused: --input goes with --onnx
            b.add("--input", b.input("d.npy", npy_file()))
    elif source in ("gemm", "two"):
        b.add("--gemm", b.input("g.npz", gemm_npz()))
        if source == "two":
            b.add("--network", "mobilenet_v2")
        if hostile(draw, 4):  # flags --gemm refuses, mostly
            density_flags(b)
            b.maybe("--batch", ints(st.just(1), 1, 64))
    elif source == "onnx":
        model, shape = draw(onnx_model())
        b.add("--onnx", b.input("m.onnx", st.just(model)))
        if draw(st.booleans()):
            b.add("--input", b.input("d.npy", npy_file(shape)))
        if hostile(draw, 4):
            density_flags(b)
    elif source == "safetensors":
        bert = draw(bert_files())
        if hostile(draw, 6):
            bert["w.safetensors"] = draw(safetensors_file())
        b.add("--safetensors", b.input("w.safetensors", st.just(bert.pop("w.safetensors"))))
        b.case.files.update(bert)
        seq = ints(st.sampled_from([3, 4, 8, 16]), 1, LIMITS["seq_len"])
        if draw(st.booleans()):
            b.add("--text", b.input("t.txt", SENTENCES))
            b.add("--seq-len", b.value(seq))
        else:
            b.maybe("--seq-len", seq)  # the default, 128, is more than some of them have
            b.maybe("--batch", ints(st.sampled_from([1, 2]), 1, LIMITS["batch"]))
        if hostile(draw, 4):
            b.add("--image", "32")
        if draw(st.booleans()):
            density_flags(b)
    b.config(budget)
    b.maybe("--balance", words(BALANCE[budget], ["", "fast", "SWAP"]))
    b.maybe("--fpga", words(["none", "ecp5-25k", "ecp5-85k"], ["ice40", "", "ECP5-85K"]))
    b.report_outputs()
    return b.case


DENSITY_ITEM = Values(
    DENSITY.valid,
    st.one_of(st.sampled_from(SPECIAL_FLOATS + NOT_FLOATS), DENSITY.bad),
)


@st.composite
def curve_cases(draw) -> Case:
    b = Argv(draw, "curve")
    budget = network(b)
    density_flags(b, curve=True)
    if hostile(draw, 4):
        densities = draw(
            st.one_of(
                st.lists(DENSITY_ITEM.bad, min_size=1, max_size=2).map(",".join),
                st.lists(DENSITY_ITEM.valid, min_size=2, max_size=6).map(
                    lambda xs: ",".join([*xs, "x"])
                ),
                st.sampled_from(["", ",", "1,", ",1", "1;0.5", "0.5 0.2", "[1]", "1,,0.5"]),
                TEXT.filter(lambda s: s.count(",") < 2),
            )
        )
    else:  # every density is one simulation of the network: at most two
        densities = draw(st.lists(DENSITY_ITEM.valid, min_size=1, max_size=2).map(",".join))
    b.add("--densities", densities)
    b.config(budget)
    b.maybe("--balance", words(BALANCE[budget], ["x", "SORT"]))
    b.report_outputs()
    return b.case


PRUNE_INPUTS = {
    ".npz": st.one_of(weights_npz(), gemm_npz()),
    ".onnx": onnx_model().map(lambda pair: pair[0]),
    ".safetensors": st.one_of(bert_files().map(lambda f: f["w.safetensors"]), safetensors_file()),
    ".npy": npy_file(),
    ".txt": junk(),
}
METHODS = ["magnitude", "nm", "channel", "block", "gradual"]


@st.composite
def prune_cases(draw) -> Case:
    b = Argv(draw, "prune")
    suffix = draw(st.sampled_from([".npz", ".npz", ".onnx"]))
    if hostile(draw):
        suffix = draw(st.sampled_from(sorted(PRUNE_INPUTS)))
    source = b.input("in" + suffix, PRUNE_INPUTS[suffix])
    target = b.output(
        [f"new{suffix}", f"sub/new{suffix}", f"new\udcff{suffix}"]
        + (["out.npz", "./out.npz"] if suffix == ".npz" else []),
        [source, "new.npz", "new.onnx", "plots", "", "fifo", "dangling.json", "loop",
         "/dev/null", "new.txt", "out.step2.npz", "NEW" + suffix.upper(), "in" + suffix],
    )  # fmt: skip
    method = draw(st.sampled_from(METHODS))
    if hostile(draw, 12):
        method = draw(st.sampled_from(["", "NM", "l1", "Magnitude"]))
    if method == "gradual":  # the ladder beside OUT: OUT.step1 .. OUT.step{N-1}
        stem, ext = os.path.splitext(os.path.normpath(target))
        b.case.outputs.update(f"{stem}.step{k}{ext}" for k in range(1, 101))
        if hostile(draw, 4):
            b.case.files["out.step2.npz"] = draw(USER_NPZ)  # a user's file in the ladder's way
    b.add("--method", method)
    sparsity = Values(
        st.one_of(st.floats(0, 1, exclude_max=True).map(repr), st.sampled_from(["0", "0.5"])),
        DENSITY.bad,
    )
    nm = Values(
        NM.map(lambda t: f"{t[0]}:{t[1]}"),
        st.one_of(
            st.tuples(st.integers(-1, 66), st.integers(-1, 66)).map(lambda t: f"{t[0]}:{t[1]}"),
            st.sampled_from(["2:4:8", "", "x:y", " 2:4", "\u0968:\u096a", "0:4", "4:4"]),
            TEXT,
        ),
    )
    block = Values(
        st.tuples(st.integers(1, 8), st.integers(1, 16)).map(lambda t: f"{t[0]}x{t[1]}"),
        st.one_of(
            st.tuples(st.integers(-1, 20), st.integers(-1, 20)).map(lambda t: f"{t[0]}x{t[1]}"),
            st.sampled_from(["1X4", "x", "2x", "1x1x1", "0x4", "1x10000000000000"]),
            TEXT,
        ),
    )
    own = {"nm": ("--nm", nm), "block": ("--block", block)}
    if method != "nm" or hostile(draw):
        b.add("--sparsity", b.value(sparsity))
    if method in own and draw(st.booleans()):
        b.add(own[method][0], b.value(own[method][1]))
    if method in ("magnitude", "gradual") and draw(st.booleans()):
        b.add("--scope", b.value(words(["layer", "global"], ["", "all"])))
    if method == "channel" and draw(st.booleans()):
        b.add("--norm", b.value(words(["l1", "l2"], ["l3", "L1"])))
    if method == "gradual" and draw(st.booleans()):
        b.add("--steps", b.value(ints(st.sampled_from([1, 2, 4, 100]), 1, 100)))
    if hostile(draw, 6):  # a flag of another method
        flag = draw(st.sampled_from(["--nm", "--block", "--scope", "--norm", "--steps"]))
        b.add(flag, draw(st.sampled_from(["2:4", "1x16", "global", "l2", "4"])))
    if draw(st.booleans()):
        b.add("--force")
    b.case.argv += ["--", source, target] if (source + target).startswith("-") else [source, target]
    return b.case


@st.composite
def other_cases(draw) -> Case:
    """config, networks, rtl and tradeoff (each refused before it builds or trains), and
    words argparse must refuse."""
    command = draw(st.sampled_from(["config", "config", "networks", "rtl", "tradeoff", "junk"]))
    if command == "junk":
        vocabulary = st.sampled_from(
            ["simulate", "curve", "rtl", "synth", "verify", "prune", "tradeoff", "networks",
             "config", "show-config", "--rows", "--quiet", "--gemm", "-o", "--json", "-", "--"]
        )  # fmt: skip
        b = Argv(draw, *draw(st.lists(st.one_of(vocabulary, TEXT), max_size=5)))
        b.add("--no-such-flag")  # argparse refuses every line that has it
        return b.case
    b = Argv(draw, command)
    if command == "config":
        b.config("tiny")
    elif command == "networks":
        if hostile(draw, 3):
            b.add(draw(st.sampled_from(["--help", "--rows", "x", "--quiet", "--version"])))
    elif command == "rtl":
        b.config("tiny")
        refused = draw(st.sampled_from(["suffix", "max-blocks", "top"]))
        output = ["x.v", "sub/x.v", "r.v"] if refused != "suffix" else ["x", "r.json", "x.V", ""]
        b.add("-o", b.output(output, output))
        if refused == "max-blocks":
            b.add("--max-blocks", draw(refused_int(1, 1 << 16)))
        if refused == "top":
            keywords = st.sampled_from(["module", "wire", "", "1top", "a-b", "top$"])
            b.add("--top", draw(st.one_of(keywords, TEXT.filter(lambda s: not s.isidentifier()))))
        if draw(st.booleans()):
            b.add("--force")
        b.add("--quiet")
    else:  # tradeoff: an --epochs it refuses, before any training
        b.config("tiny")
        b.add("--epochs", draw(refused_int(0, 1000)))
        b.maybe("--images", ints(st.sampled_from([1, 16]), 1, 10000))
        b.maybe("--seed", SEEDS)
        b.report_outputs()
    return b.case


@settings(FUZZ, max_examples=120)
@given(simulate_cases())
def test_simulate_fuzz(case: Case) -> None:
    run_case(case)


@settings(FUZZ, max_examples=30)
@given(curve_cases())
def test_curve_fuzz(case: Case) -> None:
    run_case(case)


@settings(FUZZ, max_examples=150)
@given(prune_cases())
def test_prune_fuzz(case: Case) -> None:
    run_case(case)


@settings(FUZZ, max_examples=100)
@given(other_cases())
def test_other_commands_fuzz(case: Case) -> None:
    run_case(case)
