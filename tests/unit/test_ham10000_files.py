"""download_file (resume, restart, retry) and the unpacking and parsing of the release files."""

from __future__ import annotations

import zipfile

import pytest

from skinlab.data import ham10000_layout, ham10000_listing, ham10000_tables
from skinlab.data.download_http import DownloadError, download_file
from skinlab.data.schema import HAM_COLUMNS
from tests.fake_dataverse import FakeDataverse
from tests.fake_release import (
    ISIC_CODES,
    TEST_ROWS,
    TRAIN_ROWS,
    csv_bytes,
    make_release,
    one_hot_rows,
)


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
        ham10000_layout.extract_flat(archive, tmp_path / "out", suffixes=(".jpg",))
    assert member in str(caught.value) and "hostile.zip" in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # checked before anything is written


def test_isic_one_hot_ground_truth_maps_to_dx(tmp_path):
    path = tmp_path / "ISIC2018_Task3_Test_GroundTruth.csv"
    rows = [["ISIC_0034524", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034525", "1.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034526", "0.0", "0.0", "0.0", "1.0", "0.0", "0.0", "0.0"],
            ["ISIC_0034527", "0.0", "0.0", "0.0", "0.0", "0.0", "1.0", "0.0"]]
    path.write_bytes(csv_bytes(["image", *ISIC_CODES], rows))
    table = ham10000_tables.read_test_ground_truth(path)
    assert list(table["dx"]) == ["nv", "mel", "akiec", "df"]
    assert list(table["image_id"]) == ["ISIC_0034524", "ISIC_0034525", "ISIC_0034526", "ISIC_0034527"]
    assert set(HAM_COLUMNS) <= set(table.columns)


def test_isic_one_hot_row_with_two_classes_is_named(tmp_path):
    path = tmp_path / "gt.csv"
    rows = one_hot_rows(TEST_ROWS)
    rows[1][1] = "1.0"  # ISIC_0034525 now MEL and BCC
    path.write_bytes(csv_bytes(["image", *ISIC_CODES], rows))
    with pytest.raises(ValueError, match=r"gt\.csv: row 3 \(ISIC_0034525\)"):
        ham10000_tables.read_test_ground_truth(path)


def test_tab_separated_metadata_is_read_like_csv(tmp_path):
    path = tmp_path / "HAM10000_metadata.tab"
    path.write_text('lesion_id\timage_id\tdx\tdx_type\tage\tsex\tlocalization\n'
                    '"HAM_0000118"\t"ISIC_0027419"\t"BKL"\t"histo"\t80.0\t"male"\t"scalp"\n')
    table = ham10000_tables.read_ham_metadata(path)
    assert table.loc[0, ["lesion_id", "image_id", "dx", "age"]].tolist() == ["HAM_0000118", "ISIC_0027419", "bkl", "80.0"]


def test_metadata_without_a_ham_column_is_named(tmp_path):
    path = tmp_path / "HAM10000_metadata"
    path.write_text("lesion_id,image_id,diagnosis\nHAM_1,ISIC_1,nv\n")
    with pytest.raises(ValueError, match=r"HAM10000_metadata: missing column\(s\) \['dx'"):
        ham10000_tables.read_ham_metadata(path)


def test_metadata_with_an_unknown_diagnosis_names_the_row(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_bytes(list(HAM_COLUMNS), [r[:7] for r in TRAIN_ROWS[:2]] + [
        ("HAM_9", "ISIC_9", "melanoma", "histo", "50.0", "male", "back")]))
    with pytest.raises(ValueError, match=r"m\.csv: row 4 \(ISIC_9\) has dx 'melanoma'"):
        ham10000_tables.read_ham_metadata(path)


@pytest.mark.parametrize(
    ("listed", "stem"),
    [("HAM10000_images_part_1.zip", "ham10000imagespart1"),
     ("ISIC2018_Task3_Test_GroundTruth.tab", "isic2018task3testgroundtruth"),
     ("ISIC2018_Task3_Test_GroundTruth.csv", "isic2018task3testgroundtruth"),
     ("HAM10000_metadata", "ham10000metadata"),
     ("HAM10000-Metadata.csv.tab", "ham10000metadata")],
)
def test_names_are_matched_by_stem(listed, stem):
    assert ham10000_listing.name_stem(listed) == stem
