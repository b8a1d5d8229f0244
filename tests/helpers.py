"""Tiny data sets made on the fly, in the folder-import layout."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml

from skinlab.data.schema import CLASSES

REPO = Path(__file__).resolve().parents[1]


def tiny_image(seed: int, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """A smooth skin-coloured image with a dark blob, BGR for cv2.imwrite."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = np.full((height, width, 3), (150, 170, 210), np.uint8)
    centre = (int(rng.integers(10, width - 10)), int(rng.integers(8, height - 8)))
    cv2.circle(image, centre, 6, (40, 60, 90), -1)
    return image


def make_folder(root: Path, rows: list[dict], masks: bool = False, metadata_name: str = "metadata.csv") -> Path:
    """Write images for each row (unless row has `_no_file`) and the metadata table."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    if masks:
        (root / "masks").mkdir(exist_ok=True)
    for index, row in enumerate(rows):
        if row.get("_no_file"):
            continue
        image = tiny_image(index)
        cv2.imwrite(str(root / "images" / f"{row['image_id']}.jpg"), image)
        if masks:
            mask = np.zeros(image.shape[:2], np.uint8)
            mask[10:20, 10:20] = 255
            cv2.imwrite(str(root / "masks" / f"{row['image_id']}_segmentation.png"), mask)
    table = pd.DataFrame([{k: v for k, v in row.items() if not k.startswith("_")} for row in rows])
    table.to_csv(root / metadata_name, index=False)
    return root


def rows_per_class(n_lesions_per_class: int = 4, images_per_lesion: int = 2) -> list[dict]:
    rows = []
    for dx in CLASSES:
        for lesion in range(n_lesions_per_class):
            for image in range(images_per_lesion):
                rows.append({
                    "lesion_id": f"L_{dx}_{lesion}",
                    "image_id": f"I_{dx}_{lesion}_{image}",
                    "dx": dx,
                    "dx_type": "histo",
                    "age": 40 + lesion,
                    "sex": "female" if lesion % 2 else "male",
                    "localization": "back",
                })
    return rows


def write_params(path: Path, **sections) -> Path:
    """params.yaml from the repository's own file with sections overridden (nested dicts merge)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in sections.items():
        _merge(params.setdefault(section, {}), values)
    path.write_text(yaml.safe_dump(params))
    return path


def _merge(target: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def keras_offline(monkeypatch, tmp_path: Path) -> list[str]:
    """Make Keras' weight download fail as it does offline, with no cached weights; the list
    returned collects the URLs Keras tried."""
    import urllib.error

    from keras.src.backend import config
    from keras.src.utils import file_utils

    calls: list[str] = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))  # no cached weights
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    return calls
