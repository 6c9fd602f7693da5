"""Real activations of an ONNX model: run it on onnxruntime and keep every layer's input.

The input tensor of each lowered layer becomes an extra graph output, so one run
captures them all. A large model is run once per group of layers whose captured tensors
fit a memory budget, and each group is handed out and dropped before the next. The same
session machinery gives the shapes that only a run can tell (:func:`run_shapes`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ...errors import AccelError
from .model import OnnxLayer, OnnxModel

__all__ = ["capture", "load_input", "run_shapes", "run_value", "session_with_outputs"]

CAPTURE_BUDGET_ELEMS = 1 << 25  # captured values held at once (128 MiB of float32)
_SHAPES_PER_RUN = 32  # tensors whose shapes one run reports


def load_input(path: str | Path) -> np.ndarray | dict[str, np.ndarray]:
    """The ``--input`` data: one numeric array (.npy), or one per graph input name (.npz)."""
    from ...inputs import read_arrays, shown

    arrays, is_npz = read_arrays(path, "--input")
    if not is_npz:
        return _checked(arrays[""], f"--input {shown(path)}")
    if not arrays:
        raise AccelError(f"--input {shown(path)}: the .npz archive holds no array")
    return {k: _checked(a, f"--input {shown(path)}: array {k!r}") for k, a in arrays.items()}


def _checked(data: np.ndarray, where: str) -> np.ndarray:
    if data.dtype.kind not in "fiub":
        raise AccelError(f"{where}: holds {data.dtype} values; give real numbers (float or int)")
    if data.size == 0:
        raise AccelError(f"{where}: is empty (shape {data.shape})")
    bad = np.argwhere(~np.isfinite(data)) if data.dtype.kind == "f" else ()
    if len(bad):
        raise AccelError(
            f"{where}: element {tuple(int(i) for i in bad[0])} is "
            f"{data[tuple(bad[0])]}; the input must be finite"
        )
    return data


def _finite(tensor: np.ndarray, name: str, item: OnnxLayer, path: str) -> np.ndarray:
    """A captured tensor, refused by name when the run on ``--input`` overflowed in it
    (activations quantised from inf or NaN would be meaningless)."""
    if tensor.dtype.kind == "f":
        bad = ~np.isfinite(tensor)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AccelError(
                f"node {item.node!r}: its input {name!r} holds {int(bad.sum()):,} non-finite "
                f"values on --input (first {tensor[where]} at {where}); the input overflows "
                "the model's float range: scale it",
                source=path,
            )
    return tensor


def _groups(names: list[list[str]], sizes: dict[str, int], budget: int) -> list[list[int]]:
    """Consecutive layers whose new captured tensors fit ``budget`` (at least one each)."""
    out: list[list[int]] = []
    held: set[str] = set()
    used = 0
    for i, wanted in enumerate(names):
        extra = sum(sizes[n] for n in set(wanted) - held)
        if out and used + extra > budget:
            out.append([])
            held, used = set(), 0
            extra = sum(sizes[n] for n in set(wanted))
        if not out:
            out.append([])
        out[-1].append(i)
        held |= set(wanted)
        used += extra
    return out


def session_with_outputs(path: str, model, names: Iterable[str]):
    """An onnxruntime session of ``model`` that can also return the tensors ``names``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise AccelError("--input needs onnxruntime (pip install onnxruntime)") from None
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {v.name for v in m.graph.output}
    extra = [n for n in names if n not in existing]
    for name in extra:
        m.graph.output.append(onnx.ValueInfoProto(name=name))
    try:
        typed = onnx.shape_inference.infer_shapes(m)
        types = {v.name: v.type.tensor_type.elem_type for v in typed.graph.value_info}
        for v in m.graph.output:  # a type inference cannot tell (a com.microsoft op's
            if v.name in extra and types.get(v.name):  # output) is left to onnxruntime
                v.type.tensor_type.elem_type = types[v.name]
        options = ort.SessionOptions()
        options.log_severity_level = 4  # fatal only: an error is our one line, not its log
        options.intra_op_num_threads = 2
        return ort.InferenceSession(
            m.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime's errors are pybind classes without a common base
        raise AccelError(
            f"onnxruntime cannot load the model: {_first_line(err)}", source=path
        ) from None


def _run(path: str, session, names: list[str], feeds: dict[str, np.ndarray]) -> list:
    try:
        return session.run(names, feeds)
    except Exception as err:
        raise AccelError(
            f"onnxruntime cannot run the model on --input: {_first_line(err)}", source=path
        ) from None


def run_value(path: str, model, feeds: dict[str, np.ndarray], name: str) -> np.ndarray:
    """One tensor's value in a run on ``feeds`` (an If's condition)."""
    (value,) = _run(path, session_with_outputs(path, model, [name]), [name], feeds)
    return value


def run_shapes(path: str, model, feeds: dict[str, np.ndarray], names: list[str]) -> dict:
    """The shapes of tensors ``names`` in a run on ``feeds`` (one run, values dropped)."""
    if not names:
        return {}
    session = session_with_outputs(path, model, names)
    shapes = {}
    for i in range(0, len(names), _SHAPES_PER_RUN):  # a few tensors' values held at once
        chunk = names[i : i + _SHAPES_PER_RUN]
        for name, value in zip(chunk, _run(path, session, chunk, feeds), strict=True):
            shapes[name] = tuple(int(d) for d in np.shape(value))
    return shapes


def capture(
    model: OnnxModel, budget: int = CAPTURE_BUDGET_ELEMS
) -> Iterator[tuple[OnnxLayer, dict[str, np.ndarray]]]:
    """Each layer with the tensors it reads (by name), in graph order, on ``model.feeds``;
    a zero point computed at run time is captured too and bound (:meth:`OnnxLayer.bind`)."""
    path = model.path
    feeds = model.feeds
    assert feeds is not None, "capture needs a model loaded with --input data"
    wanted = [
        [n for n in (it.act_input, it.weight_input, *it.runtime_zero_points(), *it.x_inputs) if n]
        for it in model.layers
    ]
    sizes = {}
    for it in model.layers:
        sizes[it.act_input] = math.prod(it.act_shape)
        if it.weight_input:
            sizes[it.weight_input] = math.prod(it.weight_shape or ())
        for n in it.runtime_zero_points():  # DynamicQuantizeLinear's: one value
            sizes.setdefault(n, 1)
        for n, shape in it.x_inputs.items():  # what the x_lowering reads besides
            sizes.setdefault(n, math.prod(shape))
    inits = {t.name for t in model.model.graph.initializer}
    extra = sorted({n for names in wanted for n in names} - set(feeds) - inits)
    session = session_with_outputs(path, model.model, extra)
    for group in _groups(wanted, sizes, budget):
        names = sorted({n for i in group for n in wanted[i]} - set(feeds) - inits)
        values = dict(zip(names, _run(path, session, names, feeds), strict=True)) if names else {}
        values.update(feeds)
        for i in group:
            item = model.layers[i]
            tensors = {}
            for n in wanted[i]:
                if n not in values:  # a constant operand of a MatMul of "two activations"
                    raise AccelError(
                        f"{item.op} node {item.node!r}: constant operand {n!r} with batch dims "
                        "cannot be captured",
                        source=path,
                    )
                tensors[n] = _finite(values[n], n, item, path)
            yield item.bind(tensors), tensors  # run-time zero points: their values
        del values


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
