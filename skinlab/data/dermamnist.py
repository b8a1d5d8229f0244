"""DermaMNIST (MedMNIST+), read from its published npz files with the official split.

DermaMNIST is HAM10000's 10,015 images resized to 28, 64, 128 or 224 px and split 7:1:2 into
train / val / test by image (Yang et al., MedMNIST v2, Scientific Data 2023; CC BY-NC 4.0, as
HAM10000). Its npz files hold ``{train,val,test}_{images,labels}``: images ``(N, S, S, 3)``
uint8 RGB, labels ``(N, 1)`` integers 0..6. The record, file names, MD5s, label order and split
sizes below are those of ``medmnist/info.py`` in MedMNIST 3.x (``url``/``MD5`` for 28 px,
``url_64``/``MD5_64`` and so on); the 28 px file is the same as in MedMNIST v2 (same MD5).

The release has no lesion ids: its split is per image, so images of one lesion can sit on both
sides. Each image is its own lesion here (``lesion_id`` = ``image_id``); figures on it compare
with the published MedMNIST tables, but are not leak-free.

Images are streamed from the zip member one at a time (an npz member cannot be memory-mapped),
so memory stays at one image however large the file: the 224 px train array alone is 1 GB.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import requests

from skinlab import io
from skinlab.data.download_http import (
    OFFLINE_CONNECT_TIMEOUT_S,
    DownloadError,
    download_file,
    file_digest,
    new_session,
    short_reason,
    verify_file,
)
from skinlab.data.ham10000_listing import OfflineError
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES

log = logging.getLogger(__name__)

RECORD = "https://zenodo.org/records/10519652"
# size -> (file name, MD5), as medmnist/info.py (MedMNIST 3.x) lists them.
FILES = {
    28: ("dermamnist.npz", "0744692d530f8e62ec473284d019b0c7"),
    64: ("dermamnist_64.npz", "b70a2f5635c6199aeaa28c31d7202e1f"),
    128: ("dermamnist_128.npz", "2defd784463fa5243564e855ed717de1"),
    224: ("dermamnist_224.npz", "8974907d8e169bef5f5b96bc506ae45d"),
}
# info.py's label order ("0": actinic keratoses and intraepithelial carcinoma, "1": basal cell
# carcinoma, "2": benign keratosis-like lesions, "3": dermatofibroma, "4": melanoma,
# "5": melanocytic nevi, "6": vascular lesions) is HAM10000's codes in alphabetical order.
LABELS = CLASSES
SPLIT_SIZES = {"train": 7007, "val": 1003, "test": 2005}


def file_url(base_url: str, size: int) -> str:
    # Zenodo's download link for a record's file; `?download=1` asks for it as an attachment.
    return f"{base_url.rstrip('/')}/{FILES[size][0]}?download=1"


def offline_message(url: str, reason: str, dest: Path, size: int) -> str:
    name, md5 = FILES[size]
    return (
        f"Cannot reach {url} ({reason}). This machine appears to be offline, or the server is down. "
        f"To work without network access: download {name} by hand from {RECORD} (MD5 {md5}) on a "
        "machine that has it, then set `download.dermamnist.path: <that file>` in params.yaml, "
        f"or put it at {dest}, where it is checked against the MD5 and used without downloading."
    )



def fetch(cache_dir: Path, size: int, *, base_url: str, retries: int = 3, timeout: float = 60.0,
          progress: bool = True, backoff: float = 1.0) -> Path:
    """The verified npz of ``size`` px in ``cache_dir``: kept when it is there, else downloaded.

    The download resumes a ``.part`` left by an earlier run and is checked against the published
    MD5 (``download_http.download_file``). Offline, it fails at once (no retries) saying how to
    do without the network.
    """
    name, md5 = FILES[size]
    dest = Path(cache_dir) / name
    if dest.exists() and verify_file(dest, size=None, md5=md5) is None:
        log.info("using %s (MD5 verified)", dest)
        return dest
    url = file_url(base_url, size)
    session = new_session()
    try:  # a refused connection or a DNS failure will not fix itself within the retries' backoff
        session.head(url, allow_redirects=True, timeout=(OFFLINE_CONNECT_TIMEOUT_S, timeout)).close()
    except requests.ConnectionError as err:
        reason = short_reason(err)
        raise OfflineError(offline_message(url, reason, dest, size), reason) from err
    except requests.Timeout:
        pass  # the connection opened: the download itself retries and says what happened
    return download_file(url, dest, size=None, md5=md5, retries=retries, timeout=timeout,
                         progress=progress, backoff=backoff, session=session)


def locate(cfg, downloads_dir: Path) -> Path:
    """The npz the params name: ``download.dermamnist.path``, or the release fetched into the cache."""
    if cfg.path:
        path = Path(cfg.path)
        if not path.is_file():
            raise InputError(f"{path}: file not found (download.dermamnist.path in params.yaml; leave it "
                             f"empty to download {FILES[cfg.size][0]} from {RECORD})")
        return path
    return fetch(downloads_dir, cfg.size, base_url=cfg.base_url, retries=cfg.retries, timeout=cfg.timeout)


def release_info(path: Path, size: int) -> dict:
    """What was read: the file, its MD5, and whether it is the published file of that size."""
    md5 = file_digest(path)
    return {"file": Path(path).name, "size": size, "md5": md5, "official_release": md5 == FILES[size][1]}


# --- reading the npz ------------------------------------------------------------------------


def _member(archive: zipfile.ZipFile, path: Path, key: str) -> str:
    member = f"{key}.npy"
    if member not in archive.namelist():
        present = sorted(name.removesuffix(".npy") for name in archive.namelist())
        raise InputError(f"{path}: missing array {key} (it has: {', '.join(present) or 'nothing'}); "
                         "a DermaMNIST npz holds train/val/test _images and _labels")
    return member


def _header(stream, path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read(stream)
    except ValueError as err:
        raise InputError(f"{path}: {key} is not a readable .npy array: {err}") from None
    if fortran_order:
        raise InputError(f"{path}: {key} is stored in Fortran order; save it in C order (np.ascontiguousarray)")
    return shape, dtype


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"{path}: not a readable npz file ({err}); download it again or check "
                         "download.dermamnist.path") from None


def check(path: Path, size: int) -> dict[str, np.ndarray]:
    """Check every array's shape, type and labels before anything is written; return the labels.

    Images are only looked at through their headers here; the labels are small and read whole.
    """
    labels = {}
    with _open(path) as archive:
        for split in SPLIT_SIZES:
            key = f"{split}_images"
            with archive.open(_member(archive, path, key)) as stream:
                shape, dtype = _header(stream, path, key)
            if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2] or dtype != np.uint8:
                raise InputError(f"{path}: {key} has shape {shape} and type {dtype}, expected (N, {size}, {size}, 3) "
                                 "uint8 (square RGB images)")
            if shape[1] != size:
                raise InputError(f"{path}: {key} holds {shape[1]}x{shape[2]} images, but download.dermamnist.size "
                                 f"is {size}; set it to {shape[1]} (or point download.dermamnist.path at "
                                 f"{FILES[size][0]})")
            labels[split] = _labels(archive, path, f"{split}_labels", shape[0])
    return labels


def _labels(archive: zipfile.ZipFile, path: Path, key: str, count: int) -> np.ndarray:
    with archive.open(_member(archive, path, key)) as stream:
        try:
            array = np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as err:
            raise InputError(f"{path}: {key} is not a readable .npy array: {err}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise InputError(f"{path}: {key} has shape {array.shape} and type {array.dtype}, expected ({count}, 1) integers")
    if len(array) != count:
        raise InputError(f"{path}: {key} has {len(array)} labels for {count} images")
    bad = np.flatnonzero((array < 0) | (array >= len(LABELS)))
    if bad.size:
        raise InputError(f"{path}: {key} holds {bad.size} label(s) outside 0..{len(LABELS) - 1} "
                         f"(e.g. {int(array[bad[0]])} at index {int(bad[0])}); DermaMNIST has 7 classes")
    return array.astype(np.int64)


def images(path: Path, key: str) -> Iterator[np.ndarray]:
    """The images of one array, one at a time, decompressed from the zip member as they are read."""
    with _open(path) as archive, archive.open(_member(archive, path, key)) as stream:
        shape, dtype = _header(stream, path, key)
        one = int(np.prod(shape[1:])) * dtype.itemsize
        for index in range(shape[0]):
            try:
                data = stream.read(one)
            except (zipfile.BadZipFile, OSError, EOFError) as err:  # a bad CRC or a broken deflate stream
                raise InputError(f"{path}: {key} is corrupt at image {index}: {err}; download it again") from None
            if len(data) != one:
                raise InputError(f"{path}: {key} ends after {index} of {shape[0]} images (truncated file)")
            yield np.frombuffer(data, dtype).reshape(shape[1:])


def items(path: Path, size: int) -> Iterator[tuple[dict, bytes, str, str, None]]:
    """RawWriter items: each image as a PNG (lossless), with its HAM10000 code and official split."""
    labels = check(path, size)
    counts = {split: len(values) for split, values in labels.items()}
    if counts != SPLIT_SIZES:
        log.warning("%s: split sizes %s differ from the published release's %s: figures on it do not compare "
                    "with the MedMNIST tables", path, counts, SPLIT_SIZES)
    for split, split_labels in labels.items():
        for index, image in enumerate(images(path, f"{split}_images")):
            image_id = f"dermamnist_{split}_{index:05d}"
            record = {"image_id": image_id, "lesion_id": image_id, "dx": LABELS[split_labels[index]], "split": split}
            yield record, io.encode_image(image, ".png"), ".png", f"{path}:{split}_images[{index}]", None


__all__ = ["DownloadError", "FILES", "LABELS", "OfflineError", "RECORD", "SPLIT_SIZES", "check", "fetch", "images",
           "items", "locate", "release_info"]
