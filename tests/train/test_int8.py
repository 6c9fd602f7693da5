"""The integer path is the golden model's arithmetic, and quantisation keeps zeros zero."""

from __future__ import annotations

import numpy as np
import pytest

from accel import golden
from accel.config import ArrayConfig
from accel.prune import channel_mask, global_magnitude_masks
from accel.train import data, lenet
from accel.train.int8 import evaluate_int8, gemm_input, int8_forward, quantize_lenet


@pytest.fixture(scope="module")
def split():
    images, labels = data.load_mnist()
    return data.split(images, labels, 400, 100, seed=1)


@pytest.fixture(scope="module")
def pruned():
    """Random weights with 60 % removed and conv1's filters 0 and 1 zeroed entirely."""
    params = lenet.init_params(5)
    rng = np.random.default_rng(5)
    for k in params:
        if k.endswith(".bias"):
            params[k] = (rng.standard_normal(params[k].shape) * 0.05).astype(np.float32)
    masks = global_magnitude_masks(lenet.weights(params), 0.6)
    masks["conv1"] = masks["conv1"] & channel_mask(params["conv1.weight"], 0.0)
    masks["conv1"][:2] = False
    params["conv1.bias"][:2] = -0.1
    for name, mask in masks.items():
        params[f"{name}.weight"] = params[f"{name}.weight"] * mask
    return params, masks


@pytest.mark.parametrize("cfg", [ArrayConfig(), ArrayConfig(acc_bits=20)])
def test_every_layer_is_bit_exact_with_golden(split, pruned, cfg):
    params, _ = pruned
    model = quantize_lenet(params, split.x_train[:64], cfg)
    _, inputs, outputs = int8_forward(model, split.x_test[:5])
    for spec in lenet.LAYERS:
        w, b = model.weights[spec.name], model.biases[spec.name]
        if spec.is_conv:
            geo = lenet.conv_geometry(spec, 5)
            ref = golden.conv2d(inputs[spec.name], w, geo, cfg, bias=b, relu=spec.relu)
            ref = ref.transpose(1, 0, 2, 3).reshape(spec.out_ch, -1)  # [O, (batch, row, col)]
        else:
            ref = golden.linear(inputs[spec.name], w, cfg, bias=b, relu=spec.relu).T
        np.testing.assert_array_equal(outputs[spec.name], ref, err_msg=spec.name)
        assert np.abs(inputs[spec.name]).max() <= 127


def test_quantisation_keeps_zeros_zero(split, pruned):
    params, masks = pruned
    model = quantize_lenet(params, split.x_train[:64])
    for name, mask in masks.items():
        q = model.weights[name]
        assert q.dtype.kind == "i" and np.abs(q).max() <= 127
        assert np.all(q[~mask] == 0), name
    assert np.all(model.weight_scales["conv1"][:2] == 1.0)  # a dead filter: scale 1, zeros
    _, inputs, _ = int8_forward(model, split.x_test[:8])
    black = split.x_test[:8] == 0
    assert np.all(inputs["conv1"][black] == 0)  # black stays black
    assert np.all(inputs["conv1"][~black] >= 0)
    # conv2 reads conv1's dead filters 0 and 1 (negative bias, ReLU): zero channels
    assert np.all(inputs["conv2"][:, :2] == 0)
    assert np.count_nonzero(inputs["conv2"][:, 2:]) > 0


def test_int8_accuracy_tracks_float(split):
    from accel.train.optim import fit

    params = fit(
        lenet.init_params(0), split.x_train, split.y_train, epochs=3, lr=3e-3, seed=0
    ).params
    model = quantize_lenet(params, split.x_train[:100])
    ev = evaluate_int8(model, split.x_test, split.y_test, batch=32)
    float_acc = lenet.accuracy(params, split.x_test, split.y_test)
    assert float_acc > 0.75
    assert abs(ev.accuracy - float_acc) <= 0.03
    assert 0.7 < ev.act_sparsity("conv1") < 0.9
    _, inputs, _ = int8_forward(model, split.x_test)
    assert ev.input_zeros["fc1"] == int(np.sum(inputs["fc1"] == 0))


def test_gemm_input_is_golden_im2col(split):
    spec = lenet.LAYERS[1]
    x = np.random.default_rng(0).integers(-3, 4, (2, 6, 14, 14))
    X = gemm_input(spec, x)
    assert X.shape == (150, 2 * 10 * 10)
    np.testing.assert_array_equal(X, golden.im2col(x, lenet.conv_geometry(spec, 2))[0])
