"""The two label tables of the HAM10000 release, read as strings and checked row by row.

``HAM10000_metadata`` (the training images) and ``ISIC2018_Task3_Test_GroundTruth`` (the
official test set: HAM columns plus ``dataset``, lesion ids ``HAMTEST_...``; older copies
use the ISIC one-hot layout ``image, MEL, NV, ...``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from skinlab.data.raw import InputError
from skinlab.data.schema import CLASSES, HAM_COLUMNS

# ISIC 2018 Task 3 ground truth: one-hot columns in upper case.
ISIC_ONE_HOT = {code.upper(): code for code in CLASSES}


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or a Dataverse tab file as strings, so values pass through unchanged."""
    text = Path(path).read_text(encoding="utf-8-sig")
    header = text.split("\n", 1)[0]
    sep = "\t" if header.count("\t") > header.count(",") else ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{Path(path).name}: cannot parse as a table ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda column: column.str.strip())


def read_ham_metadata(path: Path) -> pd.DataFrame:
    table = read_table(path)
    missing = [c for c in HAM_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path.name}: missing column(s) {missing}; columns found: {list(table.columns)}")
    table["dx"] = table["dx"].str.lower()
    _check_rows(path, table)
    return table


def read_test_ground_truth(path: Path) -> pd.DataFrame:
    """Read the ISIC 2018 Task 3 test labels, HAM-style (``dx``) or ISIC-style (one-hot)."""
    table = read_table(path)
    if {"image_id", "dx"} <= set(table.columns):
        table["dx"] = table["dx"].str.lower()
        for column in HAM_COLUMNS:
            if column not in table.columns:
                table[column] = ""
        table.loc[table["lesion_id"] == "", "lesion_id"] = table["image_id"]
    elif "image" in table.columns and set(ISIC_ONE_HOT) <= set(table.columns):
        table = _from_one_hot(path, table)
    else:
        raise InputError(
            f"{path.name}: expected HAM columns (image_id, dx, ...) or ISIC one-hot columns "
            f"(image, {', '.join(ISIC_ONE_HOT)}); columns found: {list(table.columns)}"
        )
    _check_rows(path, table)
    return table


def _from_one_hot(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    codes = list(ISIC_ONE_HOT)
    try:
        values = table[codes].astype(float)
    except ValueError as err:
        raise InputError(f"{path.name}: one-hot columns {codes} must hold numbers ({err})") from err
    valid = ((values == 1.0).sum(axis=1) == 1) & (values.sum(axis=1) == 1.0)
    if not valid.all():
        first = int(valid.to_numpy().argmin())
        raise InputError(
            f"{path.name}: row {first + 2} ({table['image'].iloc[first]}) must have exactly one of "
            f"{codes} set to 1 and the others to 0"
        )
    dx = values.idxmax(axis=1).map(ISIC_ONE_HOT)
    # Test images carry no lesion grouping; each image stands for its own lesion.
    return pd.DataFrame(
        {
            "lesion_id": table["image"],
            "image_id": table["image"],
            "dx": dx,
            "dx_type": "",
            "age": "",
            "sex": "unknown",
            "localization": "unknown",
        }
    )


def _check_rows(path: Path, table: pd.DataFrame) -> None:
    if table.empty:
        raise InputError(f"{path.name}: no rows")
    for row, (image_id, dx) in enumerate(zip(table["image_id"], table["dx"]), start=2):
        if not image_id:
            raise InputError(f"{path.name}: row {row} has an empty image_id")
        if dx not in CLASSES:
            raise InputError(f"{path.name}: row {row} ({image_id}) has dx {dx!r}, not one of {list(CLASSES)}")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if not duplicated.empty:
        raise InputError(f"{path.name}: image_id {duplicated.iloc[0]!r} appears more than once")
