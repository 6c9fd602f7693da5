"""Prune all-MiniLM-L6-v2 one-shot several ways; measure embedding quality against the dense
model and simulate the pruned model on its real activations.

    .venv/bin/python models/minilm/prune_and_simulate.py [--text FILE] [--config FILE.toml]

No retraining: every method prunes the trained weights once (accel.prune) and the model
runs as it is. Quality: (a) the mean cosine similarity of each sentence's embedding with
the dense model's, (b) the fraction of sentences whose nearest neighbour in the set (by
cosine, itself excluded) is the dense model's. Deterministic: no step draws a random number.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from accel.config import load_config
from accel.perf.energy import load_energy_table
from accel.perf.simulate import NetworkResult, simulate_layer
from accel.prune import PruneSpec
from accel.workloads.bert_forward import encode, read_sentences, tokenize
from accel.workloads.bert_weights import layer_patterns, load_bert, minilm_path, prune_bert

HERE = Path(__file__).resolve().parent

METHODS: list[tuple[str, PruneSpec | None]] = [
    ("dense", None),
    ("magnitude 50%", PruneSpec("magnitude", sparsity=0.5)),
    ("magnitude 75%", PruneSpec("magnitude", sparsity=0.75)),
    ("magnitude 90%", PruneSpec("magnitude", sparsity=0.9)),
    ("2:4", PruneSpec("nm", nm=(2, 4))),
    ("channel 50%", PruneSpec("channel", sparsity=0.5)),
    ("block 1x16 50%", PruneSpec("block", sparsity=0.5, block=(1, 16))),
]


def nearest(emb: np.ndarray) -> np.ndarray:
    """Each sentence's nearest other sentence by cosine (embeddings have unit norm)."""
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    return sim.argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default=str(HERE / "sentences.txt"), help="one sentence a line")
    ap.add_argument("--config", help="accel TOML config (default: 16x16, block 16)")
    ap.add_argument("--seq-len", type=int, default=128, help="truncation length (128)")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    config = load_config(args.config, {"array": {}, "system": {}})
    table = load_energy_table(None)
    dense_model = load_bert(minilm_path())
    sentences = read_sentences(args.text)
    tokens = tokenize(dense_model, sentences, args.seq_len)
    gemms_lengths = tokens.lengths
    rows = []
    ref_emb = ref_nn = None
    ref_cycles = ref_energy = None
    for label, spec in METHODS:
        model = prune_bert(dense_model, spec)
        emb, acts = encode(model, tokens)
        gemms = model.gemms(gemms_lengths)
        result = NetworkResult(
            [
                simulate_layer(config, p.item.layer, p.weights, p.acts, table, p.output_density)
                for p in layer_patterns(gemms, config.array, acts=acts)
            ]
        )
        t = result.totals()
        static = [r for r in result.layers if not r.layer.dynamic_weights]
        w_density = sum(r.weight_density * r.layer.weight_count for r in static) / sum(
            r.layer.weight_count for r in static
        )
        energy = t["energy_pj"]["total"]
        if ref_emb is None:
            ref_emb, ref_nn = emb, nearest(emb)
            ref_cycles, ref_energy = t["total_cycles"], energy
        rows.append(
            {
                "method": label,
                "cosine": float(np.mean(np.sum(emb * ref_emb, axis=1))),
                "nn": float(np.mean(nearest(emb) == ref_nn)),
                "w_sparsity": 1.0 - w_density,
                "a_sparsity": 1.0 - t["act_density"],
                "cycles": t["total_cycles"],
                "speedup": ref_cycles / t["total_cycles"],
                "energy_x": ref_energy / energy,
                "vs_dense_array": t["speedup"],
            }
        )
    elapsed = time.perf_counter() - start

    cfg = config.array
    print(
        f"all-MiniLM-L6-v2, {len(sentences)} sentences ({sum(tokens.lengths)} tokens) from "
        f"{Path(args.text).name}; one-shot pruning, no retraining; {cfg.rows}x{cfg.cols} "
        f"array, block {cfg.block}, real int8 activations"
    )
    head = (
        f"{'method':<15} {'cosine':>7} {'NN agree':>8} {'w.sparsity':>10} {'a.sparsity':>10} "
        f"{'cycles':>11} {'speedup':>8} {'energy x':>8} {'vs dense array':>14}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['method']:<15} {r['cosine']:>7.4f} {r['nn']:>7.1%} {r['w_sparsity']:>10.3f} "
            f"{r['a_sparsity']:>10.3f} {r['cycles']:>11,} {r['speedup']:>7.2f}x "
            f"{r['energy_x']:>7.2f}x {r['vs_dense_array']:>13.2f}x"
        )
    print(
        "speedup, energy x: the dense model's total cycles and energy over this model's, both "
        "on the zero-skipping array; vs dense array: this model on the array over the same "
        "model on its dense baseline (no skipping)"
    )
    print(f"({elapsed:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
