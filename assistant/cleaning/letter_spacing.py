"""Letter-spaced words: 「栗 林」「高 松 第 一」「小 学 校」 are one word printed with spaces.

Justified table cells and headings in PDFs spread a short word over the cell width; the text
layer then has a space between every character and 「栗林小学校」 no longer matches 「栗 林」.
A run of single CJK characters separated by single spaces is closed up:

* three or more such characters anywhere in a line (「高 松 第 一」 → 「高松第一」);
* two (「栗 林」) only when they are the whole cell/line, because 「市 町」 inside running
  text can be two words.

Spaces between longer words (「瀬戸内町、 扇町」, 「第1章 計画の概要」) are left alone.
"""

from __future__ import annotations

import re

_CJK = r"[\u3005\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff\uf900-\ufaff]"
# ≥ 3 single CJK characters, each standing alone between spaces
_SPACED3_RE = re.compile(rf"(?:(?<=^)|(?<=[\s]))({_CJK}(?:[ \u3000]{_CJK}){{2,}})(?=$|[\s、。，,）)」』])")
_SPACED2_RE = re.compile(rf"^\s*{_CJK}[ \u3000]{_CJK}\s*$")
_WORD_TAIL_RE = re.compile(r"^[^\s、，。]{1,4}[、，。）)]")
# a printed line that starts with hiragana continues a word or phrase (「生まれ育」+「つ環境の充実」,
# 「暮ら」+「せる福祉社会」): the items of a list cell are names, which do not start with hiragana
_HIRAGANA_START_RE = re.compile(r"^[\u3041-\u3096ー]")
_AFTER_COMMA_RE = re.compile(r"([、，])[ \u3000]+")


def close_letter_spacing(text: str) -> str:
    """「栗 林」→「栗林」, 「高 松 第 一 中 学 校」→「高松第一中学校」; other spaces kept."""
    if _SPACED2_RE.match(text):
        return re.sub(r"[ \u3000]", "", text.strip())
    return _SPACED3_RE.sub(lambda m: re.sub(r"[ \u3000]", "", m.group(1)), text)


def tidy_cell(text: str) -> str:
    """A table cell's text as one line: letter spacing closed, the space after 「、」 dropped,
    its printed lines joined — without a space where a line was wrapped (it ends in 「、」, or
    the next line starts with the tail of a split word: 「目、」「町。」, or with hiragana:
    「生まれ育」+「つ環境の充実」), else with one: lines of a cell are often separate items
    (「…8番」「多賀町一丁目」)."""
    parts = [close_letter_spacing(p.strip()) for p in (text or "").split("\n") if p.strip()]
    out, prev = "", ""
    for p in parts:
        if out:
            wrapped = prev.endswith(("、", "，", "・", "～")) or bool(_WORD_TAIL_RE.match(p) or _HIRAGANA_START_RE.match(p))
            out += "" if wrapped else " "
        out += p
        prev = p
    out = _AFTER_COMMA_RE.sub(r"\1", out)
    return re.sub(r"[ \u3000]{2,}", " ", out).strip()
