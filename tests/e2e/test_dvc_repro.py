"""`dvc repro` of the real dvc.yaml on a small synthetic configuration, in a copy of the repository."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.repo import DVC, make_copy, run


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    return make_copy(tmp_path_factory.mktemp("repo"))


def test_repro_builds_everything_then_has_nothing_to_do(repo_copy):
    root, env = repo_copy
    run([DVC, "repro"], root, env)
    for stage in ("download", "split", "augment", "train_baselines", "train_cnn", "segment", "skin_tone_classify",
                  "fairness_eval", "embed"):
        assert json.loads((root / "metrics" / f"{stage}.json").read_text()), stage
    assert (root / "models" / "baselines" / "best.joblib").exists()
    assert (root / "models" / "cnn" / "model.keras").exists()
    assert json.loads((root / "metrics" / "train_cnn.json").read_text())["vs_best_baseline"]["baseline"]
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"download", "split", "augment", "train_baselines", "train_cnn", "segment",
                                   "skin_tone_classify", "fairness_eval", "embed"}
    assert (root / "models" / "fairness" / "test_predictions.csv").exists()
    assert (root / "plots" / "embed" / "by_class.png").exists() and (root / "plots" / "embed" / "pca_cnn.csv").exists()
    again = run([DVC, "repro"], root, env)
    assert "Running stage" not in again
    status = run([DVC, "status"], root, env)
    assert "up to date" in status


# Keras' .keras file and NumPy's .npz are zip archives that record when they were written, so the
# hash of models/cnn/ changes on every run although its weights and predictions do not (its
# metrics, predictions-derived plots and every other hash in dvc.lock are compared exactly).
ARCHIVE_OUTS = {"models/cnn", "models/segment"}  # the U-Net is saved as a .keras archive too


def _lock_without_archive_hashes(path: Path) -> bytes:
    """dvc.lock without the hashes of those archives, as outputs and as inputs of a later stage
    (embed reads models/cnn/model.keras), nor of metrics/embed.json (its seconds differ; its other
    numbers are compared by outputs())."""
    lock = yaml.safe_load(path.read_text())
    for stage in lock["stages"].values():
        for entry in [*stage.get("outs", []), *stage.get("deps", [])]:
            if entry["path"] == "metrics/embed.json":
                entry.pop("md5", None), entry.pop("size", None)
            if any(entry["path"] == out or entry["path"].startswith(f"{out}/") for out in ARCHIVE_OUTS):
                entry.pop("md5", None)
    return yaml.safe_dump(lock, sort_keys=True).encode()


def _without_seconds(data):
    """embed's metrics record how long each projection took: wall time, the one number that may differ."""
    if isinstance(data, dict):
        return {key: _without_seconds(value) for key, value in data.items() if key != "seconds"}
    return data


def outputs(root: Path) -> dict[str, bytes]:
    files = [*(root / "metrics").glob("*.json"), *(p for p in (root / "plots").rglob("*") if p.is_file())]
    found = {str(p.relative_to(root)): p.read_bytes() for p in files}
    embed = json.loads(found["metrics/embed.json"])
    assert all(isinstance(m["seconds"], float) for methods in embed["projections"].values() for m in methods.values())
    found["metrics/embed.json"] = json.dumps(_without_seconds(embed), sort_keys=True).encode()
    found["dvc.lock"] = _lock_without_archive_hashes(root / "dvc.lock")
    return found


def test_a_forced_rerun_in_a_fresh_process_reproduces_metrics_plots_and_lock_byte_for_byte(repo_copy):
    """Determinism across processes: every stage rerun from scratch by a new `dvc` process writes
    the same bytes (the committed default's metrics are checked the same way by .ci/gate)."""
    root, env = repo_copy
    run([DVC, "repro"], root, env)
    before = outputs(root)
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert len([name for name in before if name.startswith("metrics/")]) == len(stages)
    shutil.rmtree(root / "data" / "raw")  # nothing of the first run is reused
    output = run([DVC, "repro", "--force"], root, env)
    assert output.count("Running stage") == len(stages)
    after = outputs(root)
    assert sorted(after) == sorted(before)
    assert [name for name in before if before[name] != after[name]] == []


def test_changing_an_augment_param_reruns_augment_and_downstream_only(repo_copy):
    root, env = repo_copy
    run([DVC, "repro"], root, env)  # built (a no-op after the test above)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["augment"]["transforms"]["hflip"] = 0.25
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    output = run([DVC, "repro"], root, env)
    ran = {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
    # train_cnn compares itself with the best baseline, so it reruns when the baseline's outputs change;
    # fairness_eval judges the baseline's test predictions; embed maps data/augmented
    assert {"augment", "train_baselines", "embed"} <= ran <= {"augment", "train_baselines", "train_cnn", "fairness_eval",
                                                              "embed"}


def test_changing_a_cnn_param_reruns_train_cnn_only(repo_copy):
    """The CNN reads data/raw at its own size: its params never rerun augment, the baselines,
    segment or skin_tone_classify."""
    root, env = repo_copy
    run([DVC, "repro"], root, env)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train_cnn"]["image_size"] = 20
    params["train_cnn"]["tuner"].update(max_trials=1, epochs=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    trials = root / "models" / "cnn_tuner"
    assert json.loads((trials / "search.json").read_text())["max_trials"] == 0  # the search was off
    (trials / "kept.txt").write_text("DVC must not empty this folder before a rerun (persist: true)")
    output = run([DVC, "repro"], root, env)
    ran = {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
    assert ran == {"train_cnn", "fairness_eval", "embed"}  # fairness_eval judges the CNN and retrains its recipe;
    # embed maps its embeddings
    metrics = json.loads((root / "metrics" / "train_cnn.json").read_text())
    assert metrics["image_size"] == 20 and metrics["tuner"]["trials_run"] == 1
    assert (trials / "kept.txt").exists() and len(list(trials.glob("*/trial_*/trial.json"))) == 1
