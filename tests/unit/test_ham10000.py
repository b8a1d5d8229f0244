"""The HAM10000 fetcher against a fake Dataverse on 127.0.0.1 (no real network anywhere)."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest

from skinlab.data import download_http, ham10000, ham10000_layout
from skinlab.data.ham10000 import (
    DOI,
    DownloadError,
    OfflineError,
    fetch_ham10000,
)
from skinlab.data.schema import HAM_COLUMNS
from tests.fake_dataverse import (
    FakeDataverse,
    closed_port,
    fetch,
    read_metadata,
)
from tests.fake_release import (
    MISSING_TEST_IMAGE,
    TEST_ROWS,
    TRAIN_ROWS,
    make_release,
    zip_bytes,
)

TRAIN_IDS = [row[1] for row in TRAIN_ROWS]
TEST_IDS = [row[1] for row in TEST_ROWS if row[1] != MISSING_TEST_IMAGE]  # the release has no image for it


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
    real = ham10000_layout.extract_flat

    def counting(archive, *args, **kwargs):
        calls.append(archive.name)
        return real(archive, *args, **kwargs)

    monkeypatch.setattr(ham10000_layout, "extract_flat", counting)
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


def test_a_hostile_release_archive_stops_the_fetch(tmp_path):
    with FakeDataverse(make_release(image_members={"../../ISIC_0027419.jpg": b"x"})) as server:
        with pytest.raises(ValueError, match=r"\.\./\.\./ISIC_0027419\.jpg"):
            fetch(server, tmp_path)
    assert not (tmp_path / "ham").exists()
    assert not (tmp_path / "ISIC_0027419.jpg").exists()
