"""The kind of CPU a run is made on, and the record of the kind that made the committed metrics.

The pipeline is deterministic on one kind of CPU: a fresh `dvc repro` writes the committed metrics
bit for bit. Across kinds it is not: OpenBLAS, oneDNN and Eigen pick their kernels by the CPU's
vendor and vector instruction set, and TensorFlow shards its work by the number of cores, which
changes the rounding of every fitted model. So the kind is vendor + widest vector set + cores
("GenuineIntel avx512 x2"), and metrics/made_on.json names the kind whose `dvc repro` made the
committed metrics, with a SHA-256 of each metrics file so that a record left behind by newer
metrics is caught (skinlab.gate reads it; `python -m skinlab.gate --record-cpu-kind` writes it).

Coarse on purpose, and read from Linux's /proc/cpuinfo: two CPUs of one kind may still round
apart (other cache sizes can change Eigen's blocking), which the gate then reports as a
mismatch, never as a pass; without /proc/cpuinfo (macOS) every CPU is '<machine> scalar', and
the core count is the process's CPU affinity, not a cgroup quota.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

MADE_ON = "metrics/made_on.json"
# widest first; each level needs all of its flags (avx512: the F/BW/DQ/VL set of every AVX-512 server CPU)
SIMD_LEVELS = (("avx512", {"avx512f", "avx512bw", "avx512dq", "avx512vl"}),
               ("avx2", {"avx2", "fma"}),
               ("avx", {"avx"}),
               ("sve", {"sve"}),
               ("neon", {"asimd"}))


def _field(cpuinfo: str, *names: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in names:
            return value.strip()
    return ""


def cpu_kind(cpuinfo: str | None = None, cores: int | None = None) -> str:
    """'<vendor> <widest vector set> x<cores>' of this machine (or of the given /proc/cpuinfo text)."""
    if cpuinfo is None:
        info = Path("/proc/cpuinfo")
        cpuinfo = info.read_text(errors="replace") if info.exists() else ""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    vendor = _field(cpuinfo, "vendor_id", "CPU implementer") or platform.machine() or "unknown"
    flags = set(_field(cpuinfo, "flags", "Features").split())
    simd = next((name for name, needs in SIMD_LEVELS if needs <= flags), "scalar")
    return f"{vendor.replace(' ', '_')} {simd} x{cores}"


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def record(kind: str, metrics: dict[str, bytes], note: str = "") -> dict:
    """The made_on.json record: the kind, and the SHA-256 of each metrics file it vouches for."""
    return {"cpu_kind": kind, "note": note,
            "metrics": {path: digest(content) for path, content in sorted(metrics.items())}}


def parse(text: str, where: str) -> dict:
    """A made_on.json record, checked; ValueError names the file and what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cpu_kind"), str) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{where} must hold cpu_kind (a string) and metrics (file -> sha256)")
    return data


def stale(made: dict, metrics: dict[str, bytes | None]) -> list[str]:
    """Metrics files whose content is not the one the record vouches for (changed, added or gone)."""
    vouched = made["metrics"]
    return sorted(path for path, content in metrics.items()
                  if (content is None) != (path not in vouched)
                  or (content is not None and vouched.get(path) != digest(content)))


if __name__ == "__main__":
    print(cpu_kind())
