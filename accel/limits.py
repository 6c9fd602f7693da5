"""The limits a run is checked against before it allocates: memory free on this machine,
and the counts the tool accepts.

A run that would need more memory than the machine has is refused from the shapes, in
one line that says how much it needs and which limit that exceeds, instead of ending in
a ``MemoryError`` (or the kernel's OOM killer) after minutes. The budget is the memory
available now (``MemAvailable``), lowered by an address-space limit (``ulimit -v``) when
one is set; ``ACCEL_MEMORY_GIB`` sets it by hand (for a shared machine, or a test).
"""

from __future__ import annotations

import os
import resource

from .errors import AccelError

__all__ = ["MAX_TEXT_LINES", "MAX_STEPS", "MAX_EPOCHS", "MAX_HIDDEN_LAYERS", "MAX_TOML_BYTES",
           "memory_budget", "check_bytes", "gib"]  # fmt: skip

MAX_TEXT_LINES = 4096  # sentences of --text (each one is a forward pass kept in memory)
MAX_STEPS = 100  # steps of a gradual prune (each writes one model file)
MAX_EPOCHS = 1000  # fine-tuning epochs of `accel tradeoff`
MAX_HIDDEN_LAYERS = 1024  # encoder layers of a --safetensors config.json
MAX_TOML_BYTES = 1 << 20  # a config or energy table; real ones are a few KiB


def gib(n: int | float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def memory_budget() -> int:
    """Bytes a run may allocate: ``ACCEL_MEMORY_GIB`` if set, else the memory available
    now, capped by ``RLIMIT_AS``."""
    forced = os.environ.get("ACCEL_MEMORY_GIB")
    if forced:
        try:
            return int(float(forced) * (1 << 30))
        except ValueError:
            raise AccelError(f"ACCEL_MEMORY_GIB={forced!r}: not a number of GiB") from None
    budget = 1 << 62
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    budget = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        budget = min(budget, soft)
    return budget


def check_bytes(need: int, what: str, hint: str = "") -> None:
    """Refuse, in one line, a run whose ``what`` needs ``need`` bytes the machine has not
    got."""
    budget = memory_budget()
    if need > budget:
        tail = f"; {hint}" if hint else ""
        raise AccelError(
            f"{what} needs about {gib(need)} of memory, more than the {gib(budget)} "
            f"available on this machine{tail}"
        )
