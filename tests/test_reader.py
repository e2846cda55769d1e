"""The answer reader (assistant/reader.py): a cross-encoder over (question, candidate sentence).

Pins: what the reader reads for a candidate; that the bundled reader prefers the sentence that answers
over one that shares its topic, and scores a question the plans do not cover low (golden cases with the
bundled weights, like fugashi's tests with its dictionary pinned); that the answer path reads only the
few candidates the first stage ranks highest; and that a missing or damaged reader is one clear error,
after which answers go on without it, said in the health report.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import answering, evidence_model, reader
from assistant.model_files import ModelFileError
from assistant.reader import Reader, passage_text

MODELS = Path(reader.__file__).resolve().parent / "models"


@pytest.fixture(scope="module")
def bundled() -> Reader:
    return Reader.load()


def test_the_reader_reads_heading_sentence_and_what_it_brings_cut_to_length():
    assert passage_text("主な取組", "研修事業への支援", []) == "主な取組｜研修事業への支援"
    assert passage_text("施策", "次の取組を進めます。", ["① 相談", "② 研修"]) == "施策｜次の取組を進めます。 ① 相談 ② 研修"
    assert len(passage_text("見出し", "あ" * 1000, [])) == reader.MAX_CHARS


# (question, heading, the sentence that answers, a sentence on the same topic that does not)
GOLDEN = [
    ("NPO法人の認証数の目標は？", "基本目標",
     "第2次長門市総合計画では、平成33年度までに、認証数について25団体とすることを目標としています。",
     "本市における NPO 法人については、平成 18 年度には 10 団体であったものが、平成 29 年 3 月現在では 22 団体となっています。"),
    ("ボランティアを始めたいけど、どこに相談すればいい？", "市民活動の支援",
     "市民活動支援センター(さぽらんて)では、ボランティア活動に関する相談を受け付けています。",
     "ボランティア活動への参加者は年々減少しています。"),
    ("プランの計画期間はいつまで？", "計画期間", "このプランの計画期間は、平成29年度から令和3年度までの5年間とします。",
     "このプランは、総合計画に掲げる施策を実現するため、具体的な方向性を示したものです。"),
]
# Not every such pair: 「市長と直接話せる場はある？」 reads 「市民と市長との「対話の日」の開催」 and 「広報紙、ホームページの
# 充実」 alike (−2.99 / −2.98). The reader is one signal among the answer model's features, not the judge alone.


@pytest.mark.parametrize("question,heading,right,wrong", GOLDEN)
def test_the_bundled_reader_prefers_the_sentence_that_answers(bundled, question, heading, right, wrong):
    s = bundled.scores(question, [passage_text(heading, right, []), passage_text(heading, wrong, [])])
    assert s[0] > s[1]


def test_a_question_the_plans_do_not_cover_reads_lower_than_any_that_they_answer(bundled):
    answered = [bundled.scores(q, [passage_text(h, r, [])])[0] for q, h, r, _w in GOLDEN]
    off = bundled.scores("ごみの収集日は何曜日？", [passage_text(h, r, []) for _q, h, r, _w in GOLDEN])
    assert off.max() < min(answered)


def test_scores_are_memoized_so_both_sides_of_an_answer_agree(bundled):
    """A pair read once keeps its score (int8 dynamic quantization scales activations per batch, so the
    same pair read in another batch differs in the second decimal)."""
    q, h, r, w = GOLDEN[0]
    texts = [passage_text(h, r, []), passage_text(h, w, [])]
    both = bundled.scores(q + "！", texts)
    alone = np.array([bundled.scores(q + "！", [t])[0] for t in reversed(texts)])[::-1]
    assert np.array_equal(both, alone)
    assert bundled._forward(q + "！", texts[:1])[0] == pytest.approx(both[0], abs=0.1)


class _Cand:
    def __init__(self, name: str, first_stage: float):
        self.name, self.features = name, {"f": first_stage}


def test_the_answer_path_reads_only_the_first_stages_best_candidates():
    first = evidence_model.Logistic(["f"], [0.0], [1.0], [1.0], 0.0)
    use = evidence_model.ReaderUse(k=2, floor=-6.5, sentence=first, weights_id="x")
    cands = [_Cand("c", 0.1), _Cand("a", 3.0), _Cand("d", -1.0), _Cand("b", 2.0)]
    read: list[str] = []

    def fake_reader(cs):
        read.extend(c.name for c in cs)
        return np.array([1.5 if c.name == "b" else -2.0 for c in cs])

    answering.add_reader_features(use, cands, fake_reader)
    assert read == ["a", "b"]
    got = {c.name: (c.features["reader"], c.features["reader_rel"]) for c in cands}
    assert got == {"a": (-2.0, -3.5), "b": (1.5, 0.0), "c": (-6.5, -8.0), "d": (-6.5, -8.0)}


def test_the_search_sides_first_candidates_are_read_in_the_same_call_and_count_in_reader_max_only():
    first = evidence_model.Logistic(["f"], [0.0], [1.0], [1.0], 0.0)
    use = evidence_model.ReaderUse(k=1, floor=-6.5, sentence=first, weights_id="x", search_k=2)
    cands = [_Cand("a", 3.0), _Cand("b", 2.0)]
    search_side = [_Cand("s1", 0.0), _Cand("s2", 0.0), _Cand("s3", 0.0)]  # in the chooser's order
    calls: list[list[str]] = []

    def fake_reader(cs):
        calls.append([c.name for c in cs])
        return np.array([2.5 if c.name == "s2" else -3.0 for c in cs])

    answering.add_reader_features(use, cands, fake_reader, search_side)
    assert calls == [["a", "s1", "s2"]]  # one batch: the judging side's best, then the search side's first two
    got = {c.name: (c.features["reader"], c.features["reader_rel"], c.features["reader_best"]) for c in cands}
    assert got == {"a": (-3.0, 0.0, 2.5), "b": (-6.5, -3.5, 2.5)}  # rel: within the judging side
    row = answering.question_features(_with_question_features(cands), [], 0.0, {"w": 1.0}, 0.0)
    assert row["reader_max"] == 2.5
    use_judging_only = evidence_model.ReaderUse(k=1, floor=-6.5, sentence=first, weights_id="x")
    answering.add_reader_features(use_judging_only, cands, fake_reader, search_side)
    assert calls[-1] == ["a"] and answering.question_features(cands, [], 0.0, {"w": 1.0}, 0.0)["reader_max"] == -3.0


def _with_question_features(cands):
    for c in cands:
        c.logit = c.features["f"]
        c.text = c.name
        c.features.update({"type": 0.0, "cos": 0.0, "cov": 0.0, "bigram": 0.0})
    return cands


def test_the_reader_reads_the_question_as_asked_or_with_its_curated_synonyms_when_set(bundled_local, monkeypatch):
    """By default the reader reads the question as it was trained to. With ``reader_expansions`` set it reads
    the curated thesaurus's synonyms too (国民健康保険料 → 国保料), never the rules learnt for search
    (写し → 効率, サービス, 行政), and a question with none as asked."""
    r = bundled_local.state.retriever
    seen = []
    monkeypatch.setattr(r.reader, "scores", lambda q, ps: seen.append(q) or np.zeros(len(ps), dtype=np.float32))
    asked_as = r.analyze("国民健康保険料の納付方法は？").text
    bundled_local.ask("国民健康保険料の納付方法は？")
    assert seen and seen[0] == asked_as
    monkeypatch.setattr(r, "reader_expansions", 3)
    seen.clear()
    bundled_local.ask("国民健康保険料の納付方法は？")
    assert seen and seen[0].startswith(asked_as + "（") and "国保料" in seen[0]
    copy = r.analyze("住民票の写しはどこで取れますか。")
    assert "効率" in r.search_query_text(copy.text) and r.reader_query_text(copy.text) == copy.text
    plain = r.analyze("夫からの暴力で悩んでいます。山陽小野田市に相談できるところはありますか？")
    assert r.reader_query_text(plain.text) == plain.text


def test_a_question_asking_an_office_has_the_reader_read_the_row_that_names_it(bundled_local, monkeypatch):
    """A plan's item line (「推進項目: ① 地域づくりリーダーの育成」) names its office in the row beside it; the reader
    reads that row with it when the question asks where or which office, and not for a question asking a number."""
    r = bundled_local.state.retriever
    read = []
    monkeypatch.setattr(r.reader, "scores", lambda q, ps: read.extend(ps) or np.zeros(len(ps), dtype=np.float32))
    bundled_local.ask("リーダー育成の担当はどこ？")
    item = [p for p in read if "推進項目: ① 地域づくりリーダーの育成" in p]
    assert item and all("担当課" in p for p in item)
    read.clear()
    bundled_local.ask("地域づくりリーダーの育成は何人ですか？")
    item = [p for p in read if "推進項目: ① 地域づくりリーダーの育成" in p]
    assert item and not any("担当課" in p for p in item)


@pytest.fixture
def damaged_reader(tmp_path, monkeypatch):
    """A private copy of the reader (with its base beside it) whose weights file is cut short."""
    d = tmp_path / "models"
    shutil.copytree(MODELS / reader.READER_NAME, d / reader.READER_NAME)
    (d / "e5-small-ja").symlink_to(MODELS / "e5-small-ja")
    w = d / reader.READER_NAME / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    monkeypatch.setattr(reader, "READER_DIR", d / reader.READER_NAME)
    return w


def test_a_damaged_reader_is_one_error_naming_the_file_and_the_rebuild_command(damaged_reader):
    with pytest.raises(ModelFileError) as info:
        Reader.load()
    assert str(damaged_reader) in str(info.value) and "train_reader.py" in str(info.value)


def test_answers_go_on_without_a_damaged_reader_and_health_says_so(damaged_reader, bundled_local, caplog):
    from assistant import Assistant

    # its own Assistant (and retriever) over the session's bundled index: the shared one keeps its reader
    a = Assistant.load(corpus_dir=bundled_local.corpus_dir, index_dir=bundled_local.index_dir, backend="local")
    r = a.state.retriever
    with caplog.at_level(logging.WARNING):
        ans = a.ask("NPO法人の認証数の目標は？")
    assert r.reader is None and "model.safetensors" in (r.reader_problem or "")
    assert not ans.refused and ans.citations
    assert getattr(answering.answer_model(r), "key", "") == a.answer_encoder.model_id  # the entry without the reader
    h = a.health()
    assert h["reader"] is None and "model.safetensors" in h["reader_fallback"]
    assert any("answer reader" in w for w in h["warnings"])


def test_four_bit_changes_unpack_to_what_was_packed():
    import torch

    from assistant.e5_core import pack_int4, unpack_int4

    q = torch.randint(-7, 8, (5, 384), dtype=torch.int8)
    packed = pack_int4(q)
    assert packed.dtype == torch.uint8 and tuple(packed.shape) == (5, 192)
    assert torch.equal(unpack_int4(packed), q)
