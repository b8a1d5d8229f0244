"""The HAM10000 record on Dataverse: ask for its file listing and pick the files we need.

``GET /api/datasets/:persistentId/?persistentId=<doi>`` answers ``data.latestVersion.files``,
one entry per file with ``dataFile.id``, ``filename``, ``filesize`` and ``checksum``; an
ingested table (CSV turned into ``.tab``) also lists ``originalFileName``,
``originalFileSize`` and ``originalFileFormat``, and its original is what
``/api/access/datafile/<id>?format=original`` serves and what the checksum is of.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

import requests

from skinlab.data.download_http import (
    OFFLINE_CONNECT_TIMEOUT_S,
    USER_AGENT,
    DownloadError,
    new_session,
    server_message,
    short_reason,
)

DOI = "doi:10.7910/DVN/DBW86T"
DEFAULT_BASE_URL = "https://dataverse.harvard.edu"
LOCK_NAME = "ham10000.lock.json"
# The first request decides whether we are online; it must not hang on a dead network.

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
_HASHLIB_NAMES = {"md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
                  "sha512": "sha512", "sha-512": "sha512"}


class ListingUnavailableError(DownloadError):
    """The dataset listing cannot be had right now (refused, server error, maintenance, timeout).

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

    def hashlib_name(self) -> str:
        name = _HASHLIB_NAMES.get(self.checksum_type.strip().lower())
        if name is None:
            raise DownloadError(f"{self.filename}: unsupported checksum type {self.checksum_type!r}")
        return name


def offline_message(base_url: str, reason: object) -> str:
    return (
        f"Cannot reach {base_url} ({reason}). This machine appears to be offline, or the "
        "server is down. To work without network access: download HAM10000 by hand "
        f"(https://doi.org/{DOI.removeprefix('doi:')}) on a machine that has it, unzip it into "
        "one folder (HAM10000_metadata, as the download names it, or metadata.csv beside the "
        "images, which may stay in their part_1/part_2 folders; masks as "
        "<image_id>_segmentation.png), then set `download.source: folder` and "
        "`download.folder.path: <that folder>` in params.yaml (see data/folder/README.md)."
    )


def list_dataset_files(base_url: str, *, session: requests.Session | None = None, timeout: float = 60.0) -> list[dict]:
    """Return ``data.latestVersion.files`` of the dataset; fail at once when offline.

    No retries here: a DNS failure or a refused connection will not fix itself within a
    backoff, and a pipeline run should say so in seconds, not minutes. Any answer other than
    the listing (an HTTP error such as a firewall's 403, a timeout, an HTML maintenance page)
    raises ListingUnavailableError with what the server said.
    """
    http = session or new_session()
    url = f"{base_url.rstrip('/')}/api/datasets/:persistentId/"
    try:
        response = http.get(
            url,
            params={"persistentId": DOI},
            headers={"Accept": "application/json"},
            timeout=(OFFLINE_CONNECT_TIMEOUT_S, timeout),
        )
    except requests.ConnectionError as err:  # includes ConnectTimeout and DNS failures
        reason = short_reason(err)
        raise OfflineError(offline_message(base_url, reason), reason) from err
    except requests.Timeout as err:
        raise ListingUnavailableError(
            f"{url} accepted the connection but sent nothing for {timeout}s: {err}", f"no answer in {timeout}s"
        ) from err
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as err:
        raise ListingUnavailableError(f"{url}: the answer broke off: {err}", "the answer broke off") from err
    if response.status_code != 200:
        said = server_message(response)
        status = f"HTTP {response.status_code} {response.reason}".strip()
        sent = f" (this client sends User-Agent: {USER_AGENT})" if response.status_code == 403 else ""
        raise ListingUnavailableError(f"the dataset listing {response.url} answered {status}: {said}{sent}",
                                      f"{status}: {said}")
    try:
        content = response.json()
    except ValueError as err:  # e.g. an HTML maintenance page served with status 200
        said = server_message(response)
        raise ListingUnavailableError(
            f"the dataset listing {response.url} is not JSON ({err}): {said}", f"not JSON: {said}"
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
    the saved original, so the original is what we download and verify, under its original
    name (``HAM10000_metadata``, no extension, as a hand download is named too).
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

