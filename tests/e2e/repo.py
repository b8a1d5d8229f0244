"""A copy of the repository, with the tiny params of the stage tests, in which to run dvc."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, write_params
from tests.stages.conftest import SMALL

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def make_copy(root: Path, mlflow: bool = False) -> tuple[Path, dict]:
    """The repository's files (without committed outputs) in `root`, a fresh git repository on the
    SMALL params; MLflow off, or on with its default store (`root/mlflow.db`)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file() and not name.startswith(("metrics/", "plots/", "results/")) and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    write_params(root / "params.yaml", **SMALL)
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env.update(SKINLAB_MLFLOW="1" if mlflow else "0", DVC_NO_ANALYTICS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    run(["git", "init", "-q"], root, env)
    run(["git", "config", "user.name", "skinlab tests"], root, env)
    run(["git", "config", "user.email", "tests@skinlab.invalid"], root, env)
    return root, env


def commit_all(root: Path, env: dict, message: str) -> None:
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-q", "-m", message], root, env)
