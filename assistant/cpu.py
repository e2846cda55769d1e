"""What this CPU offers the transformer encoder: the cores we may use, native bfloat16 — torch-free.

Why a module: the e5 encoder's arithmetic can be chosen per machine (``e5_precision``), and that choice
must be known *before* torch is imported, because it is part of the embedder's fingerprint (vectors
computed in bfloat16 and in int8 differ at cosine ~0.995, so their caches must not mix) and a
one-shot command computes the fingerprint without loading torch.

Measured on the 2-core AMD EPYC (Zen 4, ``avx512_bf16``) of docs/BENCHMARKS.md §9.6: bfloat16 matrix
products run 2.3× faster than float32 and stay within cosine 0.99999 of float32 sentence vectors,
while int8 dynamic quantization (the model directory's own setting) is 0.993–0.997 from it, depends on
which other sentences share the batch and measures differently from CPU to CPU (§9.26). Without native
bfloat16 instructions oneDNN emulates them, so ``auto`` takes int8 with a scale per token where the CPU
has int8 dot-product instructions (``int8-rows``: 0.9994 from float32, nearly the same in any batch; §9.27)
and float32 where it has neither: on a Zen 3 EPYC (AVX2 only, §9.36) ``torch._int_mm`` has no fast kernel
and ran 18–23× slower than float32, emulated bfloat16 6× slower.
"""

from __future__ import annotations

import functools
import logging
import os

log = logging.getLogger(__name__)

PRECISION_ENV = "ASSISTANT_E5_PRECISION"
# "auto", the default: the fastest arithmetic near float32 whose vectors do not move with their batch
# (auto_precision: bf16 where native, else int8 with per-token scales where int8 dot products are, else
# float32), so that one commit measures the same
# on every CPU (BENCHMARKS §9.28). The fitted answer model (data/answer_model.json) and the reader's
# out-of-fold scores it was fitted on were computed in it. "model": the model directory's own setting
# (int8-dynamic: batch- and CPU-dependent, §9.26), kept for comparison.
DEFAULT_PRECISION = "auto"
PRECISIONS = ("model", "auto", "bf16", "int8-rows", "int8-dynamic", "none")
_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
_INT8_DOT_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8"}


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
    return _has_any(_BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def native_int8_dot() -> bool:
    """True if the CPU has int8 dot-product instructions (VNNI or AMX), which ``torch._int_mm`` (the
    ``int8-rows`` arithmetic) needs to be fast: without them it ran 18–23× slower than float32 (§9.36)."""
    return _has_any(_INT8_DOT_FLAGS)


def _has_any(wanted: set[str]) -> bool:
    flags = _cpuinfo("flags")
    return bool(flags and wanted & set(flags.split()))


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
    ``auto`` = :func:`auto_precision`; or a precision by name."""
    wanted = (os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION).strip()
    if wanted not in PRECISIONS:
        raise PrecisionError(f"{PRECISION_ENV}={wanted!r}: expected one of {', '.join(PRECISIONS)}")
    if wanted == "model":
        return configured
    if wanted == "auto":
        return auto_precision()
    _warn_if_emulated(wanted)
    return wanted


def emulated(precision: str | None) -> bool:
    """True if this CPU has no native instructions for ``precision`` (``bf16`` without native bf16,
    ``int8-rows`` without int8 dot products): it then computes the same vectors many times slower (§9.36)."""
    return {"bf16": not native_bf16(), "int8-rows": not native_int8_dot()}.get(precision or "", False)


@functools.lru_cache(maxsize=None)
def _warn_if_emulated(precision: str) -> None:
    """Log once that ``precision``, asked for by name, is emulated on this CPU. Why: a slow assistant with no
    word of why is a hard fault to find (``Assistant.health`` says it too)."""
    if emulated(precision):
        log.warning("%s=%s: this CPU (%s) has no native instructions for it, so it is emulated and runs many times "
                    "slower than float32 (docs/BENCHMARKS.md §9.36); %s=auto chooses the fastest arithmetic here",
                    PRECISION_ENV, precision, cpu_model(), PRECISION_ENV)


def auto_precision() -> str:
    """The fastest arithmetic near float32 whose vectors do not move with their batch, on this CPU:
    ``bf16`` where it is native; else ``int8-rows`` where int8 dot products are (emulated bf16 is slower
    than float32 there); else float32 (``none``), which is then both the fastest and the nearest to the
    bf16 vectors the answer model was fitted on."""
    if native_bf16():
        return "bf16"
    return "int8-rows" if native_int8_dot() else "none"


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (「Intel(R) Xeon(R) Processor」), or ``"unknown"``."""
    return _cpuinfo("model name") or "unknown"


def describe() -> dict:
    """The machine an evaluation ran on, as its report records it. Why: the e5 encoder's arithmetic
    differs from CPU to CPU (bf16, int8-rows or float32 by default; the directory's int8 also moves with the batch,
    docs/BENCHMARKS.md §9.26), so the same commit can measure slightly differently on another CPU; a
    figure without its machine cannot be compared."""
    return {"cpu": cpu_model(), "cores": available_cores(), "native_bf16": native_bf16(), "native_int8_dot": native_int8_dot(),
            "e5_precision": (os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION).strip()}
