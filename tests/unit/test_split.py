import pandas as pd
import pytest

from skinlab.data import split
from skinlab.data.raw import InputError
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
