"""Fetch the official HAM10000 release from Harvard Dataverse into the project's import layout.

Source: Tschandl, Rosendahl & Kittler (2018), doi:10.7910/DVN/DBW86T (CC BY-NC-SA 4.0).
The result is a folder the folder importer reads:

    <out>/metadata.csv                        HAM10000 columns + ``split`` ("test" or empty)
    <out>/images/<image_id>.jpg
    <out>/masks/<image_id>_segmentation.png

Every file is checked against the size and checksum the Dataverse API publishes, and the
first listing is pinned in a lock file, so a dataset that changes upstream stops the
pipeline with an explanation instead of silently changing every downstream number.
``<out>/.built_from.json`` records the checksums the folder was unpacked from, so a run
with nothing new leaves its ~11.5k images alone instead of rewriting 3 GB.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
import requests

from skinlab import io as skio
from skinlab.data.download_http import (
    USER_AGENT,
    DownloadError,
    download_file,
    remove_partial,
    verify_file,
)
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES, HAM_COLUMNS

__all__ = ["DEFAULT_BASE_URL", "DOI", "DownloadError", "ListingUnavailableError", "OfflineError",
           "download_file", "fetch_ham10000"]

log = logging.getLogger(__name__)

DOI = "doi:10.7910/DVN/DBW86T"
DEFAULT_BASE_URL = "https://dataverse.harvard.edu"
LOCK_NAME = "ham10000.lock.json"
MARKER_NAME = ".built_from.json"
# Bump when build_layout changes what it writes, so older folders are rebuilt.
LAYOUT_VERSION = 1
# The first request decides whether we are online; it must not hang on a dead network.
OFFLINE_CONNECT_TIMEOUT_S = 5.0

# Role -> accepted name stems (lower case, extension and punctuation removed). Matching by
# stem survives Dataverse renaming an ingested "x.csv" to "x.tab" and small spelling changes.
CORE_FILES = {
    "images_part_1": ("ham10000imagespart1",),
    "images_part_2": ("ham10000imagespart2",),
    "metadata": ("ham10000metadata",),
    "masks": ("ham10000segmentationslesiontschandl",),
}
TEST_FILES = {
    "test_images": ("isic2018task3testimages", "isic2018task3testinput"),
    "test_ground_truth": ("isic2018task3testgroundtruth",),
}
# ISIC 2018 Task 3 ground truth: one-hot columns in upper case.
ISIC_ONE_HOT = {code.upper(): code for code in CLASSES}
SPLIT_COLUMN = "split"
_HASHLIB_NAMES = {"md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
                  "sha512": "sha512", "sha-512": "sha512"}


class ListingUnavailableError(DownloadError):
    """The dataset listing cannot be had right now (server error, maintenance page, timeout).

    Worth falling back to a verified cache; unlike an answer that is well-formed but wrong.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OfflineError(ListingUnavailableError):
    """The Dataverse server cannot be reached at all (no network, DNS failure, refused)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of the dataset as the API lists it, and as the lock file pins it."""

    role: str
    filename: str  # the name it is stored under in the cache (original name for ingested files)
    id: int
    size: int | None
    md5: str | None  # expected hex digest; see ``checksum_type``
    checksum_type: str = "MD5"
    original: bool = False  # an ingested tabular file: download with ?format=original

    def url(self, base_url: str) -> str:
        url = f"{base_url.rstrip('/')}/api/access/datafile/{self.id}"
        return url + "?format=original" if self.original else url

    def pinned(self) -> dict:
        """The fields that must not change between runs (the role is the key)."""
        entry = asdict(self)
        entry.pop("role")
        return entry


def fetch_ham10000(
    cache_dir: Path,
    out_dir: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    include_test: bool = True,
    lock_path: Path | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
    backoff: float = 1.0,
) -> Path:
    """Download (or reuse) the verified release files in ``cache_dir`` and build ``out_dir``.

    ``include_test`` adds the 1511 ISIC 2018 Task 3 test images as split "test".
    ``backoff`` is the first retry delay in seconds (doubling per retry).
    """
    cache_dir, out_dir = Path(cache_dir), Path(out_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock_path = Path(lock_path) if lock_path is not None else cache_dir / LOCK_NAME
    roles = {**CORE_FILES, **(TEST_FILES if include_test else {})}
    lock = read_lock(lock_path)
    session = requests.Session()

    try:
        listing = list_dataset_files(base_url, session=session, timeout=timeout)
    except ListingUnavailableError as err:
        files = _cached_files_from_lock(lock, roles, cache_dir)
        if files is None:
            raise
        log.warning("the dataset listing from %s is unavailable (%s); using the files cached in %s, "
                    "verified against %s", base_url, err.reason, cache_dir, lock_path)
    else:
        files = select_files(listing, roles)
        check_against_lock(files, lock, lock_path, cache_dir=cache_dir)
        write_lock(lock_path, files, lock)
        for remote in files.values():
            download_file(
                remote.url(base_url),
                cache_dir / remote.filename,
                size=remote.size,
                md5=remote.md5,
                algorithm=_hashlib_name(remote),
                retries=retries,
                timeout=timeout,
                progress=progress,
                backoff=backoff,
                session=session,
            )

    built_from = layout_inputs(files, include_test=include_test)
    if layout_is_current(out_dir, built_from):
        log.info("%s is already unpacked from these files; leaving it as it is", out_dir)
        return out_dir
    paths = {role: cache_dir / remote.filename for role, remote in files.items()}
    return build_layout(paths, out_dir, include_test=include_test, built_from=built_from)


# --- Dataverse API --------------------------------------------------------------------------


def offline_message(base_url: str, reason: object) -> str:
    return (
        f"Cannot reach {base_url} ({reason}). This machine appears to be offline, or the "
        "server is down. To work without network access: download HAM10000 by hand "
        f"(https://doi.org/{DOI.removeprefix('doi:')}) on a machine that has it, unzip it into "
        "one folder (HAM10000_metadata.csv or metadata.csv beside the images, which may stay in "
        "their part_1/part_2 folders; masks as <image_id>_segmentation.png), then set "
        "`download.source: folder` and `download.folder.path: <that folder>` in params.yaml "
        "(see data/folder/README.md)."
    )


def list_dataset_files(base_url: str, *, session: requests.Session | None = None, timeout: float = 60.0) -> list[dict]:
    """Return ``data.latestVersion.files`` of the dataset; fail at once when offline.

    No retries here: a DNS failure or a refused connection will not fix itself within a
    backoff, and a pipeline run should say so in seconds, not minutes. Answers that say
    "not now" (5xx, 429, a timeout, an HTML maintenance page) raise ListingUnavailableError.
    """
    http = session or requests.Session()
    url = f"{base_url.rstrip('/')}/api/datasets/:persistentId/"
    try:
        response = http.get(
            url,
            params={"persistentId": DOI},
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=(OFFLINE_CONNECT_TIMEOUT_S, timeout),
        )
    except requests.ConnectionError as err:  # includes ConnectTimeout and DNS failures
        reason = _short_reason(err)
        raise OfflineError(offline_message(base_url, reason), reason) from err
    except requests.Timeout as err:
        raise ListingUnavailableError(
            f"{url} accepted the connection but sent nothing for {timeout}s: {err}", f"no answer in {timeout}s"
        ) from err
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as err:
        raise ListingUnavailableError(f"{url}: the answer broke off: {err}", "the answer broke off") from err
    if response.status_code != 200:
        message = f"the dataset listing {response.url} answered HTTP {response.status_code}: {response.text[:300]}"
        if response.status_code >= 500 or response.status_code == 429:
            raise ListingUnavailableError(message, f"HTTP {response.status_code}")
        raise DownloadError(message)
    try:
        content = response.json()
    except ValueError as err:  # e.g. an HTML maintenance page served with status 200
        raise ListingUnavailableError(
            f"the dataset listing {response.url} is not JSON ({err}): {response.text[:300]}", "not JSON"
        ) from err
    try:
        files = content["data"]["latestVersion"]["files"]
    except (KeyError, TypeError) as err:
        raise DownloadError(f"unexpected answer from {response.url}: no data.latestVersion.files ({err})") from err
    if not isinstance(files, list):
        raise DownloadError(f"unexpected answer from {response.url}: data.latestVersion.files is not a list")
    return files


def remote_file(role: str, entry: dict) -> RemoteFile:
    """Read one ``files[]`` entry of the dataset JSON.

    For a tabular file that Dataverse ingested (CSV -> .tab), the listed checksum is that of
    the saved original, so the original is what we download and verify.
    """
    data = entry.get("dataFile") or {}
    if "id" not in data:
        raise DownloadError(f"dataset listing entry {entry.get('label')!r} has no dataFile.id")
    original = bool(data.get("originalFileFormat") or data.get("originalFileName"))
    checksum = data.get("checksum") or {}
    md5 = checksum.get("value") or data.get("md5")
    checksum_type = checksum.get("type") or "MD5"
    if original:
        filename = data.get("originalFileName") or _listed_name(entry)
        size = data.get("originalFileSize")
    else:
        filename = _listed_name(entry)
        size = data.get("filesize")
    if not md5:
        raise DownloadError(f"the dataset listing publishes no checksum for {filename}; refusing to trust it")
    return RemoteFile(
        role=role,
        filename=_safe_filename(filename),
        id=int(data["id"]),
        size=int(size) if size is not None else None,
        md5=str(md5).lower(),
        checksum_type=str(checksum_type),
        original=original,
    )


def select_files(listing: list[dict], roles: dict[str, tuple[str, ...]]) -> dict[str, RemoteFile]:
    """Pick the file for each role by name stem; name every listed file when one is missing."""
    by_stem: dict[str, list[dict]] = {}
    for entry in listing:
        by_stem.setdefault(name_stem(_listed_name(entry)), []).append(entry)
        original = (entry.get("dataFile") or {}).get("originalFileName")
        if original and name_stem(original) != name_stem(_listed_name(entry)):
            by_stem.setdefault(name_stem(original), []).append(entry)

    chosen, missing = {}, []
    for role, stems in roles.items():
        matches = [entry for stem in stems for entry in by_stem.get(stem, [])]
        unique = {id(entry): entry for entry in matches}
        if not unique:
            missing.append(f"{role} (a file named like {stems[0]})")
        elif len(unique) > 1:
            names = sorted(_listed_name(entry) for entry in unique.values())
            raise DownloadError(f"{DOI}: several files match {role}: {', '.join(names)}")
        else:
            chosen[role] = remote_file(role, next(iter(unique.values())))
    if missing:
        listed = sorted(_listed_name(entry) for entry in listing) or ["(none)"]
        raise DownloadError(
            f"{DOI}: the dataset listing has no file for {'; '.join(missing)}. "
            f"Files listed: {', '.join(listed)}"
        )
    return chosen


def name_stem(name: str) -> str:
    """``HAM10000_images_part_1.zip`` -> ``ham10000imagespart1``."""
    stem = name.strip().lower()
    while True:
        shorter = re.sub(r"\.(zip|tab|csv|tsv|txt)$", "", stem)
        if shorter == stem:
            break
        stem = shorter
    return re.sub(r"[^a-z0-9]", "", stem)


def _listed_name(entry: dict) -> str:
    data = entry.get("dataFile") or {}
    return str(data.get("filename") or entry.get("label") or f"file-{data.get('id')}")


def _safe_filename(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    if base in ("", ".", "..", LOCK_NAME) or base.startswith(".") or base.endswith((".part", ".tmp")):
        raise DownloadError(f"the dataset listing names a file {name!r} that cannot be stored safely")
    return base


def _short_reason(err: Exception) -> str:
    text = str(err)
    for hint in ("Name or service not known", "Temporary failure in name resolution", "Connection refused",
                 "timed out", "Network is unreachable", "No route to host"):
        if hint in text:
            return hint
    return type(err).__name__


def _hashlib_name(remote: RemoteFile) -> str:
    name = _HASHLIB_NAMES.get(remote.checksum_type.strip().lower())
    if name is None:
        raise DownloadError(f"{remote.filename}: unsupported checksum type {remote.checksum_type!r}")
    return name


# --- lock file ------------------------------------------------------------------------------


def read_lock(lock_path: Path) -> dict[str, dict]:
    """Return ``{role: pinned entry}``; an absent lock is an empty one."""
    if not lock_path.exists():
        return {}
    try:
        content = json.loads(lock_path.read_text(encoding="utf-8"))
        files = content["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not an object")
    except (ValueError, KeyError, TypeError) as err:
        raise DownloadError(
            f"{lock_path} is not a valid HAM10000 lock file ({err}); delete it to pin the current release"
        ) from err
    return files


def check_against_lock(
    files: dict[str, RemoteFile], lock: dict[str, dict], lock_path: Path, *, cache_dir: Path | None = None
) -> None:
    """Stop when a file pinned in the lock changed upstream, saying what changed.

    With ``cache_dir``, the unfinished downloads (``.part``) of the changed files are deleted:
    they are prefixes of a version that is no longer the one to finish.
    """
    changes, names = [], set()
    for role, remote in files.items():
        pinned = lock.get(role)
        if pinned is None:
            continue
        now = remote.pinned()
        diffs = [f"{key} {pinned.get(key)!r} -> {now[key]!r}" for key in now if pinned.get(key) != now[key]]
        if diffs:
            changes.append(f"{pinned.get('filename', role)}: {', '.join(diffs)}")
            names |= {str(pinned.get("filename") or remote.filename), remote.filename}
    if not changes:
        return
    removed, cached = [], []
    if cache_dir is not None:
        for name in sorted(names):
            if PurePosixPath(name).name != name:  # a hand-edited lock must not point elsewhere
                continue
            removed += [str(p) for p in remove_partial(cache_dir / name) if p.name.endswith(".part")]
            cached += [str(cache_dir / name)] if (cache_dir / name).is_file() else []
    deleted = f" Deleted the partial download {', '.join(removed)} of the old version." if removed else ""
    raise DownloadError(
        f"the HAM10000 release on Dataverse ({DOI}) no longer matches {lock_path}:\n  "
        + "\n  ".join(changes)
        + f"\nResults computed on the pinned files would silently change.{deleted} If you accept the new "
        f"release, delete {' and '.join([str(lock_path), *cached])} and run again."
    )


def write_lock(lock_path: Path, files: dict[str, RemoteFile], lock: dict[str, dict]) -> None:
    merged = dict(lock)
    merged.update({role: remote.pinned() for role, remote in files.items()})
    if merged == lock and lock_path.exists():
        return
    content = {"doi": DOI, "files": dict(sorted(merged.items()))}
    skio.write_text(lock_path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def _cached_files_from_lock(lock: dict[str, dict], roles: dict, cache_dir: Path) -> dict[str, RemoteFile] | None:
    """Offline fallback: the pinned files, if every one is cached and verifies; else None."""
    if not lock or any(role not in lock for role in roles):
        return None
    files = {}
    for role in roles:
        try:
            remote = RemoteFile(role=role, **lock[role])
        except TypeError:
            return None
        path = cache_dir / remote.filename
        if not path.exists() or verify_file(path, size=remote.size, md5=remote.md5,
                                            algorithm=_hashlib_name(remote)) is not None:
            return None
        files[role] = remote
    return files


# --- layout ---------------------------------------------------------------------------------


def layout_inputs(files: dict[str, RemoteFile], *, include_test: bool) -> dict:
    """What a built folder depends on: the checksums of the files it is unpacked from."""
    return {
        "layout_version": LAYOUT_VERSION,
        "include_test": include_test,
        "files": {role: {"filename": remote.filename, "checksum_type": remote.checksum_type, "md5": remote.md5}
                  for role, remote in sorted(files.items())},
    }


def layout_is_current(out_dir: Path, built_from: dict) -> bool:
    """True when ``out_dir`` was built from ``built_from`` and still holds what it wrote.

    Counting the entries of images/ and masks/ is cheap and catches a hand-deleted image;
    rereading 11.5k files to catch an edited one is not worth a rebuild on every run.
    """
    out_dir = Path(out_dir)
    try:
        marker = json.loads((out_dir / MARKER_NAME).read_text(encoding="utf-8"))
        counts = {name: len(os.listdir(out_dir / name)) for name in ("images", "masks")}
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("inputs") == built_from
        and marker.get("counts") == counts
        and (out_dir / "metadata.csv").is_file()
    )


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
    tables = [metadata]
    if include_test:
        test = read_test_ground_truth(paths["test_ground_truth"])
        test[SPLIT_COLUMN] = "test"
        overlap = sorted(set(test["image_id"]) & set(metadata["image_id"]))
        if overlap:
            raise InputError(
                f"{paths['test_ground_truth'].name}: {len(overlap)} test image(s) also appear in "
                f"{paths['metadata'].name}, e.g. {', '.join(overlap[:5])}"
            )
        tables.append(test)
    combined = pd.concat(tables, ignore_index=True).fillna("")
    extras = [c for c in combined.columns if c not in HAM_COLUMNS and c != SPLIT_COLUMN]
    combined = combined[[*HAM_COLUMNS, SPLIT_COLUMN, *extras]]

    on_disk = {p.stem for p in images.iterdir()}
    absent = [image_id for image_id in combined["image_id"] if image_id not in on_disk]
    if absent:
        raise InputError(
            f"{len(absent)} image(s) listed in the metadata are in none of the archives, "
            f"e.g. {', '.join(absent[:5])}"
        )
    combined.to_csv(tmp / "metadata.csv", index=False)
    if built_from is not None:
        counts = {name: len(os.listdir(tmp / name)) for name in ("images", "masks")}
        marker = {"inputs": built_from, "counts": counts}
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    skio.swap_dir(tmp, out_dir)
    return out_dir


def check_member_name(archive: Path, name: str) -> None:
    """Reject absolute paths and ``..`` in a zip member, whatever we later do with it."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in PurePosixPath(posix).parts:
        raise InputError(f"{archive.name}: unsafe member {name!r} (absolute path or '..'); refusing to unpack")


def extract_flat(archive: Path, dest_dir: Path, *, suffixes: tuple[str, ...]) -> list[str]:
    """Copy the members whose names end with ``suffixes`` into ``dest_dir`` by base name.

    Flattening means the archive's folder structure never reaches the file system; two
    members with the same base name are an error rather than a silent overwrite.
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


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or a Dataverse tab file as strings, so values pass through unchanged."""
    text = Path(path).read_text(encoding="utf-8-sig")
    header = text.split("\n", 1)[0]
    sep = "\t" if header.count("\t") > header.count(",") else ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{Path(path).name}: cannot parse as a table ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda column: column.str.strip())


def read_ham_metadata(path: Path) -> pd.DataFrame:
    table = read_table(path)
    missing = [c for c in HAM_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path.name}: missing column(s) {missing}; columns found: {list(table.columns)}")
    table["dx"] = table["dx"].str.lower()
    _check_rows(path, table)
    return table


def read_test_ground_truth(path: Path) -> pd.DataFrame:
    """Read the ISIC 2018 Task 3 test labels, HAM-style (``dx``) or ISIC-style (one-hot)."""
    table = read_table(path)
    if {"image_id", "dx"} <= set(table.columns):
        table["dx"] = table["dx"].str.lower()
        for column in HAM_COLUMNS:
            if column not in table.columns:
                table[column] = ""
        table.loc[table["lesion_id"] == "", "lesion_id"] = table["image_id"]
    elif "image" in table.columns and set(ISIC_ONE_HOT) <= set(table.columns):
        table = _from_one_hot(path, table)
    else:
        raise InputError(
            f"{path.name}: expected HAM columns (image_id, dx, ...) or ISIC one-hot columns "
            f"(image, {', '.join(ISIC_ONE_HOT)}); columns found: {list(table.columns)}"
        )
    _check_rows(path, table)
    return table


def _from_one_hot(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    codes = list(ISIC_ONE_HOT)
    try:
        values = table[codes].astype(float)
    except ValueError as err:
        raise InputError(f"{path.name}: one-hot columns {codes} must hold numbers ({err})") from err
    valid = ((values == 1.0).sum(axis=1) == 1) & (values.sum(axis=1) == 1.0)
    if not valid.all():
        first = int(valid.to_numpy().argmin())
        raise InputError(
            f"{path.name}: row {first + 2} ({table['image'].iloc[first]}) must have exactly one of "
            f"{codes} set to 1 and the others to 0"
        )
    dx = values.idxmax(axis=1).map(ISIC_ONE_HOT)
    # Test images carry no lesion grouping; each image stands for its own lesion.
    return pd.DataFrame(
        {
            "lesion_id": table["image"],
            "image_id": table["image"],
            "dx": dx,
            "dx_type": "",
            "age": "",
            "sex": "unknown",
            "localization": "unknown",
        }
    )


def _check_rows(path: Path, table: pd.DataFrame) -> None:
    if table.empty:
        raise InputError(f"{path.name}: no rows")
    for row, (image_id, dx) in enumerate(zip(table["image_id"], table["dx"]), start=2):
        if not image_id:
            raise InputError(f"{path.name}: row {row} has an empty image_id")
        if dx not in CLASSES:
            raise InputError(f"{path.name}: row {row} ({image_id}) has dx {dx!r}, not one of {list(CLASSES)}")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if not duplicated.empty:
        raise InputError(f"{path.name}: image_id {duplicated.iloc[0]!r} appears more than once")


