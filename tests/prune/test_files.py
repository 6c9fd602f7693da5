"""prune_file: round trips through .npz and .onnx, and checks that can fail."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from accel.errors import AccelError
from accel.prune import PruneSpec, prune_file


def test_npz_round_trip_prunes_matrices_and_copies_the_rest(npz_file, tmp_path):
    out = tmp_path / "out.npz"
    result = prune_file(npz_file, out, PruneSpec("magnitude", sparsity=0.6))
    assert result.ok and [t.name for t in result.tensors] == ["conv", "fc"]
    before, after = np.load(npz_file), np.load(out)
    assert list(after.files) == list(before.files)
    for key in ("bias", "flags"):
        assert np.array_equal(after[key], before[key]) and after[key].dtype == before[key].dtype
    assert after["fc"].dtype == np.int8
    for key in ("conv", "fc"):
        assert np.count_nonzero(after[key] == 0) == max(
            np.count_nonzero(before[key] == 0), round(0.6 * before[key].size)
        )
    assert {name for name, _ in result.skipped} == {"bias", "flags"}


def test_onnx_round_trip_prunes_along_the_stored_k_axis(onnx_file, tmp_path, stored):
    out = tmp_path / "out.onnx"
    result = prune_file(onnx_file, out, PruneSpec("nm", nm=(2, 4)))
    assert result.ok
    onnx.checker.check_model(onnx.load_model(str(out)))
    # independently of the pruner's own views: K is axis 1 of conv (flattened), axis 1 of
    # Gemm transB=1, axis 0 of Gemm transB=0 and of MatMul's B
    for name, k_axis in (("conv.w", 1), ("fc1.w", 1), ("fc2.w", 0), ("mm.w", 0)):
        w = stored(out, name)
        k_major = np.moveaxis(w.reshape(w.shape[0], -1), k_axis, 0)  # [K, outputs]
        K = k_major.shape[0]
        for k0 in range(0, K, 4):
            assert np.all(np.count_nonzero(k_major[k0 : k0 + 4], axis=0) <= 2), (name, k0)
        assert np.count_nonzero(w) == w.size // k_major.shape[0] * sum(
            min(2, K - k0) for k0 in range(0, K, 4)
        )
    assert stored(out, "fc2.w").dtype == np.float32


def test_channel_on_a_transposed_gemm_zeroes_whole_output_columns(onnx_file, tmp_path, stored):
    out = tmp_path / "out.onnx"
    assert prune_file(onnx_file, out, PruneSpec("channel", sparsity=0.4)).ok
    fc2 = stored(out, "fc2.w")  # [K=6, N=5]: output channels are columns
    assert np.count_nonzero(~fc2.any(axis=0)) == 2
    assert np.count_nonzero(~fc2.any(axis=1)) == 0


def test_global_magnitude_over_a_model(onnx_file, tmp_path):
    result = prune_file(
        onnx_file, tmp_path / "g.onnx", PruneSpec("magnitude", sparsity=0.5, scope="global")
    )
    assert result.ok and result.after == pytest.approx(0.5, abs=1 / result.weights)


@pytest.mark.parametrize(
    ("spec", "tamper", "needle"),
    [
        (PruneSpec("magnitude", sparsity=0.5), lambda a, w: a * 2, "kept weight changed"),
        (PruneSpec("magnitude", sparsity=0.5), lambda a, w: np.where(a == a.max(), 0, a), "zeros"),
        (PruneSpec("nm", nm=(2, 4)), lambda a, w: w, "nonzeros"),
        (PruneSpec("channel", sparsity=0.5), lambda a, w: np.where(a == a.max(), 0, a), "whole"),
        (PruneSpec("block", sparsity=0.5, block=(2, 2)), lambda a, w: a.astype(np.float64), "as"),
    ],
    ids=["changed", "count", "nm", "channel", "dtype"],
)
def test_the_checks_catch_a_wrong_result(spec, tamper, needle):
    w = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    pruned = np.where(spec.masks({"w": w})["w"], w, np.float32(0))
    assert spec.check(w, pruned, "w") is None
    problem = spec.check(w, tamper(pruned, w), "w")
    assert problem is not None and needle in problem


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"method": "gradual", "sparsity": 0.5}, "method"),
        ({"method": "magnitude"}, "needs a sparsity"),
        ({"method": "nm", "nm": (2, 4), "sparsity": 0.3}, "contradicts"),
        ({"method": "channel", "sparsity": 0.5, "scope": "global"}, "global"),
        ({"method": "magnitude", "sparsity": 0.5, "nm": (2, 4)}, "nm"),
    ],
)
def test_spec_errors(kwargs, needle):
    with pytest.raises(AccelError, match=needle):
        PruneSpec(**kwargs)


def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    path = tmp_path / "nan.npz"
    np.savez(path, w=np.array([[1.0, np.nan]]))
    with pytest.raises(AccelError, match="'w' holds NaN"):
        prune_file(path, tmp_path / "o.npz", PruneSpec("magnitude", sparsity=0.5))
    assert not (tmp_path / "o.npz").exists()


def test_safetensors_round_trip_prunes_linear_weights_only(tmp_path):
    from safetensors.numpy import load_file, save_file

    r = np.random.default_rng(2)
    tensors = {
        "embeddings.word_embeddings.weight": r.normal(size=(20, 8)).astype(np.float32),
        "embeddings.LayerNorm.weight": np.ones(8, np.float32),
        "encoder.layer.0.attention.self.query.weight": r.normal(size=(8, 8)).astype(np.float32),
        "encoder.layer.0.attention.self.query.bias": r.normal(size=8).astype(np.float32),
        "encoder.layer.0.intermediate.dense.weight": r.normal(size=(16, 8)).astype(np.float16),
        "encoder.layer.0.output.LayerNorm.weight": np.ones(8, np.float32),
        "pooler.dense.weight": r.normal(size=(8, 8)).astype(np.float32),
        "embeddings.position_ids": np.arange(12, dtype=np.int64)[None],
    }
    src, out = tmp_path / "m.safetensors", tmp_path / "p.safetensors"
    save_file(tensors, str(src), metadata={"format": "pt"})
    result = prune_file(src, out, PruneSpec("magnitude", sparsity=0.75))
    assert result.ok
    assert sorted(t.name for t in result.tensors) == [
        "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.intermediate.dense.weight",
    ]
    after = load_file(str(out))
    assert sorted(after) == sorted(tensors)
    for name, a in tensors.items():
        if name in {t.name for t in result.tensors}:
            assert after[name].dtype == a.dtype and np.count_nonzero(after[name]) == a.size // 4
        else:
            assert np.array_equal(after[name], a) and after[name].dtype == a.dtype, name
    from safetensors import safe_open

    with safe_open(str(out), framework="np") as f:
        assert f.metadata() == {"format": "pt"}


def test_not_a_safetensors_file_is_refused(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x01\x02")
    with pytest.raises(AccelError, match="not a readable safetensors file"):
        prune_file(bad, tmp_path / "y.safetensors", PruneSpec("nm", nm=(2, 4)))
