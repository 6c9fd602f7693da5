"""The built-in networks against MAC counts derived here, independently of zoo's walk.

The expected figures come from closed-form per-stage sums with the spatial sizes written
out (224 -> 112 -> 56 -> 28 -> 14 -> 7), so a mistake in zoo's padding arithmetic or
block structure cannot cancel out against the same mistake in the test.
"""

from __future__ import annotations

import pytest

from accel.errors import AccelError
from accel.workloads.layer import Layer
from accel.workloads.zoo import NETWORKS, get_network


def total_macs(layers: list[Layer]) -> int:
    return sum(layer.macs for layer in layers)


# --- ResNet-50 -----------------------------------------------------------------------


def resnet50_macs_224() -> int:
    """Closed form: stem + per stage (first block with projection, then identity blocks)."""
    macs = 64 * 3 * 7 * 7 * 112 * 112  # conv1, 7x7/2 -> 112
    in_ch, prev = 64, 56  # after the 3x3/2 max pool
    for width, blocks, side in ((64, 3, 56), (128, 4, 28), (256, 6, 14), (512, 3, 7)):
        out = 4 * width
        # first block: 1x1 at the input size, 3x3 (strided) and 1x1 at the output size,
        # projection 1x1 with the stride
        macs += width * in_ch * prev * prev
        macs += width * width * 9 * side * side + out * width * side * side
        macs += out * in_ch * side * side
        # identity blocks
        macs += (blocks - 1) * side * side * (width * out + width * width * 9 + out * width)
        in_ch, prev = out, side
    return macs + 2048 * 1000


def test_resnet50_macs_and_layers() -> None:
    layers = get_network("resnet50")
    assert len(layers) == 54
    assert sum(1 for layer in layers if layer.kind == "conv") == 53
    assert resnet50_macs_224() == 4_089_184_256  # the closed form agrees with SCALE-Sim
    assert total_macs(layers) == 4_089_184_256


def test_resnet50_names_and_v15_stride() -> None:
    layers = {layer.name: layer for layer in get_network("resnet50")}
    assert len(layers) == 54  # names are unique
    for name in ("conv1", "layer1.0.conv1", "layer1.0.downsample", "layer4.2.conv3", "fc"):
        assert name in layers
    assert [n for n in layers if n.endswith("downsample")] == [
        f"layer{i}.0.downsample" for i in range(1, 5)
    ]
    # v1.5: the stride sits on the 3x3, the first 1x1 stays at the input resolution
    conv1, conv2 = layers["layer2.0.conv1"].conv, layers["layer2.0.conv2"].conv
    assert conv1 is not None and conv2 is not None
    assert (conv1.stride, conv1.in_h, conv1.out_h) == (1, 56, 56)
    assert (conv2.stride, conv2.in_h, conv2.out_h) == (2, 56, 28)
    down = layers["layer2.0.downsample"].conv
    assert down is not None and (down.stride, down.out_h) == (2, 28)
    assert (layers["fc"].M, layers["fc"].K, layers["fc"].N) == (1000, 2048, 1)


# --- VGG-16 --------------------------------------------------------------------------


def test_vgg16_macs_and_layers() -> None:
    layers = get_network("vgg16")
    assert len(layers) == 16
    expected = 0
    in_ch = 3
    for side, (out, repeats) in zip(
        (224, 112, 56, 28, 14), ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), strict=True
    ):
        for _ in range(repeats):
            expected += out * in_ch * 9 * side * side
            in_ch = out
    expected += 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert total_macs(layers) == expected
    assert total_macs(layers) == pytest.approx(15.47e9, rel=0.005)
    assert [layer.K for layer in layers[-3:]] == [25088, 4096, 4096]


# --- MobileNetV2 ---------------------------------------------------------------------


def test_mobilenet_v2_macs() -> None:
    layers = get_network("mobilenet_v2")
    # (t, c, n, s) and the output side of each group of blocks, written out
    blocks = (
        (1, 16, 1, 112),
        (6, 24, 2, 56),
        (6, 32, 3, 28),
        (6, 64, 4, 14),
        (6, 96, 3, 14),
        (6, 160, 3, 7),
        (6, 320, 1, 7),
    )
    expected = 32 * 3 * 9 * 112 * 112
    cin, side_in, count = 32, 112, 1
    for t, c, n, side in blocks:
        for _ in range(n):
            hidden = cin * t
            if t != 1:
                expected += hidden * cin * side_in * side_in
                count += 1
            expected += hidden * 9 * side * side + c * hidden * side * side
            count += 2
            cin, side_in = c, side
    expected += 1280 * 320 * 7 * 7 + 1280 * 1000
    count += 2
    assert len(layers) == count == 53
    assert total_macs(layers) == expected
    assert total_macs(layers) == pytest.approx(300.8e6, rel=0.01)


def test_mobilenet_v2_depthwise() -> None:
    depthwise = [layer for layer in get_network("mobilenet_v2") if layer.groups > 1]
    assert len(depthwise) == 17
    for layer in depthwise:
        assert layer.conv is not None
        assert layer.groups == layer.conv.in_ch == layer.conv.out_ch == layer.M
        assert layer.K == 9
        assert layer.m_per_group == 1


# --- BERT-base -----------------------------------------------------------------------


def test_bert_base_macs() -> None:
    seq = 128
    layers = get_network("bert_base", seq_len=seq)
    assert len(layers) == 12 * 8
    expected = 12 * (4 * seq * 768 * 768 + 2 * seq * seq * 768 + 2 * seq * 768 * 3072)
    assert total_macs(layers) == expected


def test_bert_base_attention_layers() -> None:
    layers = get_network("bert_base", seq_len=64, batch=3)
    by_name = {layer.name: layer for layer in layers}
    assert len(by_name) == len(layers)
    for suffix in ("q", "k", "v", "scores", "context", "out", "ffn1", "ffn2"):
        assert f"enc0.{suffix}" in by_name and f"enc11.{suffix}" in by_name
    for layer in layers:
        is_attention = layer.name.endswith((".scores", ".context"))
        assert layer.dynamic_weights is is_attention
    scores, context = by_name["enc5.scores"], by_name["enc5.context"]
    assert (scores.groups, scores.m_per_group, scores.K, scores.N) == (36, 64, 64, 64)
    assert (context.groups, context.m_per_group, context.K, context.N) == (36, 64, 64, 64)
    assert by_name["enc5.ffn1"].N == 64 * 3


# --- parameters and registry ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_batch_scaling(name: str) -> None:
    one = total_macs(get_network(name, batch=1))
    two = total_macs(get_network(name, batch=2))
    assert two == 2 * one


def test_image_size_changes_cnn_work() -> None:
    # the spatial sizes are derived, not fixed: a smaller image means less work
    assert total_macs(get_network("resnet50", image=112)) < total_macs(get_network("resnet50"))
    fc = get_network("vgg16", image=32)[-3]
    assert fc.K == 25088  # adaptive pool keeps the classifier input fixed


def test_registry_names() -> None:
    assert sorted(NETWORKS) == ["bert_base", "mobilenet_v2", "resnet50", "vgg16"]
    for spelling in ("MobileNet-V2", "RESNET50", "bert-base", "VGG16"):
        assert get_network(spelling)


def test_unknown_network() -> None:
    with pytest.raises(AccelError) as err:
        get_network("resnet5")
    message = str(err.value)
    assert "'resnet5'" in message
    assert "bert_base, mobilenet_v2, resnet50, vgg16" in message


@pytest.mark.parametrize(
    ("name", "params", "needles"),
    [
        ("bert_base", {"seq_len": 0}, ("seq_len", "0")),
        ("bert_base", {"seq_len": -5}, ("seq_len", "-5")),
        ("resnet50", {"batch": 0}, ("batch", "0")),
        ("resnet50", {"batch": 1.5}, ("batch", "1.5")),
        ("vgg16", {"batch": True}, ("batch", "True")),
        ("mobilenet_v2", {"image": "224"}, ("image", "'224'")),
        ("vgg16", {"image": 16}, ("image=16", "too small")),
        ("resnet50", {"seq_len": 128}, ("seq_len", "resnet50")),
        ("bert_base", {"image": 224}, ("image", "bert_base")),
    ],
)
def test_bad_params(name: str, params: dict[str, object], needles: tuple[str, ...]) -> None:
    with pytest.raises(AccelError) as err:
        get_network(name, **params)
    for needle in needles:
        assert needle in str(err.value)
