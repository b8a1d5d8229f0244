import json

import pandas as pd

from stages import download
from stages import split as split_stage
from tests.helpers import make_folder, rows_per_class, write_params


def test_split_stage_writes_lists_without_leaks(tmp_path):
    folder = make_folder(tmp_path / "user", rows_per_class(6, 2))
    params = write_params(tmp_path / "params.yaml", download={"source": "folder", "folder": {"path": str(folder)}})
    common = ["--params", str(params)]
    download.main(common + ["--out", str(tmp_path / "raw"), "--downloads", str(tmp_path / "dl"),
                            "--metrics", str(tmp_path / "d.json"), "--plots", str(tmp_path / "p")])
    split_stage.main(common + ["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "split"), "--metrics", str(tmp_path / "s.json")])
    parts = {name: pd.read_csv(tmp_path / "split" / f"{name}.csv", dtype=str) for name in ("train", "val", "test")}
    lesions = [set(part["lesion_id"]) for part in parts.values()]
    assert not (lesions[0] & lesions[1]) and not (lesions[0] & lesions[2]) and not (lesions[1] & lesions[2])
    assert sum(len(p) for p in parts.values()) == 84
    assert all((p["split"] == name).all() for name, p in parts.items())
    metrics = json.loads((tmp_path / "s.json").read_text())
    assert metrics["lesions_crossing_splits"] == 0
    assert metrics["train"]["per_class"]["mel"] + metrics["val"]["per_class"]["mel"] + metrics["test"]["per_class"]["mel"] == 12
