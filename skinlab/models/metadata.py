"""Patient metadata as a fixed-length vector for the CNN's second input.

Missing values are common (HAM10000 has ages left blank, sex and site 'unknown'; the ISIC 2018
test images and most folder imports have no metadata at all), so each field carries an explicit
missing indicator and no row is ever dropped. `dx_type` is never a feature: it records how the
diagnosis was confirmed (histopathology for most melanomas) and so leaks the label.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

FIELDS = ("age", "sex", "localization")
FORBIDDEN = ("dx", "dx_type")
SEXES = ("male", "female")
# HAM10000's localization vocabulary (its 'unknown' counts as missing).
SITES = ("abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand",
         "lower extremity", "neck", "scalp", "trunk", "upper extremity")
AGE_SCALE = 100.0  # ages become age/100, about 0..1
MISSING = ("", "unknown", "nan", "none", "na", "n/a")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip().lower() in MISSING


def columns(fields: Sequence[str]) -> list[str]:
    """Names of the vector's entries, in order."""
    names = []
    for field in _check(fields):
        if field == "age":
            names += ["age", "age_missing"]
        elif field == "sex":
            names += [f"sex_{s}" for s in SEXES] + ["sex_missing"]
        else:
            names += [f"site_{s}" for s in SITES] + ["site_other", "site_missing"]
    return names


def encode(frame: pd.DataFrame, fields: Sequence[str]) -> np.ndarray:
    """(n, len(columns(fields))) float32; a column absent from `frame` counts as missing everywhere.

    Ages that are not numbers, negative or above 120 are an error naming the row, not a guess.
    """
    fields = _check(fields)
    n = len(frame)
    parts = []
    for field in fields:
        values = frame[field].tolist() if field in frame.columns else [None] * n
        if field == "age":
            block = np.zeros((n, 2), np.float32)
            for row, value in enumerate(values):
                if _missing(value):
                    block[row, 1] = 1.0
                    continue
                try:
                    age = float(value)
                except ValueError:
                    raise ValueError(f"metadata row {row}: age {value!r} is not a number") from None
                if not 0.0 <= age <= 120.0:
                    raise ValueError(f"metadata row {row}: age {value!r} is outside 0..120")
                block[row, 0] = age / AGE_SCALE
        else:
            vocabulary = SEXES if field == "sex" else SITES
            extra = 1 if field == "sex" else 2  # sex: missing; site: other, missing
            block = np.zeros((n, len(vocabulary) + extra), np.float32)
            for row, value in enumerate(values):
                text = "" if _missing(value) else str(value).strip().lower()
                if not text:
                    block[row, -1] = 1.0
                elif text in vocabulary:
                    block[row, vocabulary.index(text)] = 1.0
                elif field == "sex":
                    block[row, -1] = 1.0
                else:
                    block[row, -2] = 1.0
        parts.append(block)
    return np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.float32)


def _check(fields: Sequence[str]) -> tuple[str, ...]:
    fields = tuple(fields)
    for field in fields:
        if field in FORBIDDEN:
            raise ValueError(f"metadata field {field!r} is never a feature: it leaks the diagnosis")
        if field not in FIELDS:
            raise ValueError(f"unknown metadata field {field!r}; valid: {', '.join(FIELDS)}")
    return fields
