"""Import speed and peak memory of `download.source: dermamnist`, on DermaMNIST-shaped npz files.

Run from the repository root:  python -m bench.bench_dermamnist  [--sizes 28 224] [--counts 500 2000]
                               python -m bench.bench_dermamnist --npz path/to/dermamnist_224.npz --sizes 224
Each import runs in a fresh process (the download stage's library call, without MLflow), so its
peak resident memory is its own. The npz files are made of random pixels unless --npz is given;
the peak should not grow with the number of images, since they are read one at a time.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 224])
    parser.add_argument("--counts", type=int, nargs="+", default=[500, 2000], help="images in each made npz")
    parser.add_argument("--npz", help="import this npz instead of made ones (its size must be the only --sizes)")
    parser.add_argument("--child", nargs=3, metavar=("NPZ", "SIZE", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_npz(path: Path, size: int, count: int) -> Path:
    rng = np.random.default_rng(0)
    splits = {"train": count * 7 // 10, "val": count // 10}
    splits["test"] = count - sum(splits.values())
    arrays = {}
    for split, n in splits.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 7, (n, 1), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    return path


def child(npz: str, size: str, out: str) -> None:
    from skinlab import params
    from skinlab.data import acquire

    cfg = params.parse({"download": {"source": "dermamnist", "dermamnist": {"size": int(size), "path": npz}}})
    start = time.perf_counter()
    metrics = acquire.acquire(cfg.download, 0, Path(out), Path(out).parent / "downloads")
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"images": metrics["n_images"], "seconds": seconds, "peak_mib": peak_mib}))


def measure(npz: Path, size: int, work: Path) -> dict:
    out = work / f"raw_{npz.stem}"
    done = subprocess.run([sys.executable, "-m", "bench.bench_dermamnist", "--child", str(npz), str(size), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        return child(*args.child)
    if args.npz and len(args.sizes) != 1:
        raise SystemExit("--npz takes exactly one --sizes value: the size of its images")
    print(f"{'size':>5} {'images':>7} {'npz MB':>7} {'images/s':>9} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes:
            files = [Path(args.npz)] if args.npz else [make_npz(work / f"d{size}_{n}.npz", size, n) for n in args.counts]
            for npz in files:
                result = measure(npz, size, work)
                print(f"{size:>5} {result['images']:>7} {npz.stat().st_size / 1e6:>7.1f} "
                      f"{result['images'] / result['seconds']:>9.0f} {result['peak_mib']:>9.0f}")
    return None


if __name__ == "__main__":
    main()
