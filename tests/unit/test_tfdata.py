"""The tf.data pipeline: labels stay with their images, files are read lazily, same seed same stream."""
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from skinlab.data import tfdata
from skinlab.data.schema import CLASSES
from skinlab.params import CnnAugment

# One solid colour per class (RGB); flips and turns keep it, so a batch's colours give its labels.
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (200, 30, 200), (30, 200, 200), (120, 120, 120)]
GEOMETRY_ONLY = CnnAugment(hflip=0.5, vflip=0.5, rot90=0.5, zoom_max=1.2, brightness=0, contrast=0, saturation=0, hue=0)


def write_images(root: Path, per_class: list[int]) -> pd.DataFrame:
    (root / "images").mkdir(parents=True)
    rows = []
    for c, count in enumerate(per_class):
        for i in range(count):
            image = np.full((30, 40, 3), COLOURS[c], np.uint8)
            image[5:10, 5:12] = 0  # an off-centre mark, so flips and turns change pixels
            name = f"images/{CLASSES[c]}_{i}.png"
            cv2.imwrite(str(root / name), image[:, :, ::-1])
            rows.append({"image_id": f"{CLASSES[c]}_{i}", "dx": CLASSES[c], "image": name})
    return pd.DataFrame(rows)


def colour_class(batch_images: np.ndarray) -> np.ndarray:
    centre = batch_images[:, 12:20, 12:20, :].reshape(len(batch_images), -1, 3).mean(axis=1)
    distances = ((centre[:, None, :] - np.array(COLOURS)[None]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


@pytest.mark.parametrize("sampling", ["shuffle", "balanced"])
def test_labels_stay_with_their_images(tmp_path, sampling):
    data = tfdata.table(tmp_path, write_images(tmp_path, [3, 2, 4, 1, 2, 5, 3]))
    weights = tfdata.class_weights(data.labels, "balanced")
    ds = tfdata.train_dataset(data, 32, 8, seed=1, cfg=GEOMETRY_ONLY, weights=weights, sampling=sampling)
    seen = 0
    for images, onehot, weight in ds.take(6):
        labels = onehot.numpy().argmax(axis=1)
        np.testing.assert_array_equal(colour_class(images.numpy()), labels)
        np.testing.assert_allclose(weight.numpy(), weights[labels])
        assert images.shape[1:] == (32, 32, 3)
        seen += len(labels)
    assert seen == 48


def test_balanced_sampling_draws_classes_evenly(tmp_path):
    data = tfdata.table(tmp_path, write_images(tmp_path, [1, 1, 1, 1, 1, 20, 1]))
    ds = tfdata.train_dataset(data, 16, 50, seed=0, sampling="balanced")
    counts = np.bincount(np.concatenate([y.numpy().argmax(axis=1) for _, y, _ in ds.take(6)]), minlength=7)
    assert counts.sum() == 300
    assert counts.min() >= 20 and counts.max() <= 70  # ~43 each; shuffle sampling would give nv ~ 230


def test_images_are_read_lazily_from_disk(tmp_path):
    """Nothing is loaded when the dataset is built: a file changed afterwards is read as it is then."""
    frame = write_images(tmp_path, [2, 0, 0, 0, 0, 0, 0])
    data = tfdata.table(tmp_path, frame)
    ds = tfdata.eval_dataset(data, 16, 4)
    cv2.imwrite(str(tmp_path / frame["image"][1]), np.full((30, 40, 3), COLOURS[5][::-1], np.uint8))
    images, onehot = next(iter(ds))
    np.testing.assert_array_equal(colour_class(images.numpy() * 1.0), [0, 5])  # the new pixels, the old label
    (tmp_path / frame["image"][0]).unlink()
    with pytest.raises(Exception, match=frame["image"][0].split("/")[-1]):
        next(iter(ds))


def test_same_seed_same_stream_other_seed_other_stream(tmp_path):
    data = tfdata.table(tmp_path, write_images(tmp_path, [3, 3, 3, 3, 3, 3, 3]))

    def first_batches(seed):
        ds = tfdata.train_dataset(data, 16, 8, seed, cfg=CnnAugment())
        return [(x.numpy(), y.numpy()) for x, y, _ in ds.take(3)]

    a, b, c = first_batches(5), first_batches(5), first_batches(6)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def test_class_weights_by_hand():
    labels = np.array([0] * 6 + [1] * 2 + [2] * 1)  # classes 3..6 absent
    balanced = tfdata.class_weights(labels, "balanced")
    # N/(K n_c) with K = 3 present classes: 0.5, 1.5, 3; the mean per image is already 1
    np.testing.assert_allclose(balanced[:3], [0.5, 1.5, 3.0], rtol=1e-6)
    assert (balanced[3:] == 0).all()
    raw = np.sqrt([0.5, 1.5, 3.0])
    np.testing.assert_allclose(tfdata.class_weights(labels, "sqrt")[:3], raw / ((raw * [6, 2, 1]).sum() / 9), rtol=1e-6)
    np.testing.assert_allclose(tfdata.class_weights(labels, "none"), np.ones(7))


def test_image_weights_multiply_the_class_weight_of_their_own_image(tmp_path):
    data = tfdata.table(tmp_path, write_images(tmp_path, [3, 2, 4, 1, 2, 5, 3]))
    weights = tfdata.class_weights(data.labels, "sqrt")
    per_image = (data.labels + 1).astype(np.float32) * 0.5  # differs by class, so a batch's labels predict it
    ds = tfdata.train_dataset(data, 32, 8, seed=2, cfg=GEOMETRY_ONLY, weights=weights, image_weights=per_image)
    for images, onehot, weight in ds.take(4):
        labels = onehot.numpy().argmax(axis=1)
        np.testing.assert_array_equal(colour_class(images.numpy()), labels)
        np.testing.assert_allclose(weight.numpy(), weights[labels] * (labels + 1) * 0.5, rtol=1e-6)
    for bad in (np.ones(len(data) - 1), np.full(len(data), -1.0), np.full(len(data), np.nan)):
        with pytest.raises(ValueError, match="image_weights must be"):
            tfdata.train_dataset(data, 16, 8, seed=2, image_weights=bad)


def test_mixup_blends_image_metadata_label_and_weight_by_one_draw(tmp_path):
    """Each element is lam * itself + (1 - lam) * its mirror in the batch: lam is read back from
    the pixels and must then give the label, the metadata and the loss weight."""
    frame = write_images(tmp_path, [3, 2, 4, 1, 2, 5, 3])
    metadata = np.stack([np.arange(len(frame)), np.arange(len(frame)) % 3], axis=1).astype(np.float32)
    data = tfdata.table(tmp_path, frame, metadata)
    weights = tfdata.class_weights(data.labels, "balanced")

    def batches(mixup, seed=3):
        ds = tfdata.train_dataset(data, 16, 8, seed, cfg=GEOMETRY_ONLY, weights=weights, mixup=mixup)
        return [(x["image"].numpy(), x["metadata"].numpy(), y.numpy(), w.numpy()) for x, y, w in ds.take(3)]

    lams, mixed_stream = [], batches(0.4)
    for plain, mixed in zip(batches(0.0), mixed_stream):
        (x0, m0, y0, w0), (x1, m1, y1, w1) = plain, mixed
        for i in range(len(y0)):
            j = len(y0) - 1 - i
            gap = (x0[i] - x0[j]).ravel()
            if np.abs(gap).max() < 1:  # identical pixels: no lam to read, the element must be unchanged
                np.testing.assert_allclose(x1[i], x0[i], atol=1e-3)
                continue
            lam = float(np.dot((x1[i] - x0[j]).ravel(), gap) / np.dot(gap, gap))
            assert -1e-6 <= lam <= 1 + 1e-6
            np.testing.assert_allclose(x1[i], lam * x0[i] + (1 - lam) * x0[j], atol=1e-2)
            np.testing.assert_allclose(y1[i], lam * y0[i] + (1 - lam) * y0[j], atol=1e-4)
            np.testing.assert_allclose(m1[i], lam * m0[i] + (1 - lam) * m0[j], atol=1e-3)
            np.testing.assert_allclose(w1[i], lam * w0[i] + (1 - lam) * w0[j], rtol=1e-4)
            lams.append(lam)
        np.testing.assert_allclose(y1.sum(axis=1), 1.0, rtol=1e-6)
    assert len(lams) >= 12 and np.ptp(lams) > 0.3  # real, varied blends, not a copy of the plain stream
    for (x1, _, y1, _), (x2, _, y2, _) in zip(mixed_stream, batches(0.4)):
        np.testing.assert_array_equal(x1, x2)  # same seed, same blends
        np.testing.assert_array_equal(y1, y2)
