"""How embed's time grows with embed.max_points: one representation (clustered 128-D vectors, like
CNN embeddings) mapped by PCA, t-SNE and UMAP and scored as the stage does, at several caps.

    python -m bench.bench_embed [--caps 250 500 1000 2000 4000] [--dim 128]

Prints seconds per method, the scoring, the total, and milliseconds per point (flat or falling:
linear or better in the cap). Scores are computed on at most embed.score_points test points, so
their cost stops growing at that cap. Asserts nothing. UMAP's numba code is compiled before timing.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from skinlab import embed_report, embedding, params
from skinlab.data.schema import CLASSES


def clustered(n: int, dim: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, size=n, p=[0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    centres = {c: rng.normal(size=dim) * 2 for c in CLASSES}
    X = np.array([centres[c] for c in labels]) + rng.normal(size=(n, dim)) * 1.5
    frame = pd.DataFrame({"image_id": [f"I{i}" for i in range(n)], "lesion_id": [f"L{i}" for i in range(n)],
                          "dx": labels, "split": "test", "band": rng.choice(["light", "tan", "brown"], size=n)})
    return X, frame


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--caps", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args(argv)
    cfg = params.parse({}).embed
    embedding.project("umap", clustered(50, 8, 0)[0], cfg, 0)  # compile numba first
    print(f"{args.dim}-D clustered vectors, score_points {cfg.score_points}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| points | PCA s | t-SNE s | UMAP s | scores s | total s | ms / point |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for cap in args.caps:
        X, frame = clustered(cap, args.dim, 1)
        X = embedding.standardise([X])
        start = time.perf_counter()
        scored = embedding.stratified_sample(frame, cfg.score_points, ["dx"], 0).index.to_numpy()
        points = embed_report.Points(frame, scored, {})
        embed_report.representation_summary(X, points, cfg, 0)
        seconds, scoring = {}, 0.0
        for method in ("pca", "tsne", "umap"):
            projection = embedding.project(method, X, cfg, 0)
            seconds[method] = projection.seconds
            begin = time.perf_counter()
            embed_report.scores(X, projection.coordinates, points, cfg, 0)
            scoring += time.perf_counter() - begin
        total = time.perf_counter() - start
        print(f"| {cap} | {seconds['pca']:.2f} | {seconds['tsne']:.1f} | {seconds['umap']:.1f} | {scoring:.1f} "
              f"| {total:.1f} | {1000 * total / cap:.1f} |")


if __name__ == "__main__":
    main()
