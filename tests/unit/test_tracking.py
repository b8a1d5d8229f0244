from pathlib import Path

from skinlab import tracking


def test_repo_root_inside_a_dvc_experiment_copy_is_the_real_repository(tmp_path):
    real = tmp_path / "project"
    temp_copy = real / ".dvc" / "tmp" / "exps" / "run" / "tmpabc123"
    temp_copy.mkdir(parents=True)
    (temp_copy / "dvc.yaml").write_text("stages: {}\n")
    assert tracking.repo_root(temp_copy) == real


def test_repo_root_finds_dvc_yaml_above(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "stages").mkdir()
    assert tracking.repo_root(tmp_path / "stages") == tmp_path


def test_default_uri_is_an_absolute_sqlite_path(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    uri = tracking.tracking_uri()
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert Path(uri.removeprefix("sqlite:///")).is_absolute()


def test_env_var_points_elsewhere_and_turns_off(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/x.db")
    assert tracking.tracking_uri() == "sqlite:////elsewhere/x.db"
    for value in ("0", "off", "false", "No"):
        monkeypatch.setenv("SKINLAB_MLFLOW", value)
        assert not tracking.enabled()
    monkeypatch.setenv("SKINLAB_MLFLOW", "1")
    assert tracking.enabled()


def test_disabled_run_logs_nothing_and_never_imports_a_store(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINLAB_MLFLOW", "0")
    monkeypatch.chdir(tmp_path)
    with tracking.stage_run("x", {"a": 1}) as run:
        run.log_metrics({"m": 1.0})
        with run.nested("child") as child:
            child.log_metrics({"m": 2.0})
    assert not run.active
    assert not (tmp_path / "mlflow.db").exists()


def test_flatten_and_numeric_metrics():
    flat = tracking.flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 3}]})
    assert flat == {"a.b": 1, "a.c": "1,2", "d.0.e": 3}
    assert tracking.numeric_metrics({"x": 1, "y": None, "z": "s", "w": True, "v": {"u": 0.5}}) == {"x": 1.0, "v.u": 0.5}


def test_nested_runs_are_logged(tmp_path, mlflow_store):
    import mlflow

    with tracking.stage_run("train_baselines", {"p": 1}) as run:
        with run.nested("hog+svm", {"features": "hog"}) as child:
            child.log_metrics({"balanced_accuracy": 0.5})
    mlflow.set_tracking_uri(mlflow_store)
    runs = mlflow.search_runs(experiment_names=["skinlab"])
    assert sorted(runs["tags.mlflow.runName"]) == ["hog+svm", "train_baselines"]
    child_row = runs[runs["tags.mlflow.runName"] == "hog+svm"].iloc[0]
    parent_row = runs[runs["tags.mlflow.runName"] == "train_baselines"].iloc[0]
    assert child_row["tags.mlflow.parentRunId"] == parent_row["run_id"]
    assert child_row["metrics.balanced_accuracy"] == 0.5


def test_default_store_keeps_artifacts_in_the_real_repository(tmp_path, monkeypatch):
    import mlflow

    real = tmp_path / "project"
    temp_copy = real / ".dvc" / "tmp" / "exps" / "run" / "tmpabc"
    temp_copy.mkdir(parents=True)
    (temp_copy / "dvc.yaml").write_text("stages: {}\n")
    (temp_copy / "note.txt").write_text("artifact")
    monkeypatch.chdir(temp_copy)
    monkeypatch.setenv("SKINLAB_MLFLOW", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tracking.stage_run("augment") as run:
        run.log_artifact(temp_copy / "note.txt")
    assert (real / "mlflow.db").exists()
    assert list(real.glob("mlruns/*/artifacts/note.txt")) or list(real.glob("mlruns/*/*/artifacts/note.txt"))
    assert not (temp_copy / "mlruns").exists()
    mlflow.set_tracking_uri(None)
