"""Resumable, verified HTTP downloads for multi-gigabyte dataset archives.

A HAM10000 image archive is over a gigabyte; a dropped connection must cost a resume, not a
restart, and a file only counts as downloaded once its size and checksum match what the
publisher lists. Bytes in flight live in ``<dest>.part``; ``dest`` itself appears (by
``os.replace``) only after verification, so a file that exists is a finished file.
``<dest>.part.json`` records the size and checksum the ``.part`` is a prefix of, so a file
that changed upstream is never completed from an older version's bytes.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

from skinlab import PROJECT_URL, __version__

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# A connection that cannot even be opened in this long is not going to work.
CONNECT_TIMEOUT_S = 10.0
# A dropped connection that still delivered bytes does not use up a retry, so a long
# download over a flaky link finishes; this caps the total attempts all the same.
MAX_ATTEMPTS = 100
# The project's own name, version and home. Never the HTTP library's name: since August 2026
# Harvard's firewall answers 403 to any User-Agent containing "python-requests".
USER_AGENT = f"skinlab/{__version__} (+{PROJECT_URL}; research and teaching)"
# How much of a server's error message goes into ours.
MESSAGE_CHARS = 400
# How long a first connection may take before the machine is taken to be offline.
OFFLINE_CONNECT_TIMEOUT_S = 5.0


class DownloadError(RuntimeError):
    """A download that cannot complete or does not match what the publisher lists."""


class _Truncated(Exception):
    """The server closed the body before sending all of it; worth a resume."""


def file_digest(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, size: int | None, md5: str | None, algorithm: str = "md5") -> str | None:
    """Return None when ``path`` matches ``size`` and the digest, else a sentence saying how not.

    ``md5`` holds the expected hex digest; ``algorithm`` names it when a publisher lists
    another hash (hashlib names: md5, sha1, sha256, ...).
    """
    got_size = path.stat().st_size
    if size is not None and got_size != size:
        return f"size mismatch (expected {size} bytes, got {got_size})"
    if md5:
        got = file_digest(path, algorithm)
        if got.lower() != md5.strip().lower():
            return f"checksum mismatch (expected {algorithm} {md5.strip().lower()}, got {got})"
    return None


def new_session() -> requests.Session:
    """A session that sends the project's User-Agent on every request, redirects included."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def server_message(response: requests.Response) -> str:
    """What the server said, readable: a JSON ``message``, an HTML page's text, or the body.

    Dataverse explains a refusal in JSON (``{"status": "ERROR", "message": ...}``, e.g. a
    guestbook that must be filled in); a firewall sends an HTML page; S3 sends XML.
    """
    try:
        text = response.text
    except (requests.RequestException, UnicodeError, http.client.HTTPException):
        return "(no readable body)"
    try:
        content = json.loads(text)
    except ValueError:
        content = None
    if isinstance(content, dict) and isinstance(content.get("message"), str):
        text = content["message"]
    elif "<" in text:
        text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    if len(text) > MESSAGE_CHARS:
        text = text[: MESSAGE_CHARS - 3] + "..."
    return text or "(empty body)"


def _show_progress(progress: bool) -> bool:
    return bool(progress) and sys.stderr.isatty()


def download_file(
    url: str,
    dest: Path,
    *,
    size: int | None,
    md5: str | None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
    backoff: float = 1.0,
    algorithm: str = "md5",
    session: requests.Session | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part``, and verify size and md5.

    A ``dest`` that already exists and verifies is returned untouched (never re-downloaded);
    one that fails verification is treated as a corrupt cache entry and fetched again.
    Failed attempts sleep ``backoff * 2**n`` seconds (``backoff=0`` in tests).
    Every attempt asks ``url`` itself again: when it redirects (Dataverse answers 303 with a
    presigned S3 link that expires in about a minute), the link is followed at once and never
    kept for a later resume.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        problem = verify_file(dest, size=size, md5=md5, algorithm=algorithm)
        if problem is None:
            return dest
        log.warning("cached %s is corrupt (%s); downloading it again", dest, problem)
        dest.unlink()

    part = dest.with_name(dest.name + ".part")
    _claim_part(part, {"size": size, "digest": md5.strip().lower() if md5 else None, "algorithm": algorithm})
    http = session or new_session()
    failures = 0
    for attempt in range(MAX_ATTEMPTS):
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch_into(http, url, part, size=size, timeout=timeout, progress=progress, name=dest.name)
            break
        except (_Truncated, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            after = part.stat().st_size if part.exists() else 0
            failures = 0 if after > before else failures + 1
            if failures > retries or attempt == MAX_ATTEMPTS - 1:
                raise DownloadError(
                    f"{dest.name}: download from {url} failed after {attempt + 1} attempts: {err}. "
                    f"The partial file {part} is kept; run again to resume."
                ) from err
            delay = backoff * (2 ** max(failures - 1, 0))
            log.warning("%s: %s; resuming at byte %d in %.1fs", dest.name, err, after, delay)
            if delay > 0:
                time.sleep(delay)

    problem = verify_file(part, size=size, md5=md5, algorithm=algorithm)
    if problem is not None:
        remove_partial(dest)
        raise DownloadError(
            f"{dest.name}: {problem} for {url}. The corrupt download was deleted; "
            "run again to retry, and if it persists the file changed upstream."
        )
    os.replace(part, dest)
    _owner_path(part).unlink(missing_ok=True)
    return dest


def remove_partial(dest: Path) -> list[Path]:
    """Delete the unfinished download of ``dest`` (``.part`` and its record); return what went."""
    part = Path(dest).with_name(Path(dest).name + ".part")
    removed = []
    for path in (part, _owner_path(part)):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _owner_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _claim_part(part: Path, expected: dict) -> None:
    """Keep ``part`` only if it was started for the same expected file; record what it is for.

    A ``.part`` without a record (from before records existed) is kept: resuming it costs at
    most one failed checksum, after which it is deleted.
    """
    owner = _owner_path(part)
    try:
        recorded = json.loads(owner.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if recorded == expected:
        return
    if part.exists() and owner.exists():
        log.info("%s was started for another version of the file (%s); starting over", part, recorded)
        part.unlink()
    tmp = owner.with_name(owner.name + ".tmp")
    tmp.write_text(json.dumps(expected, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, owner)


def _fetch_into(
    http: requests.Session, url: str, part: Path, *, size: int | None, timeout: float, progress: bool, name: str
) -> None:
    """One HTTP attempt: append to ``part`` from where it stops, or restart it cleanly."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the real file: not a prefix of it
        offset = 0
    if size is not None and offset == size:
        return  # complete already; verification decides whether it is right

    # The body is read raw (see _read_some), so it must arrive as the file's own bytes:
    # requests would otherwise offer gzip, and offsets and checksums refer to the file.
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    connect = min(CONNECT_TIMEOUT_S, timeout)
    with http.get(url, headers=headers, stream=True, timeout=(connect, timeout)) as response:
        if response.status_code == 416 and offset:
            part.unlink()  # our prefix is not a prefix of theirs; start over
            raise _Truncated("server refused the resume range; restarting from zero")
        if response.status_code >= 500 or response.status_code == 429:
            raise _Truncated(f"server answered HTTP {response.status_code}")
        if response.status_code == 403 and response.history:
            # The storage link we were sent to refused us: most likely it expired on the way
            # (presigned links live about a minute). Ask the API for a fresh one.
            raise _Truncated(f"the storage link {_without_query(response.url)} answered HTTP 403: "
                             f"{server_message(response)}")
        if response.status_code not in (200, 206):
            via = f" (redirected to {_without_query(response.url)})" if response.history else ""
            raise DownloadError(
                f"{name}: {url}{via} answered HTTP {response.status_code} {response.reason}: "
                f"{server_message(response)}"
            )
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise DownloadError(
                f"{name}: {url} sent a {encoding}-encoded body although Accept-Encoding: identity was "
                "asked for; its bytes cannot be resumed or checked against the published checksum"
            )
        if response.status_code == 206:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                raise DownloadError(
                    f"{name}: asked to resume at byte {offset}, server sent a range starting at {start}"
                )
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored the resume request; starting over", name)
            offset = 0
            mode = "wb"

        expected_body = _int_or_none(response.headers.get("Content-Length"))
        received = 0
        with (
            open(part, mode) as handle,
            tqdm(
                total=size,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not _show_progress(progress),
                leave=False,
            ) as bar,
        ):
            while chunk := _read_some(response):
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected_body is not None and received < expected_body:
        raise _Truncated(f"connection closed after {received} of {expected_body} bytes")
    if size is not None and offset + received < size:
        raise _Truncated(f"got {offset + received} of {size} bytes")


def _read_some(response: requests.Response) -> bytes:
    """Whatever bytes have arrived (up to a chunk), so a dropped connection loses none of them.

    ``iter_content`` fills a whole chunk before yielding and discards it when the connection
    drops mid-chunk; ``read1`` hands over what is there, which is what a resume needs.
    """
    try:
        return response.raw.read1(CHUNK_BYTES)
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
        raise _Truncated(f"connection broken: {err}") from err


def _without_query(url: str) -> str:
    """A presigned link without its signature: enough to say where, nothing to leak."""
    return url.split("?", 1)[0]


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, _, spec = value.partition(" ")
        return int(spec.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def short_reason(err: Exception) -> str:
    """The part of a connection error a user can act on (no DNS, refused, timed out)."""
    text = str(err)
    for hint in ("Name or service not known", "Temporary failure in name resolution", "Connection refused",
                 "timed out", "Network is unreachable", "No route to host"):
        if hint in text:
            return hint
    return type(err).__name__
