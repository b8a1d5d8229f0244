"""`dvc repro` of the real dvc.yaml on a small synthetic configuration, in a copy of the repository."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, write_params
from tests.stages.conftest import SMALL


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file() and not name.startswith(("metrics/", "plots/")) and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    write_params(root / "params.yaml", **SMALL)
    env = dict(os.environ, SKINLAB_MLFLOW="0", DVC_NO_ANALYTICS="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run(["git", "init", "-q"], root, env)
    return root, env


def test_repro_builds_everything_then_has_nothing_to_do(repo_copy):
    root, env = repo_copy
    run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)
    for stage in ("download", "split", "augment", "train_baselines", "train_cnn"):
        assert json.loads((root / "metrics" / f"{stage}.json").read_text()), stage
    assert (root / "models" / "baselines" / "best.joblib").exists()
    assert (root / "models" / "cnn" / "model.keras").exists()
    assert json.loads((root / "metrics" / "train_cnn.json").read_text())["vs_best_baseline"]["baseline"]
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"download", "split", "augment", "train_baselines", "train_cnn"}
    again = run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)
    assert "Running stage" not in again
    status = run([str(Path(sys.executable).parent / "dvc"), "status"], root, env)
    assert "up to date" in status


def test_changing_an_augment_param_reruns_augment_and_downstream_only(repo_copy):
    root, env = repo_copy
    run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)  # built (a no-op after the test above)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["augment"]["transforms"]["hflip"] = 0.25
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    output = run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)
    ran = {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
    # train_cnn compares itself with the best baseline, so it reruns when the baseline's outputs change
    assert {"augment", "train_baselines"} <= ran <= {"augment", "train_baselines", "train_cnn"}


def test_changing_a_cnn_param_reruns_train_cnn_only(repo_copy):
    """The CNN reads data/raw at its own size: its params never rerun augment or the baselines."""
    root, env = repo_copy
    run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train_cnn"]["image_size"] = 20
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    output = run([str(Path(sys.executable).parent / "dvc"), "repro"], root, env)
    ran = {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
    assert ran == {"train_cnn"}
    assert json.loads((root / "metrics" / "train_cnn.json").read_text())["image_size"] == 20
