"""ふりがな: readings over kanji, from the project's fugashi tagger (UniDic readings).

For children and residents still learning Japanese, the web face can show an answer with
``<ruby>`` markup. This module only finds the readings; escaping is the caller's (``escape``
is applied to every piece of text, so the markup returned is our own ``<ruby>``/``<rt>``).

Okurigana are kept outside the ruby (担う → 担<rt>にな</rt>う), readings are hiragana, and a
word the dictionary does not know (or whose reading does not fit its kana) is left as it is
rather than given a wrong reading.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

_KANJI = re.compile(r"[\u3005\u3006\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")


def to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def has_kanji(text: str) -> bool:
    return bool(_KANJI.search(text))


def _split_okurigana(surface: str, reading: str) -> list[tuple[str, str]]:
    """(text, reading-or-"") pieces: the kana the surface shares with its reading at either
    end stay plain, the kanji core gets the rest of the reading."""
    s, r = surface, reading
    pre = 0
    while pre < len(s) and pre < len(r) and not has_kanji(s[pre]) and to_hiragana(s[pre]) == r[pre]:
        pre += 1
    post = 0
    while (post < len(s) - pre and post < len(r) - pre and not has_kanji(s[len(s) - 1 - post])
           and to_hiragana(s[len(s) - 1 - post]) == r[len(r) - 1 - post]):
        post += 1
    core, core_r = s[pre:len(s) - post], r[pre:len(r) - post]
    if not core_r or not has_kanji(core):
        return [(surface, "")]
    out = []
    if pre:
        out.append((s[:pre], ""))
    out.append((core, core_r))
    if post:
        out.append((s[len(s) - post:], ""))
    return out


def readings(text: str) -> Iterator[tuple[str, str]]:
    """(piece, hiragana reading or "") for the whole of ``text``, in order: joining the
    pieces gives ``text`` back exactly."""
    from .japanese import tagger

    for li, line in enumerate(str(text).split("\n")):
        if li:
            yield "\n", ""
        pos = 0
        try:
            words = list(tagger()(line))
        except Exception:  # the tagger is a nicety here; the text is shown either way
            words = []
        for w in words:
            surface = w.surface
            at = line.find(surface, pos) if surface else -1
            if at < 0:
                continue
            if at > pos:
                yield line[pos:at], ""
            pos = at + len(surface)
            kana = "" if w.is_unk else (getattr(w.feature, "kana", None) or "")
            if kana and kana != "*" and has_kanji(surface):
                yield from _split_okurigana(surface, to_hiragana(kana))
            else:
                yield surface, ""
        if pos < len(line):
            yield line[pos:], ""


def ruby(text: str, escape: Callable[[str], str]) -> str:
    """``text`` with ``<ruby>漢字<rt>かんじ</rt></ruby>`` over each word with kanji; every
    piece of text goes through ``escape``."""
    out = []
    for piece, reading in readings(text):
        if reading:
            out.append(f"<ruby>{escape(piece)}<rt>{escape(reading)}</rt></ruby>")
        else:
            out.append(escape(piece))
    return "".join(out)
