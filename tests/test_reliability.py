"""Issue 14: a damaged cache, a full disk or one bad line must never silently change answers.

Each test is one of the operator's bad days, replayed on a private copy of the bundled corpus
and index. The index's caches are copied from one build per module, so every test pays only
for a rebuild that re-uses them (about a second), not for embedding the corpus again.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, cli, corpus, index, passage_cache

REPO = Path(__file__).resolve().parents[1]
NPO_QUESTION = "NPO法人の認証数の目標値は？"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The bundled corpus built once: its counts, its answer to NPO_QUESTION and its caches."""
    root = tmp_path_factory.mktemp("reference")
    shutil.copytree(REPO / "corpus", root / "corpus")
    a = Assistant.load(root / "corpus", root / "index")
    h = a.health()
    return {"documents": h["documents"], "passages": h["passages"], "npo": a.ask(NPO_QUESTION).text,
            "cache": root / "index" / "cache"}


@pytest.fixture
def site(tmp_path, reference):
    """A private corpus (copy of the bundled one) and an index directory holding only the caches."""
    shutil.copytree(REPO / "corpus", tmp_path / "corpus")
    shutil.copytree(reference["cache"], tmp_path / "index" / "cache")
    return tmp_path / "corpus", tmp_path / "index"


def entry_of(index_dir: Path, source: str) -> Path:
    """The passage cache entry of one corpus file (found by the source name in its header)."""
    for p in (index_dir / "cache" / "passages").glob("*.jsonl"):
        if json.loads(p.read_bytes().partition(b"\n")[0]).get("source") == source:
            return p
    raise AssertionError(f"no cache entry for {source}")


def touch_corpus(corpus_dir: Path) -> None:
    """Change one document so the index is stale and the next load rebuilds (from the cache)."""
    doc = corpus_dir / "003_dfaa35240c5397ba.txt"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n本計画は毎年度点検します。\n", encoding="utf-8")


def leftovers(index_dir: Path) -> list[str]:
    pats = ["builds/.staging-*", "cache/*.tmp", "cache/passages/*.tmp", ".current.*.tmp", ".replaced-current-*"]
    return sorted(str(p.relative_to(index_dir)) for pat in pats for p in index_dir.glob(pat))


# --- 1. the passage cache is checked, not trusted ----------------------------------------

DAMAGE = {
    "emptied": lambda b: b"",
    "cut in half": lambda b: b[: len(b) // 2],
    "an empty object": lambda b: b"{}",
    "garbled bytes": lambda b: b[:200] + bytes(range(0x80, 0xFF)) + b[400:],
    "one record edited": lambda b: b.replace("20団体".encode(), "25団体".encode()),
    "old format (no header)": lambda b: b.partition(b"\n")[2],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_passage_cache_entry_is_discarded_named_and_rebuilt_from_the_source(site, reference, damage, caplog):
    corpus_dir, idx = site
    entry = entry_of(idx, "000_8ce8a70ed26a76ac.txt")
    entry.write_bytes(DAMAGE[damage](entry.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="assistant.passage_cache"):
        a = Assistant.load(corpus_dir, idx)
    h = a.health()
    assert (h["documents"], h["passages"]) == (reference["documents"], reference["passages"])
    assert any(entry.name in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    assert a.last_build["cache_repaired"] == 1 and a.last_build["files_read"] == 1
    assert "20団体" in a.ask(NPO_QUESTION).text
    passage_cache.decode_entry(entry_of(idx, "000_8ce8a70ed26a76ac.txt").read_bytes())  # rewritten, valid


def test_build_force_reads_every_file_again(site):
    corpus_dir, idx = site
    a = Assistant.load(corpus_dir, idx, rebuild=True)
    assert a.last_build["files_read"] == a.last_build["files"] == 5 and a.last_build["files_reused"] == 0


# --- 2. skipped files are a summary, not a traceback ---------------------------------------


def run_cli(*args, cwd=None, env=None):
    out = subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, cwd=cwd or REPO, timeout=300,
                         env={**os.environ, **(env or {})})
    return out.returncode, out.stdout.decode("utf-8"), out.stderr.decode("utf-8", "replace")


def test_build_prints_skipped_files_and_exits_0_when_the_index_was_built(small_corpus, tmp_path):
    (small_corpus / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (small_corpus / "empty.md").write_bytes(b"")
    (small_corpus / "records.jsonl").write_text('{"id": "r1", "text": "ジェイソン記録の本文です。"}\n{broken\n', encoding="utf-8")
    (small_corpus / "dup.jsonl").write_text('{"id": "r1", "text": "同じ id の別の記録です。"}\n', encoding="utf-8")
    code, out, err = run_cli("build", "--corpus", str(small_corpus), "--index", str(tmp_path / "index"))
    assert code == 0, err
    assert "Traceback" not in err
    assert "3 文書" in out and str((tmp_path / "index").resolve()) in out
    for name in ("binary.txt", "empty.md", "records.jsonl:2"):
        assert f"skipped {small_corpus / name}" in err or f"skipped {name}" in err, err
    assert f"skipped {small_corpus / 'records.jsonl'}: duplicate document id 'r1'" in err  # dup.jsonl came first


def test_build_exits_3_when_nothing_could_be_indexed(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    code, _out, err = run_cli("build", "--corpus", str(bad), "--index", str(tmp_path / "index"))
    assert code == cli.EXIT_NOTHING_INDEXED == 3
    assert "nothing could be indexed" in err and "Traceback" not in err


# --- 3. disk full, no permission -----------------------------------------------------------


def enospc(path="x"):
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_while_saving_the_embedding_cache_leaves_no_temp_file_and_the_build_goes_on(site, monkeypatch, caplog):
    corpus_dir, idx = site
    shutil.rmtree(idx / "cache" / "passages")
    for p in (idx / "cache").glob("*.npz"):
        p.unlink()  # everything is embedded now, so the cache must be written

    real_savez = np.savez
    cache_dir = str((idx / "cache").resolve())

    def savez_fills_the_disk(f, **arrays):
        # only the embedding caches hit the full disk; the build's own files (sentences.npz) are
        # covered by the full-disk-during-a-rebuild test
        name = os.path.realpath(f.name) if isinstance(getattr(f, "name", None), str) else ""
        if name and not name.startswith(cache_dir):
            return real_savez(f, **arrays)
        f.write(b"\0" * 4096)
        raise enospc(name or "cache")

    monkeypatch.setattr(np, "savez", savez_fills_the_disk)
    with caplog.at_level(logging.WARNING, logger="assistant.index"):
        a = Assistant.load(corpus_dir, idx)
    assert a.health()["status"] == "ok" and a.ask(NPO_QUESTION).citations
    assert not list((idx / "cache").glob("*.tmp")) and not list((idx / "cache").glob("*.npz"))
    assert any("no space left" in r.getMessage() for r in caplog.records)


def fill_disk_on_dense_write(monkeypatch):
    """faiss writes part of dense.faiss, then the disk is full."""
    def write_index(ix, path):
        Path(path).write_bytes(b"\0" * 1024)
        raise enospc(path)

    monkeypatch.setattr(index.faiss, "write_index", write_index)


def test_a_full_disk_during_a_rebuild_keeps_answering_from_the_last_good_index_and_health_says_stale(site, monkeypatch, caplog):
    corpus_dir, idx = site
    a = Assistant.load(corpus_dir, idx)
    good = a.ask(NPO_QUESTION).text
    touch_corpus(corpus_dir)
    fill_disk_on_dense_write(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="assistant.core"):
        assert a.refresh() is False
    h = a.health()
    assert h["status"] == "stale" and "no space left" in " ".join(h["warnings"])
    assert any("last good index" in r.getMessage() for r in caplog.records)
    assert a.ask(NPO_QUESTION).text == good
    assert leftovers(idx) == []
    from assistant.web.admin import Admin

    admin = Admin(a, "pw")
    assert "更新できませんでした" in admin.rebuild("pw").message and "⚠" in admin.stats_markdown()
    # a process started now (the app restarting) also answers, from the last good index
    b = Assistant.load(corpus_dir, idx)
    assert b.health()["status"] == "stale" and b.ask(NPO_QUESTION).text == good
    monkeypatch.undo()
    assert b.refresh() is True and b.health()["status"] == "ok" and "warnings" not in b.health()


def test_the_cli_reports_a_full_disk_in_one_line_naming_the_path(site, monkeypatch, capsys):
    corpus_dir, idx = site
    fill_disk_on_dense_write(monkeypatch)
    code = cli.main(["build", "--corpus", str(corpus_dir), "--index", str(idx)])
    err = capsys.readouterr().err
    assert code == 2
    assert "ディスクの空き容量" in err and "no space left on device" in err and "dense.faiss" in err
    assert "Traceback" not in err and sum("エラー" in line for line in err.splitlines()) == 1  # the rest is progress
    assert leftovers(idx) == [] and not (idx / "current").exists()


def test_build_on_a_full_disk_exits_2_even_though_the_old_index_still_serves(site, monkeypatch, capsys):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    touch_corpus(corpus_dir)
    fill_disk_on_dense_write(monkeypatch)
    capsys.readouterr()
    assert cli.main(["build", "--corpus", str(corpus_dir), "--index", str(idx)]) == 2
    err = capsys.readouterr().err
    assert "no space left on device" in err and "Traceback" not in err
    assert leftovers(idx) == []


def test_a_read_only_stale_index_answers_with_a_warning_instead_of_failing(site, monkeypatch):
    """As another user: the lock file cannot even be created. The stale index still answers."""
    corpus_dir, idx = site
    good = Assistant.load(corpus_dir, idx).ask(NPO_QUESTION).text
    touch_corpus(corpus_dir)

    class ReadOnlyLock:
        def __init__(self, path, timeout=-1):
            self.path = path

        def acquire(self):
            raise PermissionError(errno.EACCES, "Permission denied", self.path)

    monkeypatch.setattr(index, "FileLock", ReadOnlyLock)
    a = Assistant.load(corpus_dir, idx)
    assert a.ask(NPO_QUESTION).text == good
    h = a.health()
    assert h["status"] == "stale" and any("permission denied" in w and ".build.lock" in w for w in h["warnings"])


def test_no_index_and_no_way_to_write_one_is_one_clear_error(site, monkeypatch, capsys):
    corpus_dir, idx = site
    fill_disk_on_dense_write(monkeypatch)
    with pytest.raises(index.IndexWriteError, match="free some space"):
        Assistant.load(corpus_dir, idx)


# --- 4. one bad byte sequence drops only itself ---------------------------------------------


def test_a_text_file_with_a_few_invalid_bytes_is_read_with_the_bad_span_replaced_and_its_line_reported(tmp_path, caplog):
    src = (REPO / "corpus" / "003_dfaa35240c5397ba.txt").read_bytes()
    lines = src.split(b"\n")
    n = next(i for i in range(len(lines) // 2, len(lines)) if len(lines[i]) > 60)  # a text line mid-file
    lines[n] = lines[n][:9] + b"\xff\xfe\x80\x81\xc0\xc1\xf5\xf8" + lines[n][9:]  # 8 invalid bytes
    path = tmp_path / "plan.txt"
    path.write_bytes(b"\n".join(lines))
    skipped = []
    with caplog.at_level(logging.WARNING, logger="assistant.corpus"):
        docs = corpus.read_corpus_file(path, {}, skipped)
    assert skipped == [] and len(docs) == 1
    assert "\ufffd" in "\n".join(docs[0].lines)
    original = corpus.read_corpus_file(REPO / "corpus" / "003_dfaa35240c5397ba.txt", {})[0]
    lost = set(original.lines) - set(docs[0].lines)
    assert len(lost) <= 2 and all(lines[n][:9].decode() in x for x in lost)  # only the damaged line
    assert any("plan.txt" in r.getMessage() and f"line {n + 1}" in r.getMessage() for r in caplog.records)


def test_a_jsonl_file_with_one_undecodable_line_keeps_its_good_records_and_names_the_line(tmp_path):
    path = tmp_path / "bulk.jsonl"
    recs = [json.dumps({"id": f"r{i}", "text": f"記録{i}の本文です。協働のまちづくりを進めます。"}, ensure_ascii=False).encode() for i in range(5)]
    recs[2] = recs[2].replace("本文".encode(), b"\x96\x7b\xff\xfe")  # CP932 / junk bytes inside a UTF-8 file
    path.write_bytes(b"\n".join(recs) + b"\n")
    skipped = []
    docs = corpus.read_corpus_file(path, {}, skipped)
    assert sorted(d.doc_id for d in docs) == ["r0", "r1", "r3", "r4"]
    assert [(s.path, "undecodable" in s.reason) for s in skipped] == [("bulk.jsonl:3", True)]


def test_a_shift_jis_file_is_still_decoded_as_shift_jis():
    text = "協働のまちづくりを進めるため、市民活動を支援します。\n" * 20
    decoded, enc = corpus.decode_bytes(text.encode("cp932"))
    assert decoded == text and enc == "cp932"


# --- 5. a broken catalog keeps the last good one and says so ----------------------------------


def break_catalog(corpus_dir: Path) -> None:
    cat = corpus_dir / "catalog.toml"
    cat.write_text(cat.read_text(encoding="utf-8") + '\n["broken.txt"\ntitle = "閉じ括弧がない"\n', encoding="utf-8")


def test_a_catalog_syntax_error_keeps_the_last_good_metadata_and_is_reported_until_fixed(site, capsys):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    break_catalog(corpus_dir)
    touch_corpus(corpus_dir)
    a = Assistant.load(corpus_dir, idx)  # rebuilds: the corpus changed
    assert a.last_build is not None
    want = {doc: e["municipality"] for doc, e in corpus.read_catalog(REPO / "corpus").items()}
    assert {d["doc_id"]: d["municipality"] for d in a.documents()} == want
    cites = a.ask(NPO_QUESTION).citations
    assert cites and all(c.municipality == want[c.doc_id] for c in cites)
    assert cites[0].municipality == "山陽小野田市"
    h = a.health()
    assert "catalog.toml" in h["catalog_error"] and "line" in h["catalog_error"]
    assert any("catalog.toml" in w for w in h["warnings"])
    # a later process that loads the (current) index without rebuilding still warns
    later = Assistant.load(corpus_dir, idx)
    assert later.last_build is None and "catalog_error" in later.health()
    # … and so does the command line, on stderr (stdout stays JSON)
    capsys.readouterr()
    assert cli.main(["ask", NPO_QUESTION, "--json", "--corpus", str(corpus_dir), "--index", str(idx)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["citations"] and "catalog.toml" in err
    # … and so does the admin tab
    from assistant.web.admin import Admin

    assert "⚠ 目録" in (md := Admin(later, "pw").stats_markdown()) and "syntax error" in md
    # fixing the file clears the warning
    shutil.copy(REPO / "corpus" / "catalog.toml", corpus_dir / "catalog.toml")
    assert "warnings" not in later.health() and later.health()["status"] == "ok"


def test_a_catalog_broken_before_the_first_build_still_builds_and_warns(site):
    corpus_dir, idx = site
    shutil.rmtree(idx / "cache" / "passages")  # no remembered catalog
    break_catalog(corpus_dir)
    a = Assistant.load(corpus_dir, idx)
    assert a.health()["documents"] == 5 and "catalog_error" in a.health()


# --- 6. damaged index states repair themselves ----------------------------------------------


def make_current_a_directory(idx: Path) -> None:
    real = (idx / "current").resolve()
    (idx / "current").unlink()
    shutil.copytree(real, idx / "current")  # what `cp -rL` leaves


def make_current_a_file(idx: Path) -> None:
    (idx / "current").unlink()
    (idx / "current").write_text("builds/20260101\n", encoding="utf-8")


def manifest_holding(value):
    def damage(idx: Path) -> None:
        (idx / "current" / "manifest.json").write_text(json.dumps(value), encoding="utf-8")

    return damage


@pytest.mark.parametrize("damage", [make_current_a_directory, make_current_a_file, manifest_holding(None), manifest_holding([]),
                                    manifest_holding({"files": []}), manifest_holding("index")],
                         ids=["current-is-a-directory", "current-is-a-file", "manifest-null", "manifest-list",
                              "manifest-files-list", "manifest-string"])
def test_damaged_index_states_are_detected_and_repaired(site, damage):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    damage(idx)
    touch_corpus(corpus_dir)  # the directory case is only hit by a rebuild
    a = Assistant.load(corpus_dir, idx)
    assert a.health()["documents"] == 5 and a.ask(NPO_QUESTION).citations
    assert (idx / "current").is_symlink()
    assert leftovers(idx) == []
    index.load(idx, a.build_info())


# --- 7. leftovers of a killed build are cleaned at the next build -----------------------------


def test_leftovers_of_a_killed_build_are_removed_by_the_next_build(site):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    old = time.time() - 60
    made = [idx / "builds" / ".staging-abc123", idx / "cache" / "x.npz.tmp", idx / "cache" / "passages" / "y.tmp",
            idx / ".current.4242.tmp"]
    made[0].mkdir()
    (made[0] / "chunks.jsonl").write_bytes(b"x" * 1000)
    made[1].write_bytes(b"partial")
    made[2].write_bytes(b"partial")
    os.symlink("builds/nowhere", made[3])
    for p in made:
        os.utime(p, (old, old), follow_symlinks=False)
    touch_corpus(corpus_dir)
    Assistant.load(corpus_dir, idx)
    assert leftovers(idx) == []


def test_a_temp_file_newer_than_the_lock_holder_is_not_touched(tmp_path):
    """Only what predates acquiring the lock can be a dead builder's; never a live writer's file."""
    (tmp_path / "cache").mkdir()
    fresh = tmp_path / "cache" / "new.npz.tmp"
    fresh.write_bytes(b"being written")
    stale = tmp_path / "cache" / "old.npz.tmp"
    stale.write_bytes(b"dead")
    os.utime(stale, (time.time() - 60,) * 2)
    assert index.clean_leftovers(tmp_path, before=time.time() - 30) == [stale]
    assert fresh.exists()


# --- 8. a builder that waited for the lock does not redo the work ------------------------------


def test_builders_that_waited_for_the_lock_find_the_index_current_and_do_not_rebuild(site):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    touch_corpus(corpus_dir)
    before = os.readlink(idx / "current")
    from filelock import FileLock

    logs = [idx.parent / f"builder{i}.log" for i in range(2)]
    procs = []
    with FileLock(str(idx / ".build.lock")):
        for log in logs:
            with open(log, "wb") as f:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "assistant", "build", "--corpus", str(corpus_dir), "--index", str(idx)],
                    cwd=REPO, stdout=f, stderr=subprocess.STDOUT))
        deadline = time.time() + 120
        while not all("stale" in log.read_text(encoding="utf-8", errors="replace") for log in logs):
            assert time.time() < deadline and all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            time.sleep(0.2)
        time.sleep(0.5)  # both are now waiting for the lock we hold
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    outputs = [log.read_text(encoding="utf-8") for log in logs]
    assert sum("build: " in o for o in outputs) == 1, outputs
    assert sum("index is current" in o for o in outputs) == 1, outputs
    assert os.readlink(idx / "current") != before


# --- 9. size limit and identical passages -----------------------------------------------------


def test_a_file_over_the_size_limit_is_skipped_with_a_clear_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "0.05")
    path = tmp_path / "huge.txt"
    path.write_text("市民活動の支援について記載します。\n" * 5000, encoding="utf-8")
    skipped = []
    assert corpus.read_corpus_file(path, {}, skipped) == []
    assert skipped[0].reason.startswith("file too large") and "ASSISTANT_MAX_FILE_MB" in skipped[0].reason
    monkeypatch.delenv("ASSISTANT_MAX_FILE_MB")
    assert corpus.max_file_bytes(path) == corpus.MAX_TEXT_BYTES
    assert corpus.max_file_bytes(tmp_path / "plan.pdf") == corpus.MAX_BINARY_BYTES


def test_a_file_of_one_repeated_line_becomes_one_passage_not_thousands(small_corpus, tmp_path):
    (small_corpus / "repeat.txt").write_text("# 繰り返し\n\n" + "同じ一文が延々と繰り返されるだけの行です。\n\n" * 3000, encoding="utf-8")
    a = Assistant.load(small_corpus, tmp_path / "index")
    texts = [c.text for c in a.state.search_index.chunks if c.doc_id == "repeat.txt"]
    assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)
    assert a.last_build["passages_collapsed"] > 100


# --- 10. an index belongs to its corpus -------------------------------------------------------


def test_a_scratch_corpus_without_index_flag_gets_its_own_index_and_never_replaces_the_main_one(site, monkeypatch, capsys):
    corpus_dir, idx = site
    monkeypatch.chdir(corpus_dir.parent)
    monkeypatch.delenv("ASSISTANT_INDEX", raising=False)
    assert cli.main(["build"]) == 0  # ./corpus → ./index
    main_before = os.readlink(idx / "current")
    scratch = corpus_dir.parent / "scratch"
    scratch.mkdir()
    shutil.copy(REPO / "corpus" / "003_dfaa35240c5397ba.txt", scratch)
    new = corpus_dir.parent / "plan.md"
    new.write_text("# みどり町ボランティア計画\n\nボランティア活動に参加した町民には、みどりポイントを付与します。\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["add", str(new), "--corpus", "scratch"]) == 0
    out = capsys.readouterr().out
    assert str((corpus_dir.parent / "scratch.index").resolve()) in out
    assert os.readlink(idx / "current") == main_before
    assert Assistant.load(corpus_dir, idx).last_build is None  # the main index is still current


def test_an_index_built_from_another_corpus_is_not_replaced(site, tmp_path, capsys):
    corpus_dir, idx = site
    Assistant.load(corpus_dir, idx)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(REPO / "corpus" / "003_dfaa35240c5397ba.txt", other)
    code = cli.main(["build", "--corpus", str(other), "--index", str(idx)])
    err = capsys.readouterr().err
    assert code == 2 and str(corpus_dir.resolve()) in err and "--index" in err
    assert Assistant.load(corpus_dir, idx).last_build is None
