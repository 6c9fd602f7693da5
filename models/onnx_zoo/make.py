"""Export small, randomly initialised copies of real architectures to ONNX, with inputs.

    /tmp/torchvenv/bin/python models/onnx_zoo/make.py [--out models/onnx_zoo] [--only NAME ...]

torch is not a dependency of the project: this script runs in a venv of its own (see
README.md). Each model mimics one family the importer must handle (BatchNorm CNNs,
depthwise convs, transposed and 3-D convs, dilated 1-D convs, LSTM/GRU, attention with
run-time shapes, several graph inputs, a state input, external weights, an ``If``), is
seeded, and is kept small (few channels, small inputs) so the committed corpus stays
a few MB. Beside ``NAME.onnx`` it writes ``NAME.npy`` (one graph input) or ``NAME.npz``
(one array per graph input name), and ``corpus.json`` lists what was made and how.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
LEGACY_OPSET = 17


# -- the models ---------------------------------------------------------------------------------


def _randomise_bn(model: nn.Module) -> None:
    """Non-trivial running statistics, so that folding BatchNorm into a conv matters."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
            with torch.no_grad():
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)


class BasicBlock(nn.Module):
    """ResNet-18's block: two 3x3 convs with BatchNorm, a 1x1 projection when it shrinks."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNetMini(nn.Module):
    """ResNet-18 in miniature: stem, three stages (8, 16, 32 channels), GAP, fc."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.layers = nn.Sequential(
            BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 32, 2)
        )
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        y = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2Mini(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU6(),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 4, 2),
            InvertedResidual(12, 12, 4, 1),
            InvertedResidual(12, 16, 4, 2),
            nn.Conv2d(16, 64, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU6(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, classes))

    def forward(self, x):
        y = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(y, 1))


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(),
    )


class UNetMini(nn.Module):
    """U-Net with two levels; the decoder upsamples with ConvTranspose2d: one with stride 2
    and output_padding 1 (k3 p1), one grouped (k4 p1, groups 2)."""

    def __init__(self, classes: int = 2):
        super().__init__()
        self.enc1, self.enc2 = _double_conv(1, 8), _double_conv(8, 16)
        self.mid = _double_conv(16, 32)
        self.up2 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.dec2 = _double_conv(32, 16)
        self.up1 = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, groups=2)
        self.dec1 = _double_conv(16, 8)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
        m = self.mid(nn.functional.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class Block3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class R3DMini(nn.Module):
    """torchvision's r3d_18 in miniature: a (3, 7, 7) stem striding space only, 3-D
    residual blocks, global pooling over time and space."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 8, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(8),
            nn.ReLU(),
        )
        self.layers = nn.Sequential(Block3d(8, 8, 1), Block3d(8, 16, 2))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        y = nn.functional.adaptive_avg_pool3d(self.layers(self.stem(x)), 1)
        return self.fc(torch.flatten(y, 1))


class TCNMini(nn.Module):
    """A temporal convolutional network on log-mel frames (keyword spotting / frame
    tagging): residual Conv1d blocks with dilation 1, 2, 4 and per-frame logits."""

    def __init__(self, mels: int = 40, ch: int = 32, classes: int = 12):
        super().__init__()
        self.inp = nn.Conv1d(mels, ch, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(ch, ch, 3, padding=d, dilation=d), nn.BatchNorm1d(ch), nn.ReLU()
            )
            for d in (1, 2, 4)
        )
        self.out = nn.Conv1d(ch, classes, 1)

    def forward(self, x):
        y = torch.relu(self.inp(x))
        for block in self.blocks:
            y = y + block(y)
        return self.out(y)


class BiLSTMTagger(nn.Module):
    """A sequence tagger (POS / NER): embedding, 2-layer bidirectional LSTM, per-token fc."""

    def __init__(self, vocab: int = 200, emb: int = 32, hidden: int = 32, tags: int = 9):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.fc(y)


class GRUClassifier(nn.Module):
    """A GRU keyword spotter: two GRU layers over feature frames, fc on the last step."""

    def __init__(self, feats: int = 40, hidden: int = 48, classes: int = 12):
        super().__init__()
        self.gru = nn.GRU(feats, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1])


class TransformerTokenClassifier(nn.Module):
    """A BERT-like encoder (2 layers, d 64, 4 heads) whose head merges pairs of adjacent
    tokens with a Reshape to a shape computed from the input's (run-time) sequence length."""

    def __init__(self, vocab: int = 200, d: int = 64, classes: int = 5, max_len: int = 64):
        super().__init__()
        self.d = d
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, max_len, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, 4, 128, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(2 * d, classes)

    def forward(self, tokens):
        t = tokens.shape[1]
        y = self.enc(self.emb(tokens) + self.pos[:, :t])
        y = y.reshape(y.shape[0], y.shape[1] // 2, 2 * self.d)  # pairs of tokens
        return self.head(y)


class Seq2SeqTransformer(nn.Module):
    """An encoder-decoder translator (nn.Transformer, 1+1 layers, d 32): two graph inputs,
    source and target tokens, and a causal mask on the target."""

    def __init__(self, vocab: int = 100, d: int = 32):
        super().__init__()
        self.src_emb, self.tgt_emb = nn.Embedding(vocab, d), nn.Embedding(vocab, d)
        self.tr = nn.Transformer(d, 4, 1, 1, 64, dropout=0.0, batch_first=True)
        self.out = nn.Linear(d, vocab)

    def forward(self, src, tgt):
        t = tgt.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        y = self.tr(self.src_emb(src), self.tgt_emb(tgt), tgt_mask=mask, tgt_is_causal=True)
        return self.out(y)


class StreamingDenoiser(nn.Module):
    """An RNNoise-like streaming model: one chunk of frames and the GRU state in, a
    suppression mask and the next state out, ``(x, h) -> (y, h')``."""

    def __init__(self, feats: int = 16, hidden: int = 32):
        super().__init__()
        self.inp = nn.Linear(feats, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.mask = nn.Linear(hidden, feats)

    def forward(self, x, h):
        y, h2 = self.gru(torch.relu(self.inp(x)), h)
        return x * torch.sigmoid(self.mask(y)), h2


class ViTMini(nn.Module):
    """A ViT in miniature: 4x4 patches by a strided conv, a class token, one pre-norm
    encoder layer with GELU, fc on the class token. Saved with external weights."""

    def __init__(self, d: int = 48, classes: int = 10):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 65, d) * 0.02)
        self.enc = nn.TransformerEncoderLayer(
            d, 4, 96, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, classes)

    def forward(self, x):
        p = self.patch(x).flatten(2).transpose(1, 2)  # [b, 64, d]
        y = torch.cat([self.cls.expand(p.shape[0], -1, -1), p], 1) + self.pos
        return self.fc(self.norm(self.enc(y))[:, 0])


class CondNet(nn.Module):
    """A data-dependent branch (``torch.cond``, an ONNX ``If``): a bright image takes a
    3x3 conv, a dark one a 5x5 conv; the same fc follows."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bright = nn.Conv2d(8, 16, 3, padding=1)
        self.dark = nn.Conv2d(8, 16, 5, padding=2)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        y = torch.cond(x.mean() > 0, lambda t: self.bright(t), lambda t: self.dark(t), (y,))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


# -- the corpus ---------------------------------------------------------------------------------


def _normal(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def _tokens(vocab: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, vocab, shape, dtype=torch.int64)


@dataclass
class Spec:
    """One corpus entry: what it mimics, how to build it and its inputs, how to export."""

    name: str
    family: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], dict[str, torch.Tensor]]
    exporter: str  # "legacy" (TorchScript, dynamo=False) or "dynamo"
    outputs: list[str] = field(default_factory=lambda: ["y"])
    dynamic: dict[str, dict[int, str]] | None = None  # input -> {axis: name}
    external: bool = False
    note: str = ""


SPECS = [
    Spec(
        "resnet_bn",
        "ResNet-18-style CNN, BatchNorm kept in the graph",
        ResNetMini,
        lambda: {"x": _normal(1, 3, 32, 32)},
        "legacy",
    ),
    Spec(
        "mobilenetv2",
        "MobileNetV2-style CNN: inverted residuals, depthwise 3x3, ReLU6",
        MobileNetV2Mini,
        lambda: {"x": _normal(1, 3, 32, 32)},
        "dynamo",
    ),
    Spec(
        "unet_legacy",
        "U-Net with ConvTranspose2d (output_padding; one grouped)",
        UNetMini,
        lambda: {"x": _normal(1, 1, 32, 32)},
        "legacy",
    ),
    Spec(
        "unet_dynamo",
        "U-Net with ConvTranspose2d (output_padding; one grouped)",
        UNetMini,
        lambda: {"x": _normal(1, 1, 32, 32)},
        "dynamo",
    ),
    Spec(
        "r3d",
        "R3D-18-style video net: Conv3d, BatchNorm3d",
        R3DMini,
        lambda: {"clip": _normal(1, 3, 8, 32, 32)},
        "dynamo",
        outputs=["logits"],
    ),
    Spec(
        "tcn_speech",
        "TCN on log-mel frames: Conv1d with dilation 1, 2, 4",
        TCNMini,
        lambda: {"mel": _normal(1, 40, 64)},
        "legacy",
        outputs=["logits"],
    ),
    Spec(
        "bilstm_tagger",
        "2-layer bidirectional LSTM tagger, batch_first",
        BiLSTMTagger,
        lambda: {"tokens": _tokens(200, 1, 20)},
        "legacy",
        outputs=["tags"],
    ),
    Spec(
        "gru_kws",
        "2-layer GRU keyword spotter",
        GRUClassifier,
        lambda: {"feats": _normal(1, 50, 40)},
        "legacy",
        outputs=["logits"],
    ),
    Spec(
        "transformer_encoder",
        "BERT-like encoder, dynamic sequence axis, Reshape to a run-time shape",
        TransformerTokenClassifier,
        lambda: {"tokens": _tokens(200, 1, 16)},
        "legacy",
        outputs=["logits"],
        dynamic={"tokens": {1: "seq"}},
    ),
    Spec(
        "seq2seq_transformer",
        "encoder-decoder translator, two graph inputs (src, tgt)",
        Seq2SeqTransformer,
        lambda: {"src": _tokens(100, 1, 12), "tgt": _tokens(100, 1, 9)},
        "dynamo",
        outputs=["logits"],
    ),
    Spec(
        "streaming_denoiser",
        "streaming GRU with a state input: (x, h) -> (y, h')",
        StreamingDenoiser,
        lambda: {"x": _normal(1, 8, 16), "h": _normal(1, 1, 32) * 0.1},
        "legacy",
        outputs=["y", "h_next"],
    ),
    Spec(
        "vit_external",
        "ViT-style encoder, weights in vit_external.onnx.data",
        ViTMini,
        lambda: {"x": _normal(1, 3, 32, 32)},
        "dynamo",
        outputs=["logits"],
        external=True,
    ),
    Spec(
        "cond_branch",
        "torch.cond exported as an ONNX If (two conv branches)",
        CondNet,
        lambda: {"x": _normal(1, 3, 16, 16) + 0.5},
        "dynamo",
        outputs=["logits"],
    ),
]


def export(spec: Spec, out: Path) -> dict:
    """Build, export and check one model; write it and its input. Returns its manifest row."""
    torch.manual_seed(sum(map(ord, spec.name)))  # a seed of its own: one model, same bytes
    model = spec.build().eval()
    _randomise_bn(model)
    inputs = spec.inputs()
    args = tuple(inputs.values())
    path = out / f"{spec.name}.onnx"
    for stale in (path, out / f"{spec.name}.onnx.data"):
        stale.unlink(missing_ok=True)
    # grad stays on while exporting: under no_grad, nn.TransformerEncoderLayer takes its
    # fused fast path (aten::_transformer_encoder_layer_fwd), which no exporter knows
    if spec.exporter == "legacy":
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            opset_version=LEGACY_OPSET,
            input_names=list(inputs),
            output_names=spec.outputs,
            dynamic_axes=spec.dynamic,
            training=torch.onnx.TrainingMode.PRESERVE,
        )
        proto = onnx.load(str(path))
    else:
        dyn = None
        if spec.dynamic:
            dyn = {
                k: {a: torch.export.Dim(n) for a, n in v.items()} for k, v in spec.dynamic.items()
            }
        program = torch.onnx.export(
            model,
            args,
            dynamo=True,
            input_names=list(inputs),
            output_names=spec.outputs,
            dynamic_shapes=dyn,
            external_data=False,
        )
        proto = program.model_proto
    with torch.no_grad():
        expected = model(*args)
    _strip_stack_traces(proto.graph)
    proto.producer_name, proto.doc_string = "models/onnx_zoo/make.py", spec.family
    onnx.checker.check_model(proto)
    if spec.external:
        onnx.save(
            proto,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{spec.name}.onnx.data",
            size_threshold=1024,
        )
    else:
        onnx.save(proto, str(path))
    arrays = {k: v.numpy() for k, v in inputs.items()}
    if len(arrays) == 1:
        np.save(out / f"{spec.name}.npy", next(iter(arrays.values())))
        inp = f"{spec.name}.npy"
    else:
        np.savez(out / f"{spec.name}.npz", **arrays)
        inp = f"{spec.name}.npz"
    _check_onnxruntime(path, arrays, expected)
    return {
        "name": spec.name,
        "file": path.name,
        "input": inp,
        "family": spec.family,
        "made_by": f"make.py, torch {torch.__version__}, {spec.exporter} exporter",
        "external_data": f"{spec.name}.onnx.data" if spec.external else None,
    }


def _strip_stack_traces(graph) -> None:
    """The dynamo exporter's per-node stack traces (branches too): most of a small file's
    bytes, and they name this machine's paths, so the same seed would not give the same
    bytes elsewhere."""
    for node in graph.node:
        del node.metadata_props[:]
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _strip_stack_traces(sub)


def _check_onnxruntime(path: Path, arrays: dict, expected) -> None:
    """The file runs and agrees with torch, when onnxruntime is here (else only checked)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(
        None, dict(zip([i.name for i in sess.get_inputs()], arrays.values(), strict=True))
    )
    want = expected if isinstance(expected, tuple) else (expected,)
    for g, w in zip(got, want, strict=False):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-3, atol=1e-4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--only", nargs="*", help="names to (re)make; default all")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("torch").setLevel(logging.ERROR)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "corpus.json"
    rows = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    by_name = {r["name"]: r for r in rows}
    failed = []
    for spec in SPECS:
        if args.only and spec.name not in args.only:
            continue
        try:
            by_name[spec.name] = export(spec, args.out)
            print(f"{spec.name}: {(args.out / (spec.name + '.onnx')).stat().st_size:,} bytes")
        except Exception as err:  # one model that does not export must not stop the rest
            failed.append(spec.name)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"{spec.name}: NOT EXPORTED: {type(err).__name__}: {first}", file=sys.stderr)
    # this script's models first, in SPECS order; the rows other scripts wrote keep theirs
    order = [s.name for s in SPECS] + [r["name"] for r in rows]
    rows = sorted(by_name.values(), key=lambda r: order.index(r["name"]))
    manifest_path.write_text(json.dumps(rows, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
