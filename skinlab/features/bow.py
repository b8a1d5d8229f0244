"""Bag of visual words over dense SIFT (ORB where SIFT is missing).

Dense keypoints on a fixed grid, not a detector: 28-64 px lesions give a detector almost
nothing to find, while a grid always gives the same number of descriptors per image.
"""

from collections.abc import Iterable
from functools import cache

import cv2
import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from threadpoolctl import ThreadpoolController

from skinlab.checks import check_positive_int, check_rgb

DETECTORS = ("auto", "sift", "orb")
# OpenCV's SIFT descriptor spans 4 bins x 3 sigma with sigma = KeyPoint.size / 2, i.e. 6 times
# the keypoint size: a KeyPoint of size 16 would describe a 96-px window, wider than the image.
SIFT_SPAN_PER_SIZE = 6.0


@cache
def _threadpools() -> ThreadpoolController:
    """Built once: threadpool_limits() rescans every loaded library, ~4 ms a call on a busy machine."""
    return ThreadpoolController()


def sift_available() -> bool:
    return hasattr(cv2, "SIFT_create")


def dense_keypoints(height: int, width: int, step: int, size: int, keypoint_size: float | None = None) -> list:
    """Upright keypoints every `step` px whose `size`-px patch lies inside the image (at least one)."""
    half = size / 2.0
    ys = np.arange(half, height - half + 1e-9, step) if height >= size else np.array([height / 2])
    xs = np.arange(half, width - half + 1e-9, step) if width >= size else np.array([width / 2])
    kp_size = float(size if keypoint_size is None else keypoint_size)
    return [cv2.KeyPoint(float(x), float(y), kp_size, 0.0) for y in ys for x in xs]


class BagOfWords:
    """Fitted vocabulary of visual words; transform() gives an L1-normalised word histogram.

    Only numbers are kept between calls (the OpenCV extractor is rebuilt on demand), so a fitted
    instance pickles with joblib and travels inside the saved model.
    """

    def __init__(self, step: int = 8, patch_size: int = 16, min_side: int = 64, detector: str = "auto"):
        """patch_size is the side in pixels of the square each descriptor describes."""
        self.step = check_positive_int("step", step)
        self.patch_size = check_positive_int("patch_size", patch_size, minimum=6)
        self.min_side = check_positive_int("min_side", min_side)
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; valid: {', '.join(DETECTORS)}")
        if detector == "auto":
            detector = "sift" if sift_available() else "orb"
        if detector == "sift" and not sift_available():
            raise ValueError("detector 'sift' requested but this OpenCV build has no SIFT_create")
        self.detector = detector
        self.vocabulary_: np.ndarray | None = None
        self._extractor = None

    def __getstate__(self):  # the OpenCV extractor does not pickle; it is rebuilt on demand
        state = self.__dict__.copy()
        state["_extractor"] = None
        return state

    def __repr__(self) -> str:
        words = "unfitted" if self.vocabulary_ is None else f"{len(self.vocabulary_)} words"
        return f"BagOfWords(detector={self.detector!r}, step={self.step}, patch_size={self.patch_size}, {words})"

    @property
    def n_words(self) -> int:
        if self.vocabulary_ is None:
            raise NotFittedError("BagOfWords is not fitted: call fit(images) first")
        return len(self.vocabulary_)

    def _get_extractor(self):
        if self._extractor is None:
            if self.detector == "sift":
                self._extractor = cv2.SIFT_create()
            else:
                self._extractor = cv2.ORB_create(nlevels=1, edgeThreshold=self.patch_size, patchSize=self.patch_size)
        return self._extractor

    def descriptors(self, image: np.ndarray) -> np.ndarray:
        """Float32 descriptors (n, d) on the dense grid; n is 0 only if OpenCV drops every keypoint."""
        grey = cv2.cvtColor(check_rgb(image), cv2.COLOR_RGB2GRAY)
        height, width = grey.shape
        if min(height, width) < self.min_side:
            scale = self.min_side / min(height, width)
            width, height = round(width * scale), round(height * scale)
            grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_LINEAR)
        if self.detector == "sift":
            keypoint_size = self.patch_size / SIFT_SPAN_PER_SIZE
            keypoints = dense_keypoints(height, width, self.step, self.patch_size, keypoint_size)
        else:  # ORB drops keypoints within edgeThreshold of the border: pad, then shift them
            pad = self.patch_size + 1
            grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
            keypoints = [
                cv2.KeyPoint(k.pt[0] + pad, k.pt[1] + pad, k.size, 0.0)
                for k in dense_keypoints(height, width, self.step, self.patch_size)
            ]
        _, desc = self._get_extractor().compute(grey, keypoints)
        dim = 128 if self.detector == "sift" else 256
        if desc is None or len(desc) == 0:
            return np.zeros((0, dim), np.float32)
        if self.detector == "orb":  # binary descriptor -> 0/1 bits so k-means sees Hamming-like distances
            desc = np.unpackbits(desc, axis=1)
        return desc.astype(np.float32)

    def fit(
        self, images: Iterable[np.ndarray], n_words: int = 64, seed: int = 0, max_descriptors: int = 20000
    ) -> "BagOfWords":
        """Cluster a uniform random sample (reservoir, so images stream) of training descriptors."""
        n_words = check_positive_int("n_words", n_words, minimum=2)
        max_descriptors = check_positive_int("max_descriptors", max_descriptors)
        if max_descriptors < n_words:
            raise ValueError(f"max_descriptors ({max_descriptors}) must be >= n_words ({n_words})")
        rng = np.random.default_rng(seed)
        sample: np.ndarray | None = None
        seen = 0
        for image in images:
            desc = self.descriptors(image)
            if not len(desc):
                continue
            if sample is None:
                sample = np.empty((max_descriptors, desc.shape[1]), np.float32)
            take = min(len(desc), max(0, max_descriptors - seen))
            sample[seen : seen + take] = desc[:take]
            rest = desc[take:]
            if len(rest):  # Algorithm R, vectorised: item t replaces slot j ~ U[0, t] if j < k
                t = np.arange(seen + take, seen + len(desc))
                slots = rng.integers(0, t + 1)
                keep = slots < max_descriptors
                sample[slots[keep]] = rest[keep]
            seen += len(desc)
        count = min(seen, max_descriptors)
        if count < n_words:
            raise ValueError(f"only {count} descriptors found in the training images, need >= n_words ({n_words})")
        kmeans = MiniBatchKMeans(n_clusters=n_words, random_state=seed, n_init=3, batch_size=2048)
        # At most 20000 x 128 numbers: one thread does it in about a second, while OpenMP/BLAS
        # threads on a busy 2-core machine took 15 s. Also keeps the result thread-count-free.
        with _threadpools().limit(limits=1):
            kmeans.fit(sample[:count])
        self.vocabulary_ = kmeans.cluster_centers_.astype(np.float32)
        return self

    def transform(self, image: np.ndarray) -> np.ndarray:
        """Word histogram (length n_words) summing to 1, or all zeros if no descriptor was found."""
        vocabulary = self.vocabulary_
        if vocabulary is None:
            raise NotFittedError("BagOfWords is not fitted: call fit(images) first")
        desc = self.descriptors(image)
        hist = np.zeros(len(vocabulary), np.float32)
        if not len(desc):
            return hist
        # One small product per image: BLAS threads only add hand-off cost (on a loaded 2-core
        # machine, 17 ms with 2 threads against 0.17 ms with 1 for 225 descriptors x 64 words).
        with _threadpools().limit(limits=1, user_api="blas"):
            cross = desc @ vocabulary.T
        distances = (vocabulary**2).sum(axis=1) - 2.0 * cross  # + |desc|^2, same for every word
        words = distances.argmin(axis=1)
        hist += np.bincount(words, minlength=len(vocabulary))
        return hist / hist.sum()
