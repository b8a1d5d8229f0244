"""The HAM10000 fetcher against a fake Dataverse on 127.0.0.1 (no real network anywhere)."""

from __future__ import annotations

import hashlib
import json
import socket
import zipfile

import pandas as pd
import pytest

from skinlab.data import download_http, ham10000
from skinlab.data.ham10000 import DOI, DownloadError, OfflineError, download_file, fetch_ham10000
from skinlab.data.schema import HAM_COLUMNS
from tests.fake_dataverse import ISIC_CODES, TEST_ROWS, TRAIN_ROWS, FakeDataverse, csv_bytes, make_release, one_hot_rows

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
        (tmp_path / "ham" / "stale.txt").write_text("from an older run")
        fetch(server, tmp_path)
        assert len(server.downloads()) == first == 6  # 6 needed files, none fetched twice
    assert not (tmp_path / "ham" / "stale.txt").exists()  # the output is rebuilt, not patched


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
        assert f"delete {lock_path}" in message
        assert read_metadata(tmp_path / "ham")["image_id"].tolist() == TRAIN_IDS + TEST_IDS  # untouched

        lock_path.unlink()  # the user accepts the new release
        fetch(server, tmp_path)
        assert json.loads(lock_path.read_text())["files"]["images_part_1"]["md5"] == part_1.md5
        assert (tmp_path / "cache" / "HAM10000_images_part_1.zip").read_bytes() == part_1.content


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
