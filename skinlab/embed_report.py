"""The embed stage's work: which images, their three representations, their maps and scores.

Pixels and hand-crafted features are read from data/augmented (the preprocessed images the
baselines saw, originals only); the CNN's penultimate layer is computed from data/raw at the
size and with the metadata its model card names, so the maps show what each model was given.
Every projection is fitted on all points (test and the train sample) and scored on test only:
the CNN has seen its training images, and a map that separates them proves nothing.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import embedding, io
from skinlab.baselines import extractor_params
from skinlab.data import dataset
from skinlab.data.raw import InputError
from skinlab.features.registry import FeatureExtractor

log = logging.getLogger(__name__)
UNKNOWN_TONE = "unknown"


@dataclasses.dataclass
class Points:
    frame: pd.DataFrame  # one row per projected image: image_id, lesion_id, dx, split, band, image (data/raw)
    scored: np.ndarray   # row positions of the test points that are scored
    counts: dict


def choose(split_root: Path, cfg, seed: int, tones: pd.DataFrame | None) -> Points:
    """All test images and a class-stratified sample of `train_points` train images, capped at
    `max_points` by a sample stratified on (split, class) with a warning; test points up to
    `score_points` (stratified by class) are scored."""
    test = dataset.read_index(split_root, "test").assign(split="test")
    train = dataset.read_index(split_root, "train").assign(split="train")
    if len(test) < 4:
        raise InputError(f"{Path(split_root) / 'test.csv'}: {len(test)} test images; a map needs at least 4")
    train = _sample(train, min(cfg.train_points, len(train)), ["dx"], seed, "train_points") if cfg.train_points else train.iloc[:0]
    frame = pd.concat([test, train], ignore_index=True)
    available = {"test": len(test), "train_sample": len(train)}
    if len(frame) > cfg.max_points:
        frame = _sample(frame, cfg.max_points, ["split", "dx"], seed, "max_points").reset_index(drop=True)
        log.warning("%d images (test %d, train sample %d) are above embed.max_points %d: projecting a sample of %d "
                    "stratified by split and class (every class keeps its share)", available["test"] + available["train_sample"],
                    available["test"], available["train_sample"], cfg.max_points, len(frame))
    frame["band"] = _bands(frame, tones)
    test_rows = frame.index[frame["split"] == "test"]
    scored = _sample(frame.loc[test_rows], cfg.score_points, ["dx"], seed, "score_points").index.to_numpy()
    counts = {"projected": len(frame), "test": int((frame["split"] == "test").sum()),
              "train": int((frame["split"] == "train").sum()), "scored": len(scored),
              "available": available, "subsampled": len(frame) < available["test"] + available["train_sample"]}
    return Points(frame, scored, counts)


def _sample(frame: pd.DataFrame, n: int, by: list[str], seed: int, key: str) -> pd.DataFrame:
    try:
        return embedding.stratified_sample(frame, n, by, seed)
    except ValueError as error:
        raise InputError(f"params: embed.{key} is {n}: {error}") from None


def _bands(frame: pd.DataFrame, tones: pd.DataFrame | None) -> pd.Series:
    if tones is None:
        return pd.Series(UNKNOWN_TONE, index=frame.index)
    band = tones.drop_duplicates("image_id").set_index("image_id")["band"].fillna("").replace("", UNKNOWN_TONE)
    return frame["image_id"].map(band).fillna(UNKNOWN_TONE)


def read_tones(path: Path) -> pd.DataFrame | None:
    """skin_tone_classify's table (image_id, band), or None with a warning when it is not there."""
    if not path.exists():
        log.warning("%s not found: no skin-tone colouring or scores (run skin_tone_classify)", path)
        return None
    tones = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in ("image_id", "band") if column not in tones.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return tones


# ---- representations -----------------------------------------------------------------------------

def _augmented_frame(root: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of data/augmented (originals) for the images of `frame`, in its order."""
    index = pd.concat([dataset.read_index(root, split) for split in ("train", "val", "test")], ignore_index=True)
    if "augmented" in index.columns:
        index = index[index["augmented"].astype(str) == "0"]
    index = index.drop_duplicates("image_id").set_index("image_id")
    missing = [i for i in frame["image_id"] if i not in index.index]
    if missing:
        raise InputError(f"{root}: {len(missing)} image(s) of data/split are not in the augmented index "
                         f"(first: {missing[0]}); rerun augment")
    return index.loc[frame["image_id"]].reset_index()


def pixel_vectors(augmented: Path, frame: pd.DataFrame, cfg) -> np.ndarray:
    rows = _augmented_frame(augmented, frame)
    pixels = FeatureExtractor("pixels_color", {"size": cfg.pixels_size})
    return embedding.standardise([pixels.transform(dataset.iter_images(augmented, rows))])


def feature_vectors(augmented: Path, frame: pd.DataFrame, cfg, baselines_cfg, seed: int) -> np.ndarray:
    """The hand-crafted sets of `cfg.features` with the baselines' settings, one block each
    (sift_bow's vocabulary is learnt on the projected images themselves: no labels are used)."""
    rows = _augmented_frame(augmented, frame)
    blocks = []
    for name in cfg.features:
        extractor = FeatureExtractor(name, extractor_params(name, baselines_cfg, seed))
        if extractor.needs_fit:
            extractor.fit(dataset.iter_images(augmented, rows))
        blocks.append(extractor.transform(dataset.iter_images(augmented, rows)))
    return embedding.standardise(blocks)


def cnn_vectors(raw: Path, model_dir: Path, frame: pd.DataFrame, batch_size: int = 64) -> np.ndarray:
    """The CNN's penultimate layer (`embedding`) for each image, at the input its model card names."""
    import keras

    from skinlab.cnn_train import embeddings
    from skinlab.data import tfdata
    from skinlab.models import metadata

    card_path, model_path = model_dir / "model_card.json", model_dir / "model.keras"
    for path in (card_path, model_path):
        if not path.exists():
            raise InputError(f"{path}: not found (run train_cnn, or drop cnn from embed.representations)")
    card = io.read_json(card_path)
    for key in ("image_size", "metadata"):
        if key not in card:
            raise InputError(f"{card_path}: no '{key}' key")
    model = keras.models.load_model(model_path, compile=False)
    table = tfdata.table(raw, frame, metadata.encode(frame, card["metadata"]))
    return embedding.standardise([embeddings(model, tfdata.eval_dataset(table, int(card["image_size"]), batch_size))])


# ---- maps and scores -----------------------------------------------------------------------------

def scores(X: np.ndarray, Y: np.ndarray, points: Points, cfg, seed: int) -> dict:
    """Trustworthiness of the map, and how well class and skin tone separate in it, on the scored
    test points; Y is the 2-D map of every point."""
    rows = points.scored
    frame = points.frame.iloc[rows]
    labels, lesions = frame["dx"].to_numpy(str), frame["lesion_id"].to_numpy(str)
    knn = embedding.knn_cv(Y[rows], labels, lesions, cfg.knn_k, cfg.cv_folds, seed)
    known = frame["band"].to_numpy(str) != UNKNOWN_TONE
    tone = embedding.knn_cv(Y[rows][known], frame["band"].to_numpy(str)[known], lesions[known], cfg.knn_k, cfg.cv_folds, seed)
    return {"trustworthiness": embedding.trustworthiness(X[rows], Y[rows], cfg.trust_neighbors),
            "knn_accuracy": knn and knn["accuracy"], "knn_balanced_accuracy": knn and knn["balanced_accuracy"],
            "silhouette_class": embedding.silhouette(Y[rows], labels),
            "knn_accuracy_skin_tone": tone and tone["accuracy"],
            "knn_balanced_accuracy_skin_tone": tone and tone["balanced_accuracy"],
            "silhouette_skin_tone": embedding.silhouette(Y[rows][known], frame["band"].to_numpy(str)[known])}


def map_all(vectors: dict, points: Points, cfg, seed: int) -> tuple[dict, dict, dict, dict]:
    """Every representation of `cfg.representations` (made by `vectors[name]()`) by every method:
    (representation summaries, scores of each map, the maps, the PCA variance curves)."""
    summaries, projections, maps, curves = {}, {}, {}, {}
    for rep in cfg.representations:
        X = vectors[rep]()
        summaries[rep], curves[rep] = representation_summary(X, points, cfg, seed)
        maps[rep], projections[rep] = {}, {}
        for method in cfg.methods:
            projection = embedding.project(method, X, cfg, seed)
            maps[rep][method] = projection.coordinates
            projections[rep][method] = {**scores(X, projection.coordinates, points, cfg, seed),
                                        "seconds": round(projection.seconds, 3)}
            log.info("%s %s: %.1fs", rep, method, projection.seconds)
    return summaries, projections, maps, curves


def representation_summary(X: np.ndarray, points: Points, cfg, seed: int) -> tuple[dict, np.ndarray]:
    """Width, the PCA variance curve, and k-NN accuracy in the full space (what a 2-D map can keep)."""
    curve = embedding.explained_variance(X, cfg.variance_components, seed)
    rows = points.scored
    frame = points.frame.iloc[rows]
    knn = embedding.knn_cv(X[rows], frame["dx"].to_numpy(str), frame["lesion_id"].to_numpy(str), cfg.knn_k,
                           cfg.cv_folds, seed)
    reach = np.flatnonzero(curve >= 0.9)
    return {"dim": int(X.shape[1]), "pca_variance_2": float(curve[min(1, len(curve) - 1)]),
            "pca_components_for_90": int(reach[0] + 1) if len(reach) else None,
            "knn_accuracy_full": knn and knn["accuracy"],
            "knn_balanced_accuracy_full": knn and knn["balanced_accuracy"]}, curve


def chance(points: Points) -> dict:
    """The majority share among the scored test points: what k-NN accuracy must beat."""
    frame = points.frame.iloc[points.scored]
    bands = frame["band"][frame["band"] != UNKNOWN_TONE]
    return {"class": float(frame["dx"].value_counts(normalize=True).max()), "balanced": 1 / frame["dx"].nunique(),
            "skin_tone": float(bands.value_counts(normalize=True).max()) if len(bands) else None,
            "skin_tone_balanced": 1 / bands.nunique() if len(bands) else None}


def summary_line(result: dict) -> str:
    parts = []
    for rep, methods in result["projections"].items():
        cells = ", ".join(f"{m} T {s['trustworthiness']:.2f} kNN {s['knn_accuracy']:.2f}" for m, s in methods.items()
                          if s["trustworthiness"] is not None and s["knn_accuracy"] is not None)
        parts.append(f"{rep}: {cells}")
    return f"{result['points']['projected']} images mapped ({result['points']['scored']} test scored); " + "; ".join(parts)
