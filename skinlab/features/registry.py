"""Named feature sets for the train_baselines stage: a name plus params gives a fixed-length vector."""

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from skinlab.checks import check_positive_int
from skinlab.features.bow import BagOfWords
from skinlab.features.color import hsv_histogram
from skinlab.features.pixels import raw_pixels
from skinlab.features.texture import hog_features, lbp_histogram

FEATURE_SETS = ("pixels_grey", "pixels_color", "hsv_hist", "hog", "lbp", "sift_bow")

# Default params of each set; a params dict may override any of them and nothing else.
DEFAULT_PARAMS: dict[str, dict] = {
    "pixels_grey": {"size": 16},
    "pixels_color": {"size": 16},
    "hsv_hist": {"bins": (8, 4, 4)},
    "hog": {"cells": 8, "orientations": 9},
    "lbp": {"points": 8, "radius": 1},
    "sift_bow": {
        "n_words": 64, "seed": 0, "max_descriptors": 20000,
        "step": 8, "patch_size": 16, "min_side": 64, "detector": "auto",
    },
}
_BOW_FIT_KEYS = ("n_words", "seed", "max_descriptors")


# Function and fixed keyword arguments behind each set other than sift_bow (a BagOfWords).
_FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], dict]] = {
    "pixels_grey": (raw_pixels, {"color": False}),
    "pixels_color": (raw_pixels, {"color": True}),
    "hsv_hist": (hsv_histogram, {}),
    "hog": (hog_features, {}),
    "lbp": (lbp_histogram, {}),
}


class FeatureExtractor:
    """One named feature set with its params; only sift_bow learns anything in fit().

    Holds plain data and a BagOfWords (no lambdas), so it pickles with joblib beside the
    classifier that consumes its vectors.
    """

    def __init__(self, name: str, params: Mapping | None = None):
        if name not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {name!r}; valid names: {', '.join(FEATURE_SETS)}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(DEFAULT_PARAMS[name]))
        if unknown:
            valid = ", ".join(DEFAULT_PARAMS[name])
            raise ValueError(f"unknown param(s) {', '.join(unknown)} for feature set {name!r}; valid: {valid}")
        self.name = name
        self.params = {**DEFAULT_PARAMS[name], **params}
        self.bow: BagOfWords | None = None
        try:  # bad params fail here, before any image is read, naming the feature set
            if name == "sift_bow":
                bow_args = {k: v for k, v in self.params.items() if k not in _BOW_FIT_KEYS}
                self.bow = BagOfWords(**bow_args)
                self.params["detector"] = self.bow.detector  # record what "auto" resolved to
                self._dim = check_positive_int("n_words", self.params["n_words"], minimum=2)
                check_positive_int("max_descriptors", self.params["max_descriptors"], minimum=self._dim)
            else:
                self._dim = len(self.transform_one(np.zeros((64, 64, 3), np.uint8)))
        except (ValueError, TypeError) as error:
            raise ValueError(f"feature set {name!r}: {error}") from error

    def __repr__(self) -> str:
        return f"FeatureExtractor({self.name!r}, {self.params!r})"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def needs_fit(self) -> bool:
        return self.bow is not None

    def fit(self, images: Iterable[np.ndarray]) -> "FeatureExtractor":
        """Learn the visual vocabulary for sift_bow; other sets ignore (and do not consume) images."""
        if self.bow is not None:
            fit_args = {k: self.params[k] for k in _BOW_FIT_KEYS}
            self.bow.fit(images, **fit_args)
        return self

    def transform_one(self, image: np.ndarray) -> np.ndarray:
        if self.bow is not None:
            return self.bow.transform(image)
        function, fixed = _FUNCTIONS[self.name]
        return function(image, **self.params, **fixed)

    def transform(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Feature matrix (n, dim) float32; images are consumed one at a time."""
        if self.bow is not None:
            self.bow.n_words  # raises NotFittedError before any image is read
        rows = [self.transform_one(image) for image in images]
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.stack(rows).astype(np.float32, copy=False)
