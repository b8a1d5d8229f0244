"""keras-tuner search (skinlab/tuning.py): space, params of a trial, records, best values used,
resume after an interruption, nested runs, errors. cnn_train.train is replaced by a cheap
scorer whose best point is known, so the search logic is tested without training."""
from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from skinlab import cnn_train, tuning
from skinlab.data.tfdata import Table
from skinlab.params import ParamsError, TrainCnn, parse


def table(n: int = 6) -> Table:
    return Table(paths=np.array([f"/data/images/{i}.jpg" for i in range(n)]), labels=np.arange(n) % 2,
                 metadata=np.zeros((n, 0), np.float32))


def cfg(**tuner) -> TrainCnn:
    space = {"learning_rate": [0.001, 0.01], "width": [0.5, 1.0, 2.0], "dropout": [0.0, 0.5],
             "augment_strength": [1.0, 1.0]}
    return TrainCnn(filters=(8, 16), epochs=9, tuner={"max_trials": 5, "epochs": 2, "space": space, **tuner})


class Scorer:
    """Stands in for cnn_train.train: the score grows with the width and falls with the dropout."""

    def __init__(self, interrupt_at: int | None = None):
        self.calls, self.interrupt_at = [], interrupt_at

    def __call__(self, tc, train, val, seed, strategy=None, run=None):
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt  # the user stops the search
        self.calls.append(tc)
        value = tc.filters[0] / 16 - tc.dropout
        return cnn_train.TrainResult(model=None, curve=[{}] * tc.epochs, best_epoch=1, best_value=value, seconds=0.0)


@pytest.fixture
def scorer(monkeypatch):
    fake = Scorer()
    monkeypatch.setattr(cnn_train, "train", fake)
    return fake


def test_space_is_declared_with_fixed_ends():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    tuning.declare(hp, cfg().tuner.space)
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds == {"learning_rate": "Float", "dropout": "Float", "augment_strength": "Fixed", "width": "Choice"}
    assert hp.space[0].sampling == "log"  # learning rate is drawn log-uniformly


def test_a_trial_changes_only_what_it_names():
    base = TrainCnn(filters=(16, 32), epochs=9)
    tc = tuning.apply(base, {"width": 1.5, "learning_rate": 0.003, "dropout": 0.3, "augment_strength": 2.0,
                             "tuner/epochs": 3})
    assert tc.filters == (24, 48) and tc.learning_rate == 0.003 and tc.dropout == 0.3 and tc.epochs == 3
    assert tc.augment.brightness == pytest.approx(2 * base.augment.brightness)
    assert tc.augment.zoom_max == pytest.approx(1 + 2 * (base.augment.zoom_max - 1))
    assert tc.augment.hflip == base.augment.hflip and tc.tuner.max_trials == 0
    assert tc.model_dump(exclude={"filters", "learning_rate", "dropout", "augment", "epochs", "tuner"}) == \
        base.model_dump(exclude={"filters", "learning_rate", "dropout", "augment", "epochs", "tuner"})
    assert tuning.scaled_filters((8, 16), 0.3) == (4, 4)  # never below 4 filters


def test_search_records_every_trial_and_returns_the_best(tmp_path, scorer):
    tc, entry = tuning.search(cfg(), table(), table(), 0, tmp_path / "trials")
    assert entry["trials_run"] == 5 and len(scorer.calls) == 5
    assert all(call.epochs == 2 for call in scorer.calls)  # tuner.epochs per trial
    values = [t["value"] for t in entry["trials"]]
    assert entry["best_value"] == max(values)
    best = next(t for t in entry["trials"] if t["trial"] == entry["best_trial"])
    assert entry["best_hyperparameters"] == best["hyperparameters"]
    # the returned params carry the best trial's values, with the full epochs for the final fit
    assert tc.filters == tuning.scaled_filters((8, 16), best["hyperparameters"]["width"])
    assert tc.dropout == best["hyperparameters"]["dropout"] and tc.epochs == 9
    assert tc.learning_rate == best["hyperparameters"]["learning_rate"]
    # each trial's score is the scorer's value for its params
    for trial, call in zip(sorted(entry["trials"], key=lambda t: t["trial"]), scorer.calls):
        assert trial["value"] == pytest.approx(call.filters[0] / 16 - call.dropout)
    saved = json.loads((tmp_path / "trials" / tuning.SUMMARY).read_text())
    assert saved["best_hyperparameters"] == entry["best_hyperparameters"]
    assert len(list((tmp_path / "trials" / saved["project"]).glob("trial_*/trial.json"))) == 5


def test_interrupted_search_resumes_where_it_stopped(tmp_path, monkeypatch):
    whole = Scorer()
    monkeypatch.setattr(cnn_train, "train", whole)
    _, uninterrupted = tuning.search(cfg(), table(), table(), 0, tmp_path / "a")

    cut = Scorer(interrupt_at=2)
    monkeypatch.setattr(cnn_train, "train", cut)
    with pytest.raises(KeyboardInterrupt):
        tuning.search(cfg(), table(), table(), 0, tmp_path / "b")
    assert len(cut.calls) == 2
    rest = Scorer()
    monkeypatch.setattr(cnn_train, "train", rest)
    _, resumed = tuning.search(cfg(), table(), table(), 0, tmp_path / "b")
    assert len(rest.calls) == 3  # the trial that was cut off, and the two never started
    assert resumed == uninterrupted
    again = Scorer()
    monkeypatch.setattr(cnn_train, "train", again)
    _, reused = tuning.search(cfg(), table(), table(), 0, tmp_path / "b")
    assert again.calls == [] and reused == uninterrupted  # a finished search is reused, not rerun


def test_changed_params_or_data_start_a_new_search(tmp_path, scorer):
    tuning.search(cfg(), table(), table(), 0, tmp_path)
    tuning.search(cfg(), table(8), table(), 0, tmp_path)
    tuning.search(cfg(max_trials=2), table(8), table(), 0, tmp_path)
    assert len(scorer.calls) == 5 + 5 + 2
    projects = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(projects) == 1  # only the current search is kept


@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_other_algorithms(tmp_path, scorer, algorithm):
    tc, entry = tuning.search(cfg(algorithm=algorithm, max_trials=4, epochs=4), table(), table(), 0, tmp_path)
    assert entry["algorithm"] == algorithm and entry["trials_run"] == 4 and len(scorer.calls) == 4
    if algorithm == "hyperband":  # brackets give trials fewer epochs than the most
        assert {t.epochs for t in scorer.calls} <= {1, 2, 4} and min(t.epochs for t in scorer.calls) < 4
    assert tc.epochs == 9


def test_search_off_keeps_the_params(tmp_path, scorer):
    given = cfg(max_trials=0)
    tc, entry = tuning.search(given, table(), table(), 0, tmp_path)
    assert tc is given and entry["max_trials"] == 0 and scorer.calls == []
    assert json.loads((tmp_path / tuning.SUMMARY).read_text())["max_trials"] == 0


class RecordingRun:
    def __init__(self):
        self.opened, self.logged = [], []

    @contextlib.contextmanager
    def nested(self, name, params=None):
        self.opened.append((name, params))
        yield self

    def log_metrics(self, metrics, step=None):
        self.logged.append(metrics)


def test_each_trial_is_a_nested_run(tmp_path, scorer):
    run = RecordingRun()
    tuning.search(cfg(max_trials=3), table(), table(), 0, tmp_path, run=run)
    assert [name for name, _ in run.opened] == [f"train_cnn trial {i}" for i in range(3)]
    assert all(set(params) == {"learning_rate", "dropout", "augment_strength", "width", "epochs"}
               for _, params in run.opened)
    assert len(run.logged) == 3 and all("best_val_balanced_accuracy" in m for m in run.logged)


def test_a_failing_trial_stops_the_search_with_its_error(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("image 17 is corrupt")

    monkeypatch.setattr(cnn_train, "train", broken)
    with pytest.raises(Exception, match="trial 0 failed: image 17 is corrupt"):
        tuning.search(cfg(), table(), table(), 0, tmp_path)


def test_bad_search_space_is_named():
    with pytest.raises(ParamsError, match="train_cnn.tuner.space.*learning_rate"):
        parse({"train_cnn": {"tuner": {"space": {"learning_rate": [0.01, 0.001]}}}})
    with pytest.raises(ParamsError, match="train_cnn.tuner.algorithm"):
        parse({"train_cnn": {"tuner": {"algorithm": "grid"}}})
    with pytest.raises(ParamsError, match="imagenet"):
        parse({"train_cnn": {"arch": "mobilenet_v3_small", "weights": "imagenet",
                             "tuner": {"space": {"arch": ["compact", "mobilenet_v3_small"]}}}})
