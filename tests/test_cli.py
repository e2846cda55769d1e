"""The command line is a thin face over the library: each command, its output format and its errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, timeout=600):
    out = subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, cwd=cwd or REPO, timeout=timeout)
    return out.returncode, out.stdout.decode("utf-8"), out.stderr.decode("utf-8", "replace")


def test_help_is_bilingual_and_lists_every_command():
    code, out, _ = run("--help")
    assert code == 0
    for cmd in ("ask", "search", "build", "chunks", "eval", "serve", "add", "feedback"):
        assert cmd in out
    assert "計画書" in out and "Cited answers" in out


def test_chunks_json_lines_for_one_document():
    code, out, _ = run("chunks", "--doc", "003_dfaa35240c5397ba.txt", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(set(r) == {"doc_id", "section", "text", "lines"} for r in rows)
    assert all(r["doc_id"] == "003_dfaa35240c5397ba.txt" for r in rows)
    assert "\\u" not in out  # UTF-8, not escaped


def test_unknown_document_is_a_clear_error():
    code, _out, err = run("chunks", "--doc", "no-such-file.txt")
    assert code == 2 and "no-such-file.txt" in err


def test_build_search_and_add_on_a_private_corpus(small_corpus, tmp_path):
    idx = tmp_path / "index"
    code, out, err = run("build", "--corpus", str(small_corpus), "--index", str(idx))
    assert code == 0, err
    assert "2 文書" in out

    code, out, err = run("search", "地区市民センター", "--k", "3", "--json", "--corpus", str(small_corpus), "--index", str(idx))
    assert code == 0, err
    hits = [json.loads(line) for line in out.splitlines()]
    assert len(hits) == 3 and hits[0]["doc_id"] == "003_dfaa35240c5397ba.txt"

    new = tmp_path / "plan.md"
    new.write_text("# みどり町ボランティア計画\n\n## 活動ポイント\n\nボランティア活動に参加した町民には、みどりポイントを付与します。\n", encoding="utf-8")
    code, out, err = run("add", str(new), "--municipality", "みどり町", "--corpus", str(small_corpus), "--index", str(idx))
    assert code == 0, err
    # What this test pins is the command-line flow (add → ask finds the new plan), not the refusal line:
    # 「ボランティアのポイント制度はありますか？」 sits on that line (p 0.32 with int8 arithmetic on an
    # Intel Xeon, 0.46 in float32 or bf16, threshold 0.43) and flipped with the CPU; this wording is ≥ 0.9 in all three.
    code, out, err = run("ask", "ボランティアをするとポイントがもらえますか？", "--json", "--corpus", str(small_corpus), "--index", str(idx))
    ans = json.loads(out)
    assert not ans["refused"] and "みどりポイント" in ans["text"]
    assert ans["citations"][0]["municipality"] == "みどり町"


def test_adding_an_unreadable_file_fails_and_changes_nothing(small_corpus, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    def files():  # the lock file ingest leaves is hidden and ignored by the corpus reader
        return sorted((p.name, p.read_bytes()) for p in small_corpus.iterdir() if not p.name.startswith("."))

    before = files()
    code, out, _err = run("add", str(bad), "--no-build", "--corpus", str(small_corpus))
    assert code == 1 and "broken.pdf" in out
    assert files() == before


def test_missing_corpus_is_reported_not_a_traceback(tmp_path):
    code, _out, err = run("build", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i"))
    assert code == 2 and "corpus directory not found" in err and "Traceback" not in err


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_gets_the_prompt(bundled_local, question):
    code, out, err = run("ask", question, "--corpus", str(REPO / "corpus"), "--index", str(bundled_local.index_dir))
    assert code == 0, err
    assert "入力してください" in out
