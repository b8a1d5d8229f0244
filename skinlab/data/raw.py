"""data/raw: the one layout every source writes, image by image, so nothing is held in memory.

data/raw/metadata.csv   HAM10000 columns + split, fitzpatrick, ita, image, mask, width, height, source
data/raw/images/<image_id>.<jpg|png>   RGB
data/raw/masks/<image_id>.png           0/255, same size as the image (when known)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import io
from skinlab.data.schema import HAM_COLUMNS

EXTRA_COLUMNS = ("split", "fitzpatrick", "ita", "image", "mask", "width", "height", "source")
RAW_COLUMNS = HAM_COLUMNS + EXTRA_COLUMNS
COPY_AS_IS = (".jpg", ".jpeg", ".png")


class InputError(ValueError):
    """Bad input data; the message names every offending file, row or column."""


@dataclasses.dataclass
class Problem:
    kind: str  # missing_image, corrupt_image, bad_mask, unknown_dx, duplicate_id, bad_value
    where: str  # file or row the user can find
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


def raise_problems(problems: list[Problem], source: str, limit: int = 50) -> None:
    """One error listing every offender (up to `limit`), with the way out."""
    if not problems:
        return
    lines = [f"{len(problems)} bad input item(s) in {source}:"]
    lines += [f"  - {problem}" for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    lines.append("Fix them, or set download.on_bad_image: skip in params.yaml to skip and count them.")
    raise InputError("\n".join(lines))


class RawWriter:
    """Writes images, masks and metadata rows into a directory (the caller makes it atomic)."""

    def __init__(self, out_dir: Path, source: str):
        self.out = Path(out_dir)
        self.source = source
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        (self.out / "masks").mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []

    def add(self, record: dict, data: bytes, ext: str, name: str, mask: np.ndarray | None = None) -> None:
        """Validate by decoding once; keep JPEG/PNG bytes as they are, re-encode anything else as PNG.

        Raises io.ImageError (naming `name`) for an undecodable image or a mask of another size.
        """
        decoded = io.decode_unchanged(data, name)
        height, width = decoded.shape[:2]
        image_id = record["image_id"]
        ext = ext.lower()
        if not (ext in COPY_AS_IS and io.is_rgb8(decoded)):
            data, ext = io.encode_image(io.to_rgb(decoded, name), ".png"), ".png"
        if ext == ".jpeg":
            ext = ".jpg"
        mask_rel = ""
        if mask is not None:
            if mask.shape[:2] != (height, width):
                raise io.MaskError(f"{name}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {width}x{height}")
            mask_rel = f"masks/{image_id}.png"
            (self.out / mask_rel).write_bytes(io.encode_image(mask, ".png"))
        image_rel = f"images/{image_id}{ext}"
        (self.out / image_rel).write_bytes(data)
        row = {column: record.get(column, "") for column in RAW_COLUMNS}
        row.update(image=image_rel, mask=mask_rel, width=width, height=height, source=self.source)
        self.rows.append(row)

    def finish(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=list(RAW_COLUMNS))
        io.write_csv(self.out / "metadata.csv", frame)
        return frame


def read_metadata(raw_dir: str | Path) -> pd.DataFrame:
    """data/raw/metadata.csv with string ids and empty strings for unknown values."""
    path = Path(raw_dir) / "metadata.csv"
    frame = pd.read_csv(path, dtype={"image_id": str, "lesion_id": str, "split": str}, keep_default_na=False)
    missing = [column for column in ("image_id", "lesion_id", "dx", "image") if column not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame
