"""ふりがな: readings from the project's tagger, with okurigana outside the ruby."""

from __future__ import annotations

import html

from assistant.furigana import readings, ruby
from assistant.types import Answer, Chunk, Citation, Hit
from assistant.web.render import escape_markdown, render_answer_markdown


def _pairs(text):
    return [(p, r) for p, r in readings(text) if r]


def test_the_seeds_hardest_words_get_their_readings():
    got = dict(_pairs("市民との協働を担う人材の育成と、協働意識の醸成を図ります。基準値は平成29年度です。"))
    assert got["協働"] == "きょうどう"
    assert got["醸成"] == "じょうせい"
    assert got["担"] == "にな"  # 担う: the okurigana stays outside the ruby
    assert got["基準"] + got.get("値", "") == "きじゅんち"
    assert got["人材"] == "じんざい" and got["育成"] == "いくせい"


def test_pieces_join_back_to_the_text_and_kana_gets_no_ruby():
    text = "NPO法人　長門市が[1]、\n平成29年度までに25団体とします。"
    assert "".join(p for p, _ in readings(text)) == text
    assert all(r == "" for p, r in readings("ひらがなとカタカナだけ、ABC 123"))


def test_ruby_escapes_every_piece():
    out = ruby("協働<script>alert(1)</script>", html.escape)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.startswith("<ruby>協働<rt>きょうどう</rt></ruby>")


def test_answer_with_furigana_keeps_citation_links_and_escaping():
    chunk = Chunk(id="c1", doc_id="d.txt", title="計画", municipality="市", section=["第1章"],
                  text="協働を担う", search_text="協働を担う", lines=(1, 2))
    ans = Answer(text="協働を担う人材[リンク](javascript:alert(1)) <img src=x> [1]",
                 citations=[Citation(number=1, hit=Hit(chunk=chunk, score=1.0))])
    md = render_answer_markdown(ans, 3, furigana=True)
    assert '<a class="mq-cite" href="#mq-c-3-1">[1]</a>' in md
    assert "<ruby>協働<rt>きょうどう</rt></ruby>" in md
    assert "<img" not in md and "](" not in md  # no tag and no Markdown link can form
    assert escape_markdown("<img src=x>") in md


def test_english_questions_are_recognised():
    from assistant.web.ui import is_english

    assert is_english("What is a regional collaboration body?")
    assert not is_english("地域協働体とは何ですか？")
    assert not is_english("NPO法人の認証数の目標は？")
    assert not is_english("NPO?")
