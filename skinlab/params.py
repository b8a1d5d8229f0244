"""params.yaml, validated: one pydantic model per section; unknown keys and bad values fail early.

Every stage loads the whole file, so a typo anywhere is caught by the first stage that runs,
before any work, with the key path in the message (`params.yaml: split.val_fraction ...`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator


class ParamsError(ValueError):
    """A params.yaml problem; the message names the file and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Base(Section):
    seed: StrictInt = Field(42, ge=0)
    image_size: StrictInt = Field(64, ge=16, le=512)


class SyntheticParams(Section):
    n_lesions: StrictInt = Field(500, ge=7)
    min_lesions_per_class: StrictInt = Field(12, ge=1)
    min_images_per_lesion: StrictInt = Field(1, ge=1)
    max_images_per_lesion: StrictInt = Field(4, ge=1, le=20)
    width: StrictInt = Field(256, ge=32, le=2048)
    height: StrictInt = Field(192, ge=32, le=2048)
    dark_skin_fraction: float = Field(0.25, ge=0.0, le=1.0)
    jpeg_quality_min: StrictInt = Field(70, ge=10, le=100)
    jpeg_quality_max: StrictInt = Field(95, ge=10, le=100)

    @model_validator(mode="after")
    def _ranges(self):
        if self.max_images_per_lesion < self.min_images_per_lesion:
            raise ValueError("max_images_per_lesion must be >= min_images_per_lesion")
        if self.jpeg_quality_max < self.jpeg_quality_min:
            raise ValueError("jpeg_quality_max must be >= jpeg_quality_min")
        if self.n_lesions < 7 * self.min_lesions_per_class:
            raise ValueError("n_lesions must be >= 7 * min_lesions_per_class (every class gets its floor)")
        return self


class Ham10000Params(Section):
    base_url: str = "https://dataverse.harvard.edu"
    include_test: bool = True
    retries: StrictInt = Field(3, ge=0, le=20)
    timeout: float = Field(60.0, gt=0)


class FolderParams(Section):
    path: str = "data/folder"

    @model_validator(mode="after")
    def _no_tilde(self):
        # DVC hashes the folder before the stage runs and takes `~/x` for a folder named `~`.
        if self.path.startswith("~"):
            raise ValueError(f"path: DVC does not expand '~' (got {self.path!r}); give the full path, "
                             f"e.g. {os.path.expanduser(self.path)!r}")
        if not self.path.strip():
            raise ValueError("path must not be empty")
        return self


class DermamnistParams(Section):
    # The MedMNIST+ (v3) release on Zenodo, record 10519652; one npz per image size.
    size: Literal[28, 64, 128, 224] = 28
    path: str = ""  # a local copy of the npz; empty: download it into data/downloads
    base_url: str = "https://zenodo.org/records/10519652/files"
    retries: StrictInt = Field(3, ge=0, le=20)
    timeout: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _no_tilde(self):
        if self.path.startswith("~"):
            raise ValueError(f"path: '~' is not expanded (got {self.path!r}); give the full path, "
                             f"e.g. {os.path.expanduser(self.path)!r}")
        return self


class Download(Section):
    source: Literal["synthetic", "ham10000", "folder", "dermamnist"] = "synthetic"
    on_bad_image: Literal["error", "skip"] = "error"
    # Checked from each image's header before decoding (OpenCV's own ceiling is 2**30 pixels).
    max_image_pixels: StrictInt = Field(50_000_000, ge=1, le=2**30)
    min_image_side: StrictInt = Field(16, ge=1, le=4096)
    synthetic: SyntheticParams = SyntheticParams()
    ham10000: Ham10000Params = Ham10000Params()
    folder: FolderParams = FolderParams()
    dermamnist: DermamnistParams = DermamnistParams()


class Split(Section):
    val_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    use_given_split: bool = True

    @model_validator(mode="after")
    def _fractions(self):
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be < 1")
        return self


class Preprocess(Section):
    hair_removal: bool = False
    color_constancy: bool = False
    shades_of_gray_power: StrictInt = Field(6, ge=1, le=20)


class Transforms(Section):
    hflip: float = Field(0.5, ge=0, le=1)
    vflip: float = Field(0.5, ge=0, le=1)
    rot90: float = Field(0.5, ge=0, le=1)
    rotate_degrees: float = Field(30.0, ge=0, le=180)
    zoom_min: float = Field(1.0, ge=1.0, le=4.0)
    zoom_max: float = Field(1.25, ge=1.0, le=4.0)
    brightness: float = Field(0.15, ge=0, le=1)
    contrast: float = Field(0.15, ge=0, le=1)
    hue: float = Field(5.0, ge=0, le=90)
    saturation: float = Field(0.15, ge=0, le=1)
    blur: float = Field(0.1, ge=0, le=1)
    downscale: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _zoom(self):
        if self.zoom_max < self.zoom_min:
            raise ValueError("zoom_max must be >= zoom_min")
        return self


class Augment(Section):
    preprocess: Preprocess = Preprocess()
    transforms: Transforms = Transforms()
    balance: Literal["none", "oversample"] = "oversample"
    # Each class is oversampled up to this many training images ("max": the largest class).
    balance_target: Union[Literal["max"], StrictInt] = 300
    augment_originals: bool = False
    preview_per_class: StrictInt = Field(4, ge=1, le=16)

    @model_validator(mode="after")
    def _target(self):
        if isinstance(self.balance_target, int) and self.balance_target < 1:
            raise ValueError("balance_target must be 'max' or an integer >= 1")
        return self


FEATURE_SET_NAMES = ("pixels_grey", "pixels_color", "hsv_hist", "hog", "lbp", "sift_bow")
MODEL_NAMES = ("knn", "logreg", "tree", "forest", "svm", "hgb", "mlp")


class TrainBaselines(Section):
    features: tuple[Literal[FEATURE_SET_NAMES], ...] = FEATURE_SET_NAMES
    models: tuple[Literal[MODEL_NAMES], ...] = MODEL_NAMES
    grid_size: StrictInt = Field(2, ge=1, le=20)
    pixels_size: StrictInt = Field(16, ge=4, le=64)
    hog_cells: Literal[1, 2, 4, 8, 16] = 4
    bow_words: StrictInt = Field(64, ge=4, le=1024)

    @model_validator(mode="after")
    def _nonempty(self):
        if not self.features or not self.models:
            raise ValueError("features and models must each name at least one entry")
        for key in ("features", "models"):
            names = getattr(self, key)
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"{key} lists {', '.join(repeated)} more than once")
        return self


CNN_ARCHS = ("compact", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
METADATA_FIELDS = ("age", "sex", "localization")


class CnnAugment(Section):
    """On-the-fly augmentation of the training stream (tf ops, a fresh draw every epoch)."""

    hflip: float = Field(0.5, ge=0, le=1)
    vflip: float = Field(0.5, ge=0, le=1)
    rot90: float = Field(0.5, ge=0, le=1)
    zoom_max: float = Field(1.15, ge=1.0, le=2.0)  # random crop of side size/zoom, resized back
    brightness: float = Field(0.1, ge=0, le=1)  # +-fraction of the 0..255 range
    contrast: float = Field(0.15, ge=0, le=0.9)  # x(1 +- c)
    saturation: float = Field(0.15, ge=0, le=0.9)  # x(1 +- s)
    hue: float = Field(0.02, ge=0, le=0.5)  # +- fraction of the hue circle


class TunerSpace(Section):
    """What keras-tuner may change; a range with equal ends (or a single choice) is held fixed."""

    learning_rate: tuple[float, float] = (0.001, 0.004)  # peak, log-uniform
    width: tuple[float, ...] = (0.75, 1.0, 1.5)  # choices: multipliers of the filters
    dropout: tuple[float, float] = (0.1, 0.4)
    augment_strength: tuple[float, float] = (0.5, 1.5)  # multiplies zoom, brightness, contrast, saturation, hue
    arch: tuple[Literal[CNN_ARCHS], ...] = ()  # choices; empty keeps train_cnn.arch

    @model_validator(mode="after")
    def _ranges(self):
        for name, low_limit, high_limit in (("learning_rate", 1e-6, 1.0), ("dropout", 0.0, 0.9),
                                            ("augment_strength", 0.0, 4.0)):
            low, high = getattr(self, name)
            if not low_limit <= low <= high <= high_limit:
                raise ValueError(f"{name} must be [low, high] with {low_limit} <= low <= high <= {high_limit} "
                                 f"(got [{low}, {high}])")
        if not self.width or any(not 0.1 <= w <= 8 for w in self.width):
            raise ValueError(f"width must list multipliers between 0.1 and 8 (got {list(self.width)})")
        return self


class CnnTuner(Section):
    """keras-tuner search before the final fit; max_trials 0 turns it off."""

    algorithm: Literal["random", "bayesian", "hyperband"] = "random"
    max_trials: StrictInt = Field(0, ge=0, le=1000)
    epochs: StrictInt = Field(4, ge=1, le=1000)  # per trial (hyperband: the most one trial gets)
    hyperband_factor: StrictInt = Field(3, ge=2, le=10)
    space: TunerSpace = TunerSpace()


class TrainCnn(Section):
    arch: Literal[CNN_ARCHS] = "compact"
    weights: Literal["none", "imagenet"] = "none"
    image_size: StrictInt = Field(64, ge=16, le=512)
    filters: tuple[StrictInt, ...] = (16, 32, 64, 128)  # compact: one double-conv block per entry
    separable: bool = False  # compact: depthwise-separable convolutions after the first block
    dropout: float = Field(0.2, ge=0, lt=1)
    metadata: tuple[Literal[METADATA_FIELDS], ...] = ()
    epochs: StrictInt = Field(20, ge=1, le=1000)
    batch_size: StrictInt = Field(32, ge=1, le=4096)
    learning_rate: float = Field(0.002, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    warmup_epochs: StrictInt = Field(2, ge=0, le=100)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    loss: Literal["crossentropy", "focal"] = "crossentropy"
    focal_gamma: float = Field(2.0, ge=0, le=10)
    class_weight: Literal["none", "sqrt", "balanced"] = "sqrt"
    sampling: Literal["shuffle", "balanced"] = "shuffle"
    augment: CnnAugment = CnnAugment()
    mixup: float = Field(0.0, ge=0, le=10)  # Beta(a, a) of mixup within each training batch; 0 = off
    tta: Literal["none", "flips", "dihedral"] = "flips"  # views averaged at val/test: 1, 3 or all 8 symmetries
    weight_average: float = Field(0.0, ge=0, lt=1)  # EMA decay of the weights per step; 0 = off
    calibration: Literal["temperature", "none"] = "temperature"  # fitted on val, applied to saved probabilities
    tflite: bool = True  # export model.tflite (+ model_quant.tflite when it keeps test balanced accuracy within 0.01)
    monitor: Literal["val_balanced_accuracy", "val_macro_auc"] = "val_balanced_accuracy"
    patience: StrictInt = Field(10, ge=1, le=1000)
    head_epochs: StrictInt = Field(3, ge=0, le=100)  # pretrained backbones: epochs with the backbone frozen
    fine_tune_layers: StrictInt = Field(30, ge=0, le=1000)  # pretrained: top layers unfrozen after the head
    fine_tune_lr_factor: float = Field(0.1, gt=0, le=1)
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    bootstrap: StrictInt = Field(1000, ge=100, le=100000)
    tuner: CnnTuner = CnnTuner()

    @field_validator("tta", mode="before")
    @classmethod
    def _tta_flag(cls, value):
        """Older params (and results/ snapshots) said tta: true | false for flips | none."""
        return {True: "flips", False: "none"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _checks(self):
        if not 1 <= len(self.filters) <= 8 or any(f < 1 or f > 1024 for f in self.filters):
            raise ValueError(f"filters must list 1 to 8 widths between 1 and 1024 (got {list(self.filters)})")
        if self.image_size < 2 ** len(self.filters):
            raise ValueError(f"filters: {len(self.filters)} blocks halve image_size {self.image_size} below 1 px")
        repeated = sorted({name for name in self.metadata if self.metadata.count(name) > 1})
        if repeated:
            raise ValueError(f"metadata lists {', '.join(repeated)} more than once")
        if self.weights == "imagenet" and "compact" in (self.arch, *self.tuner.space.arch):
            raise ValueError("weights: imagenet needs a keras.applications arch; compact trains from scratch")
        return self


# The segment stage's methods (skinlab/segment_methods.py maps each name to its builder); a
# trained method (unet) joins here and there.
SEGMENT_METHODS = ("otsu", "kmeans", "grabcut", "unet")
UNET_ENCODERS = ("plain", "mobilenet_v3_small")
# Overlap metrics that can pick a method; sensitivity or specificity alone would reward a mask
# that covers everything or nothing.
SEGMENT_SELECT_ON = ("dice", "jaccard", "thresholded_jaccard")


class SegmentPretrain(Section):
    """Optional pre-training of the U-Net on Otsu's masks of unlabelled images (epochs 0: off)."""

    images: str = "data/folder"  # a folder of images (nested folders too; a metadata table, if any, gives lesion_ids)
    epochs: StrictInt = Field(0, ge=0, le=1000)  # 0: no pre-training, the folder is not read
    learning_rate: float = Field(0.003, gt=0, le=1)  # peak of the pre-training's cosine decay
    limit: StrictInt = Field(0, ge=0)  # at most this many images, in image_id order (0: all)

    @model_validator(mode="after")
    def _folder(self):
        if self.images.startswith("~"):  # DVC hashes the folder (a dep) and takes `~/x` for a folder named `~`
            raise ValueError(f"images: DVC does not expand '~' (got {self.images!r}); give the full path, "
                             f"e.g. {os.path.expanduser(self.images)!r}")
        if not self.images.strip():
            raise ValueError("images must not be empty (set epochs: 0 to turn pre-training off)")
        return self


class SegmentUnet(Section):
    """The U-Net of segment.methods: trained on the train images with a ground-truth mask,
    stopped early on the val Dice at its own size."""

    image_size: StrictInt = Field(64, ge=32, le=512)  # square input; a multiple of 2**depth
    base_filters: StrictInt = Field(8, ge=2, le=128)
    depth: StrictInt = Field(3, ge=1, le=6)
    dropout: float = Field(0.0, ge=0, le=0.9)
    encoder: Literal[UNET_ENCODERS] = "plain"
    weights: Literal["none", "imagenet"] = "none"  # imagenet: mobilenet_v3_small only, needs the weights file
    epochs: StrictInt = Field(10, ge=1, le=1000)
    patience: StrictInt = Field(3, ge=1, le=1000)  # epochs without a better val Dice before stopping
    batch_size: StrictInt = Field(16, ge=1, le=1024)
    learning_rate: float = Field(0.003, gt=0, le=1)  # peak of a cosine decay
    threshold: float = Field(0.5, gt=0, lt=1)  # probability at or above which a pixel is lesion
    tta: Literal["none", "flips"] = "flips"  # flips: mean probability of the image and its three mirrors
    clean: bool = True  # fill holes, keep the central component (as the classical methods do)
    augment: CnnAugment = CnnAugment()
    pretrain: SegmentPretrain = SegmentPretrain()  # then learning_rate is the fine-tuning's
    members: StrictInt = Field(1, ge=1, le=16)  # fits from the same start, seeds base.seed + 0, 1, ...; mean probability

    @model_validator(mode="after")
    def _shape(self):
        if self.image_size % 2**self.depth or self.image_size // 2**self.depth < 2:
            raise ValueError(f"image_size must be a multiple of 2**depth with at least 2 pixels left at the bottom "
                             f"(got image_size {self.image_size}, depth {self.depth})")
        if self.weights == "imagenet" and self.encoder != "mobilenet_v3_small":
            raise ValueError("weights: imagenet needs encoder: mobilenet_v3_small (the plain encoder has no pretrained weights)")
        if self.encoder == "mobilenet_v3_small" and self.depth > 5:
            raise ValueError(f"the mobilenet_v3_small encoder allows depth <= 5 (got {self.depth})")
        return self


class Segment(Section):
    methods: tuple[Literal[SEGMENT_METHODS], ...] = SEGMENT_METHODS
    select_on: Literal[SEGMENT_SELECT_ON] = "dice"  # val metric that picks the method whose masks are written
    work_size: StrictInt = Field(128, ge=32, le=2048)  # longer side (px) the methods work at
    otsu_channel: Literal["red", "green", "blue", "grey", "auto"] = "blue"
    otsu_shift: float = Field(0.4, ge=0, le=1)  # share of the way from Otsu's threshold to the skin's mean
    kmeans_k: StrictInt = Field(3, ge=2, le=10)
    kmeans_lesion_clusters: StrictInt = Field(2, ge=1, le=9)  # darkest clusters taken as lesion
    bootstrap: StrictInt = Field(1000, ge=100, le=100000)
    unet: SegmentUnet = SegmentUnet()

    @model_validator(mode="after")
    def _checks(self):
        if not self.methods:
            raise ValueError("methods must name at least one method")
        repeated = sorted({name for name in self.methods if self.methods.count(name) > 1})
        if repeated:
            raise ValueError(f"methods lists {', '.join(repeated)} more than once")
        if self.kmeans_lesion_clusters >= self.kmeans_k:
            raise ValueError(f"kmeans_lesion_clusters must be below kmeans_k "
                             f"(got {self.kmeans_lesion_clusters} of {self.kmeans_k})")
        return self


class SkinToneClassify(Section):
    """ITA of the healthy skin around the lesion (skinlab/healthy_skin.py), mapped to bands and types."""

    work_size: StrictInt = Field(256, ge=32, le=4096)  # longer side (px) the image is measured at
    lesion_margin: float = Field(0.05, ge=0, le=0.5)  # lesion mask grown by this share of the shorter side
    hair_threshold: StrictInt = Field(10, ge=1, le=255)  # black-hat response that counts as hair
    highlight_value: float = Field(0.92, gt=0, le=1)  # pale pixels at least this bright (HSV V) are highlights
    highlight_saturation: float = Field(0.12, ge=0, le=1)  # ... when at most this saturated
    min_skin_fraction: float = Field(0.05, gt=0, lt=1)  # less healthy skin than this share: no estimate
    colour_constancy: Literal["none", "shades_of_gray"] = "none"  # applied before measuring; the other is reported
    shades_of_gray_power: float = Field(6.0, ge=1, le=20)
    band_cuts: tuple[float, float, float, float, float] = (55.0, 41.0, 28.0, 10.0, -30.0)  # lower ITA bounds of
    # very light, light, intermediate, tan, brown (below the last: dark)
    fitzpatrick_cuts: tuple[float, float, float, float, float] = (55.0, 41.0, 28.0, 10.0, -30.0)  # of types I..V

    @model_validator(mode="after")
    def _cuts(self):
        for name in ("band_cuts", "fitzpatrick_cuts"):
            cuts = getattr(self, name)
            if any(a <= b for a, b in zip(cuts, cuts[1:])) or not -90 < cuts[-1] <= cuts[0] < 90:
                raise ValueError(f"{name} must be 5 strictly decreasing angles between -90 and 90 (got {list(cuts)})")
        return self


FAIRNESS_GROUPINGS = ("ita_band", "fitzpatrick_estimated", "fitzpatrick_true")


class FairnessMitigation(Section):
    """Retrain train_cnn's recipe with loss weights that balance skin-tone groups of the training images."""

    method: Literal["none", "reweigh"] = "reweigh"
    grouping: Literal[FAIRNESS_GROUPINGS] = "ita_band"  # the groups balanced (fitzpatrick_true: needs true types)
    max_weight: float = Field(10.0, ge=1, le=1000)  # cap on a group's weight before scaling to mean 1


class FairnessEval(Section):
    """Per skin-tone group metrics of the best CNN and the best baseline on test (skinlab/evaluation/fairness.py)."""

    groupings: tuple[Literal[FAIRNESS_GROUPINGS], ...] = FAIRNESS_GROUPINGS  # fitzpatrick_true only where known
    min_group_size: StrictInt = Field(20, ge=1, le=1_000_000)  # smaller groups: reported, warned, not in a gap
    min_positives: StrictInt = Field(5, ge=1, le=1_000_000)  # melanomas (sensitivity) or malignant and benign
    # images (AUC, malignant rates) a group needs for those metrics to enter a gap
    bootstrap: StrictInt = Field(1000, ge=100, le=100000)
    ita_bins: StrictInt = Field(8, ge=2, le=50)  # equal-count ITA bins of the accuracy-against-ITA plot
    mitigation: FairnessMitigation = FairnessMitigation()

    @model_validator(mode="after")
    def _checks(self):
        if not self.groupings:
            raise ValueError("groupings must name at least one grouping")
        if len(set(self.groupings)) != len(self.groupings):
            raise ValueError(f"groupings lists a grouping more than once (got {list(self.groupings)})")
        return self


EMBED_REPRESENTATIONS = ("pixels", "features", "cnn")
EMBED_METHODS = ("pca", "tsne", "umap")
EMBED_FEATURES = tuple(name for name in FEATURE_SET_NAMES if not name.startswith("pixels"))


class EmbedTsne(Section):
    perplexity: float = Field(30.0, ge=2, le=500)  # lowered to (points - 1) / 3 on smaller sets, with a warning
    max_iter: StrictInt = Field(1000, ge=250, le=10000)


class EmbedUmap(Section):
    n_neighbors: StrictInt = Field(15, ge=2, le=500)  # lowered to points - 1 on smaller sets
    min_dist: float = Field(0.1, ge=0, le=1)


class Embed(Section):
    """2-D maps of the test images and a sample of train (skinlab/embedding.py), scored by numbers."""

    representations: tuple[Literal[EMBED_REPRESENTATIONS], ...] = EMBED_REPRESENTATIONS
    methods: tuple[Literal[EMBED_METHODS], ...] = EMBED_METHODS
    max_points: StrictInt = Field(2000, ge=20, le=200_000)  # most images projected: above it a stratified sample
    train_points: StrictInt = Field(300, ge=0, le=200_000)  # train images drawn beside test (shown, not scored)
    pixels_size: StrictInt = Field(32, ge=4, le=128)  # raw pixels downsampled to this side
    features: tuple[Literal[EMBED_FEATURES], ...] = ("hsv_hist", "hog", "lbp")  # the hand-crafted vector
    pre_pca: StrictInt = Field(50, ge=0, le=1000)  # t-SNE and UMAP see this many principal components (0: all)
    variance_components: StrictInt = Field(50, ge=2, le=1000)  # explained-variance curve up to this many
    tsne: EmbedTsne = EmbedTsne()
    umap: EmbedUmap = EmbedUmap()
    score_points: StrictInt = Field(1000, ge=20, le=200_000)  # test points scored (a stratified sample above it):
    # trustworthiness and silhouette cost grows with the square of the points scored
    trust_neighbors: StrictInt = Field(10, ge=1, le=100)  # k of trustworthiness
    knn_k: StrictInt = Field(5, ge=1, le=100)  # k of the k-NN classifier in the 2-D map
    cv_folds: StrictInt = Field(5, ge=2, le=20)  # lesion-grouped folds of that classifier

    @model_validator(mode="after")
    def _checks(self):
        for key in ("representations", "methods", "features"):
            names = getattr(self, key)
            if not names:
                raise ValueError(f"{key} must name at least one entry")
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"{key} lists {', '.join(repeated)} more than once")
        return self


class Params(Section):
    base: Base = Base()
    download: Download = Download()
    split: Split = Split()
    augment: Augment = Augment()
    train_baselines: TrainBaselines = TrainBaselines()
    train_cnn: TrainCnn = TrainCnn()
    segment: Segment = Segment()
    skin_tone_classify: SkinToneClassify = SkinToneClassify()
    fairness_eval: FairnessEval = FairnessEval()
    embed: Embed = Embed()


def _format(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        got = item.get("input")
        if item["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        elif item["type"] == "missing":
            lines.append(f"{source}: {key} is required")
        elif isinstance(got, dict):  # a rule across several keys of one section
            lines.append(f"{source}: {key or '(top level)'}: {item['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{source}: {key or '(top level)'} {item['msg']} (got {got!r})")
    return "\n".join(lines)


def parse(data: dict | None, source: str = "params.yaml") -> Params:
    """Validate a params dict; raise ParamsError naming every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections")
    try:
        return Params.model_validate(data)
    except ValidationError as error:
        raise ParamsError(_format(error, source)) from None


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {error}") from None
    return parse(data, str(path))
