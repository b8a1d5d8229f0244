"""data/raw: the one layout every source writes, image by image, so nothing is held in memory.

data/raw/metadata.csv   HAM10000 columns + split, fitzpatrick, ita, image, mask, width, height, source
data/raw/images/<image_id>.<jpg|png>   RGB
data/raw/masks/<image_id>.png           0/255, same size as the image (when known)
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Callable

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
    kind: str  # missing_image, corrupt_image, too_large, too_small, unsupported_format, dangling_link,
    # bad_mask, unknown_dx, duplicate_id, duplicate_file, bad_value; repairs: blanked_value, exif_orientation, rescaled_16bit
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


def decode_as_stored(data: bytes, name: str) -> tuple[np.ndarray, bool]:
    """The plain decoder: the image as stored, and False (its bytes can be kept when JPEG/PNG RGB)."""
    return io.decode_unchanged(data, name), False


def summarize_problems(problems: list[Problem], examples: int = 3) -> list[str]:
    """Lines giving each kind of problem with its count and its first few items."""
    lines = []
    for kind, count in sorted(Counter(problem.kind for problem in problems).items(), key=lambda item: -item[1]):
        lines.append(f"  {count} {kind}, e.g.")
        lines += [f"    - {problem}" for problem in [p for p in problems if p.kind == kind][:examples]]
        if count > examples:
            lines.append(f"    ... and {count - examples} more")
    return lines


def no_usable_image(where: str, problems: list[Problem], on_bad_image: str, table: str = "") -> InputError:
    """The error for an import that leaves nothing: why each item went, and advice that fits the setting."""
    if not problems:
        return InputError(f"{where}: no usable image: {table or 'the metadata table'} has no data rows")
    lines = [f"{where}: no usable image: all {len(problems)} item(s) are bad:"] + summarize_problems(problems)
    if on_bad_image == "skip":
        lines.append("download.on_bad_image is skip, but skipping leaves nothing: fix the items above.")
    else:
        lines.append("Fix them, or set download.on_bad_image: skip in params.yaml to skip and count them.")
    return InputError("\n".join(lines))


class RawWriter:
    """Writes images, masks and metadata rows into a directory (the caller makes it atomic).

    `decode(data, name)` returns the decoded image and whether it differs from the file's own
    pixels (rotated, rescaled), so the file must be re-encoded rather than copied.
    """

    def __init__(self, out_dir: Path, source: str, decode: Callable[[bytes, str], tuple[np.ndarray, bool]] = decode_as_stored):
        self.out = Path(out_dir)
        self.source = source
        self.decode = decode
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        (self.out / "masks").mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []

    def add(self, record: dict, data: bytes, ext: str, name: str, mask: np.ndarray | None = None) -> None:
        """Validate by decoding once; keep JPEG/PNG bytes as they are, re-encode anything else as PNG.

        Raises io.ImageError (naming `name`) for an undecodable image or a mask of another size.
        """
        decoded, changed = self.decode(data, name)
        height, width = decoded.shape[:2]
        image_id = record["image_id"]
        ext = ext.lower()
        if changed or not (ext in COPY_AS_IS and io.is_rgb8(decoded)):
            data, ext = io.encode_image(io.to_rgb(decoded, name), ".png"), ".png"
        if ext == ".jpeg":
            ext = ".jpg"
        mask_rel = ""
        if mask is not None:
            io.check_mask_size(mask, decoded.shape, name)
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
