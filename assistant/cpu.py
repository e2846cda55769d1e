"""What this CPU offers the transformer encoder: the cores we may use, native bfloat16 — torch-free.

Why a module: the e5 encoder's arithmetic can be chosen per machine (``e5_precision``), and that choice
must be known *before* torch is imported, because it is part of the embedder's fingerprint (vectors
computed in bfloat16 and in int8 differ at cosine ~0.995, so their caches must not mix) and a
one-shot command computes the fingerprint without loading torch.

Measured on the 2-core AMD EPYC (Zen 4, ``avx512_bf16``) of docs/BENCHMARKS.md §9.6: bfloat16 matrix
products run 2.3× faster than float32 and stay within cosine 0.99999 of float32 sentence vectors,
while int8 dynamic quantization (the model's setting and still the default, see DEFAULT_PRECISION)
is 0.993 from it and depends on which other sentences share the batch. Without native bfloat16
instructions oneDNN emulates them and int8 is faster, so ``auto`` keeps int8 there.
"""

from __future__ import annotations

import functools
import os

PRECISION_ENV = "ASSISTANT_E5_PRECISION"
# "model": the model directory's own setting (int8-dynamic), the default; "auto": bf16 on a CPU with
# native bfloat16 instructions, else the model's setting. "auto" is not the default yet: the fitted
# answer model (data/answer_model.json) was computed from int8 vectors and its refusal threshold sits
# close enough to some questions that bf16 cosines move them across it (BENCHMARKS §9.6); make
# "auto" the default together with a refit on bf16 vectors.
DEFAULT_PRECISION = "model"
PRECISIONS = ("model", "auto", "bf16", "int8-dynamic", "none")
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
    flags = _cpuinfo("flags")
    return bool(flags and _BF16_FLAGS & set(flags.split()))


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (None where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def e5_precision(configured: str) -> str:
    """The arithmetic the e5 encoder runs in, from ``ASSISTANT_E5_PRECISION`` (default
    ``DEFAULT_PRECISION``): ``model`` = ``configured`` (the model directory's own setting),
    ``auto`` = bf16 where native, else ``configured``; or a precision by name."""
    wanted = (os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION).strip()
    if wanted not in PRECISIONS:
        raise PrecisionError(f"{PRECISION_ENV}={wanted!r}: expected one of {', '.join(PRECISIONS)}")
    if wanted == "model":
        return configured
    if wanted == "auto":
        return "bf16" if native_bf16() else configured
    return wanted


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (「Intel(R) Xeon(R) Processor」), or ``"unknown"``."""
    return _cpuinfo("model name") or "unknown"


def describe() -> dict:
    """The machine an evaluation ran on, as its report records it. Why: the e5 encoder's default int8
    arithmetic differs from CPU to CPU and with the batch (docs/BENCHMARKS.md §9.26), so the same commit
    measures differently on another CPU; a figure without its machine cannot be compared."""
    return {"cpu": cpu_model(), "cores": available_cores(), "native_bf16": native_bf16(),
            "e5_precision": (os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION).strip()}
