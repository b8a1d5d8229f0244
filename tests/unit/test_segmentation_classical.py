import cv2
import numpy as np
import pytest

from skinlab import segmentation
from skinlab.evaluation.segmentation import dice

SKIN = (208, 162, 140)
LESION = (120, 72, 52)
HAIR = (45, 32, 28)
HEIGHT, WIDTH = 300, 400


def ellipse(centre, axes, angle=20, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1)
    return mask > 0


def draw(lesion: np.ndarray, *, hairs=True, vignette=True, ruler=True, seed=0, colour=LESION, shade=1.0) -> np.ndarray:
    """A dermoscopy-like RGB image: skin, the lesion, hairs, dark corners, a ruler line.

    ``shade`` < 1 darkens the light towards the bottom-left corner to that factor.
    """
    rng = np.random.default_rng(seed)
    image = np.empty((*lesion.shape, 3), np.float32)
    image[:] = SKIN
    image[lesion] = colour
    image = cv2.GaussianBlur(image, (0, 0), 2) + rng.normal(0, 4, image.shape)
    height, width = lesion.shape
    y, x = np.mgrid[:height, :width]
    image *= (shade + (1 - shade) * (x / width + 1 - y / height) / 2)[..., None]
    if vignette:
        r = np.hypot((x - width / 2) / (width / 2), (y - height / 2) / (height / 2))
        image *= np.clip(1 - (r - 1.05) / 0.15, 0.08, 1)[..., None]
    image = np.clip(image, 0, 255).astype(np.uint8)
    if hairs:
        for start, end in [((20, 40), (380, 260)), ((60, 290), (300, 10)), ((150, 0), (240, 299)),
                           ((0, 150), (399, 120))]:
            cv2.line(image, start, end, HAIR, 2, cv2.LINE_AA)
    if ruler:
        cv2.line(image, (80, 14), (320, 14), HAIR, 2)
        for x in range(80, 321, 20):
            cv2.line(image, (x, 14), (x, 24), HAIR, 1)
    return image


OFF_CENTRE = ellipse((225, 165), (85, 60))


@pytest.fixture(scope="module")
def drawn():
    return draw(OFF_CENTRE)


@pytest.mark.parametrize("method", segmentation.METHODS)
def test_each_method_finds_a_drawn_lesion_through_hairs_vignette_and_ruler(drawn, method):
    mask = segmentation.segment(drawn, method)
    assert mask.shape == OFF_CENTRE.shape and mask.dtype == bool
    assert dice(OFF_CENTRE, mask) >= 0.85
    assert not mask[:40].any()  # the ruler line, the vignette corners stay out
    assert not mask[-20:, :40].any() and not mask[:20, -40:].any()


def test_hairs_are_removed_before_the_split(drawn):
    on_hair = [(round(20 + t * 360), round(40 + t * 220)) for t in np.linspace(0.1, 0.3, 12)]  # in skin
    darkest = []
    for hair_threshold in (10, 255):  # 255: no hair removal
        prepared = segmentation.prepare(drawn, work_size=0, blur_fraction=0, hair_threshold=hair_threshold)
        grey = cv2.cvtColor(prepared, cv2.COLOR_RGB2GRAY)
        darkest.append(min(grey[y - 1 : y + 2, x - 1 : x + 2].min() for x, y in on_hair))
    skin_grey = cv2.cvtColor(np.uint8([[SKIN]]), cv2.COLOR_RGB2GRAY)[0, 0]
    assert darkest[0] > skin_grey - 25 and darkest[1] < 80


@pytest.mark.parametrize("method", segmentation.METHODS)
def test_uneven_light_is_corrected_before_the_split(method):
    pale = draw(OFF_CENTRE, hairs=False, vignette=False, ruler=False, colour=(165, 115, 95), shade=0.6)
    assert dice(OFF_CENTRE, segmentation.segment(pale, method)) >= 0.85
    assert dice(OFF_CENTRE, segmentation.segment(pale, method, shading=False)) < 0.6


@pytest.mark.parametrize("channel", ["blue", "grey", "auto", "red"])
def test_otsu_channels(drawn, channel):
    assert dice(OFF_CENTRE, segmentation.otsu(drawn, channel=channel)) >= 0.85


@pytest.mark.parametrize("method", segmentation.METHODS)
def test_a_lesion_cut_by_the_border_is_kept(method):
    truth = ellipse((30, 150), (110, 70), angle=0)
    mask = segmentation.segment(draw(truth, seed=1), method)
    assert mask[:, 0].any()
    assert dice(truth, mask) >= 0.85


@pytest.mark.parametrize("method", segmentation.METHODS)
@pytest.mark.parametrize("axes", [(200, 155), (215, 165), (235, 175)])
@pytest.mark.parametrize("vignette", [False, True])
def test_a_lesion_filling_the_frame_gives_a_large_mask(method, axes, vignette):
    truth = ellipse((200, 150), axes, angle=0)
    assert truth.mean() > 0.8  # 0.81, 0.88, 0.94
    mask = segmentation.segment(draw(truth, vignette=vignette, ruler=False, seed=2), method)
    assert mask.mean() > 0.75  # under the vignette, the lesion's corners cannot be seen
    assert dice(truth, mask) >= 0.9


@pytest.mark.parametrize("method", segmentation.METHODS)
def test_a_ring_shaped_lesion_is_filled(method):
    outer = ellipse((200, 150), (90, 70), angle=0)
    inner = ellipse((200, 150), (50, 35), angle=0)
    mask = segmentation.segment(draw(outer & ~inner, hairs=False, seed=3), method)
    assert mask[inner].mean() > 0.98
    assert dice(outer, mask) >= 0.85


def test_methods_are_deterministic(drawn):
    for method in segmentation.METHODS:
        assert np.array_equal(segmentation.segment(drawn, method), segmentation.segment(drawn, method))


# --- the shared steps ------------------------------------------------------------------


def disc(centre, radius, shape=(100, 100)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 255, -1)
    return mask > 0


def test_postprocess_fills_holes():
    ring = disc((50, 50), 30) & ~disc((50, 50), 12)
    result = segmentation.postprocess(ring)
    assert result[disc((50, 50), 12)].all()


def test_postprocess_keeps_the_central_component_over_a_bigger_corner_one():
    central = disc((50, 50), 12)
    corner = disc((5, 5), 28)
    assert corner.sum() > central.sum()
    result = segmentation.postprocess(central | corner)
    assert result[50, 50] and not result[3, 3]


def test_postprocess_drops_ruler_marks_and_keeps_a_frame_filling_lesion():
    ruler = np.zeros((100, 100), bool)
    ruler[88:92, 5:95] = True  # thicker than the opening removes
    ruler[80:92, 10:90:20] = True  # ticks
    assert segmentation.postprocess(ruler, open_fraction=0).sum() == 0
    assert segmentation.postprocess(ruler, open_fraction=0, ruler_width_fraction=0).sum() > 300
    lesion = disc((50, 45), 30)
    result = segmentation.postprocess(lesion | ruler)
    assert not result[88:92, 5:15].any() and result[50, 50]
    full = np.ones((100, 100), bool)
    full[:6, :6] = False
    assert segmentation.postprocess(full).mean() > 0.95


def test_postprocess_leaves_out_excluded_pixels():
    mask = disc((50, 50), 40)
    exclude = np.zeros_like(mask)
    exclude[:, :30] = True
    result = segmentation.postprocess(mask, exclude)
    assert not result[:, :30].any() and result[50, 60]


def test_vignette_mask_finds_dark_corners_but_not_a_large_lesion():
    vignetted = draw(OFF_CENTRE, hairs=False, ruler=False)
    corners = segmentation.vignette_mask(vignetted)
    assert corners[0, 0] and corners[-1, -1] and not corners[150, 200]
    assert not corners[OFF_CENTRE].any()
    big = ellipse((200, 150), (250, 190), angle=0)
    assert not segmentation.vignette_mask(draw(big, hairs=False, vignette=False, ruler=False)).any()


def test_bad_arguments_name_what_is_wrong(drawn):
    with pytest.raises(ValueError, match="unknown segmentation option.*open_fractoin"):
        segmentation.otsu(drawn, open_fractoin=0.1)
    with pytest.raises(ValueError, match="channel"):
        segmentation.otsu(drawn, channel="purple")
    with pytest.raises(ValueError, match="unknown segmentation method 'unet'"):
        segmentation.segment(drawn, "unet")
    with pytest.raises(ValueError, match="uint8"):
        segmentation.kmeans(drawn.astype(np.float32))
