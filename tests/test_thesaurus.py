"""The domain thesaurus (assistant/data/thesaurus.txt) as a specification: residents' everyday words reach
the plans' administrative words, every rule can fire, and a question already worded like the plans is not
flooded by the one-way resident rules."""

import gzip
from importlib import resources

import pytest

from assistant import japanese
from assistant.query import Thesaurus, analyze_query


def _domain_lines() -> list[str]:
    return (resources.files("assistant") / "data" / "thesaurus.txt").read_text(encoding="utf-8").splitlines()


def _rules() -> list[tuple[int, list[str], list[str]]]:
    rules = []
    for n, line in enumerate(_domain_lines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=>" in line:
            lhs, rhs = line.split("=>", 1)
            rules.append((n, [w.strip() for w in lhs.split(",") if w.strip()], [w.strip() for w in rhs.split(",") if w.strip()]))
        else:
            words = [w.strip() for w in line.split(",") if w.strip()]
            rules.append((n, words, words))
    return rules


@pytest.mark.parametrize(
    "question, plan_words",
    [
        ("お知らせ冊子はどこでもらえますか？", {"市報", "広報紙", "広報誌"}),
        ("助け合いを取り持つ世話役はいますか？", {"コーディネーター", "コーディネート"}),
        ("窓口でたらい回しにされないようになる？", {"ワンストップサービス", "総合窓口"}),
        ("公園の掃除を引き受けたい", {"アダプト制度"}),
        ("ちびっこが減ったと聞きました", {"子ども", "児童"}),
        ("町内の集まりに出る人が少ない", {"自治会活動", "自治会"}),
        ("若い人が参加するには？", {"若者", "若年層"}),
        ("活動費を出してくれる制度は？", {"活動資金", "補助金", "助成"}),
        ("ボランティア中にけがをしたら？", {"活動保険", "保険"}),
        ("市の借金はどのくらい？", {"公債"}),
    ],
)
def test_a_residents_phrase_expands_to_the_plans_term(question, plan_words):
    qa = analyze_query(question)
    assert plan_words & set(qa.expansions), sorted(qa.expansions)
    assert all(w < 1.0 for w in qa.expansions.values()), "an expansion never outweighs the asked words"


def test_every_rule_can_fire_from_a_question():
    """Each word on the left of a rule, asked about, makes that rule add one of its words. A word the
    tagger never yields as a lookup key (a conjugated verb phrase, a phrase that starts on a question word
    or a light word, a compound longer than the four-token window) would be a dead line that only looks
    like coverage. Each line is checked alone, so another line's synonyms cannot hide a dead one."""
    dead = []
    for n, sources, targets in _rules():
        line = ", ".join(sources) + " => " + ", ".join(targets)
        alone = Thesaurus([line], [])
        for s in sources:
            question = s + "について"
            norm = japanese.normalize(question)
            new = [t for t in targets if t != s and japanese.normalize(t) not in norm]
            if new and not set(new) & set(analyze_query(question, alone).expansions):
                dead.append(f"line {n}: {s}")
    assert not dead, dead


@pytest.mark.parametrize(
    "question",
    [
        "協働推進プランの計画期間はいつまでですか？",
        "市民活動支援センターではどんな相談体制を整備しますか？",
        "地域づくり協議会への財政的支援の内容は？",
        "NPO法人の認証数の目標値は？",
        "職員研修会の年間開催数は？",
    ],
)
def test_a_question_in_the_plans_words_is_not_flooded_by_the_resident_rules(question):
    """The resident rules (the file's 「住民の言い方 → 計画書の言い方」 part) start from everyday words: a
    question already worded like the plans gets exactly the expansions it would get without them."""
    with gzip.open(str(resources.files("assistant") / "data" / "sudachi_synonyms.tsv.gz"), "rt", encoding="utf-8") as f:
        sudachi = f.read().splitlines()
    lines = _domain_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# =====") and "住民の言い方" in line)
    assert sum("=>" in line for line in lines[start:]) > 100, "the resident rules are where this test looks for them"
    without_resident_rules = Thesaurus(lines[:start], sudachi)
    assert analyze_query(question, Thesaurus(lines, sudachi)).expansions == analyze_query(question, without_resident_rules).expansions
