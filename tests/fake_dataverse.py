"""A tiny stand-in for Harvard Dataverse on 127.0.0.1, for tests that must not touch the network.

It imitates the endpoints the HAM10000 fetcher meets, as the real service behaves:

    GET /api/datasets/:persistentId/?persistentId=<doi>    -> {"data": {"latestVersion": {"files": [...]}}}
    GET /api/access/datafile/<id>[?format=original]        -> the bytes, with ``Range: bytes=N-`` support,
                                                              or (``redirect``) 303 to a presigned link:
    GET /s3/<bucket>/<key>?X-Amz-Expires=60&...             -> the bytes, until the link expires

Where the behaviour comes from:
- Harvard's firewall answers 403 with an HTML page to a User-Agent containing
  "python-requests" on the API (issue 6 of this project, August 2026); reproduced by default.
- With ``dataverse.files.<store>.download-redirect``, the Access API answers
  ``Response.seeOther(...)`` (303) to a presigned S3 link, for a file and for the saved
  original of an ingested table (``format=original``) alike (IQSS/dataverse,
  api/DownloadInstanceWriter.java). ``S3AccessIO.generateTemporaryS3Url`` adds
  ``1000 * getUrlExpirationMinutes()`` milliseconds, so its "60 minutes" are 60 seconds.
  An expired link gets S3's 403 ``AccessDenied`` / ``Request has expired``.
- A dataset whose guestbook must be filled in answers the Access API with 400 and
  ``{"status": "ERROR", "message": "Problem trying download with guestbook response on ...:
  Guestbook Response entry is required but not present (Name,Email)."}`` (IQSS/dataverse
  pull request 12110).
- Without ``format=original`` an ingested table comes as Dataverse's archival ``.tab``
  (Dataverse guides, Data Access API).

A test can also break things on purpose: truncate the next transfer of a file, ignore Range
headers, publish a wrong checksum, answer the listing with an error page or too slowly, and
gzip file bodies. Like many real servers it gzips a file whenever the client's
Accept-Encoding allows it. Every request is recorded so tests can count them. The release
itself (names, ids, the missing test image) is in ``tests/fake_release.py``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fake_release import FakeFile

DOI = "doi:10.7910/DVN/DBW86T"
STORAGE_PREFIX = "/s3/dvn-cloud/"
FIREWALL_PAGE = (b"<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
                 b"<p>Automated requests from this client are not allowed.</p></body></html>")
S3_EXPIRED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
              b"<Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires></Error>")
GUESTBOOK_MESSAGE = ("Problem trying download with guestbook response on {label} : Guestbook Response entry "
                     "is required but not present (Name,Email).")


@dataclass
class Request:
    path: str
    query: dict
    range: str | None
    accept_encoding: str | None = None
    user_agent: str | None = None


@dataclass
class FakeDataverse:
    files: list[FakeFile]
    doi: str = DOI
    ignore_range: bool = False
    # file id -> bytes sent before closing, for the next transfer; a list covers the next few
    truncate_next: dict[int, int | list[int]] = field(default_factory=dict)
    listing_failure: tuple[int, bytes, str] | None = None  # (status, body, content type) for the listing
    listing_delay: float = 0.0  # seconds the listing waits before answering
    force_gzip: bool = False  # gzip file bodies even when the client asked for identity
    forbidden_agent: str | None = "python-requests"  # the API answers 403 to a User-Agent holding it
    redirect: bool = False  # datafiles answer 303 to a presigned storage link
    link_lifetime_s: float = 60.0  # how long a presigned link works
    link_uses: int | None = None  # requests a link serves before it counts as expired (None: any)
    guestbook_required: bool = False  # datafiles answer 400: fill in the guestbook first
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._links: dict[str, list] = {}  # signature -> [file id, original?, expires at, uses left]
        self._signatures = itertools.count(1)

    # -- lifecycle --
    def __enter__(self) -> FakeDataverse:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- helpers for tests --
    def file(self, name_part: str) -> FakeFile:
        matches = [f for f in self.files if name_part in f.filename]
        assert len(matches) == 1, f"{name_part!r} matches {[f.filename for f in matches]}"
        return matches[0]

    def downloads(self, fake_file: FakeFile | None = None) -> list[Request]:
        """The requests to the Access API (not those to the storage links it redirects to)."""
        prefix = "/api/access/datafile/"
        return [
            r for r in self.requests
            if r.path.startswith(prefix) and (fake_file is None or r.path == f"{prefix}{fake_file.id}")
        ]

    def storage_requests(self, fake_file: FakeFile | None = None) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(STORAGE_PREFIX)
                and (fake_file is None or r.path.startswith(STORAGE_PREFIX + fake_file.storage_key))]

    def presign(self, fake_file: FakeFile, original: bool) -> str:
        """A storage link in the shape S3 presigns (the signature is only a counter here)."""
        signature = f"{next(self._signatures):064x}"
        self._links[signature] = [fake_file.id, original, time.time() + self.link_lifetime_s, self.link_uses]
        key = fake_file.storage_key + (".orig" if original else "")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return (f"{self.base_url}{STORAGE_PREFIX}{key}?response-content-disposition=attachment"
                f"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={stamp}"
                f"&X-Amz-Expires={int(self.link_lifetime_s)}&X-Amz-Signature={signature}")

    def use_link(self, signature: str | None) -> tuple[int, bool] | None:
        """The (file id, original?) a link is for, or None once it has expired."""
        link = self._links.get(signature or "")
        if link is None or time.time() > link[2] or link[3] == 0:
            return None
        if link[3] is not None:
            link[3] -= 1
        return link[0], link[1]

    def listing(self) -> dict:
        return {
            "status": "OK",
            "data": {
                "id": 3172583,
                "identifier": "DVN/DBW86T",
                "persistentUrl": "https://doi.org/10.7910/DVN/DBW86T",
                "latestVersion": {
                    "license": {"name": "CC BY-NC 4.0", "uri": "http://creativecommons.org/licenses/by-nc/4.0"},
                    "versionNumber": 4,
                    "versionMinorNumber": 0,
                    "versionState": "RELEASED",
                    "files": [f.listing_entry() for f in self.files],
                },
            },
        }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeDataverse

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        agent = self.headers.get("User-Agent")
        self.fake.requests.append(
            Request(url.path, query, self.headers.get("Range"), self.headers.get("Accept-Encoding"), agent)
        )
        if url.path.startswith(STORAGE_PREFIX):
            return self._storage(query)
        if self.fake.forbidden_agent and self.fake.forbidden_agent.lower() in (agent or "").lower():
            return self._send(403, FIREWALL_PAGE, "text/html")
        if url.path.rstrip("/") == "/api/datasets/:persistentId":
            if self.fake.listing_delay:
                time.sleep(self.fake.listing_delay)
            if self.fake.listing_failure is not None:
                return self._send(*self.fake.listing_failure)
            if query.get("persistentId") != self.fake.doi:
                return self._send(404, b'{"status":"ERROR","message":"Dataset not found"}', "application/json")
            return self._send(200, json.dumps(self.fake.listing()).encode(), "application/json")
        match = re.fullmatch(r"/api/access/datafile/(\d+)", url.path)
        by_id = {f.id: f for f in self.fake.files}
        if not match or int(match.group(1)) not in by_id:
            return self._send(404, b'{"status":"ERROR","message":"not found"}', "application/json")
        fake_file = by_id[int(match.group(1))]
        if self.fake.guestbook_required:
            message = GUESTBOOK_MESSAGE.format(label=fake_file.filename)
            return self._send(400, json.dumps({"status": "ERROR", "message": message}).encode(), "application/json")
        original = bool(fake_file.original_name) and query.get("format") == "original"
        if self.fake.redirect:
            self.send_response(303)
            self.send_header("Location", self.fake.presign(fake_file, original))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self._send_file(fake_file, fake_file.content if original or not fake_file.original_name else fake_file.archival)

    def _storage(self, query: dict) -> None:
        link = self.fake.use_link(query.get("X-Amz-Signature"))
        if link is None:
            return self._send(403, S3_EXPIRED, "application/xml")
        fake_file = next(f for f in self.fake.files if f.id == link[0])
        original = link[1]
        self._send_file(fake_file, fake_file.content if original or not fake_file.original_name else fake_file.archival)

    def _send_file(self, fake_file: FakeFile, body: bytes, headers: dict[str, str] | None = None) -> None:
        start = 0
        wanted = self.headers.get("Range")
        if wanted and not self.fake.ignore_range:
            found = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
            start = int(found.group(1)) if found else 0
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        part = body[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.fake.force_gzip or _accepts_gzip(self.headers.get("Accept-Encoding")):
            part = gzip.compress(part)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        cut = _next_cut(self.fake.truncate_next, fake_file.id)
        if cut is not None:
            self.wfile.write(part[:cut])  # then hang up: Content-Length promised more
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _next_cut(cuts: dict[int, int | list[int]], file_id: int) -> int | None:
    planned = cuts.get(file_id)
    if not isinstance(planned, list):
        return cuts.pop(file_id, None)
    cut = planned.pop(0)
    if not planned:
        del cuts[file_id]
    return cut


def _accepts_gzip(header: str | None) -> bool:
    """True when an Accept-Encoding header lets the server gzip (``gzip, deflate`` does)."""
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*") and params.replace(" ", "").lower() not in ("q=0", "q=0.0"):
            return True
    return False


# --- the client side, as the tests drive it -------------------------------------------------


def fetch(server: FakeDataverse, tmp_path, **kwargs):
    """fetch_ham10000 into tmp_path/cache and tmp_path/ham, quietly and without waiting."""
    from skinlab.data.ham10000 import fetch_ham10000

    kwargs.setdefault("progress", False)
    kwargs.setdefault("backoff", 0.0)
    return fetch_ham10000(tmp_path / "cache", tmp_path / "ham", base_url=server.base_url, **kwargs)


def read_metadata(out_dir):
    import pandas as pd

    return pd.read_csv(out_dir / "metadata.csv", dtype=str, keep_default_na=False)


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
