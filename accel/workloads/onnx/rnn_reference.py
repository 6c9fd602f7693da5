"""NumPy references of ONNX's LSTM and GRU recurrences, following the operator spec.

The importer lowers a recurrence to GEMMs whose operands it captures from onnxruntime;
where no captured tensor is an operand itself (a GRU's ``r ⊙ h`` before its hidden-gate
product with ``linear_before_reset=0``), these equations give it. They are also what the
tests hold onnxruntime's outputs against. Gate orders are ONNX's: ``i o f c`` for LSTM,
``z r h`` for GRU; bias ``B`` is ``[Wb, Rb]`` per direction; ``layout`` 0 is
``X [T, batch, I]`` and ``layout`` 1 is ``[batch, T, I]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["ACTIVATIONS", "activation", "directions", "gru", "gru_reset_gate", "lstm"]

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


# the spec's activations with their default alpha / beta (HardSigmoid 0.2, 0.5 etc.)
ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "hardsigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "leakyrelu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "thresholdedrelu": lambda x: np.where(x > 1.0, x, 0.0),
    "elu": lambda x: np.where(x >= 0, x, np.expm1(np.minimum(x, 0.0))),
}


def activation(name: str | bytes) -> Activation:
    """An activation by its ONNX name (any case), with the spec's default parameters."""
    key = (name.decode() if isinstance(name, bytes) else name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of the RNN activations")
    return ACTIVATIONS[key]


def directions(direction: str | bytes) -> list[bool]:
    """Per direction index, whether it runs backwards in time."""
    d = direction.decode() if isinstance(direction, bytes) else direction
    return {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[d]


def _acts(names: Sequence[str | bytes] | None, per_dir: Sequence[str], dirs: int) -> list:
    """The activations of each direction: the attribute's, else the spec's defaults."""
    names = list(names) if names else list(per_dir) * dirs
    n = len(per_dir)
    return [[activation(a) for a in names[d * n : (d + 1) * n]] for d in range(dirs)]


def _clipped(x: np.ndarray, clip: float | None) -> np.ndarray:
    return x if clip is None else np.clip(x, -clip, clip)


def _time_major(x: np.ndarray, layout: int) -> np.ndarray:
    return np.asarray(x, np.float64) if layout == 0 else np.swapaxes(x, 0, 1).astype(np.float64)


def _state(value: np.ndarray | None, layout: int, dirs: int, batch: int, hidden: int):
    """An initial state as ``[dirs, batch, H]`` (zeros when absent)."""
    if value is None:
        return np.zeros((dirs, batch, hidden))
    v = np.asarray(value, np.float64)
    return v if layout == 0 else np.swapaxes(v, 0, 1)


def _outputs(ys: list[np.ndarray], last: list[np.ndarray], layout: int):
    """``Y`` (``[T, dirs, B, H]`` or ``[B, T, dirs, H]``) and a final state."""
    y = np.stack(ys, axis=1)  # [T, dirs, B, H]
    s = np.stack(last)  # [dirs, B, H]
    if layout == 1:
        return y.transpose(2, 0, 1, 3), s.transpose(1, 0, 2)
    return y, s


def lstm(
    X: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    B: np.ndarray | None = None,
    initial_h: np.ndarray | None = None,
    initial_c: np.ndarray | None = None,
    P: np.ndarray | None = None,
    *,
    direction: str = "forward",
    layout: int = 0,
    clip: float | None = None,
    input_forget: bool = False,
    activations: Sequence[str | bytes] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX LSTM: ``Y``, ``Y_h``, ``Y_c`` in float64 (W ``[dirs, 4H, I]``, R ``[dirs, 4H,
    H]``, B ``[dirs, 8H]``, P ``[dirs, 3H]`` as ``i o f``)."""
    x = _time_major(X, layout)
    T, batch, _ = x.shape
    revs = directions(direction)
    H = R.shape[-1]
    h0 = _state(initial_h, layout, len(revs), batch, H)
    c0 = _state(initial_c, layout, len(revs), batch, H)
    acts = _acts(activations, ("Sigmoid", "Tanh", "Tanh"), len(revs))
    ys, hs, cs = [], [], []
    for d, rev in enumerate(revs):
        f, g, hact = acts[d]
        w, r = np.asarray(W[d], np.float64), np.asarray(R[d], np.float64)
        b = np.zeros(8 * H) if B is None else np.asarray(B[d], np.float64)
        p = np.zeros(3 * H) if P is None else np.asarray(P[d], np.float64)
        xw = x @ w.T + (b[: 4 * H] + b[4 * H :])  # every step's input projection at once
        h, c = h0[d], c0[d]
        y = np.empty((T, batch, H))
        for t in range(T - 1, -1, -1) if rev else range(T):
            gates = xw[t] + h @ r.T
            i = f(_clipped(gates[:, :H] + p[:H] * c, clip))
            if input_forget:
                ft = 1.0 - i
            else:
                ft = f(_clipped(gates[:, 2 * H : 3 * H] + p[2 * H :] * c, clip))
            cand = g(_clipped(gates[:, 3 * H :], clip))
            c = ft * c + i * cand
            o = f(_clipped(gates[:, H : 2 * H] + p[H : 2 * H] * c, clip))
            h = o * hact(c)
            y[t] = h
        ys.append(y)
        hs.append(h)
        cs.append(c)
    Y, Y_h = _outputs(ys, hs, layout)
    _, Y_c = _outputs(ys, cs, layout)
    return Y, Y_h, Y_c


def gru_reset_gate(
    x_t: np.ndarray,
    h_prev: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    B: np.ndarray | None,
    clip: float | None = None,
    f: Activation = _sigmoid,
) -> np.ndarray:
    """A GRU's reset gate ``r [batch, H]`` at one step from ``x_t [batch, I]`` and
    ``h_{t-1} [batch, H]`` (one direction's W ``[3H, I]``, R ``[3H, H]``, B ``[6H]``)."""
    H = R.shape[-1]
    w_r = np.asarray(W[H : 2 * H], np.float64)
    r_r = np.asarray(R[H : 2 * H], np.float64)
    b = np.zeros(6 * H) if B is None else np.asarray(B, np.float64)
    bias = b[H : 2 * H] + b[4 * H : 5 * H]
    pre = np.asarray(x_t, np.float64) @ w_r.T + np.asarray(h_prev, np.float64) @ r_r.T + bias
    return f(_clipped(pre, clip))


def gru(
    X: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    B: np.ndarray | None = None,
    initial_h: np.ndarray | None = None,
    *,
    direction: str = "forward",
    layout: int = 0,
    linear_before_reset: int = 0,
    clip: float | None = None,
    activations: Sequence[str | bytes] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ONNX GRU: ``Y``, ``Y_h`` in float64 (W ``[dirs, 3H, I]``, R ``[dirs, 3H, H]``, B
    ``[dirs, 6H]``). ``linear_before_reset=0`` applies the reset gate before the hidden
    gate's recurrent product (``(r ⊙ h) R_h``), 1 after it (``r ⊙ (h R_h + Rb_h)``)."""
    x = _time_major(X, layout)
    T, batch, _ = x.shape
    revs = directions(direction)
    H = R.shape[-1]
    h0 = _state(initial_h, layout, len(revs), batch, H)
    acts = _acts(activations, ("Sigmoid", "Tanh"), len(revs))
    ys, hs = [], []
    for d, rev in enumerate(revs):
        f, g = acts[d]
        w, r = np.asarray(W[d], np.float64), np.asarray(R[d], np.float64)
        b = np.zeros(6 * H) if B is None else np.asarray(B[d], np.float64)
        wb, rb = b[: 3 * H], b[3 * H :]
        xw = x @ w.T + wb
        h = h0[d]
        y = np.empty((T, batch, H))
        for t in range(T - 1, -1, -1) if rev else range(T):
            hr = h @ r[: 2 * H].T + rb[: 2 * H]
            z = f(_clipped(xw[t, :, :H] + hr[:, :H], clip))
            rt = f(_clipped(xw[t, :, H : 2 * H] + hr[:, H:], clip))
            if linear_before_reset:
                rec = rt * (h @ r[2 * H :].T + rb[2 * H :])
            else:
                rec = (rt * h) @ r[2 * H :].T + rb[2 * H :]
            cand = g(_clipped(xw[t, :, 2 * H :] + rec, clip))
            h = (1.0 - z) * cand + z * h
            y[t] = h
        ys.append(y)
        hs.append(h)
    return _outputs(ys, hs, layout)
