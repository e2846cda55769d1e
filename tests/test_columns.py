"""A coded metadata column answers like the object array it replaces (assistant/columns.py)."""

import numpy as np

from assistant.columns import CodedColumn


VALUES = ["山口市", "萩市", "不明", "山口市", "", "萩市", "山口市"]


def test_equals_and_isin_are_the_object_array_comparisons():
    col = CodedColumn(VALUES)
    plain = np.array(VALUES, dtype=object)
    assert len(col) == len(VALUES)
    for v in ["山口市", "萩市", "不明", "", "長門市"]:
        np.testing.assert_array_equal(col.equals(v), plain == v)
    for vs in [["山口市"], ["萩市", "不明"], ["長門市"], []]:
        np.testing.assert_array_equal(col.isin(vs), np.isin(plain, vs))


def test_table_gives_each_passage_its_values_entry_or_the_default():
    col = CodedColumn(VALUES)
    got = col.table({"山口市": 1.0, "不明": 0.8}, default=0.4, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([1.0, 0.4, 0.8, 1.0, 0.4, 0.4, 1.0], dtype=np.float32))


def test_an_empty_column_gives_empty_masks():
    col = CodedColumn([])
    assert col.equals("山口市").shape == (0,)
    assert col.isin(["山口市"]).shape == (0,)
    assert col.table({}, default=1.0, dtype=np.float32).shape == (0,)
