"""The app's lesion segmenter follows segment's card: the U-Net with the card's threshold, test-time
flips and clean-up, and a card written before those options existed gives the bare network."""
import numpy as np
import pytest

from skinlab import io


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory):
    from skinlab.models.unet import build_unet

    root = tmp_path_factory.mktemp("segment_unet")
    build_unet(32, 4, 2).save(root / "unet.keras")
    return root


def _bundle(models, segment):
    from skinlab.app.model import Bundle, Paths

    return Bundle(Paths(models / "cnn", segment, models / "no_params.yaml"))


@pytest.mark.parametrize("unet_params, expected", [
    ({"threshold": 0.4, "tta": "flips", "clean": True}, (0.4, "flips", True)),
    ({"threshold": 0.6}, (0.6, "none", False)),  # a card from before segment.unet.tta / clean
])
def test_the_unet_is_served_with_the_cards_options(models, unet_folder, unet_params, expected):
    io.write_json(unet_folder / "card.json", {"chosen": "unet", "params": {"unet": unet_params}})
    bundle = _bundle(models, unet_folder)
    assert bundle.segment_method == "unet"
    segmenter = bundle.segmenter
    assert (segmenter.threshold, segmenter.tta, segmenter.clean) == expected
    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = segmenter(rgb)
    assert mask.shape == (40, 50) and mask.dtype == bool
