"""A NumPy forward pass of a BERT encoder that keeps every GEMM's input activations.

float32 throughout, as Hugging Face's ``BertModel`` computes it: word + position + token
type (0) embeddings and LayerNorm; per layer 12-head (``config.heads``) self-attention
with the attention mask (padded keys get the most negative float32, so their
probabilities are exactly 0), output projection, residual and LayerNorm, GELU (erf
form) FFN, residual and LayerNorm; then sentence-transformers' mean pooling over the
real tokens and L2 normalisation. The weights are whatever the :class:`BertModel` holds,
so a pruned model runs the same way.

Sentences are tokenised by Hugging Face's ``tokenizers`` from the ``tokenizer.json``
beside the model (lower-case WordPiece, ``[CLS] ... [SEP]``), truncated to ``seq_len``
tokens (special tokens included) and padded to the longest sentence of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AccelError
from .bert_weights import BertModel

__all__ = ["Activations", "Tokens", "read_sentences", "tokenize", "encode", "gelu"]


@dataclass(frozen=True, eq=False)
class Tokens:
    """A padded batch: ``ids`` and ``mask`` ``[B, T]``, ``T`` the longest sentence."""

    ids: np.ndarray
    mask: np.ndarray  # bool, True = a real token
    truncated: int = 0  # sentences cut to seq_len

    @property
    def lengths(self) -> list[int]:
        return [int(n) for n in self.mask.sum(axis=1)]


@dataclass(frozen=True, eq=False)
class Activations:
    """Every GEMM's input of one run, ``[B, T, ...]`` with padded positions included.

    Keys ``enc{i}.x`` (input of q, k, v), ``.q``, ``.k``, ``.v`` (``[B, heads, T, d]``),
    ``.p`` (softmax probabilities ``[B, heads, T, T]``), ``.ctx`` (input of the output
    projection), ``.h1`` (input of the first FFN layer), ``.gelu`` (input of the second).
    """

    lengths: list[int]
    tensors: dict[str, np.ndarray] = field(repr=False)


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line; blank lines are skipped; at most ``MAX_TEXT_LINES``
    (each sentence's activations are held for the whole run)."""
    from ..inputs import read_text_file, shown
    from ..limits import MAX_TEXT_LINES

    text = read_text_file(path, "--text", max_bytes=64 << 20)
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise AccelError(f"--text {shown(path)}: holds no sentence (one per line expected)")
    if len(sentences) > MAX_TEXT_LINES:
        raise AccelError(
            f"--text {shown(path)}: {len(sentences):,} sentences, more than the "
            f"{MAX_TEXT_LINES:,} one run takes (split the file)"
        )
    return sentences


def tokenize(model: BertModel, sentences: list[str], seq_len: int = 128) -> Tokens:
    """Token ids of ``sentences`` with the ``tokenizer.json`` beside the model's file."""
    from tokenizers import Tokenizer

    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise AccelError(f"--seq-len must be an integer of at least 3, not {seq_len!r}")
    if seq_len > model.config.max_positions:
        raise AccelError(
            f"--seq-len {seq_len}: the model has {model.config.max_positions} positions"
        )
    path = model.path.parent / "tokenizer.json"
    if not path.is_file():
        raise AccelError("missing: --text needs the model's tokenizer.json", source=str(path))
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a plain Exception on a bad file
        raise AccelError(f"not a tokenizers file ({err})", source=str(path)) from None
    tok.no_padding()
    tok.no_truncation()
    full = [len(e.ids) for e in tok.encode_batch(sentences)]
    tok.enable_truncation(max_length=seq_len)
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    enc = tok.encode_batch(sentences)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=bool)
    if np.any(ids >= model.config.vocab):
        raise AccelError(
            f"token ids up to {int(ids.max())}, but the model's vocabulary has "
            f"{model.config.vocab}",
            source=str(path),
        )
    return Tokens(ids, mask, truncated=sum(n > seq_len for n in full))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), about float32's own resolution
    (NumPy has no erf, and ``math.erf`` one value at a time is far too slow)."""
    f = np.float32
    a = np.abs(x)
    t = f(1) / (f(1) + f(0.3275911) * a)
    poly = f(-1.453152027) + t * f(1.061405429)
    poly = f(0.254829592) + t * (f(-0.284496736) + t * (f(1.421413741) + t * poly))
    return np.sign(x) * (f(1) - t * poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, erf form: ``x / 2 (1 + erf(x / sqrt 2))`` (BERT's ``hidden_act = gelu``)."""
    return (0.5 * x * (1.0 + _erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + np.float32(eps)) * w + b).astype(np.float32)


def encode(
    model: BertModel, tokens: Tokens, keep: bool = True
) -> tuple[np.ndarray, Activations | None]:
    """Sentence embeddings ``[B, hidden]`` (unit norm) and, with ``keep``, every GEMM's input."""
    c, t = model.config, model.tensors
    ids, mask = tokens.ids, tokens.mask
    B, T = ids.shape
    if c.max_positions < T:
        raise AccelError(f"{T} tokens, but the model has {c.max_positions} positions")
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:T][None]
        + t["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], c.eps)
    bias = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
    h, d = c.heads, c.head_dim
    kept: dict[str, np.ndarray] = {}

    def dense(v: np.ndarray, i: int, module: str) -> np.ndarray:
        base = f"encoder.layer.{i}.{module}"
        flat = v.reshape(-1, v.shape[-1])  # 2-D: one BLAS call, not one per sentence
        y = flat @ t[base + ".weight"].T + t[base + ".bias"]
        return y.reshape(v.shape[:-1] + (y.shape[-1],))

    def split(v: np.ndarray) -> np.ndarray:  # [B, T, H] -> [B, h, T, d]
        return np.ascontiguousarray(v.reshape(B, T, h, d).transpose(0, 2, 1, 3))

    for i in range(c.layers):
        p = f"enc{i}"
        q = split(dense(x, i, "attention.self.query"))
        k = split(dense(x, i, "attention.self.key"))
        v = split(dense(x, i, "attention.self.value"))
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1 / np.sqrt(d)) + bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        probs = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(B, T, c.hidden)
        base = f"encoder.layer.{i}."
        h1 = _layer_norm(
            dense(ctx, i, "attention.output.dense") + x,
            t[base + "attention.output.LayerNorm.weight"],
            t[base + "attention.output.LayerNorm.bias"],
            c.eps,
        )
        g = gelu(dense(h1, i, "intermediate.dense"))
        if keep:
            kept.update(
                {f"{p}.x": x, f"{p}.q": q, f"{p}.k": k, f"{p}.v": v, f"{p}.p": probs}
                | {f"{p}.ctx": ctx, f"{p}.h1": h1, f"{p}.gelu": g}
            )
        x = _layer_norm(
            dense(g, i, "output.dense") + h1,
            t[base + "output.LayerNorm.weight"],
            t[base + "output.LayerNorm.bias"],
            c.eps,
        )
    m = mask[..., None].astype(np.float32)
    pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    norm = np.linalg.norm(pooled, axis=1, keepdims=True)
    emb = (pooled / np.maximum(norm, 1e-12)).astype(np.float32)
    return emb, (Activations(tokens.lengths, kept) if keep else None)
