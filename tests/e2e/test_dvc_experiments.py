"""`dvc exp run` of the real dvc.yaml in a temporary git + DVC repository on tiny params: in the
workspace, with --temp and through the queue; `dvc exp show`, MLflow, plots, keeping a winner,
and sharing through a local DVC remote."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from skinlab import gate
from tests.e2e.repo import BIN, DVC, commit_all, make_copy, run
from tests.helpers import write_params
from tests.stages.conftest import SMALL

# smaller still than the stage tests' SMALL: this module runs the pipeline three and a half times
TINY = {**SMALL, "base": {"image_size": 16},
        "download": {"synthetic": {**SMALL["download"]["synthetic"], "n_lesions": 60, "width": 64, "height": 48}},
        "augment": {"balance_target": 30, "preview_per_class": 1},
        "train_baselines": {**SMALL["train_baselines"], "features": ["hsv_hist"], "models": ["logreg", "tree"]}}
# name: (params set, how it runs); together they set a param of every stage
EXPERIMENTS = {
    "ws-augment": (["augment.balance=none", "train_baselines.grid_size=1"], []),
    "temp-split": (["split.val_fraction=0.25"], ["--temp"]),
    "queued-download": (["download.synthetic.n_lesions=70"], ["--queue"]),
}


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def wait_for_queue(root: Path, env: dict, names: list[str], limit: float = 900) -> None:
    deadline = time.monotonic() + limit
    while True:
        status = run([DVC, "queue", "status"], root, env)
        if not any(word in status for word in ("Queued", "Running")):
            break
        assert time.monotonic() < deadline, f"queue still busy after {limit}s:\n{status}"
        time.sleep(3)
    for name in names:
        line = next((line for line in status.splitlines() if f" {name} " in f" {line} "), "")
        if "Success" not in line:
            logs = run([DVC, "queue", "logs", name], root, env) if line else ""
            pytest.fail(f"queued experiment {name}: {line or 'not listed'}\n{status}\n{logs}")


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    """A committed baseline built by `dvc repro`, then one experiment per stage."""
    root, env = make_copy(tmp_path_factory.mktemp("exp") / "repo")
    write_params(root / "params.yaml", **TINY)
    # the remote is set before the experiments: `dvc exp push` uses the one of the experiment's commit
    run([DVC, "remote", "add", "--default", "shared", str(root.parent / "dvc-remote")], root, env)
    run([DVC, "repro"], root, env)
    commit_all(root, env, "baseline")
    env = dict(env, SKINLAB_MLFLOW="1")  # the experiments log to MLflow's default store, <root>/mlflow.db
    outputs = {}
    for name, (settings, how) in EXPERIMENTS.items():
        flags = [arg for setting in settings for arg in ("-S", setting)]
        outputs[name] = run([DVC, "exp", "run", "-n", name, *how, *flags], root, env)
    run([DVC, "queue", "start"], root, env)
    wait_for_queue(root, env, [n for n, (_, how) in EXPERIMENTS.items() if "--queue" in how])
    return root, env, outputs


def exp_table(root: Path, env: dict) -> dict[str, dict]:
    """`dvc exp show --json` as {name: {"params": ..., "metrics": {file: data}}}."""
    rows = {}

    def walk(entry):
        data = entry.get("data") or {}
        if entry.get("name") and data:
            params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
            metrics = {path: m.get("data", {}) for path, m in (data.get("metrics") or {}).items()}
            rows[entry["name"]] = {"params": params, "metrics": metrics}
        for group in entry.get("experiments") or []:
            for rev in group.get("revs") or []:
                walk(rev)

    for entry in json.loads(run([DVC, "exp", "show", "--json"], root, env)):
        walk(entry)
    return rows


def test_a_workspace_experiment_reruns_only_what_its_param_touches(experiments):
    _, _, outputs = experiments
    # train_cnn compares itself with the best baseline, so it follows train_baselines,
    # fairness_eval judges both, and embed maps data/augmented and the CNN's embeddings
    assert ran_stages(outputs["ws-augment"]) == {"augment", "train_baselines", "train_cnn", "fairness_eval", "embed"}
    # a temporary copy has no data/downloads (cache: false), so download runs again there
    assert ran_stages(outputs["temp-split"]) >= {"split", "augment", "train_baselines"}
    assert "Queued experiment" in outputs["queued-download"]


def test_exp_show_lists_every_experiment_with_its_params_and_metrics(experiments):
    root, env, _ = experiments
    table = exp_table(root, env)
    assert set(EXPERIMENTS) <= set(table), sorted(table)
    params = {name: table[name]["params"] for name in EXPERIMENTS}
    assert params["ws-augment"]["augment"]["balance"] == "none" and params["ws-augment"]["train_baselines"]["grid_size"] == 1
    assert params["temp-split"]["split"]["val_fraction"] == 0.25
    assert params["queued-download"]["download"]["synthetic"]["n_lesions"] == 70
    for name in EXPERIMENTS:
        metrics = table[name]["metrics"]
        assert set(metrics) == set(gate.declared_metrics(root / "dvc.yaml")), name
        assert 0.0 <= metrics["metrics/train_baselines.json"]["best"]["test"]["balanced_accuracy"] <= 1.0, name
    assert table["ws-augment"]["metrics"]["metrics/augment.json"]["train"]["n_augmented"] == 0
    assert table["queued-download"]["metrics"]["metrics/download.json"]["n_lesions"] == 70


def test_every_run_logs_to_the_one_mlflow_store_of_the_repository(experiments):
    root, _, _ = experiments
    with sqlite3.connect(root / "mlflow.db") as db:
        names = [name for (name,) in db.execute("select name from runs")]
    # the three experiments (the baseline ran without MLflow), from the workspace and from copies
    assert names.count("train_baselines") == 3
    assert names.count("augment") == 3
    assert names.count("split") == 2  # temp-split, queued-download
    assert not list((root / ".dvc").rglob("mlflow.db")), "an experiment logged inside its temporary copy"


# Plots of a feature that the default params turn off: the stage writes the header only.
EMPTY_WHEN_OFF = {"plots/segment/unet_pretraining.csv"}  # segment.unet.pretrain.epochs: 0


def test_plots_show_and_diff_render_every_declared_plot(experiments):
    root, env, _ = experiments
    declared = {next(iter(p)) if isinstance(p, dict) else p
                for stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values() for p in stage.get("plots", [])}
    # a declared folder (plots/embed) is rendered file by file
    files = {p for p in declared if not (root / p).is_dir()}
    files |= {str(f.relative_to(root)) for p in declared if (root / p).is_dir() for f in (root / p).iterdir()}
    assert any(f.startswith("plots/embed/") and f.endswith(".csv") for f in files)
    shown = json.loads(run([DVC, "plots", "show", "--json", "-o", str(root.parent / "plots_show")], root, env))
    assert not shown.get("errors"), shown.get("errors")
    assert set(shown["data"]) == files
    diff = json.loads(run([DVC, "plots", "diff", "HEAD", "temp-split", "--json", "-o", str(root.parent / "plots_diff")], root, env))
    assert not diff.get("errors"), diff.get("errors")
    assert set(diff["data"]) == files
    for path, renders in diff["data"].items():
        revisions = {rev for render in renders for rev in render["revisions"]}
        if path in EMPTY_WHEN_OFF:  # nothing to draw, and the file says so by having no rows
            assert renders == [] and len((root / path).read_text().splitlines()) == 1, path
        else:
            assert len(revisions) == 2, (path, revisions)


def test_keep_the_winner_and_snapshot_it(experiments):
    root, env, _ = experiments
    run([DVC, "exp", "apply", "temp-split"], root, env)
    assert yaml.safe_load((root / "params.yaml").read_text())["split"]["val_fraction"] == 0.25
    run([str(BIN / "python"), "-m", "skinlab.results", "save", "temp-split"], root, env)
    snapshot = root / "results" / "temp-split"
    assert (snapshot / "params.yaml").read_bytes() == (root / "params.yaml").read_bytes()
    for path in gate.declared_metrics(root / "dvc.yaml"):
        assert (snapshot / path).read_bytes() == (root / path).read_bytes(), path
    commit_all(root, env, "keep temp-split")


def test_data_models_and_experiments_are_shared_through_a_remote(experiments, tmp_path):
    root, env, _ = experiments
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    run(["git", "init", "-q", "--bare", str(origin)], root, env)
    run(["git", "push", "-q", str(origin), "HEAD:refs/heads/main"], root, env)
    run([DVC, "push"], root, env)
    run([DVC, "exp", "push", str(origin), "queued-download"], root, env)

    run(["git", "clone", "-q", "--branch", "main", str(origin), str(clone)], tmp_path, env)
    run([DVC, "pull"], clone, env)
    assert (clone / "models" / "baselines" / "best.joblib").is_file()
    assert only_downloads_missing(run([DVC, "status"], clone, env))
    assert "queued-download" in run([DVC, "exp", "list", "--all-commits", str(origin)], clone, env)
    run([DVC, "exp", "pull", str(origin), "queued-download"], clone, env)
    run([DVC, "exp", "apply", "queued-download"], clone, env)
    assert json.loads((clone / "metrics" / "download.json").read_text())["n_lesions"] == 70
    assert only_downloads_missing(run([DVC, "status"], clone, env))  # its outputs came from the remote too


def only_downloads_missing(status: str) -> bool:
    """Everything pulled is in place; only data/downloads (cache: false, so never pushed) is not."""
    changed = [line.strip() for line in status.splitlines() if line.startswith("\t\t")]
    return changed == ["deleted:            data/downloads"]
