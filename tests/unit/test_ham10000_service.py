"""The HAM10000 fetch against the real service's quirks, as the fake Dataverse reproduces them:
the test image the release lacks, the firewall's User-Agent rule, refusals with a message,
303 redirects to presigned links that expire, the real file list, hand downloads."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import requests

import skinlab
from skinlab.data import ham10000, ham10000_layout
from skinlab.data.download_http import USER_AGENT, DownloadError, download_file
from skinlab.data.ham10000_listing import CORE_FILES, TEST_FILES, ListingUnavailableError, list_dataset_files, select_files
from tests.fake_dataverse import (
    FIREWALL_PAGE,
    FakeDataverse,
    fetch,
    read_metadata,
)
from tests.fake_release import (
    MISSING_TEST_IMAGE,
    TEST_ROWS,
    make_release,
    real_listing_release,
)
from tests.helpers import REPO

GROUND_TRUTH = "ISIC2018_Task3_Test_GroundTruth.csv"
SKIP_WARNING = (
    f"skipped 1 image(s) listed in {GROUND_TRUTH} but in none of the archives: {MISSING_TEST_IMAGE} "
    f"({MISSING_TEST_IMAGE}: the official test set ships no image for it; the ISIC 2018 scorer leaves it out too)"
)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- 12: the listed test image that no archive holds ----------------------------------------


def test_the_missing_test_image_is_skipped_named_and_recorded(tmp_path, caplog):
    with FakeDataverse(make_release()) as server, caplog.at_level(logging.WARNING):
        out = fetch(server, tmp_path)
        assert warnings(caplog) == [SKIP_WARNING]
        caplog.clear()
        fetch(server, tmp_path)  # the layout is current: not rebuilt, still said
        assert warnings(caplog) == [SKIP_WARNING]
    test = read_metadata(out).query("split == 'test'")
    assert list(test["image_id"]) == [row[1] for row in TEST_ROWS if row[1] != MISSING_TEST_IMAGE]
    assert not (out / "images" / f"{MISSING_TEST_IMAGE}.jpg").exists()
    assert ham10000.listed_without_image(out) == {GROUND_TRUTH: [MISSING_TEST_IMAGE]}


def test_with_every_listed_image_present_nothing_is_skipped(tmp_path, caplog):
    with FakeDataverse(make_release(test_image_for_all=True)) as server, caplog.at_level(logging.WARNING):
        out = fetch(server, tmp_path)
    assert warnings(caplog) == []
    assert ham10000.listed_without_image(out) == {}
    assert MISSING_TEST_IMAGE in set(read_metadata(out)["image_id"])


def test_many_listed_images_without_an_image_stop_the_build():
    listed = [f"ISIC_{i:07d}" for i in range(12)]
    tables = {"HAM10000_metadata": pd.DataFrame({"image_id": listed})}
    with pytest.raises(ValueError) as caught:
        ham10000_layout.drop_rows_without_image(tables, on_disk={"ISIC_0000000"})
    assert str(caught.value) == (
        "11 image(s) listed in HAM10000_metadata are in none of the archives, e.g. ISIC_0000001, ISIC_0000002, "
        "ISIC_0000003, ISIC_0000004, ISIC_0000005; up to 10 are skipped as gaps of the release (it lacks "
        "ISIC_0035068), this many means an archive is not the one its table describes"
    )


# --- 13: the User-Agent, and refusals that say why ------------------------------------------


def test_every_request_carries_the_projects_user_agent(tmp_path):
    assert USER_AGENT == f"skinlab/{skinlab.__version__} (+{skinlab.PROJECT_URL}; research and teaching)"
    assert "python-requests" not in USER_AGENT.lower()
    with FakeDataverse(make_release(), redirect=True) as server:
        # The fake refuses the library's own User-Agent, as Harvard's firewall does...
        plain = requests.get(f"{server.base_url}/api/datasets/:persistentId/", timeout=5)
        assert plain.status_code == 403 and "python-requests" in plain.request.headers["User-Agent"]
        server.requests.clear()
        fetch(server, tmp_path)  # ...and the fetch gets through, redirects included
        agents = {r.user_agent for r in server.requests}
        assert len(server.storage_requests()) == 6
    assert agents == {USER_AGENT}


def test_a_refused_listing_shows_the_servers_message(tmp_path):
    with FakeDataverse(make_release(), listing_failure=(403, FIREWALL_PAGE, "text/html")) as server:
        with pytest.raises(ListingUnavailableError) as caught:
            fetch(server, tmp_path)
        url = f"{server.base_url}/api/datasets/:persistentId/?persistentId=doi%3A10.7910%2FDVN%2FDBW86T"
    assert str(caught.value) == (
        f"the dataset listing {url} answered HTTP 403 Forbidden: 403 Forbidden Forbidden Automated requests "
        f"from this client are not allowed. (this client sends User-Agent: {USER_AGENT})"
    )
    assert not (tmp_path / "ham").exists()


def test_a_refused_listing_with_a_verified_cache_uses_the_cache(tmp_path, caplog):
    with FakeDataverse(make_release()) as server:
        fetch(server, tmp_path)
        server.listing_failure = (403, FIREWALL_PAGE, "text/html")
        before = len(server.downloads())
        with caplog.at_level(logging.WARNING):
            out = fetch(server, tmp_path)
        assert len(server.downloads()) == before
    assert MISSING_TEST_IMAGE not in set(read_metadata(out)["image_id"])
    assert any("is unavailable (HTTP 403 Forbidden: 403 Forbidden Forbidden Automated requests" in message
               and "using the files cached in" in message for message in warnings(caplog))


def test_a_guestbook_requirement_is_shown_as_the_server_says_it(tmp_path):
    with FakeDataverse(make_release(), guestbook_required=True) as server:
        with pytest.raises(DownloadError) as caught:
            fetch(server, tmp_path)
        url = f"{server.base_url}/api/access/datafile/3172585"
    assert str(caught.value) == (
        f"HAM10000_images_part_1.zip: {url} answered HTTP 400 Bad Request: Problem trying download with "
        "guestbook response on HAM10000_images_part_1.zip : Guestbook Response entry is required but not "
        "present (Name,Email)."
    )


# --- 14: 303 to a presigned link that expires -----------------------------------------------


def big_part_1() -> tuple[list, object]:
    files = make_release()
    files[0].content = bytes(range(256)) * 40  # 10 KiB, so a cut lands mid-file
    return files, files[0]


def test_a_redirected_download_resumes_through_a_fresh_link(tmp_path):
    files, part_1 = big_part_1()
    # Each link serves one request: resuming on the first link would be refused.
    with FakeDataverse(files, redirect=True, link_uses=1, truncate_next={part_1.id: 4000}) as server:
        download_file(f"{server.base_url}/api/access/datafile/{part_1.id}", tmp_path / "part_1.zip",
                      size=len(part_1.content), md5=part_1.md5, progress=False, backoff=0.0)
        asked = [(r.path.split("/")[1], r.range) for r in server.requests]
        links = [r.query["X-Amz-Signature"] for r in server.storage_requests()]
    assert asked == [("api", None), ("s3", None), ("api", "bytes=4000-"), ("s3", "bytes=4000-")]
    assert len(set(links)) == 2  # a new link for the resume, never the old one
    assert (tmp_path / "part_1.zip").read_bytes() == part_1.content


def test_an_expired_link_sends_the_next_attempt_back_to_the_api(tmp_path):
    files, part_1 = big_part_1()
    with FakeDataverse(files, redirect=True, link_lifetime_s=-1.0) as server:  # expired when issued
        url = f"{server.base_url}/api/access/datafile/{part_1.id}"
        with pytest.raises(DownloadError) as caught:
            download_file(url, tmp_path / "part_1.zip", size=len(part_1.content), md5=part_1.md5,
                          retries=2, progress=False, backoff=0.0)
        assert len(server.downloads()) == 3 and len(server.storage_requests()) == 3
        storage = f"{server.base_url}/s3/dvn-cloud/{part_1.storage_key}"
    assert str(caught.value).startswith(
        f"part_1.zip: download from {url} failed after 3 attempts: the storage link {storage} answered "
        "HTTP 403: AccessDenied Request has expired 60."
    )


def test_the_whole_fetch_works_through_redirects_original_tables_included(tmp_path):
    with FakeDataverse(make_release(), redirect=True) as server:
        out = fetch(server, tmp_path)
        metadata = server.file("HAM10000_metadata")
        keys = {r.path.rsplit("/", 1)[1] for r in server.storage_requests()}
    assert f"{metadata.storage_key.rsplit('/', 1)[1]}.orig" in keys  # the saved original, not the .tab
    assert (tmp_path / "cache" / "HAM10000_metadata").read_bytes() == metadata.content
    assert len(read_metadata(out)) == 7


# --- the real release's listing, and hand downloads -----------------------------------------


def test_the_real_listing_selects_the_real_files():
    with FakeDataverse(real_listing_release()) as server:
        files = select_files(list_dataset_files(server.base_url), {**CORE_FILES, **TEST_FILES})
    chosen = {role: (f.filename, f.id, f.size, f.md5, f.original) for role, f in files.items()}
    assert chosen["images_part_1"] == ("HAM10000_images_part_1.zip", 3172585, 1366522108,
                                       "4639bfa73ab251610530a97c898e6e46", False)
    assert chosen["images_part_2"] == ("HAM10000_images_part_2.zip", 3172584, 1403566547,
                                       "da43d6cc50f6613013be07e8986b384b", False)
    assert chosen["metadata"] == ("HAM10000_metadata", 4338392, 690218, "8f85fb1aa29d80a2797247e434deb79d", True)
    assert chosen["masks"] == ("HAM10000_segmentations_lesion_tschandl.zip", 3838943, 10808743,
                               "6e8d252e09cfdb0189199f15985a5b84", False)
    assert chosen["test_images"][:2] == ("ISIC2018_Task3_Test_Images.zip", 3855824)
    assert chosen["test_images"][3] == "0488b6f65849e310857d9207daa55a21"
    assert chosen["test_ground_truth"][:2] == (GROUND_TRUTH, 6924466) and chosen["test_ground_truth"][4]


@pytest.mark.parametrize("name", ["HAM10000_metadata.csv", "HAM10000_metadata.tab"])
def test_a_hand_downloaded_metadata_in_the_cache_is_used(tmp_path, name):
    (tmp_path / "cache").mkdir()
    with FakeDataverse(make_release()) as server:
        metadata = server.file("HAM10000_metadata")
        (tmp_path / "cache" / name).write_bytes(metadata.content)
        (tmp_path / "cache" / "HAM10000_metadata.txt").write_bytes(b"not it")  # same stem, other bytes
        fetch(server, tmp_path)
        assert server.downloads(metadata) == []
    assert (tmp_path / "cache" / "HAM10000_metadata").read_bytes() == metadata.content
    assert not (tmp_path / "cache" / name).exists()
    assert (tmp_path / "cache" / "HAM10000_metadata.txt").read_bytes() == b"not it"


# --- 16: the licence ------------------------------------------------------------------------


def test_the_licence_is_the_one_the_dataverse_record_states():
    texts = {path: path.read_text(encoding="utf-8") for path in
             [REPO / "README.md", *sorted((REPO / "skinlab").rglob("*.py"))]}
    assert [str(path) for path, text in texts.items() if "BY-NC-SA" in text] == []
    assert "CC BY-NC 4.0" in texts[Path(ham10000.__file__)]
