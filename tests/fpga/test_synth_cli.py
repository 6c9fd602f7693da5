"""``accel synth`` input checks: one clear line and exit 2, before any tool runs."""

from __future__ import annotations

import pytest

from accel.cli import main


def run(argv: list[str]) -> int:
    """The exit code, whether argparse or the command itself refused."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "xc7a35t"], "invalid choice: 'xc7a35t'"),
        (["--speed", "9"], "--speed for ecp5-85k must be one of 6, 7, 8, not 9"),
        (["--target", "ice40-up5k", "--speed", "6"], "--speed for ice40-up5k must be not set"),
        (["--freq", "0"], "--freq must be in 1..1000 MHz, not 0"),
        (["--freq", "nan"], "--freq must be in 1..1000 MHz, not nan"),
        (["--max-blocks", "0"], "--max-blocks must be in 1..65536, not 0"),
        (["--json", ""], "--json needs a value, not an empty string"),
        (["--out", ""], "--out needs a value, not an empty string"),
        (["--rows", "0"], "rows must be an integer in 1..256, not 0"),
        (["--threads", "0"], "--threads must be in 1..64, not 0"),
    ],
)
def test_bad_options(capsys, argv, message):
    assert run(["synth", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert run(["synth", "--rows", "2", "--cols", "2", "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "folder is not empty and was not written by accel synth" in err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_refuses_to_replace_a_users_json(tmp_path, capsys):
    report = tmp_path / "r.json"
    report.write_text('{"mine": true}')
    assert run(["synth", "--rows", "2", "--cols", "2", "--json", str(report)]) == 2
    assert "was not written by accel" in capsys.readouterr().err
    assert report.read_text() == '{"mine": true}'


def test_refuses_a_folder_with_another_commands_report(tmp_path, capsys):
    """A folder holding ``synth.json`` from ``accel simulate --json`` is not synth's."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "synth.json").write_text('{"tool": "accel", "layers": []}')
    (out / "core.v").write_text("// mine\n")
    assert run(["synth", "--rows", "2", "--cols", "2", "--out", str(out)]) == 2
    assert "was not written by accel synth" in capsys.readouterr().err
    assert (out / "core.v").read_text() == "// mine\n"


def test_unwritable_out_folder_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run(["synth", "--rows", "2", "--cols", "2", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "cannot create the folder" in err and "Traceback" not in err
