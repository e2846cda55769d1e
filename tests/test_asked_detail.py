"""Near misses: the plans name the thing asked about but not the asked detail (its fee, its date, its size).

The answer model sees, besides word overlap, whether any sentence about the question's topic states a
value of the kind asked for (``asked.asked_detail`` / ``answering.detail_features``)."""

import pytest

from assistant import Assistant, answering, asked


@pytest.mark.parametrize(
    "question, kind",
    [
        ("JAL向津具ダブルマラソンの参加費はいくらですか？", "money"),
        ("市民活動センターのコピー機は有料ですか？", "money"),
        ("協働のまちづくり推進委員会の委員は何人ですか？", "count"),
        ("市民まつりは今年いつ開かれますか？", "date"),
        ("市報は毎月何日に配られますか？", "date"),
        ("地域交流センターは夜何時まで使えますか？", "time"),  # a clock time, not a date
        ("協働推進課の電話番号を教えて。", "phone"),  # a phone number, not a place
        ("消防団に入りたいんですが、どこに申し込めばいいですか？", "place"),
        ("グラウンドを予約するにはどうすればいい？", "procedure"),
        ("講座を頼むのにお金はかかりますか？", "money"),  # §9.9: the asked fee said in plain words
        ("子育て講座は何歳の子どもが対象ですか？", "count"),
        ("手引きは何ページありますか？", "count"),
        ("地域自治区は何年度から始まりますか？", "date"),
        # how often is a count of times, not a date (「何年に」 alone asks a year)
        ("橋りょうの定期点検は何年に1回行いますか？", "count"),
        ("計画は何年ごとに見直しますか？", "count"),
        ("条例は何年に制定されましたか？", "date"),
        # a superlative's 「どこ」 asks which of the kind it names, not a place (real PDFs rs04)
        ("施策全体の満足度が最も高い居住地域はどこですか？", None),
        ("最も人口が多いのはどこ？", "place"),  # no kind named: where, then
        # how far, some, every, with whom: no place
        ("役所がどこまで口をはさむかは、決まってるの？", None),
        ("自分たちで片付けられない問題は、どこと組んで乗り切るの？", None),
        ("住民の集まりの行動プランは、もうどこもでき上がった？", None),
        ("竹炭を作ってる協議会って、どこかの大学と組んでるの？", None),
        ("どこから申し込めますか？", "place"),
        # always, for ever, many, some: no date, no count
        ("援助って、いつまでも受け続けられるもの？", None),
        ("公民館でいつも集まってるサークルにも、何か役目を期待してる？", None),
        ("いくつもの村がまとまった暮らしの中心の場については？", None),
        ("何名かの論客が見解を述べ合うやり方は何と呼ぶ？", None),
        ("受診券はいつもらえますか？", "date"),
        ("防犯マップはどこでもらえますか", "place"),
        # no particular detail: what the plans say about something
        ("市民協働とは？", None),
        ("NPOを始めるには？", None),
        ("まちの紹介パンフをうまく使っていくつもり？", None),  # 「いくつもり」 is not 「いくつ」
    ],
)
def test_the_detail_a_question_asks_for(question, kind):
    assert asked.asked_detail(question) == kind


@pytest.mark.parametrize(
    "kind, sentence, holds",
    [
        ("money", "参加費は一人1,000円です。", True),
        ("money", "平成29年度開催の「JAL 向津具ダブルマラソン」にも多くのボランティアが参加しました。", False),
        ("count", "委員は15人以内で組織する。", True),
        ("count", "中心部では本庁と3出張所所管エリアで提供", True),
        ("count", "各まちづくりの主体や有識者等で構成された推進委員会で検証します。", False),
        ("count", "3歳から5歳までの子どもと保護者が対象です。", True),
        ("count", "平成20年に協議会が設立された。", False),  # a year is a date, not a count
        ("count", "橋りょうの定期点検は5年に1回、近接目視により行います。", True),
        ("count", "計画は5年ごとに見直します。", True),
        ("date", "毎年10月第2日曜日に市民まつりを開催しています。", True),
        ("date", "市民まつりを開催しています。", False),
        # plan tables write the era by its letter
        ("date", "指標: ボランティア団体数 / 基準値 基準年: H19.3 / 基準値 数値: 53団体", True),
        ("date", "目標値 (H29年度): 20団体", True),
        ("date", "温室効果ガス(CH4)の排出を抑えます。", False),
        ("time", "開館時間は午前9時から午後10時までです。", True),
        ("phone", "問い合わせ先 0836-82-1111", True),
        ("phone", "市民活動推進課にお尋ねください。", False),
        ("place", "市民活動推進課にお尋ねください。", True),
        (None, "何でも", False),
    ],
)
def test_a_sentence_holds_a_value_of_the_asked_kind_or_not(kind, sentence, holds):
    assert asked.holds_value(kind, sentence) is holds


def test_a_figure_question_keeps_choosing_sentences_as_before():
    # the coarse type used to choose sentences lives in the same place as the detail kinds
    assert asked.asked_type("general", "まちづくり講座の受講料はいくら？") == "number"
    assert asked.asked_type("when", "条例ができたのはいつですか？") == "when"


class _C:
    def __init__(self, text, cov, logit):
        self.text, self.features, self.logit = text, {"cov_ctx": cov}, logit


def test_the_detail_gap_is_the_topic_coverage_lost_by_asking_for_a_value():
    about = _C("平成29年度開催の「JAL 向津具ダブルマラソン」にも多くのボランティアが参加しました。", 0.8, 2.0)
    elsewhere = _C("講座の受講料は500円です。", 0.1, -1.0)
    f = answering.detail_features([about, elsewhere], "money")
    assert f["detail_asked"] == 1.0 and f["detail_gap"] == pytest.approx(0.7)
    assert f["detail_miss"] == 0.0, "a value among the three best sentences, though not about the topic"
    stated = _C("JAL 向津具ダブルマラソンの参加費は5,000円です。", 0.8, 2.0)
    f = answering.detail_features([stated, elsewhere], "money")
    assert f["detail_gap"] == 0.0 and f["detail_miss"] == 0.0
    assert answering.detail_features([about], None) == {"detail_asked": 0.0, "detail_miss": 0.0, "detail_gap": 0.0}


FESTIVAL = "\n\n地域の交流を深めるため、市民団体と市が協働して「みなと市民まつり」を{when}開催しています。\n"
QUESTION = "みなと市民まつりはいつ開かれますか？"


@pytest.fixture
def festival_corpus(small_corpus):
    def with_sentence(when: str):
        doc = small_corpus / "003_dfaa35240c5397ba.txt"
        base = doc.read_text(encoding="utf-8")
        doc.write_text(base + FESTIVAL.format(when=when), encoding="utf-8")
        return small_corpus

    return with_sentence


def test_a_festival_the_plan_names_without_a_date_is_not_answered_as_if_the_plan_said_when(festival_corpus, tmp_path):
    a = Assistant.load(festival_corpus(""), tmp_path / "index")
    ans = a.ask(QUESTION)
    assert ans.refused or answering.is_hedge_text(ans.text), ans.text


def test_a_festival_the_plan_names_without_a_date_is_refused(festival_corpus, tmp_path):
    # an xfail until §9.9 (p 0.67 > 0.54, hedged: the toy sentence repeats the question's words verbatim);
    # with the §9.9 refits (four features fewer, 31 more near misses) p 0.05–0.08 < 0.40: refused
    a = Assistant.load(festival_corpus(""), tmp_path / "index")
    assert a.ask(QUESTION).refused


@pytest.mark.xfail(strict=True, reason="the answer reader reads the dated festival sentence as no answer (−5.45; the training "
                   "near misses ask festival dates the plans do not give): refused, p 0.35 < 0.39 (BENCHMARKS §9.23)")
def test_a_festival_the_plan_dates_is_answered_with_its_date(festival_corpus, tmp_path):
    a = Assistant.load(festival_corpus("毎年10月第2日曜日に"), tmp_path / "index")
    ans = a.ask(QUESTION)
    assert not ans.refused and not answering.is_hedge_text(ans.text), ans.text
    assert "10月第2日曜日" in ans.text


# --- the hedged answer to a near miss says which detail the plans lack (issue 10) ---------------


def test_every_asked_detail_kind_has_its_own_hedge_lead_naming_what_is_missing():
    assert set(answering.DETAIL_HEDGE_TEXT) == set(asked.DETAIL_KINDS)
    names = {"money": "金額", "date": "日時", "time": "時間", "phone": "電話番号", "place": "場所",
             "count": "人数", "procedure": "手続き"}
    for kind, lead in answering.DETAIL_HEDGE_TEXT.items():
        assert names[kind] in lead and lead.endswith("関連する箇所は次のとおりです。")
    assert len(set(answering.DETAIL_HEDGE_TEXT.values())) == len(answering.DETAIL_HEDGE_TEXT)


@pytest.mark.parametrize(
    "kind, lines, lead",
    [
        # the plan names the festival but no line says when: the lead says the date is not there
        ("date", ["市民団体と市が協働して「みなと市民まつり」を開催しています。"], answering.DETAIL_HEDGE_TEXT["date"]),
        ("money", ["マラソン大会を支援します。", "参加者の増加を図ります。"], answering.DETAIL_HEDGE_TEXT["money"]),
        # a line states a value of the asked kind, loosely fitting: the generic hedge, not "not written"
        ("date", ["「みなと市民まつり」を毎年10月に開催しています。"], answering.HEDGE_TEXT),
        ("phone", ["協働推進課（電話 0837-23-1234）が担当します。"], answering.HEDGE_TEXT),
        # a count in 万 is a count: never say 「人数・数は書かれていません」 over 「40万人を超える」
        ("count", ["県内においては40万人を超えるボランティアの参加と協力がありました。"], answering.HEDGE_TEXT),
        ("count", ["多くのボランティアが参加しています。"], answering.DETAIL_HEDGE_TEXT["count"]),
        # the question asks no particular detail: the generic hedge
        (None, ["市民団体と市が協働して「みなと市民まつり」を開催しています。"], answering.HEDGE_TEXT),
    ],
)
def test_the_hedge_names_the_asked_detail_only_when_no_line_states_it(kind, lines, lead):
    assert answering.hedge_lead(kind, lines) == lead


def test_every_hedge_lead_reads_as_hedged():
    from assistant.evaluation import is_hedged
    from assistant.types import Answer

    for lead in answering.HEDGE_LEADS:
        assert is_hedged(Answer(text=lead + "\n\n関連する記述"))
        assert not is_hedged(Answer(text=lead, refused=True))
    assert not is_hedged(Answer(text="計画書によると、…を開催しています。 [1]"))


@pytest.fixture
def hedging(monkeypatch):
    """The answer model's confidence put inside the hedge band (above refusal, below the hedge
    threshold), whatever the toy corpus's evidence: what is under test is the hedge's words."""
    judge = answering._judge

    def in_hedge_band(retriever, model, qa, hits, weights, judge_hits=None):
        cands, _conf, refuse, hedge = judge(retriever, model, qa, hits, weights, judge_hits)
        return cands, (refuse + hedge) / 2, refuse, hedge

    monkeypatch.setattr(answering, "_judge", in_hedge_band)


def _quoted(ans) -> list[str]:
    return [q for c in ans.citations for q in c.quote]


def test_a_hedged_near_miss_says_the_plans_do_not_give_the_date(festival_corpus, tmp_path, hedging):
    a = Assistant.load(festival_corpus(""), tmp_path / "index")
    ans = a.ask(QUESTION)
    assert not ans.refused
    assert ans.text.startswith(answering.DETAIL_HEDGE_TEXT["date"] + "\n\n"), ans.text
    assert "みなと市民まつり" in ans.text
    assert not any(asked.holds_value("date", q) for q in _quoted(ans))


def test_a_hedged_answer_whose_lines_give_the_date_keeps_the_generic_hedge(festival_corpus, tmp_path, hedging):
    a = Assistant.load(festival_corpus("毎年10月第2日曜日に"), tmp_path / "index")
    ans = a.ask(QUESTION)
    assert ans.text.startswith(answering.HEDGE_TEXT + "\n\n"), ans.text
    assert "10月第2日曜日" in ans.text


def test_a_hedged_question_asking_no_detail_keeps_the_generic_hedge(festival_corpus, tmp_path, hedging):
    a = Assistant.load(festival_corpus(""), tmp_path / "index")
    ans = a.ask("みなと市民まつりについて教えてください。")
    assert asked.asked_detail("みなと市民まつりについて教えてください。") is None
    assert ans.text.startswith(answering.HEDGE_TEXT + "\n\n"), ans.text


@pytest.mark.parametrize(
    "question, kind",
    [
        # 「どこかの」「いつか」「いくつか」 are indefinite: a yes/no question asks for no detail to call missing
        ("長門の宇津賀で竹炭を作ってる協議会って、どこかの大学と組んでるの？", None),
        ("いつか市民まつりに出てみたいのですが、出られますか？", None),
        ("協働の事業はいくつかありますか？", None),
        # a plain ask is the same as asked_detail's
        ("市民まつりはいつ開かれますか？", "date"),
        ("地域自治区は何年度から始まりますか？", "date"),
        # how often is a count of times, not a date (「何年に」 alone asks a year)
        ("橋りょうの定期点検は何年に1回行いますか？", "count"),
        ("計画は何年ごとに見直しますか？", "count"),
        ("条例は何年に制定されましたか？", "date"),
        ("子育て相談はどこでできますか？", "place"),
        ("講座は何か所で開かれますか？", "count"),
    ],
)
def test_the_detail_a_hedge_may_call_missing_is_only_one_plainly_asked(question, kind):
    assert asked.plainly_asked_detail(question) == kind


@pytest.mark.parametrize(
    "kind, sentence, may",
    [
        ("count", "40万人を超えるボランティアが参加しました。", True),
        ("count", "約1億人", True),
        ("count", "30人が参加しました。", True),  # what holds_value already finds
        ("count", "多くの市民が参加しました。", False),
        ("date", "毎年10月に開催します。", True),
        (None, "30人が参加しました。", False),
    ],
)
def test_a_value_may_be_held_wider_than_the_model_features_see(kind, sentence, may):
    assert asked.may_hold_value(kind, sentence) == may
    assert asked.holds_value(kind, sentence) <= may  # never narrower than holds_value
