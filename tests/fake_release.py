"""The HAM10000 release as the fake Dataverse serves it: real names, ids and quirks, tiny bytes.

Facts of the real record (doi:10.7910/DVN/DBW86T, version 4.0), from public download scripts
and the Dataverse listing; ``REAL_FILES`` keeps the published sizes and checksums, which the
tiny served files cannot match, for tests that stop at the listing:

- the metadata and the test ground truth are ingested tables: listed as ``.tab`` with
  ``originalFileName``/``originalFileSize``/``originalFileFormat``, and the published MD5 is
  that of the original upload, served by ``/api/access/datafile/<id>?format=original``
  (Dataverse guides, Data Access API). The original metadata has no extension
  (``HAM10000_metadata``), which is also what a hand download is called;
- the segmentation zip has its masks in a folder next to a ``__MACOSX/`` resource-fork stub;
- the test images sit in a folder inside their zip: 1,511 JPEGs, while the ground truth
  (HAM columns plus ``dataset``, lesion ids ``HAMTEST_...``) has 1,512 rows: ISIC_0035068
  has no image, and the official ISIC 2018 scorer leaves it out too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass

import cv2
import numpy as np

# (id, listed name, original name of an ingested table, size (of the original), md5)
REAL_FILES = [
    (3172585, "HAM10000_images_part_1.zip", None, 1_366_522_108, "4639bfa73ab251610530a97c898e6e46"),
    (3172584, "HAM10000_images_part_2.zip", None, 1_403_566_547, "da43d6cc50f6613013be07e8986b384b"),
    (4338392, "HAM10000_metadata.tab", "HAM10000_metadata", 690_218, "8f85fb1aa29d80a2797247e434deb79d"),
    (3838943, "HAM10000_segmentations_lesion_tschandl.zip", None, 10_808_743, "6e8d252e09cfdb0189199f15985a5b84"),
    # "about 421 MB": the exact size was not in the sources; the fake lists 421 MB.
    (3855824, "ISIC2018_Task3_Test_Images.zip", None, 421_000_000, "0488b6f65849e310857d9207daa55a21"),
    # Size and md5 not in the sources: the fake lists those of its own tiny table.
    (6924466, "ISIC2018_Task3_Test_GroundTruth.tab", "ISIC2018_Task3_Test_GroundTruth.csv", None, None),
]
MISSING_TEST_IMAGE = "ISIC_0035068"


@dataclass
class FakeFile:
    id: int
    filename: str  # the name Dataverse lists (".tab" for an ingested table)
    content: bytes  # the bytes of the file as uploaded (the "original" for an ingested table)
    original_name: str | None = None  # set: an ingested tabular file
    published_md5: str | None = None  # overrides the checksum the listing publishes
    listed_size: int | None = None  # overrides the size the listing publishes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()

    @property
    def archival(self) -> bytes:
        """What Dataverse serves without ?format=original: its own tab-separated rendering."""
        return b"archival .tab rendering, not the original upload\n"

    @property
    def storage_key(self) -> str:
        return f"10.7910/DVN/DBW86T/{self.id:x}"

    def listing_entry(self) -> dict:
        size = self.listed_size if self.listed_size is not None else len(self.content)
        md5 = self.published_md5 or self.md5
        data = {
            "id": self.id,
            "persistentId": "",
            "filename": self.filename,
            "contentType": "application/zip" if self.filename.endswith(".zip") else "text/csv",
            "filesize": size,
            "storageIdentifier": f"s3://dvn-cloud:{self.id:x}",
            "rootDataFileId": -1,
            "md5": md5,
            "checksum": {"type": "MD5", "value": md5},
            "creationDate": "2018-06-18",
        }
        if self.original_name:
            data.update(
                contentType="text/tab-separated-values",
                filesize=len(self.archival),
                originalFileFormat="text/csv",
                originalFormatLabel="Comma Separated Values",
                originalFileSize=size,
                originalFileName=self.original_name,
                UNF="UNF:6:fakeUNFfakeUNF==",
                tabularData=True,
            )
        return {"label": self.filename, "restricted": False, "version": 1, "datasetVersionId": 1, "dataFile": data}


HAM_HEADER = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
# (lesion_id, image_id, dx, dx_type, age, sex, localization, dataset); two images share a lesion.
TRAIN_ROWS = [
    ("HAM_0000118", "ISIC_0027419", "bkl", "histo", "80.0", "male", "scalp", "vidir_modern"),
    ("HAM_0000118", "ISIC_0025030", "bkl", "histo", "80.0", "male", "scalp", "vidir_modern"),
    ("HAM_0002730", "ISIC_0026769", "mel", "histo", "", "female", "back", "rosendahl"),
    ("HAM_0001466", "ISIC_0031633", "nv", "follow_up", "75.0", "unknown", "unknown", "vienna_dias"),
]
# The test ground truth, with the row whose image the release lacks.
TEST_ROWS = [
    ("HAMTEST_0000000", "ISIC_0034524", "nv", "follow_up", "40.0", "female", "back", "vidir_molemax"),
    ("HAMTEST_0000001", "ISIC_0034525", "bcc", "histo", "70.0", "male", "face", "vidir_modern"),
    ("HAMTEST_0000002", "ISIC_0034526", "vasc", "consensus", "", "male", "trunk", "rosendahl"),
    ("HAMTEST_0000544", MISSING_TEST_IMAGE, "nv", "histo", "45.0", "male", "back", "vidir_modern"),
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


def make_release(
    *, ground_truth_style: str = "ham", image_members: dict[str, bytes] | None = None, test_image_for_all: bool = False
) -> list[FakeFile]:
    """The files of a fake HAM10000 release, named and numbered as on Harvard Dataverse.

    Part 1 holds its images at the root, part 2 in a subfolder (both occur in the wild);
    the masks and test images sit in folders next to a __MACOSX entry and a licence file.
    As in the real release, the test ground truth lists ISIC_0035068 and no archive holds
    it, unless ``test_image_for_all``. ``image_members`` replaces the members of part 1.
    """
    ids = [row[1] for row in TRAIN_ROWS]
    part_1 = image_members or {f"{image_id}.jpg": tiny_jpeg(i) for i, image_id in enumerate(ids[:2])}
    part_2 = {f"HAM10000_images_part_2/{image_id}.jpg": tiny_jpeg(i + 2) for i, image_id in enumerate(ids[2:])}
    masks = {f"HAM10000_segmentations_lesion_tschandl/{image_id}_segmentation.png": tiny_mask() for image_id in ids}
    masks["__MACOSX/HAM10000_segmentations_lesion_tschandl/._ISIC_0027419_segmentation.png"] = b"junk"
    test_images = {f"ISIC2018_Task3_Test_Images/{row[1]}.jpg": tiny_jpeg(10 + i) for i, row in enumerate(TEST_ROWS)
                   if test_image_for_all or row[1] != MISSING_TEST_IMAGE}
    test_images["ISIC2018_Task3_Test_Images/LICENSE.txt"] = b"CC BY-NC 4.0\n"
    if ground_truth_style == "ham":
        truth = csv_bytes(HAM_HEADER, TEST_ROWS)
    elif ground_truth_style == "isic":
        truth = csv_bytes(["image", *ISIC_CODES], one_hot_rows(TEST_ROWS))
    else:
        raise ValueError(f"ground_truth_style must be 'ham' or 'isic', not {ground_truth_style!r}")
    contents = {
        "HAM10000_images_part_1.zip": zip_bytes(part_1),
        "HAM10000_images_part_2.zip": zip_bytes(part_2),
        "HAM10000_metadata.tab": csv_bytes(HAM_HEADER, TRAIN_ROWS),
        "HAM10000_segmentations_lesion_tschandl.zip": zip_bytes(masks),
        "ISIC2018_Task3_Test_Images.zip": zip_bytes(test_images),
        "ISIC2018_Task3_Test_GroundTruth.tab": truth,
    }
    files = [FakeFile(file_id, name, contents[name], original_name=original)
             for file_id, name, original, _, _ in REAL_FILES]
    # Another ingested table of the record, which no role matches (its id is made up).
    files.append(FakeFile(6924467, "ISIC2018_Task3_Test_NatureMedicine_AI_Interaction_Benefit.tab", b"a,b\n1,2\n",
                          original_name="ISIC2018_Task3_Test_NatureMedicine_AI_Interaction_Benefit.csv"))
    return files


def real_listing_release() -> list[FakeFile]:
    """``make_release`` listed with the real sizes and checksums where the sources give them.

    Its files cannot be downloaded and verified (the bytes are the tiny ones); it is for the
    listing, the role selection and the lock.
    """
    files = make_release()
    real = {file_id: (size, md5) for file_id, _, _, size, md5 in REAL_FILES}
    for fake in files:
        size, md5 = real.get(fake.id, (None, None))
        fake.listed_size, fake.published_md5 = size, md5
    return files
