"""Input pipeline speed beside the plain decode rate of the same files, training speed, and
train_cnn's peak memory at two data sizes.

    python -m bench.bench_tfdata [--raw data/raw] [--split data/split] [--size 64]

Reads the pipeline's own data (run `dvc repro split` first). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

PEAK_SCRIPT = """
import resource, sys
from skinlab.data import dataset, tfdata
from skinlab import cnn_train, params
cfg = params.load().train_cnn.model_copy(update={{"epochs": 1}})
frame = dataset.read_index("{split}", "train").head({n})
table = tfdata.table("{raw}", frame)
cnn_train.deterministic(0)
cnn_train.train(cfg, table, table, 0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} images/s ({count} in {seconds:.1f}s)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--split", default="data/split")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from skinlab import params
    from skinlab.data import dataset, tfdata
    from skinlab.models import cnn

    frame = dataset.read_index(args.split, "train")
    table = tfdata.table(args.raw, frame)
    n = len(table)
    start = time.perf_counter()
    for path in table.paths:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    print(f"plain decode (tf.io, one by one): {rate(n, time.perf_counter() - start)}")

    cfg = params.load().train_cnn
    for name, augment in (("eval pipeline (decode+resize)", None), ("train pipeline (+augment)", cfg.augment)):
        if augment is None:
            ds = tfdata.eval_dataset(table, args.size, args.batch)
        else:
            ds = tfdata.train_dataset(table, args.size, args.batch, 0, augment).take(tfdata.steps_per_epoch(n, args.batch))
        start = time.perf_counter()
        count = sum(int(batch[1].shape[0]) for batch in ds)
        print(f"{name} at {args.size}px: {rate(count, time.perf_counter() - start)}")

    model = cnn.build(cfg.arch, args.size, 7, filters=cfg.filters, separable=cfg.separable)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    ds = tfdata.train_dataset(table, args.size, args.batch, 0, cfg.augment)
    steps = tfdata.steps_per_epoch(n, args.batch)
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace once
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    print(f"training {cfg.arch} ({model.count_params():,} params) at {args.size}px: {rate(steps * args.batch, time.perf_counter() - start)}")

    for count in (max(8, n // 4), n):
        script = PEAK_SCRIPT.format(split=args.split, raw=args.raw, n=count)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        print(f"train_cnn (1 epoch) peak memory with {count} training images: {float(out.stdout.split()[-1]):.0f} MiB")
    print(f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB peak")


if __name__ == "__main__":
    main()
