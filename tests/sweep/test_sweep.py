"""Sweeps: the space file, rows equal to the simulator's own report, the store, resuming
after a kill, the local pool and a Dask cluster giving the same rows, the export."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accel.config import ArrayConfig, Config
from accel.errors import AccelError
from accel.perf.energy import load_energy_table, price
from accel.perf.simulate import simulate_network
from accel.report import report_dict
from accel.sweep.backends import Inline, LocalPool, make_backend
from accel.sweep.derive import priced
from accel.sweep.evaluate import evaluate, simulator_version
from accel.sweep.run import run_points
from accel.sweep.space import Design, load_space
from accel.sweep.store import Store
from accel.sweep.workload import network_workload
from accel.workloads.sparsity import WeightSparsity
from accel.workloads.zoo import get_network

SPACE = """
[array]
rows = [4, 8]
cols = 8
block = [8, 16]
lanes = [1, 2]
[system]
clock_mhz = [100, 250]
[sweep]
balance = ["none", "auto"]
"""


def _space(tmp_path: Path, text: str = SPACE):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return load_space(path)


def _small(name: str = "resnet50", density: float = 0.3):
    return network_workload(name, WeightSparsity("unstructured", density), 0.5, 3, image=32)


def test_space_axes_and_post_keys(tmp_path):
    space = _space(tmp_path)
    assert space.size == 16 and space.clocks == [100.0, 250.0]
    assert "system.clock_mhz" not in space.axes  # priced afterwards, never simulated
    designs = list(space.designs())
    assert len({d.key for d in designs}) == 16
    ranged = _space(tmp_path, "[array]\nrows = { min = 3, max = 40, scale = 'log2' }\n"
                    "cols = { min = 4, max = 12, step = 4 }\n")  # fmt: skip
    assert ranged.axes["array.rows"] == [4, 8, 16, 32] and ranged.axes["array.cols"] == [4, 8, 12]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[array]\nrows = [8, 0]\n", "[array] rows must be an integer in 1..256, not 0"),
        ("[array]\nrowz = 8\n", "[array] unknown key 'rowz'"),
        ("[array]\nrows = [8, 8]\n", "lists a value twice"),
        ("[array]\nrows = []\n", "lists no value"),
        ("[array]\nrows = { min = 9, max = 4 }\n", "max (4) is below min (9)"),
        ("[sweep]\nbalance = ['fast']\n", "[sweep] balance must be one of"),
        ("[sweep]\nfpga = ['ice40-up5k']\n", "fitted for ECP5 only"),
        ("[sweep]\nenergy = ['missing.toml']\n", "no such file 'missing.toml'"),
        ("[arrays]\nrows = 8\n", "unknown table [arrays]"),
    ],
)
def test_space_errors_name_file_key_and_value(tmp_path, text, message):
    with pytest.raises(AccelError) as err:
        _space(tmp_path, text)
    assert message in str(err.value) and str(tmp_path / "space.toml") in str(err.value)


def test_a_space_too_large_to_sweep_is_left_to_search(tmp_path):
    text = "[array]\nrows = { min = 1, max = 256 }\ncols = { min = 1, max = 256 }\n" \
           "queue_depth = { min = 1, max = 64 }\nlanes = [1, 2, 4]\n"  # fmt: skip
    with pytest.raises(AccelError, match="12,582,912 points, more than a sweep's 10,000,000"):
        _space(tmp_path, text)
    assert load_space(tmp_path / "space.toml", max_points=None).size == 12_582_912


def test_invalid_combinations_are_counted_not_run(tmp_path):
    space = _space(tmp_path, "[array]\nblock = [1, 4]\nlanes = [1, 2]\n")
    with Store(tmp_path / "s.db") as store:
        s = run_points(space.designs(), [_small()], store, Inline())
    assert (s.points, s.invalid, s.evaluated) == (4, 1, 3)
    assert "lanes must be an integer in 1..1" in s.first_invalid


def test_row_equals_the_simulators_report():
    """A stored row, priced, is what `accel simulate` reports for that design."""
    w = _small()
    config = Config(ArrayConfig(rows=8, cols=8, block=8, lanes=2))
    (row,) = evaluate(Design(config, "sort"), [w], "v")
    layers = get_network("resnet50", image=32)
    result = simulate_network(config, layers, w.weights, 0.5, 3, balance="sort")
    report = report_dict(config, result, {}, load_energy_table())
    t, r = report["totals"], row["result"]
    assert r["cycles"] == t["total_cycles"] and r["dense_cycles"] == t["dense_total_cycles"]
    assert r["compute_cycles"] == t["compute_cycles"] and r["macs"] == t["macs"]
    assert r["utilisation"] == pytest.approx(t["utilisation"])
    assert r["max_blocks"] == report["rtl_max_blocks"]
    energy = price(load_energy_table(), config.array, r["actions"])["total"]
    assert energy == pytest.approx(t["energy_pj"]["total"], rel=1e-12)
    dense = price(load_energy_table(), config.array, r["dense_actions"])["total"]
    assert dense == pytest.approx(t["dense_energy_pj"]["total"], rel=1e-12)


def test_repeated_shapes_are_simulated_once():
    w = _small()
    layers = get_network("resnet50", image=32)
    shapes = {(x.kind, x.M, x.K, x.N, x.groups, x.input_elems, x.conv) for x in layers}
    design = Design(Config(ArrayConfig(rows=5, cols=7)))  # a design no other test runs
    (row,) = evaluate(design, [w], "v")
    assert row["cached_layers"] == len(layers) - len(shapes) > 0
    (again,) = evaluate(design, [w], "v")
    assert again["cached_layers"] == len(layers) and again["result"] == row["result"]


def test_a_second_run_simulates_nothing_and_clocks_are_free(tmp_path):
    space = _space(tmp_path)
    loads = [_small(), _small("mobilenet_v2")]
    with Store(tmp_path / "s.db") as store:
        first = run_points(space.designs(), loads, store, Inline())
        assert (first.evaluated, first.rows, len(store)) == (16, 32, 32)
        second = run_points(space.designs(), loads, store, Inline())
        assert (second.evaluated, second.stored) == (0, 16)
        rows = list(store.rows(simulator_version()))
    entries = priced(rows, [100.0, 250.0], ["default"], ["ecp5-85k"])
    assert len(entries) == 64
    slow, fast = entries[0], entries[1]
    assert slow["row"] is fast["row"]
    f = slow["fmax_mhz"]  # latency at min(clock, modelled Fmax)
    assert slow["latency_ms"] == pytest.approx(min(250.0, f) / min(100.0, f) * fast["latency_ms"])
    assert slow["energy_uj"] == fast["energy_uj"]


def test_pool_and_dask_give_the_rows_of_one_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    space = _space(tmp_path, "[array]\nrows = [4, 8]\nqueue_depth = [2, 4]\n")
    loads = [_small()]

    def results(backend, name):
        with Store(tmp_path / name) as store:
            s = run_points(space.designs(), loads, store, backend)
            assert s.evaluated == 4
            return {r["key"]: r["result"] for r in store.rows()}

    inline = results(Inline(), "inline.db")
    assert results(LocalPool(2), "pool.db") == inline
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        assert results(make_backend(None, cluster.scheduler_address), "dask.db") == inline


def test_store_refuses_a_file_it_did_not_write(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("my notes\n")
    with pytest.raises(AccelError, match="not an SQLite file"):
        Store(text)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AccelError, match="accel did not write"):
        Store(other)
    assert text.read_text() == "my notes\n"
    with pytest.raises(AccelError, match="no such file"):
        Store(tmp_path / "missing.db", create=False)


def _accel(*args: str, cwd: Path, out=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "accel.cli", *args], cwd=cwd,
                            stdout=out, stderr=out, text=True)  # fmt: skip


def test_killed_sweep_resumes_without_loss_or_repeat(tmp_path):
    """kill -9 in the middle of a sweep: the store is sound, holds what finished, and a
    second run simulates exactly the rest."""
    (tmp_path / "space.toml").write_text(
        "[array]\nrows = { min = 2, max = 13 }\ncols = [4, 8]\nqueue_depth = [2, 4]\n"
    )
    args = ("sweep", "--space", "space.toml", "--network", "resnet50", "--image", "32",
            "--weight-density", "0.3", "-j", "1")  # fmt: skip
    proc = _accel(*args, cwd=tmp_path, out=subprocess.DEVNULL)
    db = tmp_path / "sweep.db"
    deadline = time.monotonic() + 120
    held = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with contextlib.closing(sqlite3.connect(db)) as con:
                    held = con.execute("SELECT count(*) FROM points").fetchone()[0]
            except sqlite3.Error:
                continue
            if held >= 5:
                break
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = con.execute("SELECT count(*) FROM points").fetchone()[0]
    con.close()
    assert 5 <= kept < 48
    again = _accel(*args, "--quiet", cwd=tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    with Store(db) as store:
        assert len(store) == 48
    resumed = _accel(*args, cwd=tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "48 already stored; 0 simulated" in out


def test_export_csv_and_parquet(tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    from accel.cli import main

    (tmp_path / "space.toml").write_text(SPACE)
    monkeypatch.chdir(tmp_path)
    flags = ["--network", "resnet50", "--image", "32", "--weight-density", "0.3", "-j", "1"]
    assert main(["sweep", "--space", "space.toml", *flags, "--quiet"]) == 0
    assert main(["sweep", "--export", "r.csv", "--quiet"]) == 0
    with open("r.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 16 * 2  # points x clocks
    assert {line["clock_mhz"] for line in lines} == {"100.0", "250.0"}
    assert main(["sweep", "--export", "r.csv", "--quiet"]) == 0  # its own file: replaced
    assert main(["sweep", "--export", "r.parquet", "--quiet"]) == 0
    table = pq.read_table("r.parquet")
    assert table.num_rows == 32 and "energy_uj" in table.column_names
    store = Path("sweep.db").read_bytes()
    assert main(["sweep", "--export", "sweep.db", "--force", "--quiet"]) == 2
    assert Path("sweep.db").read_bytes() == store  # never exported over itself
    Path("mine.csv").write_text("a,b\n")
    assert main(["sweep", "--export", "mine.csv", "--quiet"]) == 2
    assert Path("mine.csv").read_text() == "a,b\n"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_keeps_what_finished(tmp_path, jobs):
    (tmp_path / "space.toml").write_text("[array]\nrows = { min = 2, max = 25 }\ncols = [4, 8]\n")
    args = ("sweep", "--space", "space.toml", "--network", "resnet50", "--image", "32",
            "--weight-density", "0.3", "-j", jobs)  # fmt: skip
    proc = _accel(*args, cwd=tmp_path)
    db = tmp_path / "sweep.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            with contextlib.closing(sqlite3.connect(db)) as con:
                try:
                    if con.execute("SELECT count(*) FROM points").fetchone()[0] >= 3:
                        break
                except sqlite3.Error:
                    continue
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    with Store(db) as store:
        kept = len(store)
    assert 3 <= kept < 48
    again = _accel(*args, cwd=tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{kept} already stored; {48 - kept} simulated" in out


def test_onnx_workload_rows_equal_simulate_onnx(tmp_path, capsys):
    """An ONNX model with real inputs: the row's cycles and energy are `accel simulate`'s."""
    import json

    from accel.cli import main

    root = Path(__file__).resolve().parents[2] / "models" / "lenet"
    model, data = str(root / "lenet.onnx"), str(root / "test_images.npy")
    (tmp_path / "space.toml").write_text("[array]\nrows = [4, 8]\ncols = 8\nblock = 8\n")
    db = str(tmp_path / "s.db")
    assert main(["sweep", "--space", str(tmp_path / "space.toml"), "--store", db,
                 "--onnx", model, "--input", data, "-j", "1", "--quiet"]) == 0  # fmt: skip
    with Store(db) as store:
        rows = {r["params"]["array"]["rows"]: r["result"] for r in store.rows()}
    for n in (4, 8):
        report = tmp_path / f"r{n}.json"
        flags = ["--rows", str(n), "--cols", "8", "--block", "8", "--json", str(report)]
        assert main(["simulate", "--onnx", model, "--input", data, *flags, "--quiet"]) == 0
        t = json.loads(report.read_text())["totals"]
        assert rows[n]["cycles"] == t["total_cycles"]
        assert rows[n]["dense_cycles"] == t["dense_total_cycles"]
        energy = price(load_energy_table(), ArrayConfig(rows=n, cols=8, block=8),
                       rows[n]["actions"])["total"]  # fmt: skip
        assert energy == pytest.approx(t["energy_pj"]["total"], rel=1e-12)
    capsys.readouterr()
