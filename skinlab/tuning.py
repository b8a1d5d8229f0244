"""keras-tuner search over train_cnn's hyper-parameters (`train_cnn.tuner`).

Each trial is a full `cnn_train.train` run (the same tf.data stream, schedule, loss and model
selection as the final fit) for `tuner.epochs` epochs (hyperband: the epochs its bracket gives
the trial, trained from scratch), scored by its best val value of `train_cnn.monitor`, and
logged as a nested MLflow run. Every trial starts from the same seed, so a trial's score does
not depend on the order of the trials, and a search that is interrupted resumes where it
stopped (keras-tuner reloads the project and reruns the trial that was cut off).

Trials live in `<trials dir>/<key>/`, where the key hashes the search params, the rest of
train_cnn's params, the seed and the train/val images and labels: a change of any of these
starts a new search; rerunning with the same ones finds the search finished and reuses it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from skinlab import io
from skinlab.params import CnnTuner, TrainCnn

log = logging.getLogger(__name__)
SUMMARY = "search.json"
OFF = {"max_trials": 0}


def declare(hp, space) -> None:
    """Declare the search space on a keras_tuner.HyperParameters (equal ends or one choice: fixed)."""
    for name in ("learning_rate", "dropout", "augment_strength"):
        low, high = getattr(space, name)
        if low == high:
            hp.Fixed(name, float(low))
        else:
            hp.Float(name, float(low), float(high), sampling="log" if name == "learning_rate" else "linear")
    for name in ("width", "arch"):
        choices = list(getattr(space, name))
        if len(choices) == 1:
            hp.Fixed(name, choices[0])
        elif choices:
            hp.Choice(name, choices)


def scaled_filters(filters: tuple[int, ...], width: float) -> tuple[int, ...]:
    """Each width times `width`, rounded to a multiple of 4 (at least 4)."""
    return tuple(max(4, int(round(f * width / 4)) * 4) for f in filters)


def apply(tc: TrainCnn, values: dict) -> TrainCnn:
    """train_cnn params with a trial's values: `width` scales the filters, `augment_strength` the
    zoom, brightness, contrast, saturation and hue (flip and turn probabilities stay); hyperband's
    `tuner/epochs` sets the epochs. Validated like params.yaml."""
    data = tc.model_dump()
    for name in ("learning_rate", "dropout", "arch"):
        if name in values:
            data[name] = values[name]
    if "width" in values:
        data["filters"] = scaled_filters(tc.filters, float(values["width"]))
    if "augment_strength" in values:
        s, aug = float(values["augment_strength"]), data["augment"]
        aug.update(zoom_max=min(2.0, 1 + (aug["zoom_max"] - 1) * s), brightness=min(1.0, aug["brightness"] * s),
                   contrast=min(0.9, aug["contrast"] * s), saturation=min(0.9, aug["saturation"] * s),
                   hue=min(0.5, aug["hue"] * s))
    if "tuner/epochs" in values:
        data["epochs"] = int(values["tuner/epochs"])
    data["tuner"] = OFF
    return TrainCnn.model_validate(data)


def search_key(tc: TrainCnn, seed: int, train, val) -> str:
    """Hash of everything a trial's score depends on."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"train_cnn": tc.model_dump(mode="json"), "seed": seed}, sort_keys=True).encode())
    for table in (train, val):
        digest.update("\n".join(Path(str(p)).name for p in table.paths).encode())
        digest.update(np.asarray(table.labels).tobytes())
        digest.update(np.ascontiguousarray(table.metadata, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def _oracle(cfg: CnnTuner, objective: str, seed: int):
    import keras_tuner as kt

    goal = kt.Objective(objective, direction="max")
    if cfg.algorithm == "random":
        return kt.oracles.RandomSearchOracle(objective=goal, max_trials=cfg.max_trials, seed=seed)
    if cfg.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(objective=goal, max_trials=cfg.max_trials, seed=seed,
                                                     num_initial_points=min(cfg.max_trials, 3))
    oracle = kt.oracles.HyperbandOracle(objective=goal, max_epochs=cfg.epochs, factor=cfg.hyperband_factor, seed=seed)
    oracle.max_trials = cfg.max_trials  # hyperband has no cap of its own: stop after max_trials
    return oracle


def _tuner_class():
    import keras_tuner as kt
    from keras_tuner.engine.base_tuner import BaseTuner  # public module; kt exports only Tuner (Keras models)

    class Search(BaseTuner):
        """Runs each trial through cnn_train.train; errors stop the search instead of being skipped."""

        def __init__(self, fit, **kwargs):
            super().__init__(**kwargs)
            self.fit = fit

        def run_trial(self, trial, *args, **kwargs):
            try:
                return self.fit(trial.trial_id, dict(trial.hyperparameters.values))
            except Exception as error:
                raise kt.errors.FatalError(f"train_cnn tuner: trial {trial.trial_id} failed: {error}") from error

    return Search


def search(tc: TrainCnn, train, val, seed: int, trials_dir: Path, strategy=None, run=None):
    """Run (or resume, or reuse) the search: (train_cnn params with the best values, metrics entry).

    With `tuner.max_trials: 0` the params come back as given and the entry says the search is off.
    """
    from skinlab import cnn_train

    cfg, trials_dir = tc.tuner, Path(trials_dir)
    trials_dir.mkdir(parents=True, exist_ok=True)
    if cfg.max_trials == 0:
        _prune(trials_dir, keep=None)
        entry = {"algorithm": cfg.algorithm, "max_trials": 0, "note": "search off: train_cnn params used as given"}
        io.write_json(trials_dir / SUMMARY, entry)
        return tc, entry
    key = search_key(tc, seed, train, val)
    _prune(trials_dir, keep=key)
    import keras_tuner as kt

    objective = tc.monitor

    def fit(trial_id: str, values: dict) -> dict:
        trial_tc = apply(tc, {"tuner/epochs": cfg.epochs} | values)  # hyperband's own tuner/epochs wins
        cnn_train.deterministic(seed)  # every trial from the same seed: scores independent of trial order
        shown = {k: v for k, v in values.items() if not k.startswith("tuner/")} | {"epochs": trial_tc.epochs}
        log.info("tuner trial %s: %s", trial_id, shown)
        if run is None:
            result = cnn_train.train(trial_tc, train, val, seed, strategy, None)
        else:
            with run.nested(f"train_cnn trial {trial_id}", shown) as child:
                result = cnn_train.train(trial_tc, train, val, seed, strategy, child)
                child.log_metrics({f"best_{objective}": result.best_value, "best_epoch": result.best_epoch})
        log.info("tuner trial %s: best %s %.4f at epoch %d", trial_id, objective, result.best_value, result.best_epoch)
        return {objective: result.best_value}

    hp = kt.HyperParameters()
    declare(hp, cfg.space)
    oracle = _oracle(cfg, objective, seed)
    oracle.hyperparameters = hp
    tuner = _tuner_class()(fit, oracle=oracle, directory=str(trials_dir), project_name=key)
    if tuner.remaining_trials is not None and tuner.remaining_trials < cfg.max_trials:
        log.info("tuner: resuming %s, %d of %d trials left", trials_dir / key, tuner.remaining_trials, cfg.max_trials)
    tuner.search(verbose=0)
    entry = summary(tuner.oracle, cfg, objective)
    io.write_json(trials_dir / SUMMARY, {"project": key, **entry})
    best = entry["best_hyperparameters"]
    return apply(tc, best), entry


def summary(oracle, cfg: CnnTuner, objective: str) -> dict:
    """The metrics entry: every trial's values and score, the best trial and its values."""
    trials = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        score = trial.score
        trials.append({"trial": trial_id, "status": str(trial.status),
                       "value": None if score is None else float(score),
                       "hyperparameters": {k: _plain(v) for k, v in trial.hyperparameters.values.items()
                                           if k in ("tuner/epochs",) or not k.startswith("tuner/")}})
    done = [t for t in trials if t["value"] is not None]
    if not done:
        raise RuntimeError(f"train_cnn tuner: no trial finished in {cfg.max_trials} (see the log)")
    best = max(done, key=lambda t: (t["value"], -int(t["trial"])))  # ties: the earliest trial
    best_values = {k: v for k, v in best["hyperparameters"].items() if k != "tuner/epochs"}
    return {"algorithm": cfg.algorithm, "max_trials": cfg.max_trials, "trials_run": len(done), "objective": objective,
            "epochs_per_trial": cfg.epochs, "best_trial": best["trial"], "best_value": best["value"],
            "best_hyperparameters": best_values, "trials": trials}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _prune(trials_dir: Path, keep: str | None) -> None:
    """Remove other searches' projects, so the directory holds this search only."""
    for child in trials_dir.iterdir():
        if child.is_dir() and child.name != keep:
            shutil.rmtree(child)
