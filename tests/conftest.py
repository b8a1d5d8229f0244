"""Shared fixtures: tests never reach the network, and MLflow writes to a throw-away store."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    """Tests run without MLflow unless they ask for `mlflow_store`; set before any fixture,
    module- and session-scoped ones included, so nothing reaches the repository's own store."""
    os.environ["SKINLAB_MLFLOW"] = "0"
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch):
    """A proxy from the environment must not intercept requests to local test servers."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts of a user-given store under ./mlruns
    monkeypatch.setenv("SKINLAB_MLFLOW", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def shared_dataset(name: str) -> Path:
    """A real data set from ../shared/data, or a skip saying why it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent: real sample data lives only beside the development checkout (../shared/data)")
    return path
