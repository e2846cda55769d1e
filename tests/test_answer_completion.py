"""An answer brings what its chosen sentence needs to hold the asked fact (issue 10, BENCHMARKS §9.10):
the table a 「下記のとおり」 sentence announces, the example a 「たとえば、…」 sentence gives, the
sentence model's confident pick when the ordering score left it out, and — when the question asks a
date, a count or an office and the answer states none — the row or sentence beside it that does."""

import pytest

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


# --- §9.14: the line a label introduces, how to reach a named office, the asked value beside any chosen line

def test_a_glossary_term_brings_its_definition_on_the_next_line():
    text = "※ドメスティック・バイオレンス（DV）：\n配偶者やパートナーなど親密な関係にある者からの暴力。\n※セクシュアル・ハラスメント：\n性的な言動。"
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, "※ドメスティック・バイオレンス（DV）：")])
    assert _texts(chosen) == text.splitlines()[:2]


def test_a_short_bulleted_caption_is_no_term_and_brings_no_body():
    text = "○ 事業着手の背景\n【その1】既存の集落機能の低下が続いています。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "○ 事業着手の背景")])) == ["○ 事業着手の背景"]


def test_a_caption_followed_by_a_fragment_or_another_label_brings_nothing_beyond_its_list():
    hit = _hit("・本庁機能\n（詳細は別紙）")
    assert _texts(answering.choose([_cand(hit, "・本庁機能")])) == ["・本庁機能"]
    hit = _hit("※用語：\n※別の用語：\n説明の文です。ここは二つ目の用語の説明になります。")
    assert _texts(answering.choose([_cand(hit, "※用語：")])) == ["※用語："]
    hit = _hit("※用語：\n・一つ目\n・二つ目")  # a colon announcing a list: the items, as before
    assert _texts(answering.choose([_cand(hit, "※用語：")])) == ["※用語：", "・一つ目", "・二つ目"]


def test_a_sentence_ending_in_a_colon_inside_running_text_is_no_term():
    sents = ["市は次の取組を進めます。経緯は以下のとおりです：", "平成20年に条例を制定し、以後毎年見直しています。"]
    assert answering._labelled_body(sents, 0) is None


def test_a_named_office_brings_its_address_phone_and_mail_lines():
    text = "市民協働推進室\n〒759-4192 長門市東深川 1339 番地 2\nTEL 0837-23-1172\nFAX 0837-22-0135\nE メール kyodo@city.nagato.lg.jp\n次の章"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "市民協働推進室")])) == text.splitlines()[:5]


@pytest.mark.parametrize("chosen", ["TEL 0837-23-1172", "〒759-4192 長門市東深川 1339 番地 2", "E メール kyodo@city.nagato.lg.jp"])
def test_a_contact_line_chosen_alone_brings_the_office_it_reaches_and_the_rest_of_its_block(chosen):
    text = "市民協働推進室\n〒759-4192 長門市東深川 1339 番地 2\nTEL 0837-23-1172\nFAX 0837-22-0135\nE メール kyodo@city.nagato.lg.jp\n次の章"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, chosen)])) == text.splitlines()[:5]


def test_a_phone_line_under_a_sentence_stays_alone():
    text = "協働推進課では、市民活動団体の相談に応じ、コーディネートを行っています。\nTEL 083-934-2763"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "TEL 083-934-2763")])) == ["TEL 083-934-2763"]


def test_an_office_named_inside_a_long_sentence_brings_no_contact_lines():
    text = "協働推進課では、市民活動団体の相談に応じ、コーディネートを行っています。\nTEL 083-934-2763"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, text.splitlines()[0])])) == [text.splitlines()[0]]


def test_a_task_kadai_in_the_answer_does_not_keep_the_office_row_out():
    text = "整理番号: Ⅱ-(4)-① / 種別: 継続 / 担当課: 企画経営課・関係課\n推進項目: ① 意識調査の実施\n推進内容: 地域課題の共有状況を調査します。"
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, "推進項目: ① 意識調査の実施", 1.0, detail="place"),
                               _cand(hit, "推進内容: 地域課題の共有状況を調査します。", 0.9, detail="place")])
    assert _texts(chosen) == text.splitlines()


def test_a_task_named_kadai_is_no_office():
    from assistant import asked

    assert not asked.states_value("place", "地域課題の共有状況についてアンケート調査を実施します。")
    assert asked.states_value("place", "担当課: 企画経営課・関係課")
    assert asked.holds_value("place", "地域課題の共有状況")  # the answer model's feature is unchanged


def test_an_office_in_charge_asked_in_other_words_is_an_office_for_the_answer_only():
    from assistant import asked

    q = "山口市で「お気軽講座の充実」を担当している課は？"
    assert asked.detail_for_answer(q) == "office"
    assert asked.asked_detail(q) is None  # the answer model's features do not move
    assert asked.detail_for_answer("協働推進員を置いていますか？") is None


def test_a_question_ending_in_tanto_asks_the_office_in_charge():
    from assistant import asked

    for q in ("協議会の充実支援の担当は？", "ＨＰの担当って", "広報の担当者は誰ですか？"):
        assert asked.detail_for_answer(q) == "office", q
    # the word inside a question asks no office: a yes/no question, a named system
    for q in ("各課に協働を進める担当者を置いていますか？", "地域担当者制度とは？", "担当は決まってる？"):
        assert asked.detail_for_answer(q) is None, q


def test_which_office_asks_an_office_where_asks_a_place():
    from assistant import asked

    for q in ("地域間交流はどの課が担当？", "HP充実の担当課は？", "担当部署を教えて"):
        assert asked.detail_for_answer(q) == "office", q
        assert asked.asked_detail(q) == "place", q  # the answer model's features do not move
    assert asked.detail_for_answer("さぽらんてはどこにある？") == "place"


@pytest.mark.parametrize("line, names_office", [
    ("担当課: 行革推進課・職員課", True),
    ("市民協働推進室", True),
    ("調査内容は協働推進課で協議して決定します。", True),
    ("全ての地域交流センターへ移譲したときを完了とします。", False),  # a place, not an office
    ("行政手続きが必要な場合に関係機関との調整を行います。", False),  # 関係 is no 係
    ("地域課題の共有状況を調査します。", False),
])
def test_an_office_is_named_by_ka_shitsu_kakari_only(line, names_office):
    from assistant import asked

    assert asked.states_value("office", line) is names_office


def test_a_centre_named_beside_an_item_does_not_keep_its_office_row_out():
    # 「完了の目安」 names a センター (a place); an office question still wants the item's 担当課 row
    text = ("整理番号: I-(2)-⑧ / 種別 / 新規 担当課 / 協働推進課\n推進項目: ⑧ 地域づくり協議会の充実支援\n"
            "完了の目安: 全ての地域交流センターで運営が円滑になったときに完了とします。")
    hit = _hit(text)
    lines = text.splitlines()
    chosen = answering.choose([_cand(hit, lines[1], 1.0, detail="office"), _cand(hit, lines[2], 0.9, detail="office")])
    assert _texts(chosen) == lines
    # read as a place question (as the answer reader is), the centre counts and no row is brought
    assert answering._asked_value_beside(_cand(hit, lines[1], detail="office"), [_cand(hit, lines[2])], kind="place") is None


def test_another_passages_office_does_not_stand_for_the_items_own():
    text = "整理番号: Ⅱ-(4)-① / 種別 / 継続 担当課 / 企画経営課・関係課\n推進項目: ① 意識調査の実施"
    hit, other = _hit(text), _hit("調査内容は協働推進課で協議して決定します。", cid="c2")
    best = _cand(hit, "推進項目: ① 意識調査の実施", detail="office")
    beside = answering._asked_value_beside(best, [best, _cand(other, "調査内容は協働推進課で協議して決定します。")])
    assert beside is not None and beside.text == text.splitlines()[0]


def test_an_item_line_brings_its_own_numbered_row_not_the_next_items():
    # the item's box row (整理番号 … ③) comes before its line; the row after it is the next item's (④)
    text = ("整理番号: Ⅱ-(5)-③ / 種別 / 新規 担当課 / 地域活性化センター\n"
            "推進項目: ③ 地域間交流の促進\n"
            "整理番号: Ⅱ-(5)-④ / 種別 / 継続 担当課 / 協働推進課")
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, "推進項目: ③ 地域間交流の促進", detail="place")])
    assert _texts(chosen) == text.splitlines()[:2]
    # rows without a number to compare: the next one, as before
    plain = _hit("整理番号: Ⅱ-(5) / 新規 担当課 / 地域活性化センター\n推進項目: 地域間交流の促進\n"
                 "整理番号: Ⅱ-(6) / 継続 担当課 / 協働推進課")
    chosen = answering.choose([_cand(plain, "推進項目: 地域間交流の促進", detail="place")])
    assert _texts(chosen) == plain.text.splitlines()[1:]


def test_a_caption_over_a_table_brings_its_rows():
    text = ("①地域活動に参加している市民の割合【単位:%】\n"
            "基準値 (H18年度) / H23年度 実績 / 目標値 (H29年度)\n"
            "基準値 (H18年度): 37.5 / H23年度 実績: 37.2 / 目標値 (H29年度): 50.0\n"
            "②市民活動を行っている市民の割合【単位:%】")
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, text.splitlines()[0])])
    assert _texts(chosen) == [text.splitlines()[0], text.splitlines()[2]]


def test_a_caption_followed_by_text_brings_no_rows():
    text = "①地域活動の状況\n地域活動への参加はこの数年横ばいです。\n基準値: 37.5 / 実績: 37.2"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "①地域活動の状況")])) == ["①地域活動の状況"]


def test_a_line_of_body_text_is_no_parent_of_the_next_caption():
    sents = ["・支所機能", "地域住民の窓口、市民参画と自主活動の促進、地域に関する事業執行 など", "・本庁機能",
             "本市の中核を担う機能として、全部門の統括と地域行政機関の統括支援機能"]
    assert answering._list_run(sents, 1) == []
    assert answering._list_run(["<主な取組>", "・研修会の開催", "・マニュアルの作成"], 0) == [0, 1, 2]


def test_a_caption_that_is_not_the_best_line_brings_only_a_short_table():
    best = _hit("NPO法人は平成29年3月現在で22団体です。", cid="c1")
    table = _hit("活動分野別NPO法人数\n" + "\n".join(f"分野{i}: {i} / 件数: {i}" for i in range(1, 6)), rank=2, cid="c2")
    chosen = answering.choose([_cand(best, "NPO法人は平成29年3月現在で22団体です。", 1.0), _cand(table, "活動分野別NPO法人数", 0.9)])
    assert _texts(chosen) == ["NPO法人は平成29年3月現在で22団体です。", "活動分野別NPO法人数"]
    alone = answering.choose([_cand(table, "活動分野別NPO法人数", 0.9)])
    assert len(alone) == 6


NPO_FIELDS = ("活動分野別NPO法人数\n保健・医療・福祉: 15 / 国際協力: 2\n社会教育: 10 / 男女共同参画: 0\n"
              "観光の振興: 4 / 情報化社会の発展: 2\n地域安全: 2 / 活動団体の援助等: 14")


def _npo_answer(terms: dict[str, float]) -> list[str]:
    best = _hit("NPO法人は平成29年3月現在で22団体です。", cid="c1")
    table = _hit(NPO_FIELDS, rank=2, cid="c2")
    rows = answering.RowScore(None, None, {}, terms)  # no vectors: only the terms the rows name rate them
    cands = [_cand(best, "NPO法人は平成29年3月現在で22団体です。", 1.0), _cand(table, "活動分野別NPO法人数", 0.9)]
    return _texts(answering.choose(cands, row_score=rows))


def test_a_caption_whose_long_table_cannot_be_shown_brings_the_row_naming_what_was_asked():
    # 「IT系のNPOはいくつ？」: the thesaurus expands IT to 情報化社会の発展, a field of the table
    assert _npo_answer({"IT": 1.0, "情報化社会の発展": 0.18}) == [
        "NPO法人は平成29年3月現在で22団体です。", "活動分野別NPO法人数", "観光の振興: 4 / 情報化社会の発展: 2"]


def test_no_row_replaces_the_caption_when_none_names_the_question_beyond_what_the_caption_says():
    assert _npo_answer({"NPO": 1.0, "法人": 1.0}) == ["NPO法人は平成29年3月現在で22団体です。", "活動分野別NPO法人数"]


# --- what is done: the list of measures under its label after the sentence stating the aim ------------

AIM = ("② 広報・広聴機能の充実\n市民の声を活かす行政運営のため、広報・広聴機能の充実を図ります。\n"
       "また、新たな情報発信手段の活用を検討していきます。\n<主な取組>\n・市民と市長との「対話の日」の開催\n"
       "・広報紙、ホームページの充実\n・コミュニティFMによる情報発信")


def test_a_question_asking_what_is_done_gets_the_measures_listed_after_the_aim():
    hit = _hit(AIM)
    aim = AIM.splitlines()[1]
    chosen = answering.choose([_cand(hit, aim)], asks_measures=True)
    assert _texts(chosen) == AIM.splitlines()[1:]  # the aim, the sentence carrying on, the label and its items


def test_another_passages_list_in_the_answer_does_not_keep_the_best_sentences_own_measures_out():
    hit, other = _hit(AIM), _hit("<主な取組>\n・職員配置の適正化\n・組織のスリム化", rank=2, cid="c2")
    aim = AIM.splitlines()[1]
    chosen = _texts(answering.choose([_cand(hit, aim, 1.0), _cand(other, "・職員配置の適正化", 0.9)], asks_measures=True))
    assert AIM.splitlines()[3:] == [t for t in chosen if t in AIM.splitlines()[3:]]  # its label and its items, in order


def test_other_questions_get_the_aim_without_the_list():
    hit = _hit(AIM)
    aim = AIM.splitlines()[1]
    assert _texts(answering.choose([_cand(hit, aim)], asks_measures=False)) == AIM.splitlines()[1:3]


def test_a_list_far_below_the_sentence_or_under_a_label_of_findings_is_not_brought():
    far = _hit("目的を図ります。\n一文目です。\n二文目です。\n三文目です。\n<主な取組>\n・取組A\n・取組B")
    assert _texts(answering.choose([_cand(far, "目的を図ります。")], asks_measures=True)) == ["目的を図ります。"]
    status = _hit("目的を図ります。\n<現状と課題>\n・課題A\n・課題B")
    assert _texts(answering.choose([_cand(status, "目的を図ります。")], asks_measures=True)) == ["目的を図ります。"]


# --- a table longer than an answer shows: the rows nearest the question --------------------------

FIELDS = ("活動分野別市内NPO法人数\n" + "\n".join(f"分野{i}: {i} / 分野{i}b: {i + 20}" for i in range(1, 11)) + "\n注: 本文です。")


def test_a_long_table_shows_its_first_rows_when_nothing_rates_them():
    hit = _hit(FIELDS)
    rows = _texts(answering.choose([_cand(hit, "活動分野別市内NPO法人数")]))[1:]
    assert len(rows) == answering.MAX_LIST_ITEMS and rows[0].startswith("分野1:") and rows[-1].startswith("分野8:")


def test_a_long_table_shows_the_rows_nearest_the_question_in_reading_order():
    hit = _hit(FIELDS)
    near = {9: 0.9, 10: 0.8}  # rows 9 and 10 (positions 9, 10): the ones the question asks about

    def score(_hit, position):
        return near.get(position, 0.1 - position / 100)

    rows = _texts(answering.choose([_cand(hit, "活動分野別市内NPO法人数")], row_score=score))[1:]
    assert len(rows) == answering.MAX_LIST_ITEMS
    assert rows[-2:] == ["分野9: 9 / 分野9b: 29", "分野10: 10 / 分野10b: 30"]
    assert [r.split(":")[0] for r in rows] == ["分野1", "分野2", "分野3", "分野4", "分野5", "分野6", "分野9", "分野10"]


def test_a_table_that_fits_is_shown_whole_whatever_the_rows_rate():
    hit = _hit(PROGRESS)
    chosen = answering.choose([_cand(hit, PROGRESS.splitlines()[0])], row_score=lambda _h, p: -p)
    assert _texts(chosen) == PROGRESS.splitlines()[:3]


# --- a hedged answer shows the two places the plans come nearest -------------------------------


def test_a_hedged_answer_from_one_passage_adds_the_best_line_of_another():
    first, second = _hit("市は窓口を設けています。\n市は相談に応じます。", rank=1, cid="c1"), _hit("出張所で手続きができます。", rank=2, cid="c2")
    cands = [_cand(first, "市は窓口を設けています。", 1.0), _cand(first, "市は相談に応じます。", 0.9), _cand(second, "出張所で手続きができます。", 0.5)]
    assert _texts(answering.choose(cands)) == ["市は窓口を設けています。", "市は相談に応じます。"]
    assert _texts(answering.choose(cands, spread=True)) == ["市は窓口を設けています。", "市は相談に応じます。", "出張所で手続きができます。"]


def test_a_hedged_answer_adds_no_lone_label_and_nothing_when_it_already_spans_two_passages():
    first, second = _hit("市は窓口を設けています。", rank=1, cid="c1"), _hit("○ 窓口サービス\n出張所で手続きができます。", rank=2, cid="c2")
    label_only = [_cand(first, "市は窓口を設けています。", 1.0), _cand(second, "○ 窓口サービス", 0.5)]
    assert _texts(answering.choose(label_only, spread=True)) == ["市は窓口を設けています。"]
    both = [_cand(first, "市は窓口を設けています。", 1.0), _cand(second, "出張所で手続きができます。", 0.9)]
    assert len(answering.choose(both, spread=True)) == 2


# --- an item of a list whose items carry bodies comes with its body ------------------------------

PLAN_AIMS = ("< 計画の目指すもの >\n・総合的な行政サービスの展開(「庁内分権」の推進)\n"
             "市民ニーズに対応するため、地域行政機関の機能や権限を強化する。\n"
             "・住民主体のまちづくりの推進(「住民自治」の推進)\n地域住民が自ら地域課題を解決する仕組みを構築する。")


@pytest.mark.parametrize("chosen", ["・総合的な行政サービスの展開(「庁内分権」の推進)", "市民ニーズに対応するため、地域行政機関の機能や権限を強化する。"])
def test_an_item_and_its_body_come_together_whichever_is_chosen(chosen):
    hit = _hit(PLAN_AIMS)
    assert _texts(answering.choose([_cand(hit, chosen)])) == PLAN_AIMS.splitlines()[1:3]


def test_a_paragraph_after_a_plain_list_is_no_items_body():
    text = "・窓口の一本化\n・出張所の充実\n市はこれらを順に進めます。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "市はこれらを順に進めます。")])) == ["市はこれらを順に進めます。"]


def test_a_numbered_caption_over_its_table_brings_its_rows_not_its_header():
    text = ("①地域活動に参加している市民の割合【単位:%】\n基準値 / 実績\n基準値: 37.5 / 実績: 37.2\n"
            "②市民活動を行っている市民の割合【単位:%】\n基準値 / 実績\n基準値: 10.8 / 実績: 11.6")
    hit = _hit(text)
    chosen = _texts(answering.choose([_cand(hit, "②市民活動を行っている市民の割合【単位:%】")]))
    assert chosen == ["②市民活動を行っている市民の割合【単位:%】", "基準値: 10.8 / 実績: 11.6"]


# --- a table row comes with the caption that says what it measures -------------------------------

INDICATORS = ("成果指標\n①地域活動に参加している市民の割合【単位:%】\n基準値 / 実績\n基準値: 37.5 / 実績: 37.2\n"
              "②市民活動を行っている市民の割合【単位:%】\n基準値 / 実績\n基準値: 10.8 / 実績: 11.6")


def test_a_row_chosen_alone_comes_after_its_tables_caption():
    hit = _hit(INDICATORS)
    assert _texts(answering.choose([_cand(hit, "基準値: 10.8 / 実績: 11.6")])) == ["②市民活動を行っている市民の割合【単位:%】", "基準値: 10.8 / 実績: 11.6"]


def test_a_row_whose_table_has_no_caption_in_its_passage_stays_alone():
    text = "団体名: A協議会 / 人口: 1,295\n団体名: B協議会 / 人口: 1,267\n本文に戻ります。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "団体名: B協議会 / 人口: 1,267")])) == ["団体名: B協議会 / 人口: 1,267"]


# --- a body row of an item sheet comes with the item's name ------------------------------------

ITEM_SHEETS = ("整理番号: I - (2) - ⑥ / 種別 / 新規 担当課 / 協働推進課\n推進項目: ⑥ 地域資源の発掘・創造\n"
               "目的: 各地域に眠る資源を発掘・創造し、地域の活性化を図ります。\n"
               "完了の目安: 各地域で、地域資源が活用されるような状況になったときに完了とします。\n"
               "整理番号: I - (2) - ⑦ / 種別 / 新規 担当課 / 地域交流センター\n"
               "目的: 地域づくり計画の見直しを支援します。")


def test_a_body_row_of_an_item_sheet_comes_after_the_items_name():
    hit = _hit(ITEM_SHEETS)
    chosen = answering.choose([_cand(hit, "目的: 各地域に眠る資源を発掘・創造し、地域の活性化を図ります。")])
    assert _texts(chosen)[:2] == ["推進項目: ⑥ 地域資源の発掘・創造", "目的: 各地域に眠る資源を発掘・創造し、地域の活性化を図ります。"]


def test_a_body_row_takes_no_name_from_another_items_sheet():
    # the second sheet's name is not in this passage: the first sheet's name is not its name
    hit = _hit(ITEM_SHEETS)
    chosen = answering.choose([_cand(hit, "目的: 地域づくり計画の見直しを支援します。")])
    assert "推進項目: ⑥ 地域資源の発掘・創造" not in _texts(chosen)


ITEM_SHEET_ROWS = ("推進項目: ① 地域の人材バンクの設置支援\n目的: 地域の人材を発掘します。\n"
                   "推進内容: 人材バンクの設置を支援します。\n完了の目安: 人材を発掘する仕組みづくりが行われたときを完了とします。\n"
                   "推進項目: ② 地域づくりリーダーの育成\n完了の目安: リーダーが育ったときを完了とします。")


@pytest.mark.parametrize("question, label", [
    ("人探しの仕掛けづくり、どこまでいけばゴール？", "完了の目安"),
    ("人材バンクの設置支援はどうなったら完了とされますか", "完了の目安"),
    ("人材バンクは何のため？", "目的"),
    ("人材バンクの担当課は？", "担当課"),
    ("地域づくりアドバイザーの派遣を担当するのはどこですか。", "担当課"),
    ("出前講座を担当しているところは？", "担当課"),
    ("人材バンクはいつから？", "年次計画"),
    ("市民活動団体の実態調査は、どの年度に実施する計画ですか。", "年次計画"),
    ("活動資金の確保支援は、初年度にどのように取り組む計画ですか。", "年次計画"),
    ("人材バンクって何？", None),
])
def test_a_question_asking_an_item_sheets_row_names_its_label(question, label):
    from assistant import asked
    assert asked.asked_item_field(question) == label


def test_the_row_an_item_question_asks_for_comes_from_the_items_own_sheet():
    hit = _hit(ITEM_SHEET_ROWS)
    aim = _cand(hit, "目的: 地域の人材を発掘します。")
    chosen = answering.choose([aim], item_field="完了の目安")
    assert "完了の目安: 人材を発掘する仕組みづくりが行われたときを完了とします。" in _texts(chosen)
    assert "完了の目安: リーダーが育ったときを完了とします。" not in _texts(chosen)


def test_a_when_question_gets_the_sheets_schedule_with_the_row_of_what_is_done_each_year():
    text = ("推進項目: ② 市民活動団体の実態調査の実施\n目的: 市民活動団体の実態を調査します。\n"
            "年次計画: H25 / H26 / H27 / H28 / H29\n平人司回: 検討 / 実施 / 検討 / 検討 / 実施\n"
            "推進項目: ③ 次の項目\n年次計画: H25 / H26 / H27 / H28 / H29\n平水計画: 実施 / → / → / → / →")
    hit = _hit(text)
    chosen = _texts(answering.choose([_cand(hit, "目的: 市民活動団体の実態を調査します。")], item_field="年次計画"))
    assert chosen[-2:] == ["年次計画: H25 / H26 / H27 / H28 / H29", "平人司回: 検討 / 実施 / 検討 / 検討 / 実施"]
    assert "平水計画: 実施 / → / → / → / →" not in chosen


def test_a_schedule_header_already_shown_gets_its_row_of_what_is_done_right_after_it():
    text = "推進項目: ① 拠点の整備\n年次計画: H25 / H26 / H27\n平大計画: 検討・実施 / → / →\n本文に戻ります。"
    hit = _hit(text)
    chosen = _texts(answering.choose([_cand(hit, "年次計画: H25 / H26 / H27")], item_field="年次計画"))
    assert chosen[-2:] == ["年次計画: H25 / H26 / H27", "平大計画: 検討・実施 / → / →"]


# a sheet cut between two passages: its name ends one, its body rows open the next
SHEET_TOP = "本文です。\n整理番号: I - (2) - ③ / 種別 / 継続 担当課 / 協働推進課\n推進項目: ③ 社会貢献活動に対する活動保険制度の運用"
SHEET_BODY = ("推進内容: 社会貢献活動の中で不測の事故により、損害賠償や傷害等が発生した場合これらを補償します。\n"
              "年次計画: H25 / H26 / H27 / H28 / H29\n4次計画 / 実施 / → / → / → / →")


def _cut_sheet():
    top, body = _hit(SHEET_TOP, cid="top"), _hit(SHEET_BODY, cid="body")
    return top, body, (lambda h: [top.chunk] if h.id == "body" else []), (lambda h: [body.chunk] if h.id == "top" else [])


def test_a_body_row_opening_a_passage_comes_after_its_items_name_from_the_passage_before():
    _top, body, before, _after = _cut_sheet()
    chosen = answering.choose([_cand(body, SHEET_BODY.splitlines()[0])], prev_chunks=before)
    assert _texts(chosen)[:2] == ["推進項目: ③ 社会貢献活動に対する活動保険制度の運用", SHEET_BODY.splitlines()[0]]
    assert chosen[0].hit.id == "top"  # cited as the passage it is in


def test_the_row_asked_of_a_sheet_is_found_across_the_passage_boundary():
    top, _body, before, after = _cut_sheet()
    name = _cand(top, "推進項目: ③ 社会貢献活動に対する活動保険制度の運用")
    chosen = _texts(answering.choose([name], item_field="年次計画", prev_chunks=before, next_chunks=after))
    assert chosen[-2:] == ["年次計画: H25 / H26 / H27 / H28 / H29", "4次計画 / 実施 / → / → / → / →"]


def test_an_office_question_gets_the_first_row_of_a_sheet_that_began_in_the_passage_before():
    _top, body, before, after = _cut_sheet()
    chosen = _texts(answering.choose([_cand(body, SHEET_BODY.splitlines()[0])], item_field="担当課", prev_chunks=before))
    assert chosen[0] == "整理番号: I - (2) - ③ / 種別 / 継続 担当課 / 協働推進課"


def test_the_row_asked_comes_from_the_sheet_whose_name_was_chosen_not_from_another_sheet_the_best_line_is_on():
    text = ("整理番号: I - (2) - ⑦ / 種別 / 新規 担当課 / 地域交流センター\n推進項目: ⑦ 地域づくり計画の見直し支援\n"
            "推進内容: アドバイザーの派遣等により、計画の見直しを支援します。\n"
            "整理番号: I - (2) - ⑩ / 種別 / 継続 担当課 / 協働推進課\n推進項目: ⑩ 地域づくりアドバイザーの派遣\n"
            "推進内容: 専門家を派遣します。")
    hit = _hit(text)
    body = _cand(hit, "推進内容: アドバイザーの派遣等により、計画の見直しを支援します。", score=1.4)
    name = _cand(hit, "推進項目: ⑩ 地域づくりアドバイザーの派遣", score=1.2)
    chosen = _texts(answering.choose([body, name], item_field="担当課"))
    assert "整理番号: I - (2) - ⑩ / 種別 / 継続 担当課 / 協働推進課" in chosen
    assert "整理番号: I - (2) - ⑦ / 種別 / 新規 担当課 / 地域交流センター" not in chosen


def test_an_office_question_gets_the_sheets_first_row_by_its_place_not_its_garbled_number():
    text = ("目的: 補助金等を見直します。\n整理番号: I - (2) - ① / 種別 / 継続 担当課 / 地域活性化センター\n"
            "推進項目: ⑩ 地域づくりアドバイザーの派遣\n推進内容: 専門家を派遣します。")
    hit = _hit(text)
    chosen = answering.choose([_cand(hit, "推進内容: 専門家を派遣します。")], item_field="担当課")
    assert _texts(chosen) == ["整理番号: I - (2) - ① / 種別 / 継続 担当課 / 地域活性化センター",
                              "推進項目: ⑩ 地域づくりアドバイザーの派遣", "推進内容: 専門家を派遣します。"]


def test_no_row_is_added_when_the_question_asks_none():
    hit = _hit(ITEM_SHEET_ROWS)
    chosen = answering.choose([_cand(hit, "目的: 地域の人材を発掘します。")])
    assert not any(t.startswith("完了の目安") for t in _texts(chosen))


def test_a_glossary_definition_chosen_alone_comes_after_the_term_it_defines():
    text = "※実質公債費比率：\n地方債の償還額の割合のこと。\n※公債費：\n地方自治体が、借金の返済に充てる費用のこと。"
    hit = _hit(text)
    assert _texts(answering.choose([_cand(hit, "地方自治体が、借金の返済に充てる費用のこと。")])) == [
        "※公債費：", "地方自治体が、借金の返済に充てる費用のこと。"]


def test_a_caption_is_added_only_where_the_answer_has_room():
    hit = _hit(INDICATORS)
    row = _cand(hit, "基準値: 10.8 / 実績: 11.6")
    assert _texts(answering.choose([row], max_lines=1)) == ["基準値: 10.8 / 実績: 11.6"]


def test_the_answer_reader_reads_an_item_without_its_body_as_it_was_fitted_while_the_answer_shows_both():
    hit = _hit(PLAN_AIMS)
    item = _cand(hit, "・総合的な行政サービスの展開(「庁内分権」の推進)")

    class _Retriever:
        def following_chunks(self, _hit):
            return []

    read = answering.reader_text(_Retriever(), item)
    assert "庁内分権" in read and "権限を強化する" not in read
    assert "市民ニーズに対応するため、地域行政機関の機能や権限を強化する。" in _texts(answering.choose([item]))
