"""Fetch the official HAM10000 release from Harvard Dataverse into the project's import layout.

Source: Tschandl, Rosendahl & Kittler (2018), doi:10.7910/DVN/DBW86T, licensed CC BY-NC 4.0
(as the Dataverse record says). The result is a folder the folder importer reads (see
``ham10000_layout``). The work is split along its seams:

- ``ham10000_listing``: the Dataverse API listing, and which listed file plays which role;
- ``ham10000_lock``: the lock file that pins the release as first downloaded;
- ``download_http``: resumable, verified downloads (Dataverse may redirect each to S3);
- ``ham10000_layout`` and ``ham10000_tables``: unpacking the archives and reading the labels.

Every file is checked against the size and checksum the Dataverse API publishes, and the
first listing is pinned in a lock file, so a dataset that changes upstream stops the
pipeline with an explanation instead of silently changing every downstream number.
``<out>/.built_from.json`` records the checksums the folder was unpacked from, so a run
with nothing new leaves its ~11.5k images alone instead of rewriting 3 GB.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from skinlab.data.download_http import DownloadError, download_file, new_session, verify_file
from skinlab.data.ham10000_layout import (
    build_layout,
    layout_inputs,
    layout_is_current,
    listed_without_image,
    warn_listed_without_image,
)
from skinlab.data.ham10000_listing import (
    CORE_FILES,
    DEFAULT_BASE_URL,
    DOI,
    LOCK_NAME,
    TEST_FILES,
    ListingUnavailableError,
    OfflineError,
    RemoteFile,
    list_dataset_files,
    name_stem,
    select_files,
)
from skinlab.data.ham10000_lock import cached_files_from_lock, check_against_lock, read_lock, write_lock

__all__ = ["DEFAULT_BASE_URL", "DOI", "DownloadError", "ListingUnavailableError", "OfflineError",
           "download_file", "fetch_ham10000", "listed_without_image"]

log = logging.getLogger(__name__)


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

    ``include_test`` adds the ISIC 2018 Task 3 test images as split "test" (1,511 of the
    1,512 listed: the release has no image for ISIC_0035068, which is skipped with a warning).
    ``backoff`` is the first retry delay in seconds (doubling per retry).
    """
    cache_dir, out_dir = Path(cache_dir), Path(out_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock_path = Path(lock_path) if lock_path is not None else cache_dir / LOCK_NAME
    roles = {**CORE_FILES, **(TEST_FILES if include_test else {})}
    lock = read_lock(lock_path)
    session = new_session()

    try:
        listing = list_dataset_files(base_url, session=session, timeout=timeout)
    except ListingUnavailableError as err:
        files = cached_files_from_lock(lock, roles, cache_dir)
        if files is None:
            raise
        log.warning("the dataset listing from %s is unavailable (%s); using the files cached in %s, "
                    "verified against %s", base_url, err.reason, cache_dir, lock_path)
    else:
        files = select_files(listing, roles)
        check_against_lock(files, lock, lock_path, cache_dir=cache_dir)
        write_lock(lock_path, files, lock)
        for remote in files.values():
            adopt_hand_download(cache_dir, remote)
            download_file(
                remote.url(base_url),
                cache_dir / remote.filename,
                size=remote.size,
                md5=remote.md5,
                algorithm=remote.hashlib_name(),
                retries=retries,
                timeout=timeout,
                progress=progress,
                backoff=backoff,
                session=session,
            )

    built_from = layout_inputs(files, include_test=include_test)
    if layout_is_current(out_dir, built_from):
        log.info("%s is already unpacked from these files; leaving it as it is", out_dir)
    else:
        paths = {role: cache_dir / remote.filename for role, remote in files.items()}
        build_layout(paths, out_dir, include_test=include_test, built_from=built_from)
    warn_listed_without_image(listed_without_image(out_dir))
    return out_dir


def adopt_hand_download(cache_dir: Path, remote: RemoteFile) -> Path | None:
    """Use a file put in the cache by hand under another name, if it is the listed file.

    A browser saves the original metadata as ``HAM10000_metadata`` (no extension) and people
    add ``.csv``; whatever the name, a file with the role's name stem and the listed size and
    checksum is renamed to the cache name instead of being downloaded again.
    """
    dest = cache_dir / remote.filename
    if dest.exists():
        return None
    stem = name_stem(remote.filename)
    for candidate in sorted(cache_dir.iterdir()):
        if (candidate.name.startswith(".") or candidate.name.endswith((".part", ".json", ".tmp"))
                or not candidate.is_file() or name_stem(candidate.name) != stem):
            continue
        if remote.size is not None and candidate.stat().st_size != remote.size:
            continue
        if verify_file(candidate, size=remote.size, md5=remote.md5, algorithm=remote.hashlib_name()) is None:
            os.replace(candidate, dest)
            log.info("using %s, put in the cache by hand, as %s", candidate.name, dest.name)
            return dest
    return None
