"""skin_tone_classify's main() on the small synthetic pipeline, with the ground-truth masks in
the place of segment's: the table, the scores against the known skin types, too little skin,
data without skin types, and missing masks named."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from skinlab import io, params, skintone
from stages import skin_tone_classify
from tests.helpers import write_params
from tests.stages.conftest import SMALL


def split_index(split_dir, split):
    return pd.read_csv(split_dir / f"{split}.csv", dtype=str, keep_default_na=False)


@pytest.fixture
def inputs(small_pipeline, tmp_path):
    """A copy of data/split and a segment folder holding the ground-truth masks."""
    split = tmp_path / "split"
    shutil.copytree(small_pipeline["split"], split)
    segment = tmp_path / "segment"
    (segment / "masks").mkdir(parents=True)
    rows = []
    for name in ("train", "val", "test"):
        for row in split_index(split, name).itertuples():
            shutil.copy(small_pipeline["raw"] / row.mask, segment / "masks" / f"{row.image_id}.png")
            rows.append({"image_id": row.image_id, "split": name, "mask": f"masks/{row.image_id}.png", "method": "truth"})
    pd.DataFrame(rows).to_csv(segment / "index.csv", index=False)
    return split, segment


def run(paths, out, split, segment, params_path=None):
    skin_tone_classify.main(["--params", str(params_path or paths["params"]), "--raw", str(paths["raw"]),
                             "--split", str(split), "--segment", str(segment), "--out", str(out / "tone"),
                             "--metrics", str(out / "metrics.json"), "--plots", str(out / "plots")])
    return (pd.read_csv(out / "tone" / "skin_tone.csv", dtype={"image_id": str}, keep_default_na=True),
            json.loads((out / "metrics.json").read_text()))


def test_every_image_gets_a_tone_scored_against_its_known_type(small_pipeline, inputs, tmp_path):
    split, segment = inputs
    table, metrics = run(small_pipeline, tmp_path / "out", split, segment)
    assert list(table.columns) == ["image_id", "lesion_id", "split", "ita", "band", "fitzpatrick", "n_skin_pixels",
                                   "reason", "ita_other_colour_constancy", "palette_fitzpatrick", "true_fitzpatrick",
                                   "true_ita"]
    expected = pd.concat([split_index(split, s) for s in ("train", "val", "test")])
    assert list(table["image_id"]) == list(expected["image_id"])
    assert list(table["true_fitzpatrick"]) == [int(v) for v in expected["fitzpatrick"]]
    for row in table.itertuples():
        assert row.band == skintone.BANDS[skintone.band_index(row.ita)] and row.fitzpatrick == skintone.fitzpatrick_from_ita(row.ita)
    assert table["palette_fitzpatrick"].between(1, 6).all() and table["reason"].isna().all()
    assert metrics["n_ita_beyond_90"] == int((table["ita"].abs() >= 90).sum()) == 0  # synthetic skin is yellowish
    truth = metrics["ground_truth"]
    assert truth["n_images"] == len(table) == metrics["n_images"] == metrics["n_estimated"]
    exact = float(np.mean(table["fitzpatrick"] == table["true_fitzpatrick"]))
    assert truth["ita"]["exact"] == pytest.approx(exact)
    assert np.array(truth["ita"]["confusion"]).sum() == len(table)
    assert np.trace(np.array(truth["palette"]["confusion"])) == round(truth["palette"]["exact"] * len(table))
    # measured on this tiny set (263 images): ITA 0.924 exact / 1.000 within one, the palette 0.205 / 0.532
    assert truth["ita"]["exact"] > 0.75 and truth["ita"]["within_one"] > 0.95
    assert truth["ita"]["exact"] > truth["palette"]["exact"] + 0.3
    assert sum(metrics["distribution"]["band"].values()) == len(table)
    bars = json.loads((tmp_path / "out" / "plots" / "distribution.json").read_text())
    assert [bar["band"] for bar in bars] == [*skintone.BANDS, "no estimate"]
    assert len(json.loads((tmp_path / "out" / "plots" / "confusion.json").read_text())) == len(table)
    cc = metrics["colour_constancy"]
    assert (cc["used"], cc["other"], cc["n_images"]) == ("none", "shades_of_gray", len(table))
    shift = (table["ita_other_colour_constancy"] - table["ita"]).median()
    assert cc["ita_median_shift"] == pytest.approx(shift)


def test_a_rerun_is_byte_identical(small_pipeline, inputs, tmp_path):
    split, segment = inputs
    run(small_pipeline, tmp_path / "a", split, segment)
    run(small_pipeline, tmp_path / "b", split, segment)
    for name in ("metrics.json", "tone/skin_tone.csv", "plots/distribution.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_too_little_skin_is_said_and_data_without_types_is_not_scored(small_pipeline, inputs, tmp_path):
    split, segment = inputs
    victim = split_index(split, "val").loc[0, "image_id"]
    mask = io.read_mask(segment / "masks" / f"{victim}.png")
    (segment / "masks" / f"{victim}.png").write_bytes(io.encode_image(np.full_like(mask, 255), ".png"))
    for name in ("train", "val", "test"):
        split_index(split, name).drop(columns=["fitzpatrick", "ita"]).to_csv(split / f"{name}.csv", index=False)
    table, metrics = run(small_pipeline, tmp_path / "out", split, segment)
    row = table.set_index("image_id").loc[victim]
    assert pd.isna(row["ita"]) and pd.isna(row["band"]) and row["reason"].startswith("too little healthy skin: 0 of")
    assert metrics["n_too_little_skin"] == 1 and metrics["by_split"]["val"]["no_estimate"] == 1
    assert metrics["ground_truth"] is None and table["true_fitzpatrick"].isna().all()
    assert json.loads((tmp_path / "out" / "plots" / "confusion.json").read_text()) == []


def test_missing_masks_are_named(small_pipeline, inputs, tmp_path, capsys):
    split, segment = inputs
    index = pd.read_csv(segment / "index.csv", dtype=str)
    gone = index.loc[3, "image_id"]
    index.drop(index=3).to_csv(segment / "index.csv", index=False)
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "out", split, segment)
    assert stopped.value.code == 2 and f"1 image(s) have no mask in data/segment/index.csv, e.g. {gone}" in capsys.readouterr().err
    (segment / "index.csv").unlink()
    with pytest.raises(SystemExit):
        run(small_pipeline, tmp_path / "out", split, segment)
    assert "index.csv: not found (run the segment stage first" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tone").exists()


def test_cut_points_are_params_and_checked(small_pipeline, inputs, tmp_path):
    split, segment = inputs
    custom = write_params(tmp_path / "p.yaml", **{**SMALL, "skin_tone_classify": {"fitzpatrick_cuts": [80, 70, 60, 50, 40]}})
    table, _ = run(small_pipeline, tmp_path / "out", split, segment, custom)
    assert list(table["fitzpatrick"]) == [skintone.band_index(v, (80, 70, 60, 50, 40)) + 1 for v in table["ita"]]
    with pytest.raises(params.ParamsError, match=r"skin_tone_classify: band_cuts must be 5 strictly decreasing"):
        params.parse({"skin_tone_classify": {"band_cuts": [10, 20, 30, 40, 50]}})
    with pytest.raises(params.ParamsError, match=r"skin_tone_classify.colour_constancy"):
        params.parse({"skin_tone_classify": {"colour_constancy": "grey_world"}})


def test_no_estimate_at_all_counts_as_wrong_and_does_not_crash(small_pipeline, inputs, tmp_path):
    split, segment = inputs
    for path in (segment / "masks").iterdir():
        mask = io.read_mask(path)
        path.write_bytes(io.encode_image(np.full_like(mask, 255), ".png"))
    table, metrics = run(small_pipeline, tmp_path / "out", split, segment)
    assert table["ita"].isna().all() and metrics["n_estimated"] == 0 and metrics["n_ita_beyond_90"] == 0
    ita = metrics["ground_truth"]["ita"]
    assert (ita["n"], ita["n_estimated"], ita["coverage"], ita["exact"], ita["within_one"]) == (len(table), 0, 0.0, 0.0, 0.0)
    assert metrics["ground_truth"]["palette"]["coverage"] == 1.0
    from skinlab import report

    (tmp_path / "out" / "metrics").mkdir()
    shutil.copy(tmp_path / "out" / "metrics.json", tmp_path / "out" / "metrics" / "skin_tone_classify.json")
    assert report.render("tone_cast", tmp_path / "out").startswith("No image has an estimate")


def test_a_skin_type_that_is_not_a_number_is_named(small_pipeline, inputs, tmp_path, capsys):
    split, segment = inputs
    test = split_index(split, "test")
    test.loc[1, "ita"] = "unknown"
    test.to_csv(split / "test.csv", index=False)
    with pytest.raises(SystemExit) as stopped:
        run(small_pipeline, tmp_path / "out", split, segment)
    assert stopped.value.code == 2
    assert f"image {test.loc[1, 'image_id']}: column 'ita' is 'unknown', not a number" in capsys.readouterr().err
