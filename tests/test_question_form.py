"""A question reaches the models in the form they were trained on: without the courtesy around it, without
emoji, ending in 「？」 — and a message made of nothing else, or a keyword search, stays as typed."""

import pytest

from assistant.question_form import plain_question


@pytest.mark.parametrize(
    "typed, plain",
    [
        # courtesy at the start
        ("すみません、NPOを始めるには？", "NPOを始めるには？"),
        ("すいませんが、ボランティア保険はありますか？", "ボランティア保険はありますか？"),
        ("こんにちは。山口市の協働推進プランの期間は？", "山口市の協働推進プランの期間は？"),
        ("あのー、自治会の補助金ってある？", "自治会の補助金ってある？"),
        ("質問です。NPO法人は何団体ありますか？", "NPO法人は何団体ありますか？"),
        # a request at the end: what it asks becomes the question
        ("長門市でボランティア登録できるか教えてください。", "長門市でボランティア登録できるか"),
        ("協働の担当課を教えてください", "協働の担当課？"),
        ("NPO法人の数を知りたいです", "NPO法人の数？"),
        ("出前講座の申し込み方法を教えてもらえますか？", "出前講座の申し込み方法？"),
        ("市民活動センターの場所、お願いします", "市民活動センターの場所？"),
        # emoji, with their joiners and variation selectors
        ("ボランティアを始めるには？😊", "ボランティアを始めるには？"),
        ("NPOの相談はどこ🙏", "NPOの相談はどこ？"),
        ("地域の行事❤️", "地域の行事？"),
        # a sentence with no final mark gets one; one that has any keeps it
        ("山口で団体作りたい、どこに聞く", "山口で団体作りたい、どこに聞く？"),
        ("それはいつまで", "それはいつまで？"),
        ("ボランティア保険はありますか", "ボランティア保険はありますか"),
        # 「あの」 that points at something is not a filler
        ("あの赤いゆるキャラ、誰が作ったの？", "あの赤いゆるキャラ、誰が作ったの？"),
        ("あの、赤いゆるキャラは誰が作ったの？", "赤いゆるキャラは誰が作ったの？"),
        ("ボランティアを始めたい。", "ボランティアを始めたい。"),
        ("NPOとは？", "NPOとは？"),
        ("協働とは「共に働くこと」", "協働とは「共に働くこと」"),
        # what says what is asked stays
        ("協議会について教えて", "協議会について？"),
        # a keyword search is not a question
        ("NPO 補助金", "NPO 補助金"),
        ("ボランティア", "ボランティア"),
        # nothing but courtesy: as typed
        ("よろしくお願いします", "よろしくお願いします"),
        ("教えてください", "教えてください"),
        ("🙏", "🙏"),
        ("", ""),
    ],
)
def test_plain_question(typed, plain):
    assert plain_question(typed) == plain


def test_symbols_the_plans_use_are_not_taken_for_emoji():
    assert plain_question("◎と○の違いは？") == "◎と○の違いは？"
    assert plain_question("★印の事業は？") == "★印の事業は？"
    assert plain_question("❶の施策の担当は？") == "❶の施策の担当は？"
    assert plain_question("1️⃣の施策の担当は？") == "の施策の担当は？"


@pytest.mark.parametrize("typed", ["すみません、NPO法人の認証数の目標値は？🙏", "NPO法人の認証数の目標値は"])
def test_courtesy_emoji_or_a_missing_mark_do_not_change_an_answer(bundled_local, typed):
    plain = bundled_local.ask("NPO法人の認証数の目標値は？")
    framed = bundled_local.ask(typed)
    assert not plain.refused
    assert framed.text == plain.text
    assert [c.hit.chunk.id for c in framed.citations] == [c.hit.chunk.id for c in plain.citations]


def test_search_reads_the_plain_question_too(bundled_local):
    plain = [h.chunk.id for h in bundled_local.search("NPO法人の認証数の目標値は？", k=5)]
    assert [h.chunk.id for h in bundled_local.search("すみません、NPO法人の認証数の目標値は？😊", k=5)] == plain


def test_a_follow_up_borrows_the_previous_question_without_its_courtesy():
    from assistant.conversation import rewrite_followup

    h = [{"role": "user", "content": "すみません、長門市のボランティア登録のしかたを教えてください🙏"},
         {"role": "assistant", "content": "…"}]
    q, _ = rewrite_followup("山口市は？", h, ["山口市", "長門市"], ["山口市"])
    assert q == "山口市のボランティア登録のしかた？"
