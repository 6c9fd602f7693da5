"""LSTM, GRU and com.microsoft DynamicQuantizeLSTM as the array's GEMMs, per direction.

The input projection has no recurrence, so it is ONE GEMM over every time step: ``M =
G x H`` (G = 4 gates for LSTM, 3 for GRU), ``K = input_size``, ``N = T x batch``, weights
``W[dir]``, X the captured sequence. The recurrent projection is T GEMMs of ``M = G x H,
K = H, N = batch`` with weights ``R[dir]``, each needing the previous step's state: they
are separate layers (``{node}/fwd/h{t}``; a reverse direction runs ``t = T-1 .. 0``) whose
X is ``h_{t-1}`` sliced from the node's captured output ``Y`` (the first step's from
``initial_h``, or zeros). Gates, cell updates and peepholes are element-wise, off the array.

A GRU with ``linear_before_reset=0`` multiplies the hidden gate's R by ``r ⊙ h_{t-1}``,
not by ``h_{t-1}``: its step is two GEMMs, ``M = 2H`` on ``h_{t-1}`` (z, r) and ``M = H``
on ``r ⊙ h_{t-1}``, whose ``r`` the NumPy reference (:mod:`..rnn_reference`) computes from
the captured sequence and state; the product is quantised on the state's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ....errors import AccelError
from ...layer import Layer
from ..context import Context, fmt, node_label
from ..model import OnnxLayer
from ..rnn_reference import ACTIVATIONS, activation, directions, gru_reset_gate

__all__ = ["LOWERINGS", "RnnGeometry", "ResetGate", "reset_state_x", "sequence_x", "state_x"]

_DIR_NAMES = {False: "fwd", True: "rev"}


@dataclass(frozen=True, eq=False)
class ResetGate:
    """What a GRU's reset gate ``r_t`` needs besides the captured state: the sequence
    input's name and one direction's float W ``[3H, I]``, R ``[3H, H]``, B ``[6H]``."""

    seq: str
    W: np.ndarray = field(repr=False)
    R: np.ndarray = field(repr=False)
    B: np.ndarray | None = field(repr=False)
    clip: float | None
    act: str
    unsupported: str | None = None  # why r cannot be computed (then X is refused)
    source: str | None = None  # the model file, for the error


@dataclass(frozen=True)
class RnnGeometry:
    """Where one layer of a recurrence takes its X from.

    ``source`` is ``"seq"`` (the input projection), ``"y"`` (``h_{t-1}`` is ``Y``'s time
    ``t_prev``), ``"h0"`` (the ``initial_h`` tensor) or ``"zeros"`` (no initial state).
    """

    layout: int
    steps: int
    batch: int
    hidden: int
    dirs: int
    d: int
    t: int
    source: str
    t_prev: int = -1
    reset: ResetGate | None = None


def _input(node, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _seq_view(a: np.ndarray, g: RnnGeometry) -> np.ndarray:
    """The sequence input time-major ``[T, batch, I]`` (a view)."""
    if g.layout == 0:
        return np.asarray(a).reshape(g.steps, g.batch, -1)
    return np.asarray(a).reshape(g.batch, g.steps, -1).swapaxes(0, 1)


def _state(a: np.ndarray, g: RnnGeometry) -> np.ndarray:
    """``h_{t-1} [batch, H]`` of direction ``g.d`` from ``Y`` or ``initial_h``."""
    a = np.asarray(a)
    if g.source == "y":
        if g.layout == 0:
            return a.reshape(g.steps, g.dirs, g.batch, g.hidden)[g.t_prev, g.d]
        return a.reshape(g.batch, g.steps, g.dirs, g.hidden)[:, g.t_prev, g.d]
    if g.layout == 0:
        return a.reshape(g.dirs, g.batch, g.hidden)[g.d]
    return a.reshape(g.batch, g.dirs, g.hidden)[:, g.d]


def sequence_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """The whole sequence as ``X [1, I, T x batch]`` (columns time-major)."""
    x = _seq_view(q, item.geometry)
    return np.ascontiguousarray(x.reshape(-1, x.shape[-1]).T)[None]


def state_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """``h_{t-1}`` as ``X [1, H, batch]``: a slice of the captured ``Y`` or
    ``initial_h``, or zeros before a first step without an initial state."""
    g: RnnGeometry = item.geometry
    if g.source == "zeros":
        return np.zeros((1, g.hidden, g.batch), dtype=np.asarray(q).dtype)
    return np.ascontiguousarray(_state(q, g).T)[None]


def reset_state_x(item: OnnxLayer, q: np.ndarray) -> np.ndarray:
    """``r_t ⊙ h_{t-1}`` as ``X [1, H, batch]``, quantised on the scale of the tensor
    ``h_{t-1}`` was captured in (``r`` is in (0, 1), so it never overflows it)."""
    g: RnnGeometry = item.geometry
    q = np.asarray(q)
    if g.source == "zeros":
        return np.zeros((1, g.hidden, g.batch), dtype=q.dtype)
    gate = g.reset
    assert gate is not None
    if gate.unsupported:
        raise AccelError(f"{item.op} node {item.node!r}: {gate.unsupported}", source=gate.source)
    if item.x_values is None:
        raise AccelError(f"{item.op} node {item.node!r}: r ⊙ h needs the captured sequence "
                         "and state (--input)", source=gate.source)  # fmt: skip
    h_all = np.asarray(item.x_values[item.act_input], np.float64)
    x_t = _seq_view(item.x_values[gate.seq], g)[g.t]
    h = _state(h_all, g)
    r = gru_reset_gate(x_t, h, gate.W, gate.R, gate.B, gate.clip, activation(gate.act))
    peak_q = int(np.abs(q.astype(np.int64)).max(initial=0))  # the tensor's scale: its peak
    scale = float(np.abs(h_all).max()) / peak_q if peak_q > 0 else 1.0
    rh = np.rint(r * h / scale).astype(q.dtype)
    return np.ascontiguousarray(rh.T)[None]


@dataclass(frozen=True, eq=False)
class _Weights:
    """One direction's GEMM weights: float ``[M, K]`` and the model's integers (or None)."""

    w: np.ndarray
    r: np.ndarray
    int_w: np.ndarray | None = None
    int_r: np.ndarray | None = None


def _float_weights(ctx: Context, node, gates: int) -> tuple[list[_Weights], int, int]:
    """LSTM / GRU: W ``[dirs, G H, I]`` and R ``[dirs, G H, H]`` per direction; H, I."""
    W, R = ctx.weight(node, 1, "W"), ctx.weight(node, 2, "R")
    if W.ndim != 3 or R.ndim != 3 or W.shape[1] != R.shape[1] or R.shape[1] != gates * R.shape[2]:
        raise ctx.error(node, f"W {fmt(W.shape)} and R {fmt(R.shape)} are not [dirs, "
                              f"{gates}H, I] and [dirs, {gates}H, H]")  # fmt: skip
    return [_Weights(W[d], R[d]) for d in range(W.shape[0])], R.shape[2], W.shape[2]


def _per_row(ctx: Context, node, index: int, dirs: int, rows: int, what: str,
             default: float | None) -> np.ndarray:  # fmt: skip
    """A scale or zero point per direction or per direction and gate row: ``[dirs, rows]``."""
    name = _input(node, index)
    if not name and default is not None:
        return np.full((dirs, rows), default)
    v = ctx.weight(node, index, what)
    if v.size == dirs:
        return np.repeat(v.reshape(dirs, 1), rows, axis=1)
    if v.size == dirs * rows:
        return v.reshape(dirs, rows)
    raise ctx.error(node, f"{what} {name!r} {fmt(v.shape)} is neither [{dirs}] nor "
                          f"[{dirs}, {rows}]")  # fmt: skip


def _int_weights(ctx: Context, node) -> tuple[list[_Weights], int, int]:
    """DynamicQuantizeLSTM: int8 W ``[dirs, I, 4H]``, R ``[dirs, H, 4H]`` (transposed
    against LSTM's), scales and zero points per direction or per gate row; the GEMM
    view is ``W[d]ᵀ - zp`` and its float value that times the scale."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for what, w_i, s_i, zp_i in (("W", 1, 8, 9), ("R", 2, 10, 11)):
        w = ctx.weight(node, w_i, what)
        if w.dtype.kind not in "iu" or w.ndim != 3:
            raise ctx.error(node, f"{what} {fmt(w.shape)} of {w.dtype} is not [dirs, K, 4H] "
                                  "integers")  # fmt: skip
        dirs, _, rows = w.shape
        scale = _per_row(ctx, node, s_i, dirs, rows, f"{what}_scale", None)
        zp = _per_row(ctx, node, zp_i, dirs, rows, f"{what}_zero_point", 0)
        ints = w.transpose(0, 2, 1).astype(np.int32) - zp.astype(np.int32)[:, :, None]
        out[what] = ints, ints * np.asarray(scale, np.float64)[:, :, None]
    (iw, fw), (ir, fr) = out["W"], out["R"]
    H = ir.shape[2]
    if iw.shape[0] != ir.shape[0] or iw.shape[1] != 4 * H or ir.shape[1] != 4 * H:
        raise ctx.error(node, f"W {fmt(iw.shape)} and R {fmt(ir.shape)} (as [dirs, 4H, K]) "
                              "do not fit one LSTM")  # fmt: skip
    weights = [_Weights(fw[d], fr[d], iw[d], ir[d]) for d in range(iw.shape[0])]
    return weights, H, iw.shape[2]


def _fresh_name(ctx: Context, base: str) -> str:
    """A tensor name not used anywhere in the importer's model."""
    g = ctx.model.graph
    used = {t.name for t in g.initializer} | {v.name for v in g.input}
    used |= {n for node in g.node for n in (*node.input, *node.output)}
    name, i = base, 1
    while name in used:
        name, i = f"{base}_{i}", i + 1
    return name


def _output_y(ctx: Context, node, label: str) -> str:
    """The node's ``Y`` output, named in the importer's model when the file left it
    unused (``""``), so that the capture can read the states."""
    if len(node.output) and node.output[0]:
        return node.output[0]
    name = _fresh_name(ctx, f"{label}/Y")
    if len(node.output):
        node.output[0] = name
    else:
        node.output.append(name)
    return name


def _initial_h(ctx: Context, node, label: str, shape: tuple[int, ...]) -> str | None:
    """The tensor that holds ``initial_h`` (None: absent or all zeros). A constant is
    made readable by the capture through an Identity added to the importer's model."""
    name = _input(node, 5)
    if not name:
        return None
    value = ctx.consts.get(name)
    if value is None:
        got = ctx.static_shape(name, node, "initial_h")
    else:
        if not np.any(value):
            return None
        got = tuple(value.shape)
    if tuple(got) != shape:
        raise ctx.error(node, f"initial_h {name!r} {fmt(got)} is not {fmt(shape)}")
    if value is None:
        return name
    from onnx import helper

    out = _fresh_name(ctx, f"{label}/initial_h")
    ctx.model.graph.node.append(helper.make_node("Identity", [name], [out], name=out))
    return out


def _check_lengths(ctx: Context, node, steps: int, batch: int) -> None:
    """``sequence_lens`` shorter than T skip steps per batch entry: refused."""
    name = _input(node, 4)
    if not name:
        return
    lens = ctx.consts.get(name)
    if lens is None:
        raise ctx.error(node, f"sequence_lens {name!r} is not a constant: a sequence shorter "
                              f"than T={steps} skips steps per batch entry, which one schedule "
                              "of T steps cannot say; export without it")  # fmt: skip
    short = np.asarray(lens).reshape(-1)
    if short.size != batch:
        raise ctx.error(node, f"sequence_lens {name!r} {fmt(np.shape(lens))} is not one length "
                              f"per batch entry ([{batch}])")  # fmt: skip
    if np.any(short != steps):
        raise ctx.error(node, f"sequence_lens {short.tolist()} are not all T={steps}: "
                              "steps past a sequence's end are skipped per batch entry, which "
                              "one schedule of T steps cannot say")  # fmt: skip


def _reset_gate(attrs: dict[str, Any], d: int, seq: str, wts: _Weights,
                bias: np.ndarray | None, source: str) -> ResetGate:  # fmt: skip
    """The reset-gate parameters of direction ``d`` (activation f, clip)."""
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    act = acts[2 * d] if len(acts) > 2 * d else "Sigmoid"
    why = None
    if attrs.get("activation_alpha") or attrs.get("activation_beta"):
        why = "activation_alpha / activation_beta are not modelled in r ⊙ h"
    elif act.lower() not in ACTIVATIONS:
        why = f"activation {act!r} is not modelled in r ⊙ h"
    clip = attrs.get("clip")
    return ResetGate(seq, wts.w, wts.r, bias, None if clip is None else float(clip),
                     act if why is None else "Sigmoid", why, source)  # fmt: skip


def _lower_rnn(ctx: Context, node, attrs: dict[str, Any], gates: int, weights: list[_Weights],
               H: int, I_: int, quant: str | None = None) -> list[OnnxLayer]:  # fmt: skip
    """Every layer of one recurrence node (the weights already in the GEMM view)."""
    label = node_label(node) or next((o for o in node.output if o), node.op_type)
    x_name = node.input[0]
    x_shape = ctx.static_shape(x_name, node)
    layout = int(attrs.get("layout", 0))
    if len(x_shape) != 3 or layout not in (0, 1):
        raise ctx.error(node, f"X {fmt(x_shape)} with layout={layout} is not a sequence")
    T, B = (x_shape[0], x_shape[1]) if layout == 0 else (x_shape[1], x_shape[0])
    direction = attrs.get("direction", b"forward")
    direction = direction.decode(errors="replace") if isinstance(direction, bytes) else direction
    try:
        revs = directions(direction)
    except KeyError:
        raise ctx.error(node, f"direction {direction!r} is not forward, reverse or "
                              "bidirectional") from None  # fmt: skip
    dirs = len(revs)
    if len(weights) != dirs or x_shape[2] != I_:
        raise ctx.error(node, f"weights for {len(weights)} directions of input size {I_} do not "
                              f"fit X {fmt(x_shape)} with {dirs} directions")  # fmt: skip
    if int(attrs.get("hidden_size", H)) != H:
        raise ctx.error(node, f"hidden_size={attrs['hidden_size']} but R has H={H}")
    _check_lengths(ctx, node, T, B)
    bias = ctx.weight(node, 3, "B") if _input(node, 3) else None
    if bias is not None:
        if bias.size != dirs * 2 * gates * H:
            raise ctx.error(node, f"B {fmt(bias.shape)} is not [{dirs}, {2 * gates * H}]")
        bias = np.asarray(bias, np.float64).reshape(dirs, 2 * gates * H)
    if node.op_type != "GRU" and _input(node, 7):
        ctx.notes.append(f"{node.op_type} {label!r}: peephole terms P ⊙ c are element-wise, "
                         "not on the array (no MACs counted)")  # fmt: skip
    split = node.op_type == "GRU" and not int(attrs.get("linear_before_reset", 0))
    h_shape = (dirs, B, H) if layout == 0 else (B, dirs, H)
    h0 = _initial_h(ctx, node, label, h_shape)
    y_name = _output_y(ctx, node, label) if T > 1 else ""
    y_shape = (T, dirs, B, H) if layout == 0 else (B, T, dirs, H)
    GH = gates * H
    common = {"node": label, "op": node.op_type, "quant": quant}
    layers: list[OnnxLayer] = []
    for d, rev in enumerate(revs):
        wts = weights[d]
        wb = None if bias is None else bias[d, :GH]
        rb = None if bias is None else bias[d, GH:]
        prefix = f"{label}/{_DIR_NAMES[rev]}"
        geo = RnnGeometry(layout, T, B, H, dirs, d, -1, "seq")
        layers.append(OnnxLayer(
            Layer(f"{prefix}/x", M=GH, K=I_, N=T * B, kind="linear", input_elems=T * B * I_),
            act_input=x_name, act_shape=tuple(x_shape), x_lowering=sequence_x, geometry=geo,
            raw_weight=wts.w, raw_bias=wb, int_weight=wts.int_w, **common,
        ))  # fmt: skip
        order = list(range(T - 1, -1, -1) if rev else range(T))
        for k, t in enumerate(order):
            if k:
                src, name, shape = "y", y_name, y_shape
            elif h0 is not None:
                src, name, shape = "h0", h0, h_shape
            else:
                src, name, shape = "zeros", x_name, tuple(x_shape)
            geo = RnnGeometry(layout, T, B, H, dirs, d, t, src, order[k - 1] if k else -1)
            parts = [(f"{prefix}/h{t}", slice(0, GH), state_x, geo, {})]
            if split:
                gate = _reset_gate(attrs, d, x_name, wts, None if bias is None else bias[d],
                                  ctx.path)  # fmt: skip
                x_inputs = {} if src == "zeros" else {x_name: tuple(x_shape), name: shape}
                parts = [
                    (f"{prefix}/h{t}/zr", slice(0, 2 * H), state_x, geo, {}),
                    (f"{prefix}/h{t}/h", slice(2 * H, GH), reset_state_x,
                     RnnGeometry(layout, T, B, H, dirs, d, t, src, geo.t_prev, gate),
                     {"x_inputs": x_inputs}),
                ]  # fmt: skip
            for lname, rows, lowering, g, extra in parts:
                M = rows.stop - rows.start
                layers.append(OnnxLayer(
                    Layer(lname, M=M, K=H, N=B, kind="linear", input_elems=H * B),
                    act_input=name, act_shape=shape, x_lowering=lowering, geometry=g,
                    raw_weight=wts.r[rows], raw_bias=None if rb is None else rb[rows],
                    int_weight=None if wts.int_r is None else wts.int_r[rows],
                    **common, **extra,
                ))  # fmt: skip
    return layers


def lower_lstm(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    weights, H, I_ = _float_weights(ctx, node, 4)
    return _lower_rnn(ctx, node, attrs, 4, weights, H, I_)


def lower_gru(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    weights, H, I_ = _float_weights(ctx, node, 3)
    return _lower_rnn(ctx, node, attrs, 3, weights, H, I_)


def lower_dynamic_quantize_lstm(ctx: Context, node, attrs: dict[str, Any]) -> list[OnnxLayer]:
    """onnxruntime's quantize_dynamic LSTM: the model's int8 W and R, float activations
    (quantised by the array's configuration like any float input)."""
    weights, H, I_ = _int_weights(ctx, node)
    return _lower_rnn(ctx, node, attrs, 4, weights, H, I_, quant="DynamicQuantizeLSTM")


LOWERINGS = {
    "LSTM": lower_lstm,
    "GRU": lower_gru,
    "com.microsoft.DynamicQuantizeLSTM": lower_dynamic_quantize_lstm,
}
