"""`accel search`: NSGA-II under an area budget, mirrored into the store, warm-started."""

from __future__ import annotations

from pathlib import Path

import pytest

from accel.cli import main
from accel.sweep.backends import Inline
from accel.sweep.derive import per_design, priced
from accel.sweep.evaluate import simulator_version
from accel.sweep.run import run_points
from accel.sweep.search import run_search
from accel.sweep.space import load_space
from accel.sweep.store import Store
from accel.sweep.workload import network_workload
from accel.workloads.sparsity import WeightSparsity

pytest.importorskip("optuna")

SPACE = """
[array]
rows = [4, 8, 16]
cols = [4, 16]
block = [8, 16]
[system]
clock_mhz = [100, 200]
[sweep]
fpga = ["ecp5-25k"]
"""


@pytest.fixture
def space(tmp_path: Path):
    (tmp_path / "space.toml").write_text(SPACE)
    return load_space(tmp_path / "space.toml")


WORK = [network_workload("resnet50", WeightSparsity("unstructured", 0.3), 0.5, 1, image=32)]


def test_search_mirrors_every_point_into_the_store(space, tmp_path):
    with Store(tmp_path / "s.db") as store:
        r = run_search(space, WORK, store, Inline(), trials=30, population=6, seed=2)
        rows = list(store.rows(simulator_version()))
    assert r.trials == 30 and r.invalid == 0
    assert len(rows) == r.simulated <= 12  # each design simulated once, whatever was asked
    assert len(r.points) + r.infeasible == 30


def test_budget_is_a_constraint_on_area(space, tmp_path):
    with Store(tmp_path / "s.db") as store:
        r = run_search(space, WORK, store, Inline(), trials=40, population=8, budget=0.3)
        rows = list(store.rows(simulator_version()))
    designs = per_design(priced(rows, [100.0], ["default"], ["ecp5-25k"]), [WORK[0].name])
    over = {d["design_key"] for d in designs if d["area"] > 0.3}
    assert over  # 16x16 does not fit 30 % of a 25k: told as infeasible, not left out
    assert r.infeasible > 0
    assert all(p[2] <= 0.3 for p in r.points)


def test_warm_start_from_a_sweep_simulates_nothing(space, tmp_path):
    with Store(tmp_path / "s.db") as store:
        sweep = run_points(space.designs(), WORK, store, Inline())
        assert sweep.evaluated == 12
        r = run_search(space, WORK, store, Inline(), trials=20, population=6)
        random = run_search(space, WORK, store, Inline(), trials=10, sampler="random")
    assert r.warm == 12 * 2 and r.simulated == 0 and r.trials == 20
    assert random.warm == 24 and random.simulated == 0


def test_cli_search_then_pareto(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("space.toml").write_text(SPACE)
    flags = ["--network", "resnet50", "--image", "32", "--weight-density", "0.3", "-j", "1"]
    assert main(["search", "--space", "space.toml", *flags, "--trials", "12",
                 "--population", "4"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "12 trials" in out and "sweep.db holds" in out
    assert main(["pareto", "--store", "sweep.db", "--all"]) == 0
    for bad, message in ((["--budget", "0"], "--budget must be"),
                         (["--trials", "0"], "--trials must be"),
                         (["--population", "1"], "--population must be")):  # fmt: skip
        assert main(["search", "--space", "space.toml", *flags, *bad]) == 2
        assert message in capsys.readouterr().err
