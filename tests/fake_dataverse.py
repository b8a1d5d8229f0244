"""A tiny stand-in for Harvard Dataverse on 127.0.0.1, for tests that must not touch the network.

It imitates the two endpoints the HAM10000 fetcher uses:

    GET /api/datasets/:persistentId/?persistentId=<doi>    -> {"data": {"latestVersion": {"files": [...]}}}
    GET /api/access/datafile/<id>[?format=original]        -> the bytes, with ``Range: bytes=N-`` support

and lets a test break things on purpose: truncate the next transfer of a file, ignore Range
headers, publish a wrong checksum, answer the listing with an error page or too slowly, and
gzip file bodies. Like many real servers it gzips a file whenever the client's
Accept-Encoding allows it. Every request is recorded so tests can count them.
``make_release`` builds a small fake HAM10000 release (real zip archives of tiny JPEGs).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

DOI = "doi:10.7910/DVN/DBW86T"


@dataclass
class FakeFile:
    id: int
    filename: str  # the name Dataverse lists (".tab" for an ingested table)
    content: bytes  # the bytes of the file as uploaded (the "original" for an ingested table)
    original_name: str | None = None  # set: an ingested tabular file
    published_md5: str | None = None  # overrides the checksum the listing publishes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()

    @property
    def archival(self) -> bytes:
        """What Dataverse serves without ?format=original: its own tab-separated rendering."""
        return b"archival .tab rendering, not the original upload\n"

    def listing_entry(self) -> dict:
        data = {
            "id": self.id,
            "persistentId": "",
            "filename": self.filename,
            "contentType": "application/zip" if self.filename.endswith(".zip") else "text/csv",
            "filesize": len(self.content),
            "storageIdentifier": f"s3://dvn-cloud:{self.id:x}",
            "rootDataFileId": -1,
            "md5": self.published_md5 or self.md5,
            "checksum": {"type": "MD5", "value": self.published_md5 or self.md5},
            "creationDate": "2018-06-18",
        }
        if self.original_name:
            data.update(
                contentType="text/tab-separated-values",
                filesize=len(self.archival),
                originalFileFormat="text/csv",
                originalFormatLabel="Comma Separated Values",
                originalFileSize=len(self.content),
                originalFileName=self.original_name,
                UNF="UNF:6:fakeUNFfakeUNF==",
                tabularData=True,
            )
        return {"label": self.filename, "restricted": False, "version": 1, "datasetVersionId": 1, "dataFile": data}


@dataclass
class Request:
    path: str
    query: dict
    range: str | None
    accept_encoding: str | None = None


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
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

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
        prefix = "/api/access/datafile/"
        return [
            r for r in self.requests
            if r.path.startswith(prefix) and (fake_file is None or r.path == f"{prefix}{fake_file.id}")
        ]

    def listing(self) -> dict:
        return {
            "status": "OK",
            "data": {
                "id": 3172583,
                "identifier": "DVN/DBW86T",
                "persistentUrl": "https://doi.org/10.7910/DVN/DBW86T",
                "latestVersion": {
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
        self.fake.requests.append(
            Request(url.path, query, self.headers.get("Range"), self.headers.get("Accept-Encoding"))
        )
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
        body = fake_file.content
        if fake_file.original_name and query.get("format") != "original":
            body = fake_file.archival
        self._send_file(fake_file, body)

    def _send_file(self, fake_file: FakeFile, body: bytes) -> None:
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


# --- a fake HAM10000 release ----------------------------------------------------------------

HAM_HEADER = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
# (lesion_id, image_id, dx, dx_type, age, sex, localization, dataset); two images share a lesion.
TRAIN_ROWS = [
    ("HAM_0000118", "ISIC_0027419", "bkl", "histo", "80.0", "male", "scalp", "vidir_modern"),
    ("HAM_0000118", "ISIC_0025030", "bkl", "histo", "80.0", "male", "scalp", "vidir_modern"),
    ("HAM_0002730", "ISIC_0026769", "mel", "histo", "", "female", "back", "rosendahl"),
    ("HAM_0001466", "ISIC_0031633", "nv", "follow_up", "75.0", "unknown", "unknown", "vienna_dias"),
]
TEST_ROWS = [
    ("IL_7252831", "ISIC_0034524", "nv", "follow_up", "40.0", "female", "back", "vidir_molemax"),
    ("IL_6125741", "ISIC_0034525", "bcc", "histo", "70.0", "male", "face", "vidir_modern"),
    ("IL_3692653", "ISIC_0034526", "vasc", "consensus", "", "male", "trunk", "rosendahl"),
]
ISIC_CODES = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]


def tiny_jpeg(seed: int) -> bytes:
    rgb = np.full((6, 8, 3), (seed * 40 % 256, 90, 200 - seed * 10 % 200), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def tiny_mask() -> bytes:
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[2:4, 2:6] = 255
    ok, encoded = cv2.imencode(".png", mask)
    assert ok
    return encoded.tobytes()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def csv_bytes(header: list[str], rows: list) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def one_hot_rows(rows: list) -> list[list]:
    return [[row[1], *("1.0" if code.lower() == row[2] else "0.0" for code in ISIC_CODES)] for row in rows]


def make_release(*, ground_truth_style: str = "ham", image_members: dict[str, bytes] | None = None) -> list[FakeFile]:
    """The files of a fake HAM10000 release, named and numbered as on Harvard Dataverse.

    Part 1 holds its images at the root, part 2 in a subfolder (both occur in the wild);
    the masks and test images sit in folders next to a __MACOSX entry and a licence file.
    ``image_members`` replaces the members of part 1 (e.g. with a hostile path).
    """
    ids = [row[1] for row in TRAIN_ROWS]
    part_1 = image_members or {f"{image_id}.jpg": tiny_jpeg(i) for i, image_id in enumerate(ids[:2])}
    part_2 = {f"HAM10000_images_part_2/{image_id}.jpg": tiny_jpeg(i + 2) for i, image_id in enumerate(ids[2:])}
    masks = {f"HAM10000_segmentations_lesion_tschandl/{image_id}_segmentation.png": tiny_mask() for image_id in ids}
    masks["__MACOSX/HAM10000_segmentations_lesion_tschandl/._ISIC_0027419_segmentation.png"] = b"junk"
    test_images = {f"ISIC2018_Task3_Test_Images/{row[1]}.jpg": tiny_jpeg(10 + i) for i, row in enumerate(TEST_ROWS)}
    test_images["ISIC2018_Task3_Test_Images/LICENSE.txt"] = b"CC BY-NC 4.0\n"
    if ground_truth_style == "ham":
        truth = csv_bytes(HAM_HEADER, TEST_ROWS)
    elif ground_truth_style == "isic":
        truth = csv_bytes(["image", *ISIC_CODES], one_hot_rows(TEST_ROWS))
    else:
        raise ValueError(f"ground_truth_style must be 'ham' or 'isic', not {ground_truth_style!r}")
    return [
        FakeFile(3172585, "HAM10000_images_part_1.zip", zip_bytes(part_1)),
        FakeFile(3172584, "HAM10000_images_part_2.zip", zip_bytes(part_2)),
        FakeFile(4338392, "HAM10000_metadata.tab", csv_bytes(HAM_HEADER, TRAIN_ROWS), original_name="HAM10000_metadata"),
        FakeFile(3838943, "HAM10000_segmentations_lesion_tschandl.zip", zip_bytes(masks)),
        FakeFile(3855824, "ISIC2018_Task3_Test_Images.zip", zip_bytes(test_images)),
        FakeFile(6924466, "ISIC2018_Task3_Test_GroundTruth.tab", truth,
                 original_name="ISIC2018_Task3_Test_GroundTruth.csv"),
        FakeFile(6924467, "ISIC2018_Task3_Test_NatureMedicine_AI_Interaction_Benefit.tab", b"a,b\n1,2\n",
                 original_name="ISIC2018_Task3_Test_NatureMedicine_AI_Interaction_Benefit.csv"),
    ]
