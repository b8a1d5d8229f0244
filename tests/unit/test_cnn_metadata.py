"""Metadata encoding: explicit missing indicators, no dropped rows, dx_type refused."""
import numpy as np
import pandas as pd
import pytest

from skinlab.models import metadata


def test_encoding_with_missing_values():
    frame = pd.DataFrame({"age": ["45", "", "nan", "80.0"], "sex": ["male", "unknown", "", "female"],
                          "localization": ["back", "unknown", "", "elbow"]})
    x = metadata.encode(frame, ["age", "sex", "localization"])
    names = metadata.columns(["age", "sex", "localization"])
    assert x.shape == (4, len(names)) == (4, 2 + 3 + len(metadata.SITES) + 2)
    col = {name: x[:, names.index(name)] for name in names}
    np.testing.assert_allclose(col["age"], [0.45, 0, 0, 0.8])
    np.testing.assert_array_equal(col["age_missing"], [0, 1, 1, 0])
    np.testing.assert_array_equal(col["sex_male"], [1, 0, 0, 0])
    np.testing.assert_array_equal(col["sex_female"], [0, 0, 0, 1])
    np.testing.assert_array_equal(col["sex_missing"], [0, 1, 1, 0])
    np.testing.assert_array_equal(col["site_back"], [1, 0, 0, 0])
    np.testing.assert_array_equal(col["site_missing"], [0, 1, 1, 0])
    np.testing.assert_array_equal(col["site_other"], [0, 0, 0, 1])
    # every field of every row is exactly one of: a value, or its missing indicator
    assert (x[:, 2:5].sum(axis=1) == 1).all() and (x[:, 5:].sum(axis=1) == 1).all()


def test_data_without_metadata_columns_is_all_missing():
    x = metadata.encode(pd.DataFrame({"image_id": ["a", "b"]}), ["age", "sex"])
    np.testing.assert_array_equal(x, [[0, 1, 0, 0, 1], [0, 1, 0, 0, 1]])
    assert metadata.encode(pd.DataFrame({"age": [1]}), []).shape == (1, 0)


def test_leaky_and_unknown_fields_and_bad_ages_are_refused():
    with pytest.raises(ValueError, match="dx_type.*leaks"):
        metadata.encode(pd.DataFrame({"dx_type": ["histo"]}), ["dx_type"])
    with pytest.raises(ValueError, match="unknown metadata field 'weight'"):
        metadata.columns(["weight"])
    with pytest.raises(ValueError, match="row 1: age 'old' is not a number"):
        metadata.encode(pd.DataFrame({"age": ["30", "old"]}), ["age"])
    with pytest.raises(ValueError, match="row 0: age '-5' is outside"):
        metadata.encode(pd.DataFrame({"age": ["-5"]}), ["age"])
