"""Serving speed of the trained CNN: single-image latency (p50/p95) and batch throughput of the
Keras model, the float32 TFLite model and the quantised one, and the size of each file.

    python -m bench.bench_serving [--models models/cnn] [--runs 200] [--batch 32]

Reads what `dvc repro train_cnn` wrote (model.keras, model.tflite, model_quant.tflite when it was
kept). Prints a Markdown table; asserts nothing. The TFLite models run a batch as one call per
image (how `skinlab.export.TfliteModel` serves); Keras runs the batch in one call.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def timings(call, runs: int, warmup: int = 10) -> np.ndarray:
    for _ in range(warmup):
        call()
    out = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        call()
        out[i] = time.perf_counter() - start
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=Path("models/cnn"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)

    import keras

    from skinlab import export

    card = json.loads((args.models / "model_card.json").read_text())
    size, n_meta = card["image_size"], len(card["metadata_columns"])
    rng = np.random.default_rng(0)

    def inputs(n):
        image = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
        return {"image": image, "metadata": rng.integers(0, 2, (n, n_meta)).astype(np.float32)} if n_meta else image

    one, batch = inputs(1), inputs(args.batch)
    model = keras.models.load_model(args.models / "model.keras")
    runners = {"Keras (model(x))": (lambda x: model(x, training=False).numpy(), args.models / "model.keras")}
    for name, file in (("TFLite float32", "model.tflite"), ("TFLite dynamic-range int8", "model_quant.tflite")):
        if (args.models / file).exists():
            runners[name] = (export.TfliteModel((args.models / file).read_bytes()).predict, args.models / file)
    print(f"{card['arch']} at {size} px{' with metadata' if n_meta else ''}; {args.runs} single-image runs, "
          f"batches of {args.batch}\n")
    print("| model | file size | latency p50 | latency p95 | throughput, batches of {} |".format(args.batch))
    print("|---|---:|---:|---:|---:|")
    for name, (predict, path) in runners.items():
        single = timings(lambda: predict(one), args.runs) * 1000
        batched = timings(lambda: predict(batch), max(5, args.runs // 20), warmup=2)
        print(f"| {name} | {path.stat().st_size / 1e6:.2f} MB | {np.percentile(single, 50):.2f} ms | "
              f"{np.percentile(single, 95):.2f} ms | {args.batch / np.median(batched):.0f} images/s |")


if __name__ == "__main__":
    main()
