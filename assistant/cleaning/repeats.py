"""Repetition artifacts: extractors that print every text run 2–4 times (「第４章第４章第４章第４章」).

A piece is collapsed only when it can be read *entirely* as runs each repeated exactly k times
and the result is long enough to be text, so genuine repetition (「すもももももももものうち」,
「もっともっと」) is kept."""

from __future__ import annotations

import re

from .lines import _WORDISH_RE


def _parse_repeats(s: str, k: int) -> str | None:
    """If ``s`` is entirely a sequence of units each repeated exactly ``k`` times, the collapsed text."""
    n = len(s)
    memo: dict[int, list[str] | None] = {}

    def go(i: int) -> list[str] | None:
        if i == n:
            return []
        if i in memo:
            return memo[i]
        res = None
        max_len = (n - i) // k
        for length in range(max_len, 0, -1):
            unit = s[i : i + length]
            if s.startswith(unit * k, i) and not s.startswith(unit * (k + 1), i) or (
                s.startswith(unit * k, i) and length * k == n - i
            ):
                rest = go(i + length * k)
                if rest is not None:
                    res = [unit] + rest
                    break
        memo[i] = res
        return res

    parts = go(0)
    return "".join(parts) if parts is not None else None




_LONG_REPEAT_RE = re.compile(r"(.{4,200}?)\1{2,}")  # bounded unit: linear enough on long lines
# k → shortest collapsed piece we trust. Four identical copies of anything are an artifact;
# two copies must leave a longer text, or 「もっともっと」「ひとりひとり」 would be damaged.
_REPEAT_MIN_LEN = {4: 1, 3: 2, 2: 6}
_MAX_PARSE_LEN = 4000


def collapse_repeats(text: str) -> str:
    """Undo extractor repetition (each run printed k = 2–4 times) without touching genuine repetition.

    Works per whitespace-separated piece: the piece must be explained *completely* by
    k-fold runs and its collapsed form must contain letters and be long enough for that k
    (``_REPEAT_MIN_LEN``); k is tried from 4 down to 2. Then any remaining run of ≥ 4 characters repeated ≥ 3 times in
    a row (which natural Japanese essentially never has) is reduced to one copy.
    """
    pieces = re.split(r"(\s+)", text)
    out = []
    for piece in pieces:
        if not piece or piece.isspace() or len(piece) < 4 or re.fullmatch(r"[0-9.,]+", piece):
            # (plain ASCII numbers such as 「1111」 are data, never collapsed)
            out.append(piece)
            continue
        best = piece
        for k, min_len in _REPEAT_MIN_LEN.items():
            if k <= len(piece) <= _MAX_PARSE_LEN:
                try:
                    collapsed = _parse_repeats(piece, k)
                except RecursionError:  # thousands of distinct runs: not this artifact
                    collapsed = None
                if collapsed and len(collapsed) >= min_len and _WORDISH_RE.search(collapsed) and collapsed != piece:
                    best = collapsed
                    break
        out.append(best)
    result = "".join(out)
    return _LONG_REPEAT_RE.sub(lambda m: m.group(1) if _WORDISH_RE.search(m.group(1)) else m.group(0), result)
