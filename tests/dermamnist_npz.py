"""Tiny DermaMNIST-shaped npz files, written the way MedMNIST's are (np.savez_compressed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_SPLITS = {"train": 9, "val": 3, "test": 4}


def tiny_arrays(size: int = 28, splits: dict[str, int] = TINY_SPLITS, seed: int = 0) -> dict[str, np.ndarray]:
    """Random RGB images and labels cycling through all 7 classes, shaped like the release's."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for offset, (split, count) in enumerate(splits.items()):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = ((np.arange(count) + offset) % 7).astype(np.uint8).reshape(count, 1)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray] | None = None, compressed: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = tiny_arrays() if arrays is None else arrays
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path
