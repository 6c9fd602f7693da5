"""What a sweep runs on every design: built-in networks or ONNX models, with their
sparsity. A workload is a small picklable spec; workers build its layers themselves."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..workloads.sparsity import WeightSparsity
from .space import digest

__all__ = ["Workload", "network_workload", "onnx_workload"]


@dataclass(frozen=True)
class Workload:
    """One network and its sparsity; ``key`` names it in the store (files by content)."""

    name: str
    kind: str  # "network" or "onnx"
    source: str  # the network's name, or the ONNX file
    shape: tuple[tuple[str, int], ...] = ()  # network parameters (batch, image, seq_len)
    weights: WeightSparsity = field(default_factory=WeightSparsity)
    act_density: float = 1.0
    seed: int = 0
    input: str | None = None  # the --input array of an ONNX model
    content: str = ""  # hash of the files it reads

    def spec(self) -> dict[str, Any]:
        """Everything that fixes its layers and their zeros (not the paths: contents)."""
        return {
            "kind": self.kind,
            "source": self.source if self.kind == "network" else None,
            "shape": dict(self.shape),
            "weights": asdict(self.weights),
            "act_density": None if self.input else self.act_density,
            "seed": None if self.input else self.seed,
            "content": self.content,
        }

    @property
    def key(self) -> str:
        return digest(self.spec())


def network_workload(
    network: str,
    weights: WeightSparsity,
    act_density: float,
    seed: int,
    **shape: int,
) -> Workload:
    from ..workloads.zoo import get_network, network_key

    get_network(network, **shape)  # its errors now, not in a worker
    name = network_key(network)
    suffix = "".join(f"-{k[0]}{v}" for k, v in sorted(shape.items()))
    return Workload(name + suffix, "network", name, tuple(sorted(shape.items())), weights,
                    act_density, seed)  # fmt: skip


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def onnx_workload(
    path: str, data: str | None, act_density: float, seed: int
) -> Workload:
    """An ONNX model with its own weights; activations captured from ``data`` (an .npy
    array) or drawn at ``act_density``."""
    content = _file_hash(path) + (_file_hash(data) if data else "")
    return Workload(Path(path).stem, "onnx", str(path), (), WeightSparsity(), act_density,
                    seed, data, content)  # fmt: skip
