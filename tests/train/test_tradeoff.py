"""The trade-off simulates the operands it measured, and its command fails cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel import golden
from accel.cli import main
from accel.config import Config
from accel.outputs import is_ours
from accel.train import data, lenet
from accel.train.dense import Recipe
from accel.train.int8 import evaluate_int8, int8_forward, quantize_lenet
from accel.train.tradeoff import (
    Method,
    Settings,
    layer_operands,
    prune_and_finetune,
    run_tradeoff,
    simulate_model,
)


@pytest.fixture(scope="module")
def split():
    images, labels = data.load_mnist()
    return data.split(images, labels, 300, 100, seed=2)


@pytest.fixture(scope="module")
def model(split):
    params = lenet.init_params(2)
    settings = Settings(
        seed=2, epochs=0, images=8, calib=50, recipe=Recipe(seed=2, n_train=300, n_test=100)
    )
    params, _ = prune_and_finetune(Method("m", "magnitude", sparsity=0.7), params, split, settings)
    return quantize_lenet(params, split.x_train[:50])


def test_per_layer_x_is_the_captured_input_with_its_measured_density(split, model):
    x = split.x_test[:12]
    ops = layer_operands(model, x)
    _, inputs, _ = int8_forward(model, x)
    ev = evaluate_int8(model, x, split.y_test[:12])
    net = simulate_model(Config(), model, x)
    for spec, op, res in zip(lenet.LAYERS, ops, net.layers, strict=True):
        feature_map = inputs[spec.name]
        if spec.is_conv:
            expect = golden.im2col(feature_map, lenet.conv_geometry(spec, 12))[0]
        else:
            expect = feature_map.reshape(12, -1).T
            # an fc layer's X holds exactly the feature map: same density as measured
            assert 1 - np.count_nonzero(op.X) / op.X.size == pytest.approx(
                ev.act_sparsity(spec.name)
            )
        np.testing.assert_array_equal(op.X, expect)
        assert op.X.shape == (op.layer.K, op.layer.N)
        assert res.act_density == pytest.approx(np.count_nonzero(op.X) / op.X.size)
        assert res.weight_density == pytest.approx(np.count_nonzero(op.W) / op.W.size)
        assert np.array_equal(op.W, model.weights[spec.name].reshape(spec.out_ch, -1))
    assert 0.6 < ev.act_sparsity("conv1") < 0.95  # real pixels, not a density parameter


def test_run_tradeoff_measures_each_method():
    recipe = Recipe(seed=1, epochs=4, n_train=1000, n_test=200)
    settings = Settings(seed=1, epochs=1, images=8, calib=100, recipe=recipe)
    methods = (Method("dense", "dense"), Method("2:4", "nm", n=2, m=4))
    seen = []
    report = run_tradeoff(
        Config(),
        settings,
        methods=methods,
        model_file=None,
        progress=lambda i, n, what: seen.append((i, n)),
    )
    dense, nm = report["methods"]
    assert seen[-1] == (2, 2)
    assert dense["mask_sparsity"] == 0 and nm["mask_sparsity"] == pytest.approx(0.5, abs=0.02)
    assert nm["weight_sparsity"] >= nm["mask_sparsity"]
    assert dense["float_accuracy"] > 0.85 and nm["int8_accuracy"] > 0.8
    assert nm["speedup"] > dense["speedup"] > 1.0  # ReLU zeros help even the dense model
    assert nm["cycles_vs_dense_model"] > 1.0
    for row in report["methods"]:
        assert row["speedup"] == pytest.approx(row["dense_total_cycles"] / row["total_cycles"])
        assert [layer["name"] for layer in row["layers"]] == [s.name for s in lenet.LAYERS]
    json.dumps(report)  # plain JSON types throughout


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--epochs", "-1"], "--epochs"),
        (["--images", "0"], "--images"),
        (["--images", "1001"], "--images"),
        (["--seed", "-2"], "--seed"),
        (["--rows", "0"], "rows"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(capsys, argv, needle):
    assert main(["tradeoff", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("accel tradeoff: error: ") and needle in err


def test_refuses_to_overwrite_a_users_file_before_training(tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text("{}")
    assert main(["tradeoff", "--json", str(mine)]) == 2
    assert "--force" in capsys.readouterr().err
    assert mine.read_text() == "{}"


def test_plot_is_marked_and_never_clobbers(tmp_path):
    from accel.errors import AccelError
    from accel.plots import plot_tradeoff

    row = {
        "method": "dense",
        "float_accuracy": 0.97,
        "int8_accuracy": 0.96,
        "speedup": 1.3,
        "energy_saving": 1.5,
    }
    report = {
        "workload": "lenet5-mnist",
        "seed": 0,
        "simulated_images": 8,
        "config": Config().to_dict(),
        "methods": [row, {**row, "method": "2:4"}],
    }
    path = plot_tradeoff(report, tmp_path)
    assert path.name == "tradeoff.png" and is_ours(path)
    plot_tradeoff(report, tmp_path)  # ours: replaced
    other = tmp_path / "b"
    other.mkdir()
    (other / "tradeoff.png").write_bytes(b"\x89PNG user")
    with pytest.raises(AccelError, match="--force"):
        plot_tradeoff(report, other)
