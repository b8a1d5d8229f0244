"""DermaMNIST: the npz read image by image and checked, and the release fetched like HAM10000's."""
import hashlib
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from skinlab import io, params
from skinlab.data import dermamnist, download_http
from skinlab.data.download_http import DownloadError
from skinlab.data.ham10000_listing import OfflineError
from skinlab.data.raw import InputError
from tests.dermamnist_npz import TINY_SPLITS, tiny_arrays, write_npz
from tests.fake_dataverse import closed_port
from tests.fake_release import FakeFile
from tests.fake_zenodo import FakeZenodo

# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["savez_compressed", "savez"])
def test_items_keep_pixels_labels_and_the_official_split(tmp_path, compressed):
    arrays = tiny_arrays()
    path = write_npz(tmp_path / "d.npz", arrays, compressed=compressed)
    items = list(dermamnist.items(path, 28))
    assert Counter(record["split"] for record, *_ in items) == TINY_SPLITS
    for record, data, ext, name, mask in items:
        split, index = record["split"], int(record["image_id"].rsplit("_", 1)[1])
        assert record["image_id"] == f"dermamnist_{split}_{index:05d}" == record["lesion_id"]
        assert record["dx"] == dermamnist.LABELS[int(arrays[f"{split}_labels"][index, 0])]
        assert ext == ".png" and mask is None and name == f"{path}:{split}_images[{index}]"
        np.testing.assert_array_equal(io.decode_image(data, name), arrays[f"{split}_images"][index])


def test_labels_map_to_ham10000_codes_in_medmnist_order():
    # medmnist/info.py: 0 actinic keratoses and intraepithelial carcinoma, 1 basal cell carcinoma,
    # 2 benign keratosis-like lesions, 3 dermatofibroma, 4 melanoma, 5 melanocytic nevi, 6 vascular lesions
    assert dermamnist.LABELS == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert dermamnist.SPLIT_SIZES == {"train": 7007, "val": 1003, "test": 2005}


def test_images_are_streamed_not_loaded_whole(tmp_path):
    arrays = tiny_arrays(64, {"train": 300, "val": 1, "test": 1})
    path = write_npz(tmp_path / "d.npz", arrays)
    whole = arrays["train_images"].nbytes  # 3.7 MB
    del arrays
    tracemalloc.start()
    try:
        count = sum(1 for _ in dermamnist.images(path, "train_images"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 300
    assert peak < whole / 4, f"peak {peak} bytes while reading a {whole}-byte array"


def test_missing_array_is_named(tmp_path):
    arrays = tiny_arrays()
    del arrays["train_labels"]
    path = write_npz(tmp_path / "d.npz", arrays)
    with pytest.raises(InputError) as caught:
        list(dermamnist.items(path, 28))
    assert str(caught.value) == (
        f"{path}: missing array train_labels (it has: test_images, test_labels, train_images, val_images, "
        "val_labels); a DermaMNIST npz holds train/val/test _images and _labels")


def test_labels_out_of_range_are_named(tmp_path):
    arrays = tiny_arrays()
    arrays["val_labels"][1, 0] = 7
    path = write_npz(tmp_path / "d.npz", arrays)
    with pytest.raises(InputError) as caught:
        dermamnist.check(path, 28)
    assert str(caught.value) == (f"{path}: val_labels holds 1 label(s) outside 0..6 (e.g. 7 at index 1); "
                                 "DermaMNIST has 7 classes")


def test_label_count_must_match_images(tmp_path):
    arrays = tiny_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    path = write_npz(tmp_path / "d.npz", arrays)
    with pytest.raises(InputError, match=r"d\.npz: test_labels has 3 labels for 4 images$"):
        dermamnist.check(path, 28)


def test_wrong_image_shape_is_named(tmp_path):
    arrays = tiny_arrays()
    arrays["train_images"] = arrays["train_images"][..., 0]  # grey
    path = write_npz(tmp_path / "d.npz", arrays)
    with pytest.raises(InputError) as caught:
        dermamnist.check(path, 28)
    assert str(caught.value) == (f"{path}: train_images has shape (9, 28, 28) and type uint8, expected "
                                 "(N, 28, 28, 3) uint8 (square RGB images)")


def test_a_file_of_another_size_names_the_param(tmp_path):
    path = write_npz(tmp_path / "d.npz", tiny_arrays(64))
    with pytest.raises(InputError) as caught:
        dermamnist.check(path, 28)
    assert str(caught.value) == (f"{path}: train_images holds 64x64 images, but download.dermamnist.size is 28; "
                                 "set it to 64 (or point download.dermamnist.path at dermamnist.npz)")


def test_not_an_npz_and_a_corrupt_member_are_named(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(InputError, match=r"junk\.npz: not a readable npz file .*download it again"):
        dermamnist.check(junk, 28)
    path = write_npz(tmp_path / "d.npz", compressed=False)
    data = bytearray(path.read_bytes())
    start = data.index(b"\x93NUMPY") + 200  # inside the first member's image bytes
    data[start:start + 10] = bytes(10)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"d\.npz: train_images is corrupt at image \d+: Bad CRC-32"):
        list(dermamnist.items(path, 28))


# --- fetching --------------------------------------------------------------------------------


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A tiny npz published as the 28 px file, with its MD5 in place of the real one."""
    content = write_npz(tmp_path / "made" / "dermamnist.npz").read_bytes()
    monkeypatch.setitem(dermamnist.FILES, 28, ("dermamnist.npz", hashlib.md5(content).hexdigest()))
    return FakeFile(id=1, filename="dermamnist.npz", content=content)


def fetch(server, tmp_path, **kwargs):
    return dermamnist.fetch(tmp_path / "cache", 28, base_url=server.files_url, progress=False, backoff=0.0, **kwargs)


@pytest.mark.parametrize("redirect", [False, True], ids=["direct", "redirected"])
def test_fetch_verifies_and_caches(tmp_path, release, redirect):
    with FakeZenodo([release], redirect=redirect) as server:
        path = fetch(server, tmp_path)
        assert path == tmp_path / "cache" / "dermamnist.npz" and path.read_bytes() == release.content
        got = server.downloads(release)
        assert len(got) == 1 and got[0].query["download"] == "1"
        assert got[0].user_agent == download_http.USER_AGENT and got[0].accept_encoding == "identity"
        assert fetch(server, tmp_path) == path
        assert len(server.downloads(release)) == 1  # the verified cache is used: no request at all


def test_fetch_follows_the_legacy_record_address(tmp_path, release):
    with FakeZenodo([release]) as server:
        path = dermamnist.fetch(tmp_path / "cache", 28, base_url=f"{server.base_url}/record/{server.record_id}/files",
                                progress=False, backoff=0.0)
        assert path.read_bytes() == release.content


def test_a_truncated_download_resumes_with_range(tmp_path, release):
    cut = len(release.content) // 3
    with FakeZenodo([release], redirect=True, truncate_next={release.id: cut}) as server:
        path = fetch(server, tmp_path)
        assert path.read_bytes() == release.content
        ranges = [r.range for r in server.storage_requests() if r.query.get("method") == "GET"]
    assert ranges == [None, f"bytes={cut}-"]
    assert len(server.downloads(release)) == 2  # each attempt starts again at the record's address


def test_wrong_md5_names_the_file_both_checksums_and_the_way_out(tmp_path, release, monkeypatch):
    monkeypatch.setitem(dermamnist.FILES, 28, ("dermamnist.npz", "0" * 32))
    with FakeZenodo([release]) as server, pytest.raises(DownloadError) as caught:
        url = f"{server.files_url}/dermamnist.npz?download=1"
        fetch(server, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"dermamnist.npz: checksum mismatch (expected md5 {'0' * 32}, got {release.md5}) "
                              f"for {url}.")
    assert "run again to retry" in message
    assert not (tmp_path / "cache" / "dermamnist.npz").exists()


def test_a_corrupt_cached_file_is_fetched_again(tmp_path, release):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "dermamnist.npz").write_bytes(b"bit rot")
    with FakeZenodo([release]) as server:
        assert fetch(server, tmp_path).read_bytes() == release.content
        assert len(server.downloads(release)) == 1


def test_offline_fails_at_once_saying_what_to_do(tmp_path, monkeypatch):
    def no_sleeping(seconds):
        raise AssertionError(f"the offline case must not back off and retry (slept {seconds}s)")

    monkeypatch.setattr(download_http.time, "sleep", no_sleeping)
    url = f"http://127.0.0.1:{closed_port()}/records/10519652/files"
    with pytest.raises(OfflineError) as caught:
        dermamnist.fetch(tmp_path / "cache", 64, base_url=url, progress=False)
    message = str(caught.value)
    assert message.startswith(f"Cannot reach {url}/dermamnist_64.npz?download=1 (Connection refused).")
    assert ("download dermamnist_64.npz by hand from https://zenodo.org/records/10519652 "
            "(MD5 b70a2f5635c6199aeaa28c31d7202e1f)") in message
    assert "`download.dermamnist.path: <that file>`" in message and str(tmp_path / "cache" / "dermamnist_64.npz") in message
    assert not (tmp_path / "cache" / "dermamnist_64.npz.part").exists()


def test_locate_reads_a_local_path_without_the_network(tmp_path):
    path = write_npz(tmp_path / "mine.npz")
    cfg = params.parse({"download": {"dermamnist": {"path": str(path), "base_url": f"http://127.0.0.1:{closed_port()}"}}})
    assert dermamnist.locate(cfg.download.dermamnist, tmp_path / "cache") == path
    missing = params.parse({"download": {"dermamnist": {"path": str(tmp_path / "nope.npz")}}})
    with pytest.raises(InputError, match=r"nope\.npz: file not found \(download\.dermamnist\.path"):
        dermamnist.locate(missing.download.dermamnist, tmp_path / "cache")


# --- params ----------------------------------------------------------------------------------


def test_params_are_validated():
    cfg = params.parse({"download": {"source": "dermamnist", "dermamnist": {"size": 224}}})
    assert cfg.download.dermamnist.size == 224 and cfg.download.dermamnist.path == ""
    with pytest.raises(params.ParamsError, match=r"download\.dermamnist\.size"):
        params.parse({"download": {"dermamnist": {"size": 32}}})
    with pytest.raises(params.ParamsError, match=r"unknown key 'download\.dermamnist\.md5'"):
        params.parse({"download": {"dermamnist": {"md5": "x"}}})
