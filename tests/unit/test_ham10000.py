"""The HAM10000 fetcher against a fake Dataverse on 127.0.0.1 (no real network anywhere)."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import zipfile

import numpy as np
import pandas as pd
import pytest

from skinlab.data import download_http, ham10000
from skinlab.data.ham10000 import (
    DOI,
    DownloadError,
    OfflineError,
    download_file,
    fetch_ham10000,
)
from skinlab.data.schema import HAM_COLUMNS
from tests.fake_dataverse import (
    ISIC_CODES,
    TEST_ROWS,
    TRAIN_ROWS,
    FakeDataverse,
    csv_bytes,
    make_release,
    one_hot_rows,
    zip_bytes,
)

TRAIN_IDS = [row[1] for row in TRAIN_ROWS]
TEST_IDS = [row[1] for row in TEST_ROWS]


def fetch(server: FakeDataverse, tmp_path, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("backoff", 0.0)
    return fetch_ham10000(tmp_path / "cache", tmp_path / "ham", base_url=server.base_url, **kwargs)


def read_metadata(out_dir):
    return pd.read_csv(out_dir / "metadata.csv", dtype=str, keep_default_na=False)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- whole fetch ----------------------------------------------------------------------------


def test_fetch_builds_the_import_layout(tmp_path):
    with FakeDataverse(make_release()) as server:
        out = fetch(server, tmp_path)

    assert out == tmp_path / "ham"
    assert not (tmp_path / "ham.tmp").exists()
    table = read_metadata(out)
    assert list(table.columns)[: len(HAM_COLUMNS) + 1] == [*HAM_COLUMNS, "split"]
    assert list(table["image_id"]) == TRAIN_IDS + TEST_IDS
    assert list(table["split"]) == ["", "", "", ""] + ["test", "test", "test"]
    assert list(table["dx"]) == ["bkl", "bkl", "mel", "nv", "nv", "bcc", "vasc"]
    assert list(table["lesion_id"][:2]) == ["HAM_0000118", "HAM_0000118"]
    assert table["age"][2] == "" and table["age"][0] == "80.0"
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{i}.jpg" for i in TRAIN_IDS + TEST_IDS)
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(f"{i}_segmentation.png" for i in TRAIN_IDS)
    # The licence file and the __MACOSX junk stayed out.
    assert not list(out.rglob("*.txt")) and not list(out.rglob("._*"))


def test_ingested_tables_are_downloaded_in_their_original_format(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path)
        metadata = server.file("HAM10000_metadata")
        asked = server.downloads(metadata)
    assert [r.query for r in asked] == [{"format": "original"}]
    # Cached under the original name, byte for byte what was uploaded.
    assert (tmp_path / "cache" / "HAM10000_metadata").read_bytes() == metadata.content


def test_second_run_reuses_the_verified_cache(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path)
        first = len(server.downloads())
        fetch(server, tmp_path)
        assert len(server.downloads()) == first == 6  # 6 needed files, none fetched twice


def count_extractions(monkeypatch) -> list[str]:
    """Record the archives ``build_layout`` unpacks, still unpacking them."""
    calls = []
    real = ham10000.extract_flat

    def counting(archive, *args, **kwargs):
        calls.append(archive.name)
        return real(archive, *args, **kwargs)

    monkeypatch.setattr(ham10000, "extract_flat", counting)
    return calls


def image_stamps(out_dir) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted((out_dir / "images").iterdir())}


def test_an_unchanged_release_leaves_the_built_layout_alone(tmp_path, monkeypatch):
    extracted = count_extractions(monkeypatch)
    with FakeDataverse(make_release()) as server:
        out = fetch(server, tmp_path)
        assert len(extracted) == 4  # part 1, part 2, test images, masks
        stamps = image_stamps(out)
        marker = json.loads((out / ".built_from.json").read_text())
        assert marker["inputs"]["include_test"] is True
        assert marker["inputs"]["files"]["images_part_1"]["md5"] == server.file("images_part_1").md5

        extracted.clear()
        assert fetch(server, tmp_path) == out
        assert extracted == []  # nothing unpacked again
        assert image_stamps(out) == stamps  # same files (inodes), not rewritten (mtimes)

        # Another include_test is another layout: rebuilt, and rebuilt again on the way back.
        out = fetch(server, tmp_path, include_test=False)
        assert len(extracted) == 3
        assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(TRAIN_IDS)
        out = fetch(server, tmp_path)
        assert len(extracted) == 7
        assert read_metadata(out)["image_id"].tolist() == TRAIN_IDS + TEST_IDS


def test_a_layout_without_its_marker_or_missing_images_is_rebuilt(tmp_path, monkeypatch):
    extracted = count_extractions(monkeypatch)
    with FakeDataverse(make_release()) as server:
        out = fetch(server, tmp_path, include_test=False)
        (out / ".built_from.json").unlink()  # e.g. built by an older version of the fetcher
        fetch(server, tmp_path, include_test=False)
        assert len(extracted) == 6
        (out / "images" / f"{TRAIN_IDS[0]}.jpg").unlink()  # a hand-edited layout
        fetch(server, tmp_path, include_test=False)
        assert len(extracted) == 9
    assert (out / "images" / f"{TRAIN_IDS[0]}.jpg").exists()


def test_a_new_input_file_rebuilds_the_layout(tmp_path, monkeypatch):
    extracted = count_extractions(monkeypatch)
    with FakeDataverse(make_release()) as server:
        out = fetch(server, tmp_path, include_test=False)
        old = (out / "images" / f"{TRAIN_IDS[0]}.jpg").read_bytes()
        part_1 = server.file("images_part_1")
        part_1.content = zip_bytes({f"{TRAIN_IDS[0]}.jpg": b"new bytes", f"{TRAIN_IDS[1]}.jpg": b"more"})
        (tmp_path / "cache" / "ham10000.lock.json").unlink()  # the user accepts the new release
        fetch(server, tmp_path, include_test=False)
        assert len(extracted) == 6
    assert old != b"new bytes"
    assert (out / "images" / f"{TRAIN_IDS[0]}.jpg").read_bytes() == b"new bytes"


def test_include_test_false_leaves_the_isic_test_set_out(tmp_path):
    with FakeDataverse(make_release()) as server:
        out = fetch(server, tmp_path, include_test=False)
        fetched = {r.path.rsplit("/", 1)[1] for r in server.downloads()}
    table = read_metadata(out)
    assert list(table["image_id"]) == TRAIN_IDS
    assert set(table["split"]) == {""}
    assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(TRAIN_IDS)
    assert fetched == {"3172585", "3172584", "4338392", "3838943"}


def test_isic_one_hot_ground_truth_is_read_through_the_fetch(tmp_path):
    with FakeDataverse(make_release(ground_truth_style="isic")) as server:
        out = fetch(server, tmp_path)
    test = read_metadata(out).query("split == 'test'")
    assert list(test["image_id"]) == TEST_IDS
    assert list(test["dx"]) == ["nv", "bcc", "vasc"]
    assert list(test["lesion_id"]) == TEST_IDS  # no grouping given: one lesion per image


def test_a_missing_release_file_names_what_the_listing_has(tmp_path):
    files = [f for f in make_release() if "segmentations" not in f.filename]
    with FakeDataverse(files) as server, pytest.raises(DownloadError) as caught:
        fetch(server, tmp_path)
    message = str(caught.value)
    assert "masks" in message and "ham10000segmentationslesiontschandl" in message
    assert "HAM10000_images_part_1.zip" in message and "ISIC2018_Task3_Test_Images.zip" in message
    assert not (tmp_path / "ham").exists()


# --- verification and the lock file ---------------------------------------------------------


def test_wrong_checksum_names_the_file_and_keeps_nothing(tmp_path):
    files = make_release()
    part_2 = next(f for f in files if f.filename == "HAM10000_images_part_2.zip")
    part_2.published_md5 = "0" * 32
    with FakeDataverse(files) as server, pytest.raises(DownloadError) as caught:
        fetch(server, tmp_path)
    message = str(caught.value)
    assert "HAM10000_images_part_2.zip" in message
    assert "0" * 32 in message and part_2.md5 in message
    cache = tmp_path / "cache"
    assert not (cache / "HAM10000_images_part_2.zip").exists()
    assert not (cache / "HAM10000_images_part_2.zip.part").exists()
    assert not (tmp_path / "ham").exists()


def test_lock_pins_the_release_and_catches_an_upstream_change(tmp_path):
    files = make_release()
    with FakeDataverse(files) as server:
        fetch(server, tmp_path)
        lock_path = tmp_path / "cache" / "ham10000.lock.json"
        lock = json.loads(lock_path.read_text())
        part_1 = server.file("images_part_1")
        assert lock["doi"] == DOI
        assert lock["files"]["images_part_1"] == {
            "filename": "HAM10000_images_part_1.zip",
            "id": 3172585,
            "size": len(part_1.content),
            "md5": hashlib.md5(part_1.content).hexdigest(),
            "checksum_type": "MD5",
            "original": False,
        }
        assert lock["files"]["metadata"]["original"] is True

        part_1.content = part_1.content + b"\0"  # the publisher replaces the archive
        with pytest.raises(DownloadError) as caught:
            fetch(server, tmp_path)
        message = str(caught.value)
        assert "HAM10000_images_part_1.zip" in message and "md5" in message
        assert f"delete {lock_path} and {tmp_path / 'cache' / 'HAM10000_images_part_1.zip'}" in message
        assert read_metadata(tmp_path / "ham")["image_id"].tolist() == TRAIN_IDS + TEST_IDS  # untouched

        lock_path.unlink()  # the user accepts the new release
        fetch(server, tmp_path)
        assert json.loads(lock_path.read_text())["files"]["images_part_1"]["md5"] == part_1.md5
        assert (tmp_path / "cache" / "HAM10000_images_part_1.zip").read_bytes() == part_1.content


def noisy_part_1(seed: int) -> bytes:
    """Part 1 as a 12 KB archive of incompressible bytes, so a cut lands inside it."""
    rng = np.random.default_rng(seed)
    return zip_bytes({f"{image_id}.jpg": rng.bytes(6000) for image_id in TRAIN_IDS[:2]})


def interrupted_then_replaced(server, tmp_path):
    """Part 1 stops after 4000 bytes (its .part kept), then the publisher replaces it."""
    part_1 = server.file("images_part_1")
    part_1.content = noisy_part_1(1)
    server.truncate_next[part_1.id] = [4000, 0]  # then a resume that brings nothing: give up
    with pytest.raises(DownloadError, match="run again to resume"):
        fetch(server, tmp_path, include_test=False, retries=0)
    part = tmp_path / "cache" / "HAM10000_images_part_1.zip.part"
    assert part.stat().st_size == 4000
    part_1.content = noisy_part_1(2)
    return part_1, part


def test_a_rejected_upstream_change_deletes_the_stale_part_file(tmp_path):
    with FakeDataverse(make_release()) as server:
        part_1, part = interrupted_then_replaced(server, tmp_path)
        lock_path = tmp_path / "cache" / "ham10000.lock.json"
        with pytest.raises(DownloadError) as caught:
            fetch(server, tmp_path, include_test=False)
        assert not part.exists()
        assert f"Deleted the partial download {part} of the old version" in str(caught.value)

        lock_path.unlink()  # the user accepts the new release
        before = len(server.downloads(part_1))
        fetch(server, tmp_path, include_test=False)  # resuming the old prefix would fail its md5
        assert [r.range for r in server.downloads(part_1)[before:]] == [None]
    assert (tmp_path / "cache" / "HAM10000_images_part_1.zip").read_bytes() == part_1.content


def test_a_part_file_of_another_version_is_not_resumed(tmp_path):
    # The lock is gone before the change was ever seen: the .part itself knows what it was for.
    with FakeDataverse(make_release()) as server:
        part_1, _ = interrupted_then_replaced(server, tmp_path)
        (tmp_path / "cache" / "ham10000.lock.json").unlink()
        before = len(server.downloads(part_1))
        fetch(server, tmp_path, include_test=False)
        assert [r.range for r in server.downloads(part_1)[before:]] == [None]
    assert (tmp_path / "cache" / "HAM10000_images_part_1.zip").read_bytes() == part_1.content
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if ".part" in p.name) == []


def test_lock_path_can_live_elsewhere(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path, include_test=False, lock_path=tmp_path / "pins" / "ham.lock.json")
    assert set(json.loads((tmp_path / "pins" / "ham.lock.json").read_text())["files"]) == {
        "images_part_1", "images_part_2", "metadata", "masks"}
    assert not (tmp_path / "cache" / "ham10000.lock.json").exists()


def test_a_corrupted_cached_file_is_fetched_again(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path, include_test=False)
        cached = tmp_path / "cache" / "HAM10000_images_part_2.zip"
        cached.write_bytes(b"bit rot")
        fetch(server, tmp_path, include_test=False)
        assert cached.read_bytes() == server.file("images_part_2").content
        assert len(server.downloads(server.file("images_part_2"))) == 2


# --- offline --------------------------------------------------------------------------------


def test_offline_fails_at_once_with_the_folder_alternative(tmp_path, monkeypatch):
    def no_sleeping(seconds):
        raise AssertionError(f"the offline case must not back off and retry (slept {seconds}s)")

    monkeypatch.setattr(download_http.time, "sleep", no_sleeping)
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(OfflineError) as caught:
        fetch_ham10000(tmp_path / "cache", tmp_path / "ham", base_url=url, progress=False)
    message = str(caught.value)
    assert "offline" in message and url in message
    assert "download.source: folder" in message and "metadata.csv" in message
    assert isinstance(caught.value, DownloadError)
    assert not (tmp_path / "ham").exists()


def test_offline_with_a_complete_verified_cache_rebuilds_from_it(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path, include_test=False)
    url = f"http://127.0.0.1:{closed_port()}"
    out = fetch_ham10000(tmp_path / "cache", tmp_path / "ham2", base_url=url, include_test=False, progress=False)
    assert read_metadata(out)["image_id"].tolist() == TRAIN_IDS
    # ...but not when the cache lacks what is asked for (the test set was never fetched).
    with pytest.raises(OfflineError):
        fetch_ham10000(tmp_path / "cache", tmp_path / "ham3", base_url=url, include_test=True, progress=False)


@pytest.mark.parametrize(
    ("failure", "delay"),
    [((503, b"<html>Down for maintenance</html>", "text/html"), 0.0),
     ((429, b"slow down", "text/plain"), 0.0),
     ((200, b"<html>Dataverse is being upgraded</html>", "text/html"), 0.0),
     (None, 1.0)],  # a read timeout: the connection opens, the answer never comes in time
    ids=["503", "429", "html-200", "read-timeout"],
)
def test_an_unusable_listing_falls_back_to_the_verified_cache(tmp_path, caplog, failure, delay):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path, include_test=False)
        server.listing_failure, server.listing_delay = failure, delay
        before = len(server.downloads())
        with caplog.at_level(logging.WARNING, logger=ham10000.__name__):
            out = fetch_ham10000(tmp_path / "cache", tmp_path / "ham2", base_url=server.base_url,
                                 include_test=False, progress=False, backoff=0.0, timeout=0.2)
        assert len(server.downloads()) == before
    assert read_metadata(out)["image_id"].tolist() == TRAIN_IDS
    assert any("using the files cached in" in r.getMessage() for r in caplog.records)


def test_an_unusable_listing_without_a_complete_cache_fails(tmp_path):
    with FakeDataverse(make_release(), listing_failure=(503, b"maintenance", "text/html")) as server:
        with pytest.raises(DownloadError, match="HTTP 503"):
            fetch(server, tmp_path)
        server.listing_failure = None
        fetch(server, tmp_path, include_test=False)
        server.listing_failure = (503, b"maintenance", "text/html")
        with pytest.raises(DownloadError, match="HTTP 503"):  # the test set was never cached
            fetch(server, tmp_path)


def test_a_listing_that_is_json_but_not_a_dataset_is_not_papered_over(tmp_path):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path, include_test=False)
        server.listing_failure = (200, b'{"status": "OK", "data": {}}', "application/json")
        with pytest.raises(DownloadError, match="no data.latestVersion.files"):
            fetch(server, tmp_path, include_test=False)


# --- download_file: resume, restart, retry --------------------------------------------------


def big_file_release():
    files = make_release()
    part_1 = files[0]
    part_1.content = bytes(range(256)) * 40  # 10 KiB, so cuts land mid-file
    return files, part_1


def test_resume_continues_a_partial_file_with_a_range_request(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "HAM10000_images_part_1.zip"
    (tmp_path / "HAM10000_images_part_1.zip.part").write_bytes(part_1.content[:3000])
    with FakeDataverse(files) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert [r.range for r in server.downloads()] == ["bytes=3000-"]
    assert dest.read_bytes() == part_1.content
    assert not (tmp_path / "HAM10000_images_part_1.zip.part").exists()


def test_a_server_that_ignores_range_restarts_the_file_cleanly(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "archive.zip"
    (tmp_path / "archive.zip.part").write_bytes(b"x" * 3000)  # appending to this would corrupt
    with FakeDataverse(files, ignore_range=True) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert len(server.downloads()) == 1
    assert dest.read_bytes() == part_1.content


def test_a_truncated_transfer_is_retried_and_resumed(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "archive.zip"
    with FakeDataverse(files, truncate_next={part_1.id: 4000}) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert [r.range for r in server.downloads()] == [None, "bytes=4000-"]
    assert dest.read_bytes() == part_1.content


def test_a_finished_file_is_never_downloaded_again(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "archive.zip"
    dest.write_bytes(part_1.content)
    with FakeDataverse(files) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert server.downloads() == []


def test_files_are_asked_for_unencoded_and_saved_as_served(tmp_path):
    files, part_1 = big_file_release()  # compressible: a gzip body would differ from the file
    dest = tmp_path / "archive.zip"
    with FakeDataverse(files) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert [r.accept_encoding for r in server.downloads()] == ["identity"]
    assert dest.read_bytes() == part_1.content


def test_a_server_that_gzips_anyway_is_named_and_nothing_is_kept(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "archive.zip"
    with FakeDataverse(files, force_gzip=True) as server, pytest.raises(DownloadError, match="gzip"):
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", dest,
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
    assert not dest.exists() and not (tmp_path / "archive.zip.part").exists()


def test_a_part_file_started_for_other_bytes_is_restarted(tmp_path):
    files, part_1 = big_file_release()
    dest = tmp_path / "archive.zip"
    with FakeDataverse(files, truncate_next={part_1.id: [3000, 0]}) as server:
        url = f"{server.base_url}/api/access/datafile/{part_1.id}"
        with pytest.raises(DownloadError):
            download_file(url, dest, size=len(part_1.content), md5="f" * 32, retries=0,
                          progress=False, backoff=0.0)
        assert (tmp_path / "archive.zip.part").stat().st_size == 3000
        assert [r.range for r in server.downloads()] == [None, "bytes=3000-"]
        download_file(url, dest, size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        assert [r.range for r in server.downloads()][2:] == [None]  # not resumed onto other bytes
    assert dest.read_bytes() == part_1.content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zip"]


def test_http_errors_are_reported_with_the_status(tmp_path):
    with FakeDataverse(make_release()) as server, pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{server.base_url}/api/access/datafile/999", tmp_path / "x.zip",
                      size=None, md5="0" * 32, progress=False, backoff=0.0)


# --- unpacking and parsing ------------------------------------------------------------------


@pytest.mark.parametrize("member", ["../evil.jpg", "/etc/evil.jpg", "images/../../evil.jpg", "C:/evil.jpg"])
def test_zip_members_that_escape_are_rejected_by_name(tmp_path, member):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("ISIC_0000001.jpg", b"fine")
        bundle.writestr(member, b"payload")
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError) as caught:
        ham10000.extract_flat(archive, tmp_path / "out", suffixes=(".jpg",))
    assert member in str(caught.value) and "hostile.zip" in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # checked before anything is written


def test_a_hostile_release_archive_stops_the_fetch(tmp_path):
    with FakeDataverse(make_release(image_members={"../../ISIC_0027419.jpg": b"x"})) as server:
        with pytest.raises(ValueError, match=r"\.\./\.\./ISIC_0027419\.jpg"):
            fetch(server, tmp_path)
    assert not (tmp_path / "ham").exists()
    assert not (tmp_path / "ISIC_0027419.jpg").exists()


def test_isic_one_hot_ground_truth_maps_to_dx(tmp_path):
    path = tmp_path / "ISIC2018_Task3_Test_GroundTruth.csv"
    rows = [["ISIC_0034524", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034525", "1.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034526", "0.0", "0.0", "0.0", "1.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034527", "0.0", "0.0", "0.0", "0.0", "0.0", "1.0", "0.0"]]
    path.write_bytes(csv_bytes(["image", *ISIC_CODES], rows))
    table = ham10000.read_test_ground_truth(path)
    assert list(table["dx"]) == ["nv", "mel", "akiec", "df"]
    assert list(table["image_id"]) == ["ISIC_0034524", "ISIC_0034525", "ISIC_0034526", "ISIC_0034527"]
    assert set(HAM_COLUMNS) <= set(table.columns)


def test_isic_one_hot_row_with_two_classes_is_named(tmp_path):
    path = tmp_path / "gt.csv"
    rows = one_hot_rows(TEST_ROWS)
    rows[1][1] = "1.0"  # ISIC_0034525 now MEL and BCC
    path.write_bytes(csv_bytes(["image", *ISIC_CODES], rows))
    with pytest.raises(ValueError, match=r"gt\.csv: row 3 \(ISIC_0034525\)"):
        ham10000.read_test_ground_truth(path)


def test_tab_separated_metadata_is_read_like_csv(tmp_path):
    path = tmp_path / "HAM10000_metadata.tab"
    path.write_text('lesion_id\timage_id\tdx\tdx_type\tage\tsex\tlocalization\n'
                    '"HAM_0000118"\t"ISIC_0027419"\t"BKL"\t"histo"\t80.0\t"male"\t"scalp"\n')
    table = ham10000.read_ham_metadata(path)
    assert table.loc[0, ["lesion_id", "image_id", "dx", "age"]].tolist() == ["HAM_0000118", "ISIC_0027419", "bkl", "80.0"]


def test_metadata_without_a_ham_column_is_named(tmp_path):
    path = tmp_path / "HAM10000_metadata"
    path.write_text("lesion_id,image_id,diagnosis\nHAM_1,ISIC_1,nv\n")
    with pytest.raises(ValueError, match=r"HAM10000_metadata: missing column\(s\) \['dx'"):
        ham10000.read_ham_metadata(path)


def test_metadata_with_an_unknown_diagnosis_names_the_row(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_bytes(list(HAM_COLUMNS), [r[:7] for r in TRAIN_ROWS[:2]] + [
        ("HAM_9", "ISIC_9", "melanoma", "histo", "50.0", "male", "back")]))
    with pytest.raises(ValueError, match=r"m\.csv: row 4 \(ISIC_9\) has dx 'melanoma'"):
        ham10000.read_ham_metadata(path)


@pytest.mark.parametrize(
    ("listed", "stem"),
    [("HAM10000_images_part_1.zip", "ham10000imagespart1"),
     ("ISIC2018_Task3_Test_GroundTruth.tab", "isic2018task3testgroundtruth"),
     ("ISIC2018_Task3_Test_GroundTruth.csv", "isic2018task3testgroundtruth"),
     ("HAM10000_metadata", "ham10000metadata"),
     ("HAM10000-Metadata.csv.tab", "ham10000metadata")],
)
def test_names_are_matched_by_stem(listed, stem):
    assert ham10000.name_stem(listed) == stem
