"""Reading the prepared images back: split indexes and a stream of images from disk."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from skinlab import io
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES

INDEX_COLUMNS = ("image_id", "source_image_id", "lesion_id", "dx", "augmented", "image", "mask",
                 "fitzpatrick", "ita", "age", "sex", "localization")


def read_index(root: str | Path, split: str) -> pd.DataFrame:
    """`<root>/<split>.csv`: one row per image, paths relative to root; labels checked."""
    path = Path(root) / f"{split}.csv"
    if not path.exists():
        raise InputError(f"{path}: not found (run the stage that writes {root})")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in ("image_id", "lesion_id", "dx", "image") if column not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = frame.index[~frame["dx"].isin(CLASSES)]
    if len(unknown):
        rows = ", ".join(f"row {i + 2} ({frame.loc[i, 'dx']!r})" for i in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        raise InputError(f"{path}: unknown dx at {rows}{more} (known: {', '.join(CLASSES)})")
    return frame


def iter_images(root: str | Path, frame: pd.DataFrame) -> Iterator[np.ndarray]:
    """RGB images one at a time, in the order of `frame`."""
    root = Path(root)
    for relative in frame["image"]:
        yield io.read_image(root / relative)


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["dx"].to_numpy(dtype=str)
