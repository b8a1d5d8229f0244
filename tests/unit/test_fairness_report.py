"""fairness_eval's inputs (bad files named), groupings, the skin-tone loss weights and its params."""
import numpy as np
import pandas as pd
import pytest

from skinlab import fairness_mitigation, fairness_report, params
from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES
from skinlab.evaluation.fairness import UNKNOWN


def predictions(n=6):
    proba = np.full((n, len(CLASSES)), 1 / len(CLASSES))
    frame = pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "lesion_id": [f"l{k}" for k in range(n)],
                          "dx": ["nv"] * n})
    frame[fairness_report.PROBABILITIES] = proba
    return frame


def tones(n=6):
    return pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "split": "test", "ita": np.linspace(60, -40, n),
                         "band": ["very_light", "light", "intermediate", "tan", "brown", np.nan][:n],
                         "fitzpatrick": [1, 2, 3, 4, 5, np.nan][:n], "true_fitzpatrick": np.nan})


def test_bad_prediction_files_are_named(tmp_path):
    path = tmp_path / "p.csv"
    with pytest.raises(InputError, match=r"p.csv: not found .*dvc repro train_cnn"):
        fairness_report.read_predictions(path, "train_cnn")
    predictions().drop(columns=["p_mel"]).to_csv(path, index=False)
    with pytest.raises(InputError, match="missing column.*p_mel"):
        fairness_report.read_predictions(path, "train_cnn")
    frame = predictions()
    frame.loc[3, "dx"] = "melanoma"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"row 5: dx 'melanoma'"):
        fairness_report.read_predictions(path, "train_cnn")
    frame = predictions()
    frame.loc[2, "p_nv"] = 0.9
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="row 4: probabilities"):
        fairness_report.read_predictions(path, "train_cnn")
    frame = predictions().astype({"p_bcc": object})
    frame.loc[1, "p_bcc"] = "high"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"p.csv: a probability column is not numeric .*'high'"):
        fairness_report.read_predictions(path, "train_cnn")


def test_a_test_image_without_a_tone_row_is_named(tmp_path):
    path = tmp_path / "skin_tone.csv"
    with pytest.raises(InputError, match=r"skin_tone.csv: not found \(run `dvc repro skin_tone_classify`\)"):
        fairness_report.read_tones(path)
    tones(5).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no row for test image 'i5'"):
        fairness_report.tones_for(predictions(6), fairness_report.read_tones(path), path)
    tones().drop(columns=["band"]).to_csv(path, index=False)
    with pytest.raises(InputError, match="missing column.*band"):
        fairness_report.read_tones(path)


def test_groups_of_images_and_missing_values(tmp_path):
    path = tmp_path / "skin_tone.csv"
    tones().to_csv(path, index=False)
    table = fairness_report.tones_for(predictions(), fairness_report.read_tones(path), path)
    assert list(fairness_report.labels(table, "ita_band")) == ["very_light", "light", "intermediate", "tan", "brown", UNKNOWN]
    assert list(fairness_report.labels(table, "fitzpatrick_estimated")) == ["I", "II", "III", "IV", "V", UNKNOWN]
    assert not fairness_report.available(table, "fitzpatrick_true")
    with pytest.raises(InputError, match="fairness_eval.mitigation.grouping is 'fitzpatrick_true'.*true_fitzpatrick"):
        fairness_report.check_grouping(table, "fitzpatrick_true", "fairness_eval.mitigation.grouping")


def test_group_weights_give_each_known_group_the_same_share_of_the_loss():
    groups = np.array(["a"] * 60 + ["b"] * 30 + ["c"] * 10 + [UNKNOWN] * 4)
    base = np.random.default_rng(0).choice([0.5, 1.0, 3.0], size=len(groups))  # class weights of the images
    factors, info = fairness_mitigation.group_weights(groups, base, max_weight=100)
    loss = base * factors
    totals = [loss[groups == g].sum() for g in ("a", "b", "c")]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-5)
    assert loss.sum() == pytest.approx(base.sum(), rel=1e-6)  # the loss keeps its scale
    assert info["loss_share"]["a"] == pytest.approx(totals[0] / base.sum(), rel=1e-5) and info["capped"] == []
    assert sum(info["loss_share"].values()) == pytest.approx(1.0)
    assert factors[groups == UNKNOWN][0] == pytest.approx(base.sum() / loss.sum() * 1.0, rel=1e-5)
    assert info["weights"]["c"] == pytest.approx(float(factors[groups == "c"][0]), rel=1e-6)
    capped, info = fairness_mitigation.group_weights(groups, np.ones(len(groups)), max_weight=2.0)
    assert info["capped"] == ["c"]  # c would need 100 / (3 * 10) = 3.33
    assert capped[groups == "c"][0] / capped[groups == "a"][0] == pytest.approx(2.0 / (100 / 180), rel=1e-5)
    one, info = fairness_mitigation.group_weights(np.array(["a"] * 5), np.ones(5), 10.0)
    assert (one == 1.0).all()  # a single group changes nothing, bit for bit


def test_bad_tone_rows_are_named(tmp_path):
    path = tmp_path / "skin_tone.csv"
    table = tones()
    table.loc[2, "true_fitzpatrick"] = 7
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"row 4: true_fitzpatrick '7.0' of image 'i2' is not a type from 1 to 6"):
        fairness_report.read_tones(path)
    pd.concat([tones(), tones().iloc[[1]]]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"row 8: image 'i1' has a second row"):
        fairness_report.read_tones(path)
    table = tones()
    table.loc[0, "band"] = "pale"
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"row 2: band 'pale'"):
        fairness_report.read_tones(path)


def test_tuned_config_takes_the_search_s_values_when_it_searched():
    tc = params.TrainCnn()
    assert fairness_mitigation.tuned_config(tc, {}) == tc
    assert fairness_mitigation.tuned_config(tc, {"tuner": {"best_hyperparameters": None}}) == tc
    tuned = fairness_mitigation.tuned_config(tc, {"tuner": {"best_hyperparameters": {"learning_rate": 0.001, "width": 0.5}}})
    assert tuned.learning_rate == 0.001 and tuned.filters == (8, 16, 32, 64)


@pytest.mark.parametrize("section, message", [
    ({"groupings": []}, "at least one grouping"),
    ({"groupings": ["ita_band", "ita_band"]}, "more than once"),
    ({"groupings": ["skin"]}, "fairness_eval.groupings.0"),
    ({"min_group_size": 0}, "fairness_eval.min_group_size"),
    ({"mitigation": {"method": "resample"}}, "fairness_eval.mitigation.method"),
    ({"mitigation": {"max_weigth": 3}}, "unknown key 'fairness_eval.mitigation.max_weigth'"),
])
def test_bad_fairness_params_are_named(section, message):
    with pytest.raises(params.ParamsError, match=message):
        params.parse({"fairness_eval": section})
