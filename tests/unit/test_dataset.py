import pandas as pd
import pytest

from skinlab.data import dataset
from skinlab.data.raw import InputError


def test_index_names_every_unknown_label_and_missing_columns(tmp_path):
    pd.DataFrame({"image_id": ["a", "b", "c"], "lesion_id": ["a", "b", "c"], "dx": ["nv", "xx", "yy"],
                  "image": ["a.png", "b.png", "c.png"]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(InputError, match=r"train.csv: unknown dx at row 3 \('xx'\), row 4 \('yy'\)"):
        dataset.read_index(tmp_path, "train")
    pd.DataFrame({"image_id": ["a"], "dx": ["nv"]}).to_csv(tmp_path / "val.csv", index=False)
    with pytest.raises(InputError, match=r"val.csv: missing column\(s\) lesion_id, image"):
        dataset.read_index(tmp_path, "val")
    with pytest.raises(InputError, match=r"test.csv: not found"):
        dataset.read_index(tmp_path, "test")
