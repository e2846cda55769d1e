"""A question naming no city that another plan answers too gets that plan's part after the first answer.

「審議会のメンバーに女の人を増やす考えは？」 asked without a city is answered by 山陽小野田市's plan and by
長門市's; which one the answer quoted was decided by the first passage alone. Another plan among the first
passages is now searched and judged on its own and, when it answers at least as surely as the hedge
threshold, quoted in its own labelled part (docs/BENCHMARKS.md §9.35)."""

from types import SimpleNamespace

import pytest

from assistant import answering

QUESTION = "審議会のメンバーに女の人を増やす考えは？"


def _lines(text: str) -> set[str]:
    return {line.lstrip("・").strip() for line in text.splitlines() if "[" in line}


def test_a_question_naming_no_city_gets_a_second_plans_part_after_the_first(bundled_local, monkeypatch):
    ans = bundled_local.ask(QUESTION)
    monkeypatch.setattr(answering, "OTHER_PLAN_HITS", 0)
    alone = bundled_local.ask(QUESTION)
    assert not ans.refused and not alone.refused
    first = {c.municipality for c in alone.citations}
    added = [c for c in ans.citations if c.municipality not in first]
    assert added, ans.text
    # one other plan, cited after everything the answer alone cites, in a part led by its own label
    assert len({c.hit.doc_id for c in added}) == 1
    assert min(c.number for c in added) > len(alone.citations)
    assert answering._source_label(added[0].hit) + "では、" in ans.text
    # nothing the answer alone said is lost (its lines differ only in their citation numbers)
    assert {line.split(" [")[0] for line in _lines(alone.text)} <= {line.split(" [")[0] for line in _lines(ans.text)}


def test_a_question_naming_its_city_gets_no_other_plan(bundled_local, monkeypatch):
    asked_for = []
    monkeypatch.setattr(answering, "other_plan_lines", lambda *a, **k: asked_for.append(a) or [])
    bundled_local.ask("山陽小野田市では、審議会のメンバーに女の人を増やす考えは？")
    bundled_local.ask(QUESTION, municipality="山陽小野田市")
    assert asked_for == []
    bundled_local.ask(QUESTION)
    assert len(asked_for) == 1


def test_another_plan_judged_below_the_bar_adds_nothing(bundled_local):
    retriever = bundled_local.state.retriever
    qa = retriever.analyze(QUESTION)
    hits = retriever.search(QUESTION, k=answering.TOP_HITS, analysis=qa)
    first = [SimpleNamespace(hit=hits[0])]  # an answer quoting the first passage's plan
    model = answering.answer_model(retriever)
    some = answering.other_plan_lines(retriever, model, QUESTION, hits, first, 0.0)
    assert some and len({c.hit.doc_id for c in some}) == 1
    assert some[0].hit.doc_id != hits[0].doc_id
    assert some[0].hit.doc_id in {h.doc_id for h in hits[: answering.OTHER_PLAN_HITS]}
    assert answering.other_plan_lines(retriever, model, QUESTION, hits, first, 1.01) == []


def test_a_question_no_plan_answers_stays_refused(bundled_local):
    ans = bundled_local.ask("粗大ごみの収集日は何曜日ですか？")
    assert ans.refused and not ans.citations
