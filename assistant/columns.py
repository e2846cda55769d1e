"""A metadata column of every passage (municipality, document id) as integer codes.

Filters and the city factor compare such a column with one or a few values on every search. As a numpy
object array that is one Python string comparison per passage: ~50 ms per question at a million
passages (docs/BENCHMARKS.md §4.1, third pass). Coded, the comparison runs once per *distinct* value
(dozens of cities, thousands of documents) and the per-passage step is one integer gather or compare.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


class CodedColumn:
    """``values[i]`` of passage ``i`` stored as ``codes[i]`` into the distinct ``names`` (first-seen order)."""

    def __init__(self, values: Iterable[str]):
        index: dict[str, int] = {}
        codes = [index.setdefault(v, len(index)) for v in values]
        self.names: list[str] = list(index)
        self._index = index
        self.codes = np.asarray(codes, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.codes)

    def equals(self, value: str) -> np.ndarray:
        """Per passage: its value is ``value`` (all False for a value no passage has)."""
        code = self._index.get(value)
        if code is None:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == code

    def isin(self, values: Iterable[str]) -> np.ndarray:
        """Per passage: its value is one of ``values``."""
        return self.table({v: True for v in values}, default=False, dtype=bool)

    def table(self, per_value: dict[str, object], default, dtype) -> np.ndarray:
        """Per passage: ``per_value`` of its value, ``default`` for values not in it."""
        lookup = np.array([per_value.get(name, default) for name in self.names], dtype=dtype)
        if len(lookup) == 0:
            return np.zeros(0, dtype=dtype)
        return lookup[self.codes]
