"""The segment stage's methods: a name in `segment.methods` maps to one builder.

A builder takes the validated `segment` params and the seed and returns `fn(rgb) -> bool mask`
at the image's size. Adding a method (a trained U-Net) means a name in
`params.SEGMENT_METHODS` and one builder here; the stage and its report do not change.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from skinlab import segmentation
from skinlab.params import SEGMENT_METHODS, Segment

Method = Callable[[np.ndarray], np.ndarray]


def _otsu(cfg: Segment, seed: int) -> Method:
    return partial(segmentation.otsu, channel=cfg.otsu_channel, threshold_shift=cfg.otsu_shift,
                   work_size=cfg.work_size)


def _kmeans(cfg: Segment, seed: int) -> Method:
    return partial(segmentation.kmeans, k=cfg.kmeans_k, lesion_clusters=cfg.kmeans_lesion_clusters,
                   work_size=cfg.work_size)


def _grabcut(cfg: Segment, seed: int) -> Method:
    # GrabCut starts from the library's Otsu (blue channel, its own shift), not from otsu_* above.
    return partial(segmentation.grabcut, seed=seed, work_size=cfg.work_size)


BUILDERS: dict[str, Callable[[Segment, int], Method]] = {"otsu": _otsu, "kmeans": _kmeans, "grabcut": _grabcut}


def build(name: str, cfg: Segment, seed: int) -> Method:
    """The named method with its params bound; ValueError naming it if unknown."""
    if name not in BUILDERS:
        raise ValueError(f"unknown segmentation method {name!r}; valid names: {', '.join(SEGMENT_METHODS)}")
    return BUILDERS[name](cfg, seed)
