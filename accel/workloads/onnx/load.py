"""Loading an ONNX file and fixing every tensor's shape.

Shapes come from onnx's data-propagating shape inference with the graph inputs fixed
(from ``--input``, or an open batch dimension set to 1). A tensor whose shape only a run
can tell (a Reshape to a computed shape, a Slice with computed ends) is taken from an
onnxruntime run on ``--input`` when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import AccelError
from .context import fmt

__all__ = ["read_model", "check_ops", "resolve_inputs", "infer_shapes", "graph_inputs"]

_MAX_LISTED = 8  # unsupported nodes named in one error message


def _check_external_files(path: str, tensors) -> None:
    """Each file the model's external weights live in (``model.onnx.data`` beside it, as
    the torch exporter writes) is there and is a regular file: named if not."""
    from ...inputs import input_file

    seen = set()
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if location in seen:
            continue
        seen.add(location)
        if not location:
            raise AccelError(f"tensor {tensor.name!r}: external data without a location",
                             source=path)  # fmt: skip
        where = Path(path).parent / location
        try:
            input_file(where, "")
        except AccelError as err:
            raise AccelError(
                f"the weights of tensor {tensor.name!r} are stored in {location}, "
                f"beside the model: {str(err).removeprefix(str(where) + ': ')}",
                source=path,
            ) from None


def read_model(path: str):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AccelError("no such file", source=path) from None
    except OSError as err:
        raise AccelError(f"cannot read the file ({err.strerror})", source=path) from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise AccelError(
            f"not an ONNX model (protobuf does not parse: {str(err).splitlines()[0]})",
            source=path,
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise AccelError("not an ONNX model (no graph nodes; truncated or not ONNX?)", source=path)
    external = [t for t in model.graph.initializer if t.data_location == 1]  # EXTERNAL
    if external:
        _check_external_files(path, external)
        try:
            from onnx.checker import ValidationError
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(model, str(Path(path).parent))
        except (OSError, ValueError, ValidationError) as err:
            raise AccelError(f"cannot load external weights ({err})", source=path) from None
    if model.functions:  # the new torch exporter may keep model-local functions
        from onnx import inliner

        try:
            model = inliner.inline_local_functions(model)
        except Exception as err:  # onnx's C++ inliner raises several types
            raise AccelError(f"cannot inline the model's local functions ({err})",
                             source=path) from None  # fmt: skip
    return model


def check_ops(path: str, graph, supported: frozenset[str]) -> None:
    from .ops import op_key

    bad = [(op_key(n), n.name) for n in graph.node if op_key(n) not in supported]
    if bad:
        kinds = sorted({op for op, _ in bad})
        nodes = ", ".join(f"{name or '(unnamed)'} ({op})" for op, name in bad[:_MAX_LISTED])
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise AccelError(
            f"unsupported ONNX operator{'s' if len(kinds) > 1 else ''} "
            f"{', '.join(kinds)}: node{'s' if len(bad) > 1 else ''} {nodes}{more}",
            source=path,
        )


def dims(value_info) -> list[int | str | None] | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):  # 0 too: an empty tensor, refused by the caller
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or None)
    return out


def graph_inputs(graph) -> list:
    """The graph's real inputs (an input with an initializer is a weight)."""
    inits = {t.name for t in graph.initializer}
    return [v for v in graph.input if v.name not in inits]


def _expected(real) -> str:
    return ", ".join(f"{v.name!r} {fmt(dims(v) or [])}" for v in real)


def _input_dtype(value_info) -> np.dtype:
    import onnx

    elem = value_info.type.tensor_type.elem_type
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    except Exception:  # an undefined or exotic element type: let onnxruntime judge
        return np.dtype(np.float32)


def resolve_inputs(
    path: str, graph, data: Any, notes: list[str]
) -> tuple[dict[str, tuple[int, ...]], dict[str, np.ndarray] | None]:
    """Every graph input's fixed shape, and the arrays to run on by input name.

    ``data`` is None (an open batch dimension becomes 1, any other open one is an
    error), one array or one shape (for a graph with one input), or a mapping of input
    name to array (``--input FILE.npz``: exactly the graph's input names).
    """
    real = graph_inputs(graph)
    if not real:
        raise AccelError("the graph has no input (every input has an initializer)", source=path)
    by_name: dict[str, Any] = {}
    if isinstance(data, Mapping):
        names = {v.name for v in real}
        missing, extra = sorted(names - set(data)), sorted(set(data) - names)
        if missing or extra:
            said = []
            if missing:
                said.append(f"no array for {', '.join(map(repr, missing))}")
            if extra:
                said.append(f"{', '.join(map(repr, extra))} is not a graph input")
            raise AccelError(f"--input: {'; '.join(said)}; the model's inputs are "
                             f"{_expected(real)}", source=path)  # fmt: skip
        by_name = dict(data)
    elif data is not None:
        if len(real) != 1:
            raise AccelError(
                f"--input holds one array, but the model has {len(real)} inputs "
                f"({_expected(real)}): give an .npz with one array per input name",
                source=path,
            )
        by_name = {real[0].name: data}
    resolved: dict[str, tuple[int, ...]] = {}
    feeds: dict[str, np.ndarray] = {}
    for v in real:
        given = by_name.get(v.name)
        shape = None if given is None else (
            tuple(given) if isinstance(given, tuple) else tuple(np.shape(given))
        )  # fmt: skip
        resolved[v.name] = _fix(path, v, shape, notes)
        if given is not None and not isinstance(given, tuple):
            feeds[v.name] = _cast(path, v, given)
    return resolved, (feeds if feeds else None)


def _cast(path: str, v, given: Any) -> np.ndarray:
    """``--input``'s array in the input's element type, refused by name where the cast
    would change a value (a float past float32's range, a fraction or an out-of-range
    number for an integer input)."""
    a = np.asarray(given)
    dtype = _input_dtype(v)
    with np.errstate(all="ignore"):
        out = np.ascontiguousarray(a, dtype=dtype)
    if a.dtype.kind not in "fiu" or dtype.kind not in "fiu":
        return out
    if dtype.kind == "f":
        bad = ~np.isfinite(out) & np.isfinite(a)
        why = f"overflows the model's {dtype}"
    else:
        with np.errstate(all="ignore"):
            bad = out != a
        why = f"is not a {dtype}, the input's element type"
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AccelError(f"--input array for {v.name!r}: value {a[where]} at {where} {why}",
                         source=path)  # fmt: skip
    return out


def _fix(path: str, v, given: tuple[int, ...] | None, notes: list[str]) -> tuple[int, ...]:
    d = dims(v)
    if d is None:
        raise AccelError(f"input {v.name!r} has no shape in the file", source=path)
    if 0 in d or (given is not None and 0 in given):
        where = "--input's shape" if 0 not in d else f"dim {d.index(0)}"
        raise AccelError(
            f"input {v.name!r}: {where} is 0 (an empty tensor): there is nothing to simulate",
            source=path,
        )
    if given is not None:
        if len(given) != len(d):
            raise AccelError(f"input {v.name!r} has {len(d)} dims {fmt(d)}, but --input has "
                             f"shape {given}", source=path)  # fmt: skip
        for i, (want, got) in enumerate(zip(d, given, strict=True)):
            if isinstance(want, int) and want != got:
                raise AccelError(f"input {v.name!r} dim {i} is {want}, but --input has {got} "
                                 f"(shape {given})", source=path)  # fmt: skip
        return tuple(int(x) for x in given)
    shape = []
    for i, size in enumerate(d):
        if isinstance(size, int):
            shape.append(size)
        elif i == 0:
            shape.append(1)
            label = f" ({size})" if size else ""
            notes.append(f"open batch dim of input {v.name!r}{label} defaulted to 1")
        else:
            label = f" ({size!r})" if size else ""
            raise AccelError(
                f"input {v.name!r} dim {i}{label} is open; give --input DATA.npy (or .npz) "
                "to fix it",
                source=path,
            )
    return tuple(shape)


def infer_shapes(path: str, model, inputs: dict[str, tuple[int, ...]]) -> dict[str, tuple]:
    """Shapes of every tensor, by onnx shape inference on a copy with fixed inputs."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for v in m.graph.input:
        if v.name in inputs:
            shape = v.type.tensor_type.shape
            del shape.dim[:]
            for size in inputs[v.name]:
                shape.dim.add().dim_value = size
    for v in m.graph.output:  # the file's symbolic output dims would only conflict
        v.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception as err:  # onnx raises several types (InferenceError, ValidationError, ...)
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AccelError(f"shape inference failed: {msg}", source=path) from None
    g = inferred.graph
    shapes: dict[str, tuple] = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        d = dims(v)
        if d is not None and v.name not in shapes:
            shapes[v.name] = tuple(d)
    return shapes
