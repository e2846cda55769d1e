"""A question that names a table row's key gets that row, not its neighbours (issue 10, BENCHMARKS §9.14):
every row of a table of districts shares the question's words, its key tells them apart."""

from answer_candidates import candidates as _cands

from assistant import answering, named_rows
from assistant.types import Chunk, Hit

TABLE = ("団体名: 白潟地区まちづくり協議会 / 人口: 773 / 高齢化率: 37.65%\n"
         "団体名: 通まちづくり協議会 / 人口: 1,267 / 高齢化率: 51.78%\n"
         "団体名: 湊地区まちづくり協議会 / 人口: 1,489 / 高齢化率: 34.99%")


def test_the_row_whose_key_the_question_names_is_the_answer():
    cands = _cands(TABLE, [0.92, 0.82, 0.92])
    named_rows.prefer(cands, "通まちづくり協議会の地区の高齢化率は？")
    chosen = answering.choose(cands)
    assert [c.text for c in chosen] == [TABLE.splitlines()[1]]


def test_a_question_naming_no_key_leaves_the_scores_alone():
    cands = _cands(TABLE, [0.92, 0.82, 0.92])
    named_rows.prefer(cands, "まちづくり協議会の高齢化率は？")
    assert [c.score for c in cands] == [0.92, 0.82, 0.92]


def test_a_short_key_names_no_row():
    cands = _cands("地区: 東 / 人口: 100\n地区: 西 / 人口: 200", [0.5, 0.6])
    named_rows.prefer(cands, "東地区の人口は？")
    assert [c.score for c in cands] == [0.5, 0.6]


def test_sentences_and_rows_of_other_tables_keep_their_scores():
    text = TABLE.splitlines()[1] + "\n協議会は地域の課題に取り組んでいます。\n項目: 設立数 / 数: 10"
    cands = _cands(text, [0.5, 0.9, 0.7])
    named_rows.prefer(cands, "通まちづくり協議会の人口は？")
    assert cands[0].score > 1.0 and cands[1].score == 0.9 and cands[2].score == 0.7


def test_row_key_reads_the_first_cell():
    assert named_rows.row_key("団体名: 通まちづくり協議会 / 人口: 1,267") == ("団体名", "通まちづくり協議会")
    assert named_rows.row_key("協議会は10団体です。") is None


def test_a_heading_whose_numbered_label_the_question_names_is_the_answer():
    text = "第7章 プランの方針\n基本方針Ⅲ 開かれた市政を実現します\n市は情報を公開しています。"
    cands = _cands(text, [0.6, 0.3, 0.7])
    named_rows.prefer(cands, "アクションプランの基本方針Ⅲは何ですか")
    assert max(cands, key=lambda c: c.score).text == "基本方針Ⅲ 開かれた市政を実現します"


def test_a_numbered_label_must_end_where_the_questions_does():
    text = "推進方針 I 参加しやすい環境づくりを進めます\n推進方針 II 情報を共有します"
    cands = _cands(text, [0.5, 0.4])
    named_rows.prefer(cands, "推進方針Ⅱにはどんな推進施策がありますか")
    assert cands[0].score == 0.5 and cands[1].score > 1.0


def test_label_key_reads_headings_and_articles_only():
    assert named_rows.label_key("第3条 長門市は、次の事項を基本理念として…") == "第3条"
    assert named_rows.label_key("基本方針Ⅲ 開かれた市政を実現します") == "基本方針III"
    assert named_rows.label_key("推進方針: 全体計 / 項目数: 47") is None
    assert named_rows.label_key("市の基本方針Ⅲに沿って進めます。") is None


def test_a_plans_name_with_dai_ni_ji_is_no_numbered_label():
    assert named_rows.label_key("第2次長門市総合計画基本構想 (平成29年度～38年度)") is None
    assert named_rows.label_key("第7章 プランの方針") == "第7章"


def test_a_bracketed_numeral_is_read_as_the_label():
    assert named_rows.label_key("個別施策（1）事業者向けの情報発信") == "個別施策1"
    assert named_rows.label_key("推進施策 (3) 資金確保支援機能の充実") == "推進施策3"
    text = "個別施策（1）事業者向けの情報発信\n個別施策（2）事業者との連携\n事業者は地域社会の一員です。"
    cands = _cands(text, [0.5, 0.6, 0.7])
    named_rows.prefer(cands, "個別施策（2）は何ですか")
    assert max(cands, key=lambda c: c.score).text == "個別施策（2）事業者との連携"


def _sections(parts: list[tuple[str, str, float]]) -> list:
    """One candidate per (section heading, sentence, score), each in its own passage."""
    out = []
    for n, (section, sentence, score) in enumerate(parts):
        chunk = Chunk(id=f"c{n}", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=[section],
                      text=sentence, search_text=sentence, lines=(n + 1, n + 1))
        out.append(answering._Candidate(Hit(chunk=chunk, score=1.0, rank=n + 1), 0, sentence, score, 1.0))
    return out


def test_a_label_named_under_another_is_the_one_asked_for():
    # every 基本施策 has its own 個別施策（1）: the one under the named 基本施策 is the answer, not the 基本施策's heading
    cands = _sections([
        ("基本施策4 事業者の社会貢献活動を促進します", "基本施策4 事業者の社会貢献活動を促進します", 0.9),
        ("基本施策3 市民活動団体を支援します", "個別施策（1）市民活動団体の活動情報の集約と公開", 0.6),
        ("基本施策4 事業者の社会貢献活動を促進します", "個別施策（1）事業者向けの情報発信", 0.5),
    ])
    named_rows.prefer(cands, "基本施策4の個別施策（1）は何ですか")
    assert max(cands, key=lambda c: c.score).text == "個別施策（1）事業者向けの情報発信"
    assert cands[0].score == 0.9 and cands[1].score == 0.6
