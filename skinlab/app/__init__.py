"""The web app: a FastAPI service over the models `dvc repro` built (python -m skinlab.app)."""
