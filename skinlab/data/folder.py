"""The `folder` source: a user's images in the layout of shared/data/README.md.

<root>/metadata.csv (or HAM10000_metadata.csv)   image_id, dx required; lesion_id, dx_type, age,
                                                 sex, localization, split, fitzpatrick optional
<root>/**/<image_id>.<jpg|jpeg|png|bmp|tif|tiff> images, found by image_id in nested folders too
<root>/**/<image_id>_segmentation.png            optional binary masks
"""
from __future__ import annotations

import os
import unicodedata
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


def index_files(root: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Map image_id -> image files and image_id -> mask files, searching nested folders.

    Names are compared in Unicode NFC, so a file named on macOS (NFD) matches the id typed in
    the table. More than one file per id is reported by `records` only for ids it needs.
    """
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(unicodedata.normalize("NFC", name))
            if ext.lower() not in IMAGE_EXTENSIONS:
                continue
            path = Path(folder) / name
            if stem.endswith(MASK_SUFFIX):
                masks.setdefault(stem[: -len(MASK_SUFFIX)], []).append(path)
            else:
                images.setdefault(stem, []).append(path)
    return images, masks


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
    frame["image_id"] = frame["image_id"].map(lambda value: unicodedata.normalize("NFC", value))
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
    images, masks = index_files(root)
    good = []
    for row in frame.to_dict("records"):
        image_id = row["image_id"]
        found, mask_found = images.get(image_id, []), masks.get(image_id, [])
        where = f"{path.name} image_id {image_id}"
        if not found:
            problems.append(Problem("missing_image", where, f"no image file named {image_id}.<jpg|png|...> under {root}"))
            continue
        if len(found) > 1 or len(mask_found) > 1:
            names = ", ".join(str(p) for p in (found if len(found) > 1 else mask_found))
            problems.append(Problem("duplicate_file", where, f"several files for one image_id: {names}"))
            continue
        record = {column: row.get(column, "") for column in HAM_COLUMNS}
        record["lesion_id"] = record["lesion_id"] or image_id
        record.update(split=row.get("split", ""), fitzpatrick=row.get("fitzpatrick", ""), ita=row.get("ita", ""))
        record["_image_path"] = found[0]
        record["_mask_path"] = mask_found[0] if mask_found else None
        good.append(record)
    return good, problems, {"metadata": str(path), "image_files": len(images), "mask_files": len(masks)}


