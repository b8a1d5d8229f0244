"""The `folder` source: a user's images in the layout of shared/data/README.md.

<root>/metadata.csv (or HAM10000_metadata.csv/.tab, or HAM10000_metadata with no extension)
        image_id, dx required; lesion_id, dx_type, age, sex, localization, split, fitzpatrick optional
<root>/**/<image_id>.<jpg|jpeg|png|bmp|tif|tiff|webp>   images, found by image_id in nested folders too
<root>/**/<image_id>_segmentation.png                  optional binary masks
"""
from __future__ import annotations

import dataclasses
import io as pyio
import logging
import os
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab.data.images import EXTENSIONS as IMAGE_EXTENSIONS
from skinlab.data.images import SUPPORTED_TEXT, file_format
from skinlab.data.raw import InputError, Problem
from skinlab.data.schema import CLASSES, FITZPATRICK_TYPES, HAM_COLUMNS, SPLITS

log = logging.getLogger(__name__)

METADATA_NAMES = ("metadata.csv", "HAM10000_metadata.csv", "HAM10000_metadata.tab", "HAM10000_metadata")
MASK_SUFFIX = "_segmentation"
REQUIRED = ("image_id", "dx")
EXAMPLES = 5  # how many names a warning shows


@dataclasses.dataclass
class FileIndex:
    """Files under the root by NFC stem: images, masks, other files, and links that lead nowhere."""

    images: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    masks: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    others: dict[str, list[Path]] = dataclasses.field(default_factory=dict)
    dangling: set[Path] = dataclasses.field(default_factory=set)


def find_metadata(root: Path) -> Path:
    root = Path(root)
    if root.is_symlink() and not root.exists():
        raise InputError(f"{root}: dangling symbolic link to {os.readlink(root)} (download.folder.path in params.yaml)")
    if not root.exists():
        raise InputError(f"{root}: folder not found (download.folder.path in params.yaml)")
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (download.folder.path in params.yaml)")
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    raise InputError(f"{root}: no metadata file; expected one of {', '.join(METADATA_NAMES)}")


def index_files(root: Path) -> FileIndex:
    """Index every file under root by image_id, searching nested folders.

    Names are compared in Unicode NFC, so a file named on macOS (NFD) matches the id typed in
    the table. More than one file per id is reported by `records` only for ids it needs.
    """
    index = FileIndex()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.startswith(".") or name in METADATA_NAMES:
                continue
            stem, ext = os.path.splitext(unicodedata.normalize("NFC", name))
            path = Path(folder) / name
            if path.is_symlink() and not path.exists():
                index.dangling.add(path)
            if ext.lower() not in IMAGE_EXTENSIONS:
                index.others.setdefault(stem, []).append(path)
            elif stem.endswith(MASK_SUFFIX):
                index.masks.setdefault(stem[: -len(MASK_SUFFIX)], []).append(path)
            else:
                index.images.setdefault(stem, []).append(path)
    return index


def read_table(path: Path, required: tuple[str, ...] = REQUIRED) -> pd.DataFrame:
    """The metadata table as strings: UTF-8 (a BOM is fine), comma- or tab-separated, with the
    `required` columns (InputError naming the file otherwise)."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{path}: empty file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not UTF-8 (byte 0x{data[error.start]:02x}); "
                         "save the file as UTF-8 (in Excel: Save As, CSV UTF-8)") from None
    header = text.split("\n", 1)[0]
    sep = "\t" if path.suffix == ".tab" or header.count("\t") > header.count(",") else ","
    try:
        frame = pd.read_csv(pyio.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{path}: cannot parse the table: {error}") from None
    frame.columns = [column.strip() for column in frame.columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    frame["image_id"] = frame["image_id"].map(lambda value: unicodedata.normalize("NFC", value))
    if "dx" in frame.columns:
        frame["dx"] = frame["dx"].str.lower()
    return frame


def check_rows(frame: pd.DataFrame, path: Path, skip: bool = False) -> tuple[pd.DataFrame, list[Problem], list[Problem]]:
    """Every problem of each row at once; return the good rows, the problems and the repairs.

    A row with an empty or duplicate id or an unknown dx is dropped. A bad optional value
    (split, fitzpatrick) is a problem too, unless `skip`: then that value is blanked (a repair)
    and the row kept.
    """
    problems, repairs, keep = [], [], []
    frame = frame.copy()
    seen = Counter()
    for position, row in enumerate(frame.itertuples(index=False)):
        where = f"{path.name} row {position + 2} (image_id {row.image_id or '?'})"
        fatal, optional = _row_problems(row, seen)
        seen[row.image_id] += 1
        if fatal or (optional and not skip):
            problems.append(Problem((fatal or optional)[0][0], where, "; ".join(detail for _, detail, _ in fatal + optional)))
            keep.append(False)
            continue
        for _, detail, column in optional:
            frame.iloc[position, frame.columns.get_loc(column)] = ""
            repairs.append(Problem("blanked_value", where, f"{detail}: blanked, image kept"))
        keep.append(True)
    return frame.loc[np.asarray(keep, dtype=bool)].reset_index(drop=True), problems, repairs


def _row_problems(row, seen: Counter) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(kind, detail, column) of each problem: those that drop the row, and bad optional values."""
    fatal = []
    if not row.image_id:
        fatal.append(("bad_value", "empty image_id", "image_id"))
    elif seen[row.image_id]:
        fatal.append(("duplicate_id", f"duplicate image_id {row.image_id}", "image_id"))
    if row.dx not in CLASSES:
        fatal.append(("unknown_dx", f"unknown dx code {row.dx!r} (known: {', '.join(CLASSES)})", "dx"))
    optional = []
    split = getattr(row, "split", "")
    if split and split not in SPLITS:
        optional.append(("bad_value", f"unknown split {split!r} (known: {', '.join(SPLITS)} or empty)", "split"))
    fitzpatrick = getattr(row, "fitzpatrick", "")
    if fitzpatrick and fitzpatrick not in {str(t) for t in FITZPATRICK_TYPES}:
        optional.append(("bad_value", f"fitzpatrick must be 1-6 or empty (got {fitzpatrick!r})", "fitzpatrick"))
    return fatal, optional


def _missing_image(image_id: str, index: FileIndex, root: Path, where: str) -> Problem:
    """Why no image was found for an id: a file in another format, or none at all."""
    others = index.others.get(image_id, [])
    if others:
        fmt = file_format(others[0])
        return Problem("unsupported_format", str(others[0]), f"unsupported format {fmt or '(no extension)'} (supported: {SUPPORTED_TEXT})")
    return Problem("missing_image", where, f"no image file named {image_id}.<{'|'.join(e[1:] for e in IMAGE_EXTENSIONS)}> under {root}")


def _unmatched(index: FileIndex, ids: set[str], path: Path) -> int:
    """Warn about image files that no row names (they are not imported); return how many."""
    names = sorted(str(p) for stem, paths in index.images.items() if stem not in ids for p in paths)
    if names:
        log.warning("%d image file(s) have no row in %s and are not imported, e.g. %s",
                    len(names), path.name, ", ".join(names[:EXAMPLES]))
    return len(names)


def records(root: str | Path, skip: bool = False) -> tuple[list[dict], list[Problem], list[Problem], dict]:
    """Read and check the metadata; return good records (with paths), problems, repairs and file counts."""
    root = Path(root)
    path = find_metadata(root)
    table = read_table(path)
    frame, problems, repairs = check_rows(table, path, skip)
    index = index_files(root)
    good = []
    for row in frame.to_dict("records"):
        image_id = row["image_id"]
        found, mask_found = index.images.get(image_id, []), index.masks.get(image_id, [])
        where = f"{path.name} image_id {image_id}"
        if not found:
            problems.append(_missing_image(image_id, index, root, where))
            continue
        if len(found) > 1 or len(mask_found) > 1:
            names = ", ".join(str(p) for p in (found if len(found) > 1 else mask_found))
            problems.append(Problem("duplicate_file", where, f"several files for one image_id: {names}"))
            continue
        if found[0] in index.dangling:
            problems.append(Problem("dangling_link", str(found[0]), f"dangling symbolic link to {os.readlink(found[0])}"))
            continue
        record = {column: row.get(column, "") for column in HAM_COLUMNS}
        record["lesion_id"] = record["lesion_id"] or image_id
        record.update(split=row.get("split", ""), fitzpatrick=row.get("fitzpatrick", ""), ita=row.get("ita", ""))
        record["_image_path"] = found[0]
        record["_mask_path"] = mask_found[0] if mask_found else None
        good.append(record)
    info = {"metadata": str(path), "image_files": len(index.images), "mask_files": len(index.masks),
            "unmatched_image_files": _unmatched(index, set(table["image_id"]), path)}
    return good, problems, repairs, info


def dangling_links(root: Path) -> list[Path]:
    """Symbolic links under root that lead nowhere (DVC cannot hash a folder holding one)."""
    return sorted(index_files(root).dangling) if Path(root).is_dir() else []
