"""A tiny stand-in for a Zenodo record on 127.0.0.1, serving DermaMNIST-shaped npz files.

    GET|HEAD /records/<id>/files/<name>[?download=1] -> the bytes, Range honoured (206), or, with
                                                       ``redirect``, 302 to a storage link:
    GET|HEAD /storage/<id>/<name>                     -> the bytes, Range honoured
    GET|HEAD /record/<id>/files/<name>                -> 301 to /records/... (the pre-2023 address)

Where the behaviour comes from:
- ``/records/<id>/files/<name>`` answers 200 with Content-Length and Content-Disposition
  (``inline``; ``attachment; filename=...`` with ``?download=1``), and honours
  ``Range: bytes=N-`` with 206 and Content-Range (bioimage-io/spec-bioimage-io issue 537,
  2023; galaxyproject/galaxy issue 15296, 2023; zenodo/zenodo issue 2593, 2026: "Range support
  on /records/.../files/...").
- Since Zenodo's move to InvenioRDM (October 2023) ``/record/...`` answers 301 to
  ``/records/...`` (ipb-halle/MetFragRelaunched pull request 131).
- ``redirect`` sends the download through a second address, as a file store behind the record
  would (zenodo/zenodo-rdm pull request 661 reworks this redirection): each attempt, resumes
  included, must start again from the record's address.

Truncation, ignored Range and the gzip quirks are FakeDataverse's (this class extends it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.fake_dataverse import FakeDataverse, Request, _Handler
from tests.fake_release import FakeFile

RECORD_ID = "10519652"


@dataclass
class FakeZenodo(FakeDataverse):
    forbidden_agent: str | None = None  # Zenodo has no such firewall rule
    record_id: str = RECORD_ID

    def __enter__(self) -> FakeZenodo:
        super().__enter__()
        self._server.RequestHandlerClass = type("ZenodoHandler", (_ZenodoHandler,), {"fake": self})
        return self

    @property
    def files_url(self) -> str:
        """What ``download.dermamnist.base_url`` is for this server."""
        return f"{self.base_url}/records/{self.record_id}/files"

    def downloads(self, fake_file: FakeFile | None = None) -> list[Request]:
        """The GET requests to the record's file address (not the storage links it redirects to)."""
        prefix = f"/records/{self.record_id}/files/"
        return [r for r in self.requests if r.path.startswith(prefix) and r.query.get("method") != "HEAD"
                and (fake_file is None or r.path == prefix + fake_file.filename)]

    def storage_requests(self, fake_file: FakeFile | None = None) -> list[Request]:
        prefix = f"/storage/{self.record_id}/"
        return [r for r in self.requests if r.path.startswith(prefix)
                and (fake_file is None or r.path == prefix + fake_file.filename)]


class _ZenodoHandler(_Handler):
    fake: FakeZenodo

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._route(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._route(head=False)

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        query = dict(item.partition("=")[::2] for item in url.query.split("&") if item)
        self.fake.requests.append(Request(url.path, {**query, "method": "HEAD" if head else "GET"},
                                          self.headers.get("Range"), self.headers.get("Accept-Encoding"),
                                          self.headers.get("User-Agent")))
        legacy = re.fullmatch(r"/record/(\d+)/files/(.+)", url.path)
        if legacy:
            return self._redirect(301, f"/records/{legacy.group(1)}/files/{legacy.group(2)}"
                                  + (f"?{url.query}" if url.query else ""))
        found = re.fullmatch(r"/(records|storage)/(\d+)/(?:files/)?([^/]+)", url.path)
        fake_file = next((f for f in self.fake.files if found and f.filename == found.group(3)), None)
        if fake_file is None or found.group(2) != self.fake.record_id:
            return self._send(404, b'{"status": 404, "message": "The persistent identifier does not exist."}',
                              "application/json")
        if found.group(1) == "records" and self.fake.redirect:
            return self._redirect(302, f"/storage/{self.fake.record_id}/{fake_file.filename}")
        kind = "attachment" if query.get("download") == "1" or found.group(1) == "storage" else "inline"
        disposition = {"Content-Disposition": f"{kind}; filename={fake_file.filename}"}
        if head:
            self.send_response(200)
            self.send_header("Content-Length", str(len(fake_file.content)))
            self.send_header("Content-Disposition", disposition["Content-Disposition"])
            self.end_headers()
            return None
        return self._send_file(fake_file, fake_file.content, disposition)

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", f"{self.fake.base_url}{location}")
        self.send_header("Content-Length", "0")
        self.end_headers()
