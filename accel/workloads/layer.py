"""A layer as the array sees it: one or more independent integer GEMMs.

Every layer lowers to ``groups`` GEMMs ``Y_g[Mg, N] = W_g[Mg, K] . X_g[K, N]``, with
``M = groups * Mg`` (the contract, section 1). Convolutions keep their geometry so that
im2col, the memory model and reports can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccelError

__all__ = ["ConvGeometry", "ConvNdGeometry", "ConvTransposeGeometry", "Layer", "conv2d", "linear",
           "matmul"]  # fmt: skip


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length along one axis; ``pad`` is the sum of both sides' padding."""
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class ConvGeometry:
    """A 2-D convolution's shape (NCHW input, OIHW weights).

    ``stride`` and ``dilation`` are one int or ``(h, w)``; ``pad`` is one int (every side)
    or ``(top, left, bottom, right)``, the order of ONNX's ``pads``, so that imported
    models with per-axis strides and asymmetric padding keep their exact geometry.
    """

    in_ch: int
    out_ch: int
    in_h: int
    in_w: int
    kh: int
    kw: int
    stride: int | tuple[int, int] = 1
    pad: int | tuple[int, int, int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    batch: int = 1

    @property
    def strides(self) -> tuple[int, int]:
        return _pair(self.stride)

    @property
    def dilations(self) -> tuple[int, int]:
        return _pair(self.dilation)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``."""
        if isinstance(self.pad, int):
            return (self.pad,) * 4
        top, left, bottom, right = (int(v) for v in self.pad)
        return (top, left, bottom, right)

    @property
    def out_h(self) -> int:
        top, _, bottom, _ = self.pads
        return _out_size(self.in_h, self.kh, self.strides[0], top + bottom, self.dilations[0])

    @property
    def out_w(self) -> int:
        _, left, _, right = self.pads
        return _out_size(self.in_w, self.kw, self.strides[1], left + right, self.dilations[1])

    @property
    def nd(self) -> ConvNdGeometry:
        """The same convolution as a :class:`ConvNdGeometry` (ONNX's pads order)."""
        return ConvNdGeometry(self.in_ch, self.out_ch, (self.in_h, self.in_w), (self.kh, self.kw),
                              self.strides, self.pads, self.dilations, self.groups,
                              self.batch)  # fmt: skip


def _halves(pads: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n = len(pads) // 2
    return tuple(pads[:n]), tuple(pads[n:])


@dataclass(frozen=True)
class ConvNdGeometry:
    """A convolution over any number of spatial axes (``[batch, C, *in_size]`` input,
    ``[O, C/g, *kernel]`` weights), in ONNX's terms: ``pads`` is all begins, then all ends.

    The 3-D convolutions (video, volumes) use it; :class:`ConvGeometry` stays the 2-D
    one that the memory model and reports know.
    """

    in_ch: int
    out_ch: int
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    groups: int = 1
    batch: int = 1

    @property
    def out_size(self) -> tuple[int, ...]:
        begin, end = _halves(self.pads)
        return tuple(
            _out_size(n, k, s, b + e, d)
            for n, k, s, b, e, d in zip(
                self.in_size, self.kernel, self.strides, begin, end, self.dilations, strict=True
            )
        )


@dataclass(frozen=True)
class ConvTransposeGeometry:
    """A transposed convolution (``[batch, C, *in_size]`` input, ONNX's ``[C, O/g,
    *kernel]`` weights) over any number of spatial axes, in ONNX's terms.

    Input pixel ``i`` and kernel tap ``k`` land on output position ``i * stride + k *
    dilation - pad_begin`` (:func:`accel.golden.col2im`); ``output_padding`` extends the
    far end, so an explicit ``output_shape`` is these fields once its padding is derived.
    """

    in_ch: int
    out_ch: int
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    output_padding: tuple[int, ...]
    groups: int = 1
    batch: int = 1

    @property
    def full_size(self) -> tuple[int, ...]:
        """Positions the taps reach before padding is cropped: ``(n-1) s + (k-1) d + 1``."""
        return tuple(
            (n - 1) * s + (k - 1) * d + 1
            for n, k, s, d in zip(
                self.in_size, self.kernel, self.strides, self.dilations, strict=True
            )
        )

    @property
    def out_size(self) -> tuple[int, ...]:
        begin, end = _halves(self.pads)
        return tuple(
            f + p - b - e
            for f, p, b, e in zip(self.full_size, self.output_padding, begin, end, strict=True)
        )


@dataclass(frozen=True)
class Layer:
    """One layer of a network, lowered to ``groups`` GEMMs of ``(M / groups) x K x N``.

    ``input_elems`` is the size of the tensor the layer reads from memory (the feature
    map, not its im2col expansion); ``dynamic_weights`` marks a GEMM whose left operand
    is itself an activation (attention scores), which weight pruning cannot touch.
    """

    name: str
    M: int
    K: int
    N: int
    groups: int = 1
    kind: str = "linear"
    input_elems: int = 0
    dynamic_weights: bool = False
    conv: ConvGeometry | None = None

    def __post_init__(self) -> None:
        for attr in ("M", "K", "N", "groups"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AccelError(
                    f"layer {self.name!r}: {attr} must be a positive integer, not {value!r}"
                )
        if self.M % self.groups:
            raise AccelError(
                f"layer {self.name!r}: M={self.M} is not divisible by groups={self.groups}"
            )
        if self.input_elems == 0:
            object.__setattr__(self, "input_elems", self.groups * self.K * self.N)

    @property
    def m_per_group(self) -> int:
        return self.M // self.groups

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (no padding)."""
        return self.M * self.K * self.N

    @property
    def weight_count(self) -> int:
        return self.M * self.K

    @property
    def output_elems(self) -> int:
        return self.M * self.N


def conv2d(
    name: str,
    in_ch: int,
    out_ch: int,
    in_hw: int | tuple[int, int],
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    pad: int | tuple[int, int, int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    batch: int = 1,
) -> Layer:
    """A Conv2d lowered by im2col: M = out channels, K = in/groups x kh x kw, N = pixels x batch."""
    in_h, in_w = (in_hw, in_hw) if isinstance(in_hw, int) else in_hw
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if in_ch % groups or out_ch % groups:
        raise AccelError(
            f"layer {name!r}: channels {in_ch}->{out_ch} not divisible by groups={groups}"
        )
    geo = ConvGeometry(in_ch, out_ch, in_h, in_w, kh, kw, stride, pad, dilation, groups, batch)
    if geo.out_h < 1 or geo.out_w < 1:
        raise AccelError(f"layer {name!r}: kernel {kh}x{kw} does not fit input {in_h}x{in_w}")
    return Layer(
        name=name,
        M=out_ch,
        K=(in_ch // groups) * kh * kw,
        N=geo.out_h * geo.out_w * batch,
        groups=groups,
        kind="conv",
        input_elems=in_ch * in_h * in_w * batch,
        conv=geo,
    )


def linear(name: str, in_features: int, out_features: int, tokens: int = 1) -> Layer:
    """A fully connected layer: M = out features, K = in features, N = batch x tokens."""
    return Layer(
        name=name,
        M=out_features,
        K=in_features,
        N=tokens,
        kind="linear",
        input_elems=in_features * tokens,
    )


def matmul(
    name: str, M: int, K: int, N: int, groups: int = 1, dynamic_weights: bool = True
) -> Layer:
    """An activation-by-activation product (attention), ``groups`` independent heads."""
    return Layer(
        name=name,
        M=M * groups,
        K=K,
        N=N,
        groups=groups,
        kind="matmul",
        input_elems=groups * K * N,
        dynamic_weights=dynamic_weights,
    )
