"""Hostile input files and shapes: one line naming the flag, before any work, never a
hang, a traceback or a MemoryError after minutes."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_line_error, run

from accel.errors import AccelError
from accel.inputs import input_file, read_arrays
from accel.limits import memory_budget


def _npz(path: Path, **arrays) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def _corrupt_deflate(tmp_path: Path) -> Path:
    """An .npz whose W.npy deflate stream is broken (not only its CRC): ``zlib.error``."""
    W = np.random.default_rng(0).integers(-100, 100, (200, 200)).astype(np.int8)
    src = _npz(tmp_path / "good.npz", W=W, X=np.ones((200, 3), np.int8))
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("W.npy")
    at = info.header_offset  # the local header: 30 bytes, then the name and the extra field
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len
    data[start : start + 40] = b"\xff" * 40  # an invalid block type
    out = tmp_path / "corrupt.npz"
    out.write_bytes(bytes(data))
    with pytest.raises(zlib.error), zipfile.ZipFile(out) as zf:  # it really is zlib's error
        zf.read("W.npy")
    return out


def _declared(path: Path, shape: tuple[int, ...]) -> Path:
    """A zip holding W.npy whose header declares ``shape`` (int8) over a few zero bytes:
    a zip bomb's header, without the bomb."""
    header = {"descr": "|i1", "fortran_order": False, "shape": shape}
    buf = bytearray(b"\x93NUMPY\x01\x00")
    text = repr(header).encode("latin1")
    text += b" " * (64 - (len(buf) + 2 + len(text) + 1) % 64) + b"\n"
    buf += struct.pack("<H", len(text)) + text + bytes(16)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W.npy", bytes(buf))
        zf.writestr("X.npy", bytes(buf))
    return path


def test_a_fifo_is_refused_without_reading_it(tmp_path, capsys):
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)  # opening it for reading would block forever
    for argv in (
        ["simulate", "--network", "resnet50", "--config", str(fifo)],
        ["simulate", "--gemm", str(fifo)],
        ["prune", "--method", "nm", str(fifo), str(tmp_path / "out.npz")],
    ):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, str(fifo), "FIFO")


def test_a_fifo_as_an_output_is_refused(tmp_path, capsys):
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    code, _, err = run(["simulate", "--network", "resnet50", "--json", str(fifo)], capsys)
    assert_one_line_error(code, err, "--json", "not a regular file")


@pytest.mark.parametrize("flag", ["--config", "--energy"])
def test_a_directory_names_its_flag(tmp_path, capsys, flag):
    code, _, err = run(["simulate", "--network", "resnet50", flag, str(tmp_path)], capsys)
    assert_one_line_error(code, err, flag, "is a directory")


def test_input_file_checks(tmp_path):
    with pytest.raises(AccelError, match="--x needs a file path"):
        input_file("", "--x")
    with pytest.raises(AccelError, match="--x .*nope: no such file"):
        input_file(tmp_path / "nope", "--x")
    f = tmp_path / "f"
    f.write_text("a")
    assert input_file(f, "--x") == f
    if os.geteuid() != 0:  # root reads everything
        f.chmod(0)
        with pytest.raises(AccelError, match="permission denied"):
            input_file(f, "--x")


def test_corrupt_deflate_stream_is_one_line(tmp_path, capsys):
    bad = _corrupt_deflate(tmp_path)
    for argv in (
        ["simulate", "--gemm", str(bad)],
        ["verify", "--gemm", str(bad)],
        ["prune", "--method", "magnitude", "--sparsity", "0.5", str(bad), str(tmp_path / "o.npz")],
    ):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, "corrupt.npz", "corrupt")
    assert not (tmp_path / "o.npz").exists()


def test_a_member_that_is_not_an_array(tmp_path, capsys):
    bad = tmp_path / "notarr.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("W.npy", b"hello")
        zf.writestr("X.npy", b"world!!!!")
    code, _, err = run(["simulate", "--gemm", str(bad)], capsys)
    assert_one_line_error(code, err, "--gemm", "W.npy", "not a NumPy array")


def test_object_arrays_and_random_bytes(tmp_path, capsys):
    obj = tmp_path / "obj.npz"
    np.savez(obj, W=np.array([{"a": 1}], dtype=object), X=np.ones((1, 1)))
    code, _, err = run(["simulate", "--gemm", str(obj)], capsys)
    assert_one_line_error(code, err, "W.npy", "Python objects")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(1).bytes(1000))
    code, _, err = run(["simulate", "--gemm", str(junk)], capsys)
    assert_one_line_error(code, err, "junk.npz", "not a .npy or .npz")
    assert "pickle" not in err


def test_complex_input_is_named_as_such(tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.ones((1, 1, 28, 28), np.complex64))
    onnx = Path(__file__).resolve().parents[1] / "models" / "lenet" / "lenet.onnx"
    code, _, err = run(["simulate", "--onnx", str(onnx), "--input", str(data)], capsys)
    assert_one_line_error(code, err, "--input", "complex64")
    assert ".npz" not in err


def test_a_zip_bomb_is_refused_from_its_header(tmp_path, capsys):
    huge = _declared(tmp_path / "bomb.npz", (1 << 20, 1 << 20))  # 1 TiB declared
    assert huge.stat().st_size < 2000
    code, _, err = run(["simulate", "--gemm", str(huge)], capsys)
    assert_one_line_error(code, err, "bomb.npz", "W.npy", "1024.0 GiB", "available")


def test_a_gemm_too_large_for_memory_is_refused_before_widening(tmp_path, capsys, monkeypatch):
    f = _npz(tmp_path / "g.npz", W=np.ones((2000, 2000), np.int8), X=np.ones((2000, 2000), np.int8))
    monkeypatch.setenv("ACCEL_MEMORY_GIB", "0.1")
    code, _, err = run(["simulate", "--gemm", str(f)], capsys)
    assert_one_line_error(code, err, "2000x2000x2000 GEMM", "0.1 GiB available")


def test_a_network_too_large_for_memory_is_refused_at_once(capsys):
    """BERT-base at its documented maxima needs ~80 GiB; it used to run 116 s first."""
    code, _, err = run(
        ["simulate", "--network", "bert_base", "--seq-len", "4096", "--batch", "64"], capsys
    )
    assert_one_line_error(code, err, "enc0.context", "GiB", "--seq-len")


def test_memory_budget_override(monkeypatch):
    monkeypatch.setenv("ACCEL_MEMORY_GIB", "1.5")
    assert memory_budget() == 3 << 29
    monkeypatch.delenv("ACCEL_MEMORY_GIB")
    assert memory_budget() > 0


def test_read_arrays_round_trip(tmp_path):
    W = np.arange(12).reshape(3, 4)
    arrays, is_npz = read_arrays(_npz(tmp_path / "a.npz", W=W, b=np.ones(3)), "--x")
    assert is_npz and set(arrays) == {"W", "b"} and (arrays["W"] == W).all()
    np.save(tmp_path / "a.npy", W)
    arrays, is_npz = read_arrays(tmp_path / "a.npy", "--x")
    assert not is_npz and (arrays[""] == W).all()


def test_a_file_name_that_is_not_utf8_is_printed(tmp_path):
    """Printed with escapes, not a UnicodeEncodeError (run in a real process: the
    streams are reconfigured there)."""
    import subprocess
    import sys

    name = os.fsencode(tmp_path) + b"/bad\xff.npz"
    with open(name, "wb") as f:
        f.write(b"not an npz")
    proc = subprocess.run(
        [sys.executable, "-m", "accel.cli", "simulate", "--gemm", name],
        capture_output=True,
        timeout=120,
    )
    err = proc.stderr.decode()
    assert_one_line_error(proc.returncode, err, "bad\\udcff.npz")


def test_main_reads_no_input_before_checking_them(tmp_path, capsys):
    """The config is checked before the workload: a bad --config with a huge network is
    one line at once."""
    code, _, err = run(
        ["simulate", "--network", "vgg16", "--config", str(tmp_path / "none.toml")], capsys
    )
    assert_one_line_error(code, err, "--config", "no such file")



@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["rtl", "--rows", "16", "--cols", "32", "-o", "{tmp}/a.v"], ("65,792 bits", "65,536")),
        (["verify", "--rows", "32", "--cols", "32", "--network", "resnet50"], ("bits wide",)),
        (
            ["prune", "--method", "gradual", "--steps", "101", "--sparsity", "0.5",
             "{lenet}", "{tmp}/g.onnx"],
            ("--steps", "1..100", "101"),
        ),
        (["tradeoff", "--epochs", "99999999999999999999"], ("--epochs", "0..1000")),
    ],
)  # fmt: skip
def test_counts_and_sizes_beyond_the_limits(tmp_path, capsys, argv, needles):
    lenet = Path(__file__).resolve().parents[1] / "models" / "lenet" / "lenet.onnx"
    argv = [a.format(tmp=tmp_path, lenet=lenet) for a in argv]
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, *needles)
    assert list(tmp_path.iterdir()) == []


def test_toml_messages_quote_briefly_and_say_where_a_key_belongs(tmp_path, capsys):
    top = tmp_path / "top.toml"
    top.write_text("rows = 16\n", encoding="utf-8")
    code, _, err = run(["simulate", "--network", "resnet50", "--config", str(top)], capsys)
    assert_one_line_error(code, err, "top.toml", "'rows' is outside any table", "[array]")
    long = tmp_path / "long.toml"
    long.write_text('[array]\nrows = "' + "x" * 100_000 + '"\n', encoding="utf-8")
    code, _, err = run(["simulate", "--network", "resnet50", "--config", str(long)], capsys)
    assert_one_line_error(code, err, "long.toml", "rows", "(100,002 characters)")
    assert len(err) < 300


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("json", [["--json", "-", "--quiet"], ["--seed", "0"]])
def test_a_full_standard_output_is_one_line(json):
    """The JSON report, or the table, onto a full device."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "accel.cli", "simulate", "--network", "resnet50", *json],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    if "--quiet" not in json:  # the progress lines come first
        proc.stderr = proc.stderr.splitlines(keepends=True)[-1]
    assert_one_line_error(proc.returncode, proc.stderr, "standard output", "No space left")


def _external_model(tmp_path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(np.ones((8, 4), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [W],
    )
    path = tmp_path / "m.onnx"
    onnx.save_model(helper.make_model(graph), path, save_as_external_data=True,
                    location="m.onnx.data", size_threshold=0)  # fmt: skip
    return path


def test_onnx_external_data_missing_or_not_a_file(tmp_path, capsys):
    model = _external_model(tmp_path)
    data = tmp_path / "m.onnx.data"
    code, _, _ = run(["simulate", "--onnx", str(model), "--quiet"], capsys)
    assert code == 0
    data.rename(tmp_path / "moved")
    for make, needle in ((lambda: None, "no such file"), (data.mkdir, "is a directory"),
                         (lambda: (data.rmdir(), os.mkfifo(data)), "FIFO")):  # fmt: skip
        make()
        code, _, err = run(["simulate", "--onnx", str(model), "--quiet"], capsys)
        assert_one_line_error(code, err, "m.onnx", "tensor 'W'", "m.onnx.data", needle)


def test_a_cache_home_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    """Yosys (through YoWASP) and the simulator builds keep their caches there."""
    cache = tmp_path / "cache"
    cache.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    for argv in (["rtl", "-o", str(tmp_path / "a.v")], ["synth", "--rows", "2", "--cols", "2"]):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, "XDG_CACHE_HOME", "is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def _matmul_model(path: Path, x_shape: list[int], w: np.ndarray) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W")],
    )
    onnx.save_model(helper.make_model(graph), path)
    return path


@pytest.mark.parametrize(("x_shape", "w_shape", "dim"), [([1, 0], (0, 4), 1), ([0, 3], (3, 4), 0)])
def test_an_empty_onnx_input_names_file_and_dim(tmp_path, capsys, x_shape, w_shape, dim):
    model = _matmul_model(tmp_path / "e.onnx", x_shape, np.ones(w_shape, np.float32))
    code, _, err = run(["simulate", "--onnx", str(model), "--quiet"], capsys)
    assert_one_line_error(code, err, "e.onnx", "'x'", f"dim {dim} is 0")


def test_activations_that_overflow_name_the_node_and_tensor(tmp_path, capsys):
    lenet = Path(__file__).resolve().parents[1] / "models" / "lenet" / "lenet.onnx"
    data = tmp_path / "hot.npy"
    np.save(data, np.full((2, 1, 28, 28), 3e38, np.float32))  # finite, but conv1 overflows
    code, _, err = run(["simulate", "--onnx", str(lenet), "--input", str(data), "--quiet"], capsys)
    assert_one_line_error(code, err, "lenet.onnx", "node 'conv2'", "non-finite", "inf")
    assert "Warning" not in err
