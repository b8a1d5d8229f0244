"""Hand-crafted computer-vision features for the classical (non-deep) baselines."""

from skinlab.features.bow import BagOfWords
from skinlab.features.color import color_moments, hsv_histogram
from skinlab.features.pixels import raw_pixels
from skinlab.features.registry import FEATURE_SETS, FeatureExtractor
from skinlab.features.texture import hog_features, hog_length, lbp_histogram

__all__ = [
    "FEATURE_SETS",
    "BagOfWords",
    "FeatureExtractor",
    "color_moments",
    "hog_features",
    "hog_length",
    "hsv_histogram",
    "lbp_histogram",
    "raw_pixels",
]
