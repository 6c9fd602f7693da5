"""``accel prune``: new files only, the claimed pattern checked, one-line errors."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from accel.cli import main


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(code, out, err, *needles):
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("accel prune: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_npz_round_trip_prints_a_checked_table(npz_file, tmp_path, capsys):
    original = digest(npz_file)
    out = tmp_path / "pruned.npz"
    argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", str(npz_file), str(out)]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    assert digest(npz_file) == original
    lines = text.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in ("conv", "fc")}
    assert rows["conv"][1:3] == ["8x4x3x3", "float32"] and rows["conv"][-1] == "ok"
    assert float(rows["conv"][4]) == pytest.approx(0.5, abs=1e-3)
    assert rows["fc"][2] == "int8"
    assert any(line.startswith("total (2 tensors)") and line.endswith("ok") for line in lines)
    assert "left as is: bias" in text and f"wrote {out}" in text
    assert np.count_nonzero(np.load(out)["conv"] == 0) == 144


def test_onnx_2_4_is_claimed_and_holds(onnx_file, tmp_path, capsys, stored):
    original = digest(onnx_file)
    out = tmp_path / "pruned.onnx"
    code, text, err = run(
        ["prune", "--method", "nm", "--nm", "2:4", str(onnx_file), str(out)], capsys
    )
    assert code == 0, err
    assert digest(onnx_file) == original
    assert "2:4 along K" in text and "left as is: q" in text and "not a constant" in text
    for name in ("conv.w", "fc1.w", "fc2.w", "mm.w"):
        line = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert line.endswith("ok")
    assert "6x5 (T)" in text  # fc2.w shown as stored, marked as pruned transposed
    fc2 = stored(out, "fc2.w")  # [K=6, N=5]: groups of 4 run down the columns
    assert np.all(np.count_nonzero(fc2[:4], axis=0) <= 2)
    assert np.all(np.count_nonzero(fc2[4:], axis=0) <= 2)


@pytest.mark.parametrize("method", [["channel", "--norm", "l2"], ["block", "--block", "2x4"]])
def test_structured_methods_on_onnx(onnx_file, tmp_path, capsys, stored, method):
    out = tmp_path / "s.onnx"
    argv = ["prune", "--method", *method, "--sparsity", "0.5", str(onnx_file), str(out)]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    assert "FAIL" not in text
    conv = stored(out, "conv.w").reshape(8, 27)
    if method[0] == "channel":
        assert np.count_nonzero(~conv.any(axis=1)) == 4
    else:  # 2x4 tiles of the [8, 27] view: 4 x 7 = 28, half of them whole zeros
        tiles = [conv[r : r + 2, c : c + 4] for r in range(0, 8, 2) for c in range(0, 27, 4)]
        assert all(t.all() or not t.any() for t in tiles)
        assert sum(not t.any() for t in tiles) == 14


def test_existing_output_is_refused_without_force(npz_file, tmp_path, capsys):
    out = tmp_path / "mine.npz"
    out.write_bytes(b"the user's own file")
    argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", str(npz_file), str(out)]
    code, text, err = run(argv, capsys)
    assert_one_line_error(code, text, err, "OUT", "mine.npz", "--force")
    assert out.read_bytes() == b"the user's own file"
    code, text, err = run([*argv, "--force"], capsys)
    assert code == 0 and "conv" in np.load(out).files


def test_the_input_is_never_the_output(npz_file, tmp_path, capsys):
    original = digest(npz_file)
    link = tmp_path / "link.npz"
    os.link(npz_file, link)
    spellings = [str(npz_file), str(tmp_path / "." / npz_file.name), str(link)]
    for target in spellings:
        argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", "--force"]
        code, text, err = run([*argv, str(npz_file), target], capsys)
        assert_one_line_error(code, text, err, "is the input file")
    assert digest(npz_file) == original


def _garbage(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


BAD = [
    ("missing", lambda d, f: ["--sparsity", "0.5", str(d / "nope.onnx")], ["nope.onnx", "no such"]),
    ("suffix", lambda d, f: ["--sparsity", "0.5", _garbage(d, "w.txt", b"x")], ["w.txt", "'.txt'"]),
    (
        "not-onnx",
        lambda d, f: ["--sparsity", "0.5", _garbage(d, "bad.onnx", b"\xff\xfe junk")],
        ["bad.onnx", "not a valid ONNX model"],
    ),
    (
        "empty-onnx",
        lambda d, f: ["--sparsity", "0.5", _garbage(d, "empty.onnx", b"")],
        ["empty.onnx", "ValidationError"],
    ),
    (
        "not-npz",
        lambda d, f: ["--sparsity", "0.5", _garbage(d, "bad.npz", b"not a zip")],
        ["bad.npz", "not a .npy or .npz"],
    ),
    ("nm-4:2", lambda d, f: ["--method", "nm", "--nm", "4:2", f], ["--nm 4:2", "1 <= N < M"]),
    ("nm-a:b", lambda d, f: ["--method", "nm", "--nm", "a:b", f], ["--nm", "'a:b'"]),
    ("nm-2:0", lambda d, f: ["--method", "nm", "--nm", "2:0", f], ["--nm 2:0", "1 <= N < M"]),
    ("nm-no-method", lambda d, f: ["--sparsity", "0.5", "--nm", "2:4", f], ["--nm 2:4", "nm"]),
    ("sparsity-1.5", lambda d, f: ["--sparsity", "1.5", f], ["--sparsity", "1.5"]),
    ("sparsity-neg", lambda d, f: ["--sparsity", "-0.1", f], ["--sparsity", "-0.1"]),
    ("sparsity-nan", lambda d, f: ["--sparsity", "nan", f], ["--sparsity", "nan"]),
    ("sparsity-1", lambda d, f: ["--sparsity", "1", f], ["--sparsity", "1.0"]),
    ("sparsity-text", lambda d, f: ["--sparsity", "half", f], ["--sparsity", "'half'"]),
    ("no-sparsity", lambda d, f: [f], ["--method magnitude", "--sparsity"]),
    (
        "nm-contradiction",
        lambda d, f: ["--method", "nm", "--sparsity", "0.3", f],
        ["--sparsity 0.3", "2:4"],
    ),
    ("gradual-no-sparsity", lambda d, f: ["--method", "gradual", f], ["--sparsity"]),
    ("steps-not-gradual", lambda d, f: ["--method", "nm", "--steps", "3", f], ["--steps 3"]),
    (
        "gradual-steps-0",
        lambda d, f: ["--method", "gradual", "--sparsity", "0.5", "--steps", "0", f],
        ["--steps", "0"],
    ),
    (
        "global-channel",
        lambda d, f: ["--method", "channel", "--sparsity", "0.5", "--scope", "global", f],
        ["--scope global", "channel"],
    ),
    (
        "block-bad",
        lambda d, f: ["--method", "block", "--sparsity", "0.5", "--block", "4", f],
        ["--block", "'4'"],
    ),
    ("method-bad", lambda d, f: ["--method", "random", "--sparsity", "0.5", f], ["'random'"]),
]


@pytest.mark.parametrize(("make_argv", "needles"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_exit_2(npz_file, tmp_path, capsys, make_argv, needles):
    argv = make_argv(tmp_path, str(npz_file))
    if "--method" not in argv:
        argv = ["--method", "magnitude", *argv]
    out = tmp_path / ("out" + os.path.splitext(argv[-1])[1])  # IN's suffix
    code, text, err = run(["prune", *argv, str(out)], capsys)
    assert_one_line_error(code, text, err, *needles)
    assert not out.exists()


def test_output_suffix_must_match(npz_file, tmp_path, capsys):
    argv = ["prune", "--method", "magnitude", "--sparsity", "0.5", str(npz_file)]
    code, text, err = run([*argv, str(tmp_path / "out.onnx")], capsys)
    assert_one_line_error(code, text, err, "OUT", "out.onnx", ".npz")


def test_no_prunable_tensors(tmp_path, capsys):
    path = tmp_path / "biases.npz"
    np.savez(path, b=np.ones(4), flags=np.ones((2, 2), dtype=bool))
    argv = [
        "prune",
        "--method",
        "magnitude",
        "--sparsity",
        "0.5",
        str(path),
        str(tmp_path / "o.npz"),
    ]
    code, text, err = run(argv, capsys)
    assert_one_line_error(code, text, err, "biases.npz", "no prunable tensors")


def test_help_documents_the_rules(capsys):
    code, text, _ = run(["prune", "--help"], capsys)
    assert code == 0
    for needle in ("ndim >= 2", "copied unchanged", "transB=0", "GradualPruner", "--force"):
        assert needle in text


def test_gradual_writes_a_nested_ladder_along_the_cubic_schedule(npz_file, tmp_path, capsys):
    from accel.prune import cubic_sparsity

    out = tmp_path / "g.npz"
    argv = ["prune", "--method", "gradual", "--sparsity", "0.8", "--steps", "3"]
    code, text, _ = run([*argv, str(npz_file), str(out)], capsys)
    assert code == 0, text
    files = [tmp_path / "g.step1.npz", tmp_path / "g.step2.npz", out]
    assert all(f.exists() for f in files)
    original = np.load(npz_file)
    weights = ["conv", "fc"]  # the fixture's bool array is not a weight
    previous = {k: original[k] != 0 for k in weights}
    for k, path in enumerate(files, start=1):
        target = cubic_sparsity(k, initial=0.0, final=0.8, start=0, steps=3, interval=1)
        with np.load(path) as data:
            for name in weights:
                kept = data[name] != 0
                assert not np.any(kept & ~previous[name]), (path, name)  # masks nested
                assert 1 - kept.mean() == pytest.approx(target, abs=1.0 / kept.size), (k, name)
                previous[name] = kept
    assert f"step 3: sparsity {0.8:.4f}" in text
    # a second run replaces its own ladder (the same bytes: seeded), but not a user's file
    before = {f: digest(f) for f in files}
    code, _, err = run([*argv, str(npz_file), str(out)], capsys)
    assert code == 0, err
    assert {f: digest(f) for f in files} == before
    files[0].write_bytes(b"mine")
    code, _, err = run([*argv, str(npz_file), str(out)], capsys)
    assert code == 2 and "--force" in err and files[0].read_bytes() == b"mine"
