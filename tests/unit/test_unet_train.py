"""The segment stage's U-Net fit: val Dice by hand, the best epoch's weights kept, early stopping
by its rule, a saved model that segments alike, and images of any size back at their size."""
import cv2
import numpy as np
import pytest

from skinlab import unet_train
from skinlab.evaluation.segmentation import dice
from skinlab.params import CnnAugment, SegmentUnet
from tests.unit.test_segmentation_data import discs

TINY = SegmentUnet(image_size=32, base_filters=4, depth=2, epochs=4, patience=1, batch_size=4, learning_rate=0.01,
                   augment=CnnAugment(zoom_max=1.0, brightness=0.05, contrast=0.1, saturation=0, hue=0))


class Fixed:
    """A stand-in model: the same probability map for every image of a batch."""

    def __init__(self, prob):
        self.prob = np.asarray(prob, np.float32)

    def __call__(self, images, training=False):
        return np.repeat(self.prob[None, ..., None], len(images), axis=0)


def test_val_dice_is_the_mean_per_image_hard_dice():
    truth_a = np.zeros((4, 4), np.float32)
    truth_a[:2, :2] = 1  # 4 pixels
    truth_b = np.zeros((4, 4), np.float32)  # empty
    prob = np.zeros((4, 4))
    prob[:2, :1] = 0.9  # 2 of a's pixels
    prob[3, 3] = 0.5  # at the threshold: lesion
    batches = [(np.zeros((2, 4, 4, 3)), np.stack([truth_a, truth_b])[..., None])]
    # a: 2 * 2 / (4 + 3) ; b: the empty truth against 3 predicted pixels scores 0
    assert unet_train.val_dice(Fixed(prob), batches, 0.5) == pytest.approx((4 / 7 + 0.0) / 2)
    assert unet_train.val_dice(Fixed(prob), batches, 0.95) == pytest.approx((0.0 + 1.0) / 2)  # nothing predicted


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("unet_fit")
    return unet_train.fit(TINY, discs(root, "train", 8, seed=1), discs(root, "val", 4, seed=2), seed=0), root


def test_the_best_val_epoch_is_kept_and_the_stop_follows_patience(fitted):
    result, root = fitted
    values = [row["val_dice"] for row in result.curve]
    assert [row["epoch"] for row in result.curve] == list(range(1, len(values) + 1))
    assert result.best_epoch == 1 + int(np.argmax(values)) and result.best_val_dice == max(values)
    best, wait, stop = -1.0, 0, TINY.epochs  # the rule replayed on the curve gives its length
    for epoch, value in enumerate(values, 1):
        best, wait = (value, 0) if value > best else (best, wait + 1)
        if wait >= TINY.patience:
            stop = epoch
            break
    assert len(values) == stop
    again = unet_train.val_dice(result.model, unet_train.segmentation_data.eval_dataset(
        *discs(root, "val", 4, seed=2), 32, 4), TINY.threshold)
    assert again == pytest.approx(result.best_val_dice)  # the returned weights are the best epoch's
    assert result.best_val_dice > 0.5 and (result.n_train, result.n_val) == (8, 4)


def test_a_saved_model_segments_alike_at_any_image_size(fitted, tmp_path):
    result, root = fitted
    result.model.save(tmp_path / "unet.keras")
    live, loaded = unet_train.Segmenter(result.model), unet_train.load(tmp_path / "unet.keras")
    for name in ("train", "val"):
        for path, mask_path in zip(*discs(root, name, 2, seed=3)):
            rgb = cv2.imread(path)[:, :, ::-1]
            big = cv2.resize(rgb, (90, 70), interpolation=cv2.INTER_LINEAR)
            for image in (rgb, big):
                mask = live(image)
                assert mask.shape == image.shape[:2] and mask.dtype == bool
                assert np.array_equal(mask, loaded(image))
            assert dice(cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE) > 127, live(rgb)) > 0.5


def test_a_fit_without_train_or_val_masks_is_refused(tmp_path):
    train = discs(tmp_path, "train", 2, seed=1)
    with pytest.raises(ValueError, match=r"needs train and val images with ground-truth masks \(got 2 train, 0 val\)"):
        unet_train.fit(TINY, train, ([], []), seed=0)
