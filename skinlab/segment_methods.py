"""The segment stage's methods: a name in `segment.methods` maps to one builder.

A builder takes the validated `segment` params and the seed and returns `fn(rgb) -> bool mask`
at the image's size. Adding a classical method means a name in `params.SEGMENT_METHODS` and one
builder here; the stage and its report do not change. `unet` is the one trained method:
`build_all` fits it (on train, stopped on val; pre-trained first when segment.unet.pretrain
says so) before anything is scored.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from skinlab import segmentation, unet_pretrain, unet_train
from skinlab.data.raw import InputError
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
TRAINED = ("unet",)


def build(name: str, cfg: Segment, seed: int) -> Method:
    """The named method with its params bound; ValueError naming it if unknown."""
    if name not in BUILDERS:
        trained = " (a trained method: use build_all)" if name in TRAINED else ""
        raise ValueError(f"unknown segmentation method {name!r}{trained}; valid names: {', '.join(SEGMENT_METHODS)}")
    return BUILDERS[name](cfg, seed)


def pairs(found, split: str) -> tuple[list, list]:
    """(image paths, mask paths) of the split's images that have a ground-truth mask."""
    chosen = [item for item in found if item.split == split and item.mask is not None]
    return [str(item.image) for item in chosen], [str(item.mask) for item in chosen]


def _fit_unet(cfg: Segment, seed: int, found, train, val, run=None) -> "unet_train.UnetResult":
    """The stage's U-Net, first pre-trained on Otsu's masks of unlabelled images when
    segment.unet.pretrain.epochs > 0 (the scratch folder is removed after the fit); with
    segment.unet.members > 1, that many fits (one pre-training) averaged into one network."""
    if not cfg.unet.pretrain.epochs:
        return unet_train.fit_members(cfg.unet, train, val, seed, run)
    with tempfile.TemporaryDirectory(prefix="skinlab-pretrain-") as workdir:
        pre, summary = unet_pretrain.pretrain(cfg.unet, build("otsu", cfg, seed), found, val, seed, Path(workdir), run)
    unet = unet_train.fit_members(cfg.unet, train, val, seed, run, initial_weights=pre.model.get_weights())
    unet.pretraining = {**summary, "curve": pre.curve, "seconds": pre.seconds}
    return unet


def build_all(cfg: Segment, seed: int, found, run=None) -> tuple[dict[str, Method], "unet_train.UnetResult | None", str]:
    """The methods of `cfg.methods` that can run, in order; the U-Net's training result when it
    is one of them (None otherwise); and why the U-Net was left out ("" when it was not).

    The U-Net needs train and val images with ground-truth masks: data without them (DermaMNIST,
    a folder without masks) is segmented by the classical methods listed, and only when unet is
    the only method listed does the stage stop, saying what to do."""
    unet, skipped = None, ""
    names = list(cfg.methods)
    if "unet" in names:
        train, val = pairs(found, "train"), pairs(found, "val")
        if not train[0] or not val[0]:
            skipped = (f"unet left out: it needs train and val images with a ground-truth mask, found "
                       f"{len(train[0])} train and {len(val[0])} val")
            names.remove("unet")
            if not names:
                raise InputError(f"segment.methods lists only unet, which needs train and val images with a "
                                 f"ground-truth mask; found {len(train[0])} train and {len(val[0])} val: add masks "
                                 f"(see the data README) or list a classical method in segment.methods in params.yaml")
        else:
            unet = _fit_unet(cfg, seed, found, train, val, run)
    methods = {name: unet_train.Segmenter(unet.model, cfg.unet.threshold, cfg.unet.tta, cfg.unet.clean) if name == "unet" else build(name, cfg, seed)
               for name in names}
    return methods, unet, skipped
