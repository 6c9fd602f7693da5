"""Built-in networks, as the GEMM layers the array actually runs.

Only layers that lower to GEMMs appear (convolutions, fully connected layers and the
two attention matmuls); pooling, batch norm, activations and residual adds cost no
array time here, so they only matter through the spatial sizes they produce. Spatial
sizes are derived with the usual padding arithmetic from the input size, never
hard-coded, so the same builders give the right shapes at any image size or batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..errors import AccelError
from .layer import Layer, conv2d, linear, matmul

__all__ = [
    "LIMITS",
    "NETWORKS",
    "bert_base",
    "get_network",
    "mobilenet_v2",
    "network_key",
    "resnet50",
    "vgg16",
]


# Largest shape parameters: beyond them one layer's patterns alone need gigabytes
# (VGG-16 at image 5000 reached 15 GB before failing; BERT at 100,000 tokens 224 GiB).
LIMITS = {"batch": 64, "image": 1024, "seq_len": 4096}


def _check_positive(name: str, value: object) -> int:
    """Reject anything but an ``int`` in ``1..LIMITS[name]`` (``bool`` too, though Python
    calls it one).

    Done up front so that a bad parameter is reported by its own name rather than as a
    confusing failure (or an exhausted memory) deep inside the network.
    """
    hi = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise AccelError(f"{name} must be an integer in 1..{hi}, not {value!r}")
    return value


class _ConvNet:
    """Collects the layers of a CNN while tracking what its convs need to know.

    The batch and the image size are the same for every conv of a network; keeping them
    here keeps the builders down to the architecture, and lets every error name the
    image size that caused it.
    """

    def __init__(self, network: str, batch: int, image: int) -> None:
        self.network = network
        self.batch = _check_positive("batch", batch)
        self.image = _check_positive("image", image)
        self.layers: list[Layer] = []

    def _too_small(self, detail: str) -> AccelError:
        return AccelError(f"image={self.image} is too small for {self.network}: {detail}")

    def conv(
        self,
        name: str,
        in_ch: int,
        out_ch: int,
        size: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
    ) -> int:
        """Append a 'same'-padded conv and return its output size.

        Every conv in these networks pads by ``kernel // 2``; the output size comes from
        the conv's own geometry so that it follows exactly the layer's arithmetic.
        """
        try:
            layer = conv2d(
                name,
                in_ch,
                out_ch,
                size,
                kernel,
                stride=stride,
                pad=kernel // 2,
                groups=groups,
                batch=self.batch,
            )
        except AccelError as exc:
            raise self._too_small(str(exc)) from exc
        self.layers.append(layer)
        assert layer.conv is not None
        return layer.conv.out_h

    def pool(self, size: int, kernel: int, stride: int, pad: int, where: str) -> int:
        """Spatial size after a pooling layer (floor mode, as in torchvision).

        Pooling is not a layer of its own, but it shrinks the map; if it shrinks it to
        nothing the input image was too small for the network.
        """
        out = (size + 2 * pad - kernel) // stride + 1
        if out < 1:
            raise self._too_small(f"the feature map vanishes at {where}")
        return out

    def fc(self, name: str, in_features: int, out_features: int) -> None:
        """Append a classifier layer: one token per image, after global pooling."""
        self.layers.append(linear(name, in_features, out_features, tokens=self.batch))


def resnet50(batch: int = 1, image: int = 224) -> list[Layer]:
    """torchvision ResNet-50 v1.5: 53 convs and the classifier, 54 layers.

    v1.5 puts the stride of a downsampling bottleneck on its 3x3 conv (v1 put it on the
    first 1x1), which costs more MACs (4.09 G at 224) but is what torchvision ships.
    The 1x1 projection shortcut (``downsample``) carries the same stride.
    """
    net = _ConvNet("resnet50", batch, image)
    size = net.conv("conv1", 3, 64, net.image, 7, stride=2)
    size = net.pool(size, 3, 2, 1, "maxpool")
    in_ch = 64
    stages = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, stride
    for stage, (width, blocks, stage_stride) in enumerate(stages, start=1):
        out_ch = width * 4  # bottleneck expansion
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            stride = stage_stride if block == 0 else 1
            in_size = size
            net.conv(f"{prefix}.conv1", in_ch, width, in_size, 1)
            size = net.conv(f"{prefix}.conv2", width, width, in_size, 3, stride)
            net.conv(f"{prefix}.conv3", width, out_ch, size, 1)
            if block == 0:  # channels (and maybe size) change: projection shortcut
                net.conv(f"{prefix}.downsample", in_ch, out_ch, in_size, 1, stride)
            in_ch = out_ch
    # Adaptive average pooling to 1x1: the classifier does not depend on the image size.
    net.fc("fc", in_ch, 1000)
    return net.layers


# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v2(batch: int = 1, image: int = 224) -> list[Layer]:
    """torchvision MobileNetV2 (width 1.0), about 300.8 M MACs at 224.

    Each inverted residual is expand 1x1 (skipped when t == 1, as the expansion would be
    the identity), depthwise 3x3 (``groups`` == channels, so K == 9 per output channel)
    and a linear 1x1 projection. Names follow torchvision's ``features.<i>`` indices.
    """
    net = _ConvNet("mobilenet_v2", batch, image)
    size = net.conv("features.0", 3, 32, net.image, 3, stride=2)
    in_ch = 32
    index = 1
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        for repeat in range(n):
            stride = s if repeat == 0 else 1
            hidden = in_ch * t
            prefix = f"features.{index}"
            if t != 1:
                net.conv(f"{prefix}.expand", in_ch, hidden, size, 1)
            size = net.conv(f"{prefix}.dw", hidden, hidden, size, 3, stride, groups=hidden)
            net.conv(f"{prefix}.project", hidden, c, size, 1)
            in_ch = c
            index += 1
    net.conv(f"features.{index}", in_ch, 1280, size, 1)
    # Global average pooling, then dropout and the one linear layer of the classifier.
    net.fc("classifier", 1280, 1000)
    return net.layers


# Output channels of each 3x3 conv; "M" is a 2x2 stride-2 max pool (torchvision cfg "D").
_VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


def vgg16(batch: int = 1, image: int = 224) -> list[Layer]:
    """VGG-16 (configuration D): 13 convs and 3 fully connected layers, ~15.47 G MACs.

    Names are the classic ``conv<block>_<i>`` and ``fc6``..``fc8``. As in torchvision,
    an adaptive average pool fixes the classifier input at 512 x 7 x 7 = 25088 for any
    image size, but the five unpadded 2x2 pools still need an image of at least 32.
    """
    net = _ConvNet("vgg16", batch, image)
    size, in_ch, block, conv_in_block = net.image, 3, 1, 0
    for item in _VGG16_CFG:
        if isinstance(item, str):  # "M"
            size = net.pool(size, 2, 2, 0, f"the pool after block {block}")
            block, conv_in_block = block + 1, 0
            continue
        conv_in_block += 1
        size = net.conv(f"conv{block}_{conv_in_block}", in_ch, item, size, 3)
        in_ch = item
    widths = (in_ch * 7 * 7, 4096, 4096, 1000)
    for i in range(3):
        net.fc(f"fc{6 + i}", widths[i], widths[i + 1])
    return net.layers


def bert_base(seq_len: int = 128, batch: int = 1) -> list[Layer]:
    """BERT-base encoder stack: 12 layers, hidden 768, 12 heads of 64, FFN 3072.

    Per encoder layer: the q/k/v projections, the per-head scores ``Q K^T`` and context
    ``P V`` (both operands are activations, hence ``dynamic_weights``), the output
    projection and the two FFN layers. Embeddings and the pooler are left out: the
    embedding is a lookup, not a GEMM, and the pooler is a single token.
    """
    seq_len = _check_positive("seq_len", seq_len)
    batch = _check_positive("batch", batch)
    hidden, heads, ffn, encoders = 768, 12, 3072, 12
    head_dim = hidden // heads
    tokens = seq_len * batch
    layers: list[Layer] = []
    for i in range(encoders):
        p = f"enc{i}"
        layers += [linear(f"{p}.{proj}", hidden, hidden, tokens=tokens) for proj in "qkv"]
        layers.append(
            matmul(
                f"{p}.scores",
                seq_len,
                head_dim,
                seq_len,
                groups=heads * batch,
                dynamic_weights=True,
            )
        )
        layers.append(
            matmul(
                f"{p}.context",
                seq_len,
                seq_len,
                head_dim,
                groups=heads * batch,
                dynamic_weights=True,
            )
        )
        layers.append(linear(f"{p}.out", hidden, hidden, tokens=tokens))
        layers.append(linear(f"{p}.ffn1", hidden, ffn, tokens=tokens))
        layers.append(linear(f"{p}.ffn2", ffn, hidden, tokens=tokens))
    return layers


NETWORKS: dict[str, Callable[..., list[Layer]]] = {
    "bert_base": bert_base,
    "mobilenet_v2": mobilenet_v2,
    "resnet50": resnet50,
    "vgg16": vgg16,
}


def network_key(name: str) -> str:
    """Lookup key: case and '-' versus '_' are spelling, not meaning (``MobileNet-V2``)."""
    return name.strip().lower().replace("-", "_")


def get_network(name: str, **params: object) -> list[Layer]:
    """Build a built-in network by name, with user input errors as ``AccelError``.

    Parameters are checked against the builder's signature here, so an unknown one (say
    ``seq_len`` for a CNN) is reported as bad input instead of a ``TypeError``.
    """
    if not isinstance(name, str):
        raise AccelError(f"network name must be a string, not {name!r}")
    builder = NETWORKS.get(network_key(name))
    if builder is None:
        raise AccelError(f"unknown network {name!r} (known: {', '.join(sorted(NETWORKS))})")
    accepted = list(inspect.signature(builder).parameters)
    for key in params:
        if key not in accepted:
            raise AccelError(
                f"network {builder.__name__!r} has no parameter {key!r} "
                f"(accepted: {', '.join(accepted)})"
            )
    return builder(**params)
