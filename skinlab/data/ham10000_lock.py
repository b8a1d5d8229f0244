"""The HAM10000 lock file: the release as first downloaded, so an upstream change stops the run.

Without it, a replaced archive on Dataverse would silently change every downstream number.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from skinlab import io as skio
from skinlab.data.download_http import DownloadError, remove_partial, verify_file
from skinlab.data.ham10000_listing import DOI, RemoteFile


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


def cached_files_from_lock(lock: dict[str, dict], roles: dict, cache_dir: Path) -> dict[str, RemoteFile] | None:
    """The pinned files, if every one is cached and verifies; else None (no listing needed)."""
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
                                            algorithm=remote.hashlib_name()) is not None:
            return None
        files[role] = remote
    return files
