"""MLflow: one run per stage, named after the stage; metrics JSON stays the source of truth.

Where runs go:
- `SKINLAB_MLFLOW=0` (or `off`/`false`) turns tracking off.
- `MLFLOW_TRACKING_URI` points it elsewhere (MLflow's own variable).
- Otherwise a sqlite store `mlflow.db` at the repository root, as an absolute URI. Inside a
  `dvc exp run --temp`/`--queue` copy (under `<repo>/.dvc/tmp/exps/`) the root is the real
  repository's, so every experiment logs to the same store.
No stage reads MLflow back.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel

EXPERIMENT = "skinlab"
log = logging.getLogger(__name__)


def enabled() -> bool:
    return os.environ.get("SKINLAB_MLFLOW", "1").strip().lower() not in ("0", "off", "false", "no")


def repo_root(start: str | Path | None = None) -> Path:
    """The repository root, seen through a DVC experiment's temporary copy."""
    here = Path(start or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists() or (candidate / ".git").exists():
            return candidate
    return here


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


def flatten(data, prefix: str = "") -> dict:
    """Nested dicts/pydantic models to {'a.b': value} for MLflow params and metrics."""
    if isinstance(data, BaseModel):
        data = data.model_dump()
    flat = {}
    if isinstance(data, dict):
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(data, (list, tuple)) and all(not isinstance(v, (dict, list, tuple)) for v in data):
        flat[prefix[:-1]] = ",".join(str(v) for v in data)
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            flat.update(flatten(value, f"{prefix}{index}."))
    else:
        flat[prefix[:-1]] = data
    return flat


def numeric_metrics(metrics: dict) -> dict:
    out = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            out[key.replace(" ", "_")] = float(value)
    return out


class StageRun:
    """What a stage sees of MLflow: log metrics and artifacts, open nested runs."""

    def __init__(self, mlflow_module=None):
        self._mlflow = mlflow_module

    @property
    def active(self) -> bool:
        return self._mlflow is not None

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self._mlflow:
            self._mlflow.log_metrics(numeric_metrics(metrics), step=step)

    def log_artifact(self, path: str | Path) -> None:
        if self._mlflow and Path(path).exists():
            self._mlflow.log_artifact(str(path))

    @contextlib.contextmanager
    def nested(self, name: str, params: dict | None = None) -> Iterator["StageRun"]:
        if not self._mlflow:
            yield self
            return
        with self._mlflow.start_run(run_name=name, nested=True):
            if params:
                self._mlflow.log_params(flatten(params))
            yield self


def _ensure_experiment(mlflow, default_store: bool) -> None:
    """With the default store, artifacts go to <repo>/mlruns, never into a DVC temporary copy."""
    if default_store and mlflow.get_experiment_by_name(EXPERIMENT) is None:
        try:
            mlflow.create_experiment(EXPERIMENT, artifact_location=(repo_root() / "mlruns").as_uri())
        except mlflow.exceptions.MlflowException:
            pass  # created meanwhile by a parallel run
    mlflow.set_experiment(EXPERIMENT)


@contextlib.contextmanager
def stage_run(name: str, params=None, tags: dict | None = None) -> Iterator[StageRun]:
    """Open one MLflow run named after the stage, with its params logged."""
    if not enabled():
        yield StageRun(None)
        return
    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    default_store = not os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri())  # note: MLflow also exports it as MLFLOW_TRACKING_URI
    _ensure_experiment(mlflow, default_store)
    with mlflow.start_run(run_name=name, tags={"stage": name, **(tags or {})}):
        if params is not None:
            mlflow.log_params(flatten(params))
        yield StageRun(mlflow)
