import numpy as np
import pandas as pd
import pytest

from skinlab.data import split
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES
from tests.helpers import rows_per_class


def frame_of(rows):
    return pd.DataFrame(rows).assign(split="")


def test_no_lesion_crosses_splits_and_every_row_is_assigned():
    frame = frame_of(rows_per_class(10, 3))
    sides = split.make_split(frame, 0.2, 0.2, seed=0)
    assert set(sides) == {"train", "val", "test"}
    assert split.crossing_lesions(frame, sides) == []
    per_lesion = pd.DataFrame({"lesion": frame["lesion_id"], "side": sides}).groupby("lesion")["side"].nunique()
    assert (per_lesion == 1).all()


def test_stratified_by_class_with_known_groups():
    # 10 lesions of 3 images per class, fractions 0.6/0.2/0.2 -> 6/2/2 lesions per class.
    frame = frame_of(rows_per_class(10, 3))
    sides = split.make_split(frame, 0.2, 0.2, seed=1)
    counts = pd.crosstab(frame["dx"], sides)
    assert (counts["train"] == 18).all() and (counts["val"] == 6).all() and (counts["test"] == 6).all()


def test_deterministic_and_seed_dependent():
    frame = frame_of(rows_per_class(10, 2))
    first = split.make_split(frame, 0.2, 0.2, seed=3)
    assert first.equals(split.make_split(frame, 0.2, 0.2, seed=3))
    assert not first.equals(split.make_split(frame, 0.2, 0.2, seed=4))


def test_given_split_is_kept():
    frame = frame_of(rows_per_class(4, 1))
    frame["split"] = ["train", "val", "test", "train"] * (len(frame) // 4)
    sides = split.make_split(frame, 0.2, 0.2, seed=0)
    assert sides.equals(frame["split"])


def test_val_is_carved_out_of_given_train_and_test_kept():
    frame = frame_of(rows_per_class(10, 1))
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    sides = split.make_split(frame, 0.15, 0.15, seed=0)
    assert (sides[frame["split"] == "test"] == "test").all()
    carved = sides[frame["split"] == "train"]
    assert set(carved) == {"train", "val"}
    assert 0.1 < (carved == "val").mean() < 0.3


def test_unassigned_rows_fill_train_and_val_when_test_is_given():
    # The HAM10000 case: the ISIC 2018 test images come with split=test, the rest with none.
    frame = frame_of(rows_per_class(8, 2))
    frame.loc[frame.index[:10], "split"] = "test"
    sides = split.make_split(frame, 0.15, 0.15, seed=0)
    assert set(sides[10:]) == {"train", "val"}


def test_bad_split_value_and_unknown_dx_are_named():
    frame = frame_of(rows_per_class(1, 1))
    frame.loc[2, "split"] = "training"
    with pytest.raises(InputError, match=r"row 4 \(I_bkl_0_0: 'training'\)"):
        split.make_split(frame, 0.2, 0.2, seed=0)
    frame = frame_of(rows_per_class(1, 1))
    frame.loc[0, "dx"] = "xyz"
    with pytest.raises(InputError, match="unknown dx code"):
        split.make_split(frame, 0.2, 0.2, seed=0)


def test_metrics_report_leaks_of_a_given_split():
    frame = frame_of(rows_per_class(2, 2))
    frame["split"] = ["train", "test"] * (len(frame) // 2)  # both images of each lesion on two sides
    sides = split.make_split(frame, 0.2, 0.2, seed=0)
    metrics = split.split_metrics(frame, sides)
    assert metrics["lesions_crossing_splits"] == 14


def test_train_and_val_given_without_test_carves_test_from_train_only():
    frame = frame_of(rows_per_class(10, 1))
    frame["split"] = ["val" if i % 5 == 0 else "train" for i in range(len(frame))]
    sides = split.make_split(frame, 0.15, 0.15, seed=0)
    assert (sides[frame["split"] == "val"] == "val").all()  # given val kept
    moved = sides[frame["split"] == "train"]
    assert set(moved) == {"train", "test"}  # train rows only go to train or test


def test_empty_split_is_named_with_the_params_to_change():
    frame = frame_of(rows_per_class(1, 1))
    frame["split"] = "train"
    frame.loc[0, "split"] = "val"
    frame.loc[1, "split"] = "test"
    sides = split.make_split(frame, 0.15, 0.15, seed=0)
    split.check_not_empty(sides)  # one of each: fine
    with pytest.raises(InputError, match=r"no image in val, test .*split.val_fraction"):
        split.check_not_empty(pd.Series(["train"] * 3))


# --- uneven lesion sizes and mixed-dx lesions ------------------------------------------------

def test_lesion_class_is_the_majority_dx_not_the_first_image():
    rows = [  # lesions interleaved; each one's first image is a minority dx (but L3's only image)
        ("L1", "nv"), ("L2", "bkl"), ("L1", "mel"), ("L3", "df"), ("L2", "nv"), ("L1", "mel"),
        ("L2", "nv"), ("L4", "mel"), ("L2", "bkl"), ("L4", "nv"), ("L2", "nv"), ("L4", "nv"),
    ]
    frame = pd.DataFrame([{"lesion_id": lesion, "image_id": f"I{i}", "dx": dx} for i, (lesion, dx) in enumerate(rows)])
    table = split.lesion_table(frame)
    assert table["dx"].to_dict() == {"L1": "mel", "L2": "nv", "L3": "df", "L4": "nv"}
    assert table["n_images"].to_dict() == {"L1": 3, "L2": 5, "L3": 1, "L4": 3}


FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def uneven_lesions(seed: int) -> pd.DataFrame:
    """Per class 25 lesions of 1 to 6 images; every third lesion of 3 or more images has its
    first image of another class (the lesion's class is still its majority, encoded in its id)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, dx in enumerate(CLASSES):
        for k in range(25):
            size = int(rng.choice([1, 1, 1, 2, 2, 3, 4, 6]))
            mixed = size >= 3 and k % 3 == 0
            rows += [{"lesion_id": f"L_{dx}_{k}", "image_id": f"I_{dx}_{k}_{i}",
                      "dx": CLASSES[(c + 3) % len(CLASSES)] if mixed and i == 0 else dx} for i in range(size)]
    return frame_of(rows)


def counts_by_lesion_class(frame, sides):
    lesion_class = frame["lesion_id"].str.split("_").str[1]  # L_<dx>_<k>: the majority dx by construction
    images = pd.crosstab(lesion_class, sides)
    lesions = pd.crosstab(lesion_class, sides, values=frame["lesion_id"], aggfunc="nunique")
    return images, lesions


def distance_from_fractions(counts: pd.DataFrame) -> float:
    """Sum over classes and splits of |count - fraction * class total|, over the grand total."""
    targets = pd.DataFrame({name: f * counts.sum(axis=1) for name, f in FRACTIONS.items()})
    return float((counts[list(FRACTIONS)] - targets).abs().to_numpy().sum() / counts.to_numpy().sum())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_balances_images_per_class_not_lesions(seed):
    """With uneven lesion sizes, image counts per class and split are closer to the fractions
    than lesion counts are (balancing lesion counts would make it the other way round)."""
    frame = uneven_lesions(seed)
    sides = split.make_split(frame, FRACTIONS["val"], FRACTIONS["test"], seed=seed)
    images, lesions = counts_by_lesion_class(frame, sides)
    assert distance_from_fractions(images) < distance_from_fractions(lesions)
    assert split.crossing_lesions(frame, sides) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_split_overshoots_its_class_image_target_by_a_whole_lesion(seed):
    """A split only takes a lesion while it is below its image target, so per class it ends less
    than the class's largest lesion above it; and every split gets lesions of every class."""
    frame = uneven_lesions(seed)
    sides = split.make_split(frame, FRACTIONS["val"], FRACTIONS["test"], seed=seed)
    images, lesions = counts_by_lesion_class(frame, sides)
    largest = frame.groupby("lesion_id").size().groupby(lambda lesion: lesion.split("_")[1]).max()
    for dx in CLASSES:
        total = images.loc[dx].sum()
        for name, fraction in FRACTIONS.items():
            assert images.loc[dx, name] - fraction * total < largest[dx], (dx, name, images.loc[dx].to_dict())
            assert lesions.loc[dx, name] >= 1, (dx, name)
