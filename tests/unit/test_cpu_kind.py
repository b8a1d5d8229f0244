"""The CPU kind of a machine from /proc/cpuinfo, and the made_on.json record of the committed metrics."""
from __future__ import annotations

import json

import pytest

from skinlab import cpu_kind

XEON = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl\n"
EPYC = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n"
GRAVITON = "processor\t: 0\nCPU implementer\t: 0x41\nFeatures\t: fp asimd evtstrm aes\n"


@pytest.mark.parametrize("info, cores, kind", [
    (XEON, 2, "GenuineIntel avx512 x2"),
    (EPYC, 2, "AuthenticAMD avx2 x2"),
    (EPYC, 16, "AuthenticAMD avx2 x16"),   # TensorFlow shards by cores: another kind
    (XEON.replace(" avx512vl", ""), 2, "GenuineIntel avx2 x2"),   # no full AVX-512 server set: AVX2 kernels
    (GRAVITON, 4, "0x41 neon x4"),
    ("vendor_id : Odd\nflags : fpu sse2\n", 1, "Odd scalar x1"),
])
def test_kind_is_vendor_widest_vector_set_and_cores(info, cores, kind):
    assert cpu_kind.cpu_kind(info, cores) == kind


def test_this_machine_has_a_kind():
    vendor, simd, cores = cpu_kind.cpu_kind().split(" ")
    assert vendor and simd in {"avx512", "avx2", "avx", "neon", "scalar"} and int(cores[1:]) >= 1


def test_a_record_vouches_for_exact_bytes_and_names_what_changed():
    metrics = {"metrics/a.json": b'{"x": 1}', "metrics/b.json": b'{"y": 2}'}
    made = cpu_kind.parse(json.dumps(cpu_kind.record("K avx2 x2", metrics)), "made_on.json")
    assert made["cpu_kind"] == "K avx2 x2"
    assert cpu_kind.stale(made, metrics) == []
    assert cpu_kind.stale(made, {**metrics, "metrics/a.json": b'{"x": 1.0}'}) == ["metrics/a.json"]
    assert cpu_kind.stale(made, {**metrics, "metrics/c.json": b"{}"}) == ["metrics/c.json"]     # a new stage's file
    assert cpu_kind.stale(made, {**metrics, "metrics/b.json": None}) == ["metrics/b.json"]      # a file gone
    assert cpu_kind.stale(made, {"metrics/a.json": metrics["metrics/a.json"], "metrics/z.json": None}) == []


@pytest.mark.parametrize("text, message", [("{", "is not valid JSON"), ('{"cpu_kind": 3, "metrics": {}}', "must hold cpu_kind")])
def test_a_bad_record_names_the_file(text, message):
    with pytest.raises(ValueError, match=message) as error:
        cpu_kind.parse(text, "metrics/made_on.json on abc")
    assert "metrics/made_on.json on abc" in str(error.value)
