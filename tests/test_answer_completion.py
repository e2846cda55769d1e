"""An answer brings what its chosen sentence needs to hold the asked fact (issue 10, BENCHMARKS §9.10):
the table a 「下記のとおり」 sentence announces, the example a 「たとえば、…」 sentence gives, the
sentence model's confident pick when the ordering score left it out, and — when the question asks a
date, a count or an office and the answer states none — the row or sentence beside it that does."""

from assistant import answering
from assistant.types import Chunk, Hit


def _hit(text: str, section=("進捗状況",), rank: int = 1, cid: str = "c1") -> Hit:
    chunk = Chunk(id=cid, doc_id="d.txt", title="テスト計画", municipality="テスト市", section=list(section),
                  text=text, search_text=text, lines=(1, 1))
    return Hit(chunk=chunk, score=1.0, rank=rank)


def _cand(hit: Hit, text: str, score: float = 1.0, detail: str | None = None) -> answering._Candidate:
    sents = [s for s, _l in answering._sentences(hit.text)]
    return answering._Candidate(hit, sents.index(text), text, score, 1.0, detail=detail)


def _texts(chosen) -> list[str]:
    return [c.text for c in chosen]


# --- a sentence announcing a table brings its rows ---------------------------------------------

PROGRESS = ("本市では47の推進項目に取り組み、平成24年度までの推進状況は下記のとおりとなっています。\n"
            "推進方針: 全体計 / 項目数: 47 / 実施済: 8 (17.0%)\n"
            "推進方針: 方針I / 項目数: 20 / 実施済: 3 (15.0%)\n"
            "これまでの項目を見直しました。")


def test_a_sentence_announcing_a_table_brings_its_rows_and_stops_where_the_table_ends():
    hit = _hit(PROGRESS)
    chosen = answering.choose([_cand(hit, PROGRESS.splitlines()[0])])
    assert _texts(chosen) == PROGRESS.splitlines()[:3]


def test_the_rows_may_open_the_next_passage_when_the_sentence_ends_its_own():
    intro = _hit("推進状況は次のとおりです。")
    table = Chunk(id="c2", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=["進捗状況"],
                  text="項目: A / 実施済: 8\n項目: B / 実施済: 3\n本文に戻ります。", search_text="", lines=(2, 2))
    chosen = answering.choose([_cand(intro, "推進状況は次のとおりです。")], lambda _h: [table])
    assert _texts(chosen) == ["推進状況は次のとおりです。", "項目: A / 実施済: 8", "項目: B / 実施済: 3"]


def test_a_note_and_the_header_row_may_stand_between_the_sentence_and_its_rows():
    intro = _hit("推進状況は下記のとおりです。\n詳細は別表に整理しています。\n項目 / 実施済")
    table = Chunk(id="c2", doc_id="d.txt", title="テスト計画", municipality="テスト市", section=["進捗状況"],
                  text="項目: A / 実施済: 8\n本文に戻ります。", search_text="", lines=(2, 2))
    chosen = answering.choose([_cand(intro, "推進状況は下記のとおりです。")], lambda _h: [table])
    assert _texts(chosen) == ["推進状況は下記のとおりです。", "項目: A / 実施済: 8"]


def test_two_lines_of_text_after_the_sentence_mean_it_announced_no_table():
    hit = _hit("推進状況は下記のとおりです。\n一つ目の説明です。\n二つ目の説明です。\n項目: A / 実施済: 8")
    assert "項目: A / 実施済: 8" not in _texts(answering.choose([_cand(hit, "推進状況は下記のとおりです。")]))


def test_a_sentence_that_announces_nothing_brings_no_table_after_it():
    text = "推進状況を毎年公表しています。\n推進方針: 全体計 / 項目数: 47"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "推進状況を毎年公表しています。")])) == ["推進状況を毎年公表しています。"]


# --- an example carries on; the sentence model's confident pick joins ------------------------------

def test_an_example_in_hiragana_tatoeba_carries_on_like_reitoeba():
    text = "事業者には社会貢献が求められています。\nたとえば、従業員が地域活動に参加しやすい環境をつくることです。\n次の話題。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "事業者には社会貢献が求められています。")])) == text.splitlines()[:2]


def test_an_example_follows_any_chosen_sentence_but_other_carry_ons_only_the_best():
    first = _hit("市民には参加が期待されています。\nまた、市民は地域の担い手です。", cid="c1")
    second = _hit("事業者には社会貢献が求められています。\n例えば、従業員の参加を後押しすることです。", rank=2, cid="c2")
    chosen = answering.choose([_cand(first, "市民には参加が期待されています。", 1.0),
                               _cand(second, "事業者には社会貢献が求められています。", 0.9)])
    assert _texts(chosen) == ["市民には参加が期待されています。", "また、市民は地域の担い手です。",
                              "事業者には社会貢献が求められています。", "例えば、従業員の参加を後押しすることです。"]
    chosen = answering.choose([_cand(first, "市民には参加が期待されています。", 0.9),
                               _cand(second, "事業者には社会貢献が求められています。", 1.0)])
    assert "また、市民は地域の担い手です。" not in _texts(chosen)


MEASURES = "情報発信の現状を見直します。\n・市勢要覧、観光マップの活用\n・ソーシャルメディアの活用を検討"


def test_the_sentence_models_confident_first_choice_joins_an_answer_the_score_left_it_out_of():
    status = _hit("近隣の5市と協定を締結しています。", cid="c1")
    measures = _hit(MEASURES, rank=2, cid="c2")
    top, item = _cand(status, "近隣の5市と協定を締結しています。", 0.45), _cand(measures, "・市勢要覧、観光マップの活用", 0.30)
    top.logit, item.logit = -1.0, 2.2
    chosen = _texts(answering.choose([top, item]))
    assert chosen[0] == "近隣の5市と協定を締結しています。" and "・市勢要覧、観光マップの活用" in chosen
    assert "・ソーシャルメディアの活用を検討" in chosen  # and, as a list item, brings its sibling


def test_an_unsure_sentence_model_adds_nothing():
    status = _hit("近隣の5市と協定を締結しています。", cid="c1")
    measures = _hit(MEASURES, rank=2, cid="c2")
    top, item = _cand(status, "近隣の5市と協定を締結しています。", 0.45), _cand(measures, "・市勢要覧、観光マップの活用", 0.30)
    top.logit, item.logit = -1.0, -0.2  # probability below one half: the score's choice stands alone
    assert _texts(answering.choose([top, item])) == ["近隣の5市と協定を締結しています。"]


# --- the asked value beside the chosen sentence ----------------------------------------------------

ROWS = ("整理番号: Ⅳ-(1)-③ / 種別: 新規 / 担当課: 行革推進課・協働推進課\n"
        "推進項目: ③ 地域内分権に向けた事務・権限の移譲\n"
        "目的: 住民自治の強化を図ります。")


def test_when_an_office_is_asked_and_the_answer_names_none_the_row_beside_it_that_does_comes_too():
    hit = _hit(ROWS)
    chosen = answering.choose([_cand(hit, ROWS.splitlines()[1], detail="place")])
    assert _texts(chosen) == ROWS.splitlines()[:2]


def test_the_row_beside_it_stays_out_when_no_detail_is_asked():
    hit = _hit(ROWS)
    assert _texts(answering.choose([_cand(hit, ROWS.splitlines()[1], detail=None)])) == [ROWS.splitlines()[1]]


def test_nothing_is_added_when_the_answer_already_states_a_value_of_the_asked_kind():
    text = "まつりは毎年10月に開かれます。\n会場は中央公園です。\n平成20年に始まりました。"
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, "会場は中央公園です。", detail="date"), _cand(hit, "まつりは毎年10月に開かれます。", 0.9, detail="date")])
    assert _texts(chosen) == ["まつりは毎年10月に開かれます。", "会場は中央公園です。"]


def test_a_neighbour_without_a_value_of_the_asked_kind_is_not_added():
    text = "まつりは市民の手で開かれます。\n多くの団体が参加しています。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "まつりは市民の手で開かれます。", detail="date")])) == ["まつりは市民の手で開かれます。"]


def test_candidates_carry_the_asked_detail_of_their_question(bundled_assistant):
    r = bundled_assistant.state.retriever
    qa = r.analyze("地域づくり協議会の総会はいつ開かれますか？")
    hits = r.search(qa.text, k=5, analysis=qa)
    cands = answering._candidates(hits, qa, answering._term_weights(r, qa))
    assert cands and {c.detail for c in cands} == {"date"}


def test_which_office_is_in_charge_asks_a_place():
    from assistant import asked

    for q in ("推進項目「地域交流センターの整備」はどの課が担当していますか？", "この事業の担当課を教えて", "どの部署に相談すればいい？"):
        assert asked.asked_detail(q) == "place", q
    assert asked.asked_detail("どのような課題がありますか？") is None


def test_a_lone_label_is_never_the_models_pick():
    status = _hit("近隣の5市と協定を締結しています。", cid="c1")
    label = _hit("○ 地域公共交通\n本市においては、バス路線の廃止が続いています。", rank=2, cid="c2")
    top, lone = _cand(status, "近隣の5市と協定を締結しています。", 0.45), _cand(label, "○ 地域公共交通", 0.30)
    top.logit, lone.logit = -1.0, 2.5
    assert _texts(answering.choose([top, lone])) == ["近隣の5市と協定を締結しています。"]
