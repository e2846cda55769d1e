"""What this CPU offers the transformer encoder: the cores we may use, native bfloat16 — torch-free.

Why a module: the e5 encoder's arithmetic is chosen per machine (``e5_precision``), and that choice
must be known *before* torch is imported, because it is part of the embedder's fingerprint (vectors
computed in bfloat16 and in int8 differ at cosine ~0.995, so their caches must not mix) and a
one-shot command computes the fingerprint without loading torch.

Measured on the 2-core AMD EPYC (Zen 4, ``avx512_bf16``) of docs/BENCHMARKS.md §9.6: bfloat16 matrix
products run 2.3× faster than float32 and stay within cosine 0.99999 of float32 sentence vectors,
while int8 dynamic quantization (the previous default) was only 1.3× faster than float32, 0.993 from
it, and depended on which other sentences shared the batch. Without native bfloat16 instructions
oneDNN emulates them and float32 or int8 is faster, so there the previous int8 path stays.
"""

from __future__ import annotations

import functools
import os

PRECISION_ENV = "ASSISTANT_E5_PRECISION"
# "auto": bf16 on a CPU with native bfloat16 instructions, else the model config's setting (int8-dynamic)
PRECISIONS = ("auto", "bf16", "int8-dynamic", "none")
_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


class PrecisionError(ValueError):
    """ASSISTANT_E5_PRECISION has a value we do not know."""


def available_cores() -> int:
    """Cores this process may run on (the affinity mask: a container's share, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True if the CPU computes bfloat16 dot products natively (x86 ``avx512_bf16`` or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool(_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def e5_precision(configured: str) -> str:
    """The arithmetic the e5 encoder runs in: ``ASSISTANT_E5_PRECISION`` if set, else ``auto``
    (bf16 where native, otherwise ``configured``, the model directory's own setting)."""
    wanted = (os.environ.get(PRECISION_ENV) or "auto").strip()
    if wanted not in PRECISIONS:
        raise PrecisionError(f"{PRECISION_ENV}={wanted!r}: expected one of {', '.join(PRECISIONS)}")
    if wanted == "auto":
        return "bf16" if native_bf16() else configured
    return wanted
