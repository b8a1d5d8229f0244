"""Unpack the verified HAM10000 release files into the folder importer's layout.

    <out>/metadata.csv                        HAM10000 columns + ``split`` ("test" or empty)
    <out>/images/<image_id>.jpg
    <out>/masks/<image_id>_segmentation.png
    <out>/.built_from.json                    what it was built from, and what was skipped

A listed image that no archive holds is skipped, named and recorded, not fatal: the official
release lists ISIC_0035068 in the test ground truth (1,512 rows) but ships 1,511 test images,
and the ISIC 2018 scorer leaves it out too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd

from skinlab import io as skio
from skinlab.data.ham10000_listing import RemoteFile
from skinlab.data.ham10000_tables import read_ham_metadata, read_test_ground_truth
from skinlab.data.raw import InputError
from skinlab.data.schema import HAM_COLUMNS

log = logging.getLogger(__name__)

MARKER_NAME = ".built_from.json"
# Bump when build_layout changes what it writes, so older folders are rebuilt.
LAYOUT_VERSION = 1
SPLIT_COLUMN = "split"
# A listed image missing from every archive is skipped; this many means an archive is not the
# one the tables were written for, which no warning should paper over.
MAX_LISTED_WITHOUT_IMAGE = 10
# The one the official release is known to lack (absent from ISIC2018_Task3_Test_Images.zip).
KNOWN_MISSING = {"ISIC_0035068": "the official test set ships no image for it; the ISIC 2018 scorer leaves it out too"}


def layout_inputs(files: dict[str, RemoteFile], *, include_test: bool) -> dict:
    """What a built folder depends on: the checksums of the files it is unpacked from."""
    return {
        "layout_version": LAYOUT_VERSION,
        "include_test": include_test,
        "files": {role: {"filename": remote.filename, "checksum_type": remote.checksum_type, "md5": remote.md5}
                  for role, remote in sorted(files.items())},
    }


def read_marker(out_dir: Path) -> dict | None:
    try:
        marker = json.loads((Path(out_dir) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def layout_is_current(out_dir: Path, built_from: dict) -> bool:
    """True when ``out_dir`` was built from ``built_from`` and still holds what it wrote.

    Counting the entries of images/ and masks/ is cheap and catches a hand-deleted image;
    rereading 11.5k files to catch an edited one is not worth a rebuild on every run.
    """
    out_dir = Path(out_dir)
    marker = read_marker(out_dir)
    try:
        counts = {name: len(os.listdir(out_dir / name)) for name in ("images", "masks")}
    except OSError:
        return False
    return (
        marker is not None
        and marker.get("inputs") == built_from
        and marker.get("counts") == counts
        and (out_dir / "metadata.csv").is_file()
    )


def listed_without_image(out_dir: Path) -> dict[str, list[str]]:
    """``{table file name: [image_id, ...]}`` of the rows skipped for want of an image."""
    marker = read_marker(out_dir) or {}
    skipped = marker.get("listed_without_image") or {}
    return {str(table): [str(i) for i in ids] for table, ids in skipped.items()}


def warn_listed_without_image(skipped: dict[str, list[str]]) -> None:
    for table, ids in skipped.items():
        reasons = "; ".join(f"{i}: {KNOWN_MISSING[i]}" for i in ids if i in KNOWN_MISSING)
        log.warning("skipped %d image(s) listed in %s but in none of the archives: %s%s", len(ids), table,
                    ", ".join(ids), f" ({reasons})" if reasons else "")


def build_layout(
    paths: dict[str, Path], out_dir: Path, *, include_test: bool = True, built_from: dict | None = None
) -> Path:
    """Unpack verified release files into ``out_dir`` (built as ``out_dir.tmp``, then swapped).

    ``built_from`` (see ``layout_inputs``) is recorded in ``out_dir/.built_from.json``, so the
    next run can tell the folder is current; without it no record is written.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    images, masks = tmp / "images", tmp / "masks"
    images.mkdir(parents=True)
    masks.mkdir()

    image_archives = ["images_part_1", "images_part_2"] + (["test_images"] if include_test else [])
    for role in image_archives:
        extract_flat(paths[role], images, suffixes=(".jpg", ".jpeg"))
    extract_flat(paths["masks"], masks, suffixes=("_segmentation.png",))

    metadata = read_ham_metadata(paths["metadata"])
    metadata[SPLIT_COLUMN] = ""
    tables = {paths["metadata"].name: metadata}
    if include_test:
        test = read_test_ground_truth(paths["test_ground_truth"])
        test[SPLIT_COLUMN] = "test"
        overlap = sorted(set(test["image_id"]) & set(metadata["image_id"]))
        if overlap:
            raise InputError(
                f"{paths['test_ground_truth'].name}: {len(overlap)} test image(s) also appear in "
                f"{paths['metadata'].name}, e.g. {', '.join(overlap[:5])}"
            )
        tables[paths["test_ground_truth"].name] = test
    skipped = drop_rows_without_image(tables, {p.stem for p in images.iterdir()})
    combined = pd.concat(list(tables.values()), ignore_index=True).fillna("")
    extras = [c for c in combined.columns if c not in HAM_COLUMNS and c != SPLIT_COLUMN]
    combined = combined[[*HAM_COLUMNS, SPLIT_COLUMN, *extras]]
    combined.to_csv(tmp / "metadata.csv", index=False)
    if built_from is not None:
        counts = {name: len(os.listdir(tmp / name)) for name in ("images", "masks")}
        marker = {"inputs": built_from, "counts": counts, "listed_without_image": skipped}
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    skio.swap_dir(tmp, out_dir)
    return out_dir


def drop_rows_without_image(tables: dict[str, pd.DataFrame], on_disk: set[str]) -> dict[str, list[str]]:
    """Drop (in place) the rows whose image no archive held; return them by table.

    A handful is a known gap of the release; more is a wrong archive, and stops the build.
    """
    skipped = {}
    for name, table in tables.items():
        absent = table["image_id"][~table["image_id"].isin(on_disk)].tolist()
        if absent:
            skipped[name] = absent
            tables[name] = table[table["image_id"].isin(on_disk)].reset_index(drop=True)
    total = sum(len(ids) for ids in skipped.values())
    if total > MAX_LISTED_WITHOUT_IMAGE:
        first = [i for ids in skipped.values() for i in ids][:5]
        raise InputError(
            f"{total} image(s) listed in {', '.join(skipped)} are in none of the archives, e.g. "
            f"{', '.join(first)}; up to {MAX_LISTED_WITHOUT_IMAGE} are skipped as gaps of the release "
            "(it lacks ISIC_0035068), this many means an archive is not the one its table describes"
        )
    return skipped


def check_member_name(archive: Path, name: str) -> None:
    """Reject absolute paths and ``..`` in a zip member, whatever we later do with it."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in PurePosixPath(posix).parts:
        raise InputError(f"{archive.name}: unsafe member {name!r} (absolute path or '..'); refusing to unpack")


def extract_flat(archive: Path, dest_dir: Path, *, suffixes: tuple[str, ...]) -> list[str]:
    """Copy the members whose names end with ``suffixes`` into ``dest_dir`` by base name.

    Flattening means the archive's folder structure never reaches the file system; two
    members with the same base name are an error rather than a silent overwrite. macOS
    resource forks (``__MACOSX/``, ``._*``) are left out.
    """
    written = []
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise InputError(f"{archive}: not a valid zip archive ({err})") from err
    with bundle:
        infos = bundle.infolist()
        for info in infos:
            check_member_name(archive, info.filename)
        for info in infos:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.is_dir() or not parts or "__MACOSX" in parts or parts[-1].startswith("."):
                continue
            if not parts[-1].lower().endswith(suffixes):
                continue
            target = dest_dir / parts[-1]
            if target.exists():
                raise InputError(f"{archive.name}: {info.filename!r} duplicates an image already unpacked ({target.name})")
            with bundle.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            written.append(parts[-1])
    return written
