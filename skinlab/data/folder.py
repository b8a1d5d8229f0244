"""The `folder` source: a user's images in the layout of shared/data/README.md.

<root>/metadata.csv (or HAM10000_metadata.csv)   image_id, dx required; lesion_id, dx_type, age,
                                                 sex, localization, split, fitzpatrick optional
<root>/**/<image_id>.<jpg|jpeg|png|bmp|tif|tiff> images, found by image_id in nested folders too
<root>/**/<image_id>_segmentation.png            optional binary masks
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab.data.raw import InputError, Problem
from skinlab.data.schema import CLASSES, FITZPATRICK_TYPES, HAM_COLUMNS, SPLITS

METADATA_NAMES = ("metadata.csv", "HAM10000_metadata.csv", "HAM10000_metadata.tab")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = "_segmentation"
REQUIRED = ("image_id", "dx")


def find_metadata(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found (download.folder.path in params.yaml)")
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    raise InputError(f"{root}: no metadata file; expected one of {', '.join(METADATA_NAMES)}")


def index_files(root: Path) -> tuple[dict[str, Path], dict[str, Path], list[Problem]]:
    """Map image_id -> image path and image_id -> mask path, searching nested folders."""
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    problems = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in IMAGE_EXTENSIONS:
                continue
            path = Path(folder) / name
            if stem.endswith(MASK_SUFFIX):
                masks[stem[: -len(MASK_SUFFIX)]] = path
            elif stem in images:
                problems.append(Problem("duplicate_file", str(path), f"a second file for image_id {stem} (first: {images[stem]})"))
            else:
                images[stem] = path
    return images, masks, problems


def read_table(path: Path) -> pd.DataFrame:
    sep = "\t" if path.suffix == ".tab" else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot parse the table: {error}") from None
    frame.columns = [column.strip() for column in frame.columns]
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    frame["dx"] = frame["dx"].str.lower()
    return frame


def check_rows(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Flag unknown dx codes, duplicate or empty ids and bad optional values; return the good rows."""
    problems = []
    bad = np.zeros(len(frame), dtype=bool)
    seen = Counter()
    for position, row in enumerate(frame.itertuples(index=False)):
        where = f"{path.name} row {position + 2} (image_id {row.image_id or '?'})"
        reason = _row_problem(row, seen)
        if reason:
            kind, detail = reason
            problems.append(Problem(kind, where, detail))
            bad[position] = True
        seen[row.image_id] += 1
    return frame[~bad].reset_index(drop=True), problems


def _row_problem(row, seen: Counter) -> tuple[str, str] | None:
    if not row.image_id:
        return "bad_value", "empty image_id"
    if seen[row.image_id]:
        return "duplicate_id", f"duplicate image_id {row.image_id}"
    if row.dx not in CLASSES:
        return "unknown_dx", f"unknown dx code {row.dx!r} (known: {', '.join(CLASSES)})"
    split = getattr(row, "split", "")
    if split and split not in SPLITS:
        return "bad_value", f"unknown split {split!r} (known: {', '.join(SPLITS)} or empty)"
    fitzpatrick = getattr(row, "fitzpatrick", "")
    if fitzpatrick and fitzpatrick not in {str(t) for t in FITZPATRICK_TYPES}:
        return "bad_value", f"fitzpatrick must be 1-6 or empty (got {fitzpatrick!r})"
    return None


def records(root: str | Path) -> tuple[list[dict], list[Problem], dict]:
    """Read and check the metadata; return good records (with paths), problems and file index sizes."""
    root = Path(root)
    path = find_metadata(root)
    frame = read_table(path)
    frame, problems = check_rows(frame, path)
    images, masks, file_problems = index_files(root)
    problems += file_problems
    good = []
    for row in frame.to_dict("records"):
        image_path = images.get(row["image_id"])
        if image_path is None:
            problems.append(Problem("missing_image", f"{path.name} image_id {row['image_id']}", f"no image file named {row['image_id']}.<jpg|png|...> under {root}"))
            continue
        record = {column: row.get(column, "") for column in HAM_COLUMNS}
        record["lesion_id"] = record["lesion_id"] or row["image_id"]
        record.update(split=row.get("split", ""), fitzpatrick=row.get("fitzpatrick", ""), ita=row.get("ita", ""))
        record["_image_path"] = image_path
        record["_mask_path"] = masks.get(row["image_id"])
        good.append(record)
    return good, problems, {"metadata": str(path), "image_files": len(images), "mask_files": len(masks)}


