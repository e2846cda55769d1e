"""Adding/removing documents: validation before any change, safe names, no accidental
overwrite, catalog entries the corpus loader reads. Files are built in the test run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytest.importorskip("pdfplumber")
pytest.importorskip("docx")
pytest.importorskip("reportlab")
pytest.importorskip("tomli_w")

from assistant import corpus  # noqa: E402
from assistant.ingest import add_documents, remove_document, sanitize_filename, update_entry  # noqa: E402

PAGE1 = ["市民と行政が対等な立場で協働する仕組みをつくります。", "地域づくり協議会の設立を全地区で支援します。"]
PAGE2 = ["市民活動支援センターの開館時間は午後九時までとします。", "協働事業提案制度の採択件数は年五件を目標とします。"]


def snapshot(d: Path) -> dict[str, bytes]:
    """Every file (including hidden ones) under ``d`` with its bytes, minus the lock file."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != ".ingest.lock"}


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "000_existing.txt").write_text("# 既存の計画\n既存の計画の本文です。公園を整備します。\n", encoding="utf-8")
    (d / "catalog.toml").write_text(
        '# 手で書いたコメント\n["000_existing.txt"]\ntitle = "既存の計画"\nmunicipality = "みどり市"\n', encoding="utf-8"
    )
    return d


@pytest.fixture
def plan_pdf(doc_builders) -> Path:
    return doc_builders.pdf("協働推進プラン.pdf", [PAGE1, PAGE2], bold={1: "第3章 協働の推進体制"})


def catalog(d: Path) -> dict:
    return tomllib.loads((d / "catalog.toml").read_text(encoding="utf-8"))


def test_add_pdf_writes_file_and_catalog_entry_the_loader_reads(corpus_dir, plan_pdf):
    [r] = add_documents([plan_pdf], corpus_dir, title="第2次あおば市協働推進プラン", municipality="あおば市",
                        year="２０２４", kind="協働推進プラン", url="https://example.jp/plan.pdf")
    assert r.ok, r.reason
    assert r.doc_id == "協働推進プラン.pdf" and r.pages == 2
    assert (corpus_dir / r.doc_id).read_bytes() == plan_pdf.read_bytes()
    entry = catalog(corpus_dir)[r.doc_id]
    assert entry["title"] == "第2次あおば市協働推進プラン"
    assert entry["municipality"] == "あおば市" and entry["year"] == 2024 and entry["kind"] == "協働推進プラン"
    assert entry["url"] == "https://example.jp/plan.pdf"

    docs = {d.doc_id: d for d in corpus.load_corpus(corpus_dir)}
    assert set(docs) == {"000_existing.txt", r.doc_id}
    doc = docs[r.doc_id]
    assert doc.title == "第2次あおば市協働推進プラン" and doc.municipality == "あおば市"
    pages = [p for line, p in zip(doc.lines, doc.pages) if "午後九時" in line]
    assert pages == [2]


def test_existing_catalog_entries_and_comments_are_kept(corpus_dir, plan_pdf):
    before = (corpus_dir / "catalog.toml").read_text(encoding="utf-8")
    add_documents([plan_pdf], corpus_dir, municipality="あおば市")
    after = (corpus_dir / "catalog.toml").read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))
    assert catalog(corpus_dir)["000_existing.txt"] == {"title": "既存の計画", "municipality": "みどり市"}


def test_title_defaults_to_what_the_file_declares(corpus_dir, doc_builders):
    [r] = add_documents([doc_builders.docx("fukushi.docx")], corpus_dir)
    assert r.ok, r.reason
    assert catalog(corpus_dir)["fukushi.docx"]["title"] == "あおば市地域福祉計画"


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda b, t: b.image_pdf("scan.pdf"), "scanned"),
        (lambda b, t: _write(t / "broken.pdf", b"%PDF-1.4 not really"), "PDF"),
        (lambda b, t: _write(t / "broken.docx", b"PK\x03\x04 nope"), ".docx"),
        (lambda b, t: _write(t / "empty.txt", b""), "empty"),
        (lambda b, t: _write(t / "binary.txt", bytes(range(256)) * 4), "binary"),
        (lambda b, t: _write(t / "sheet.xlsx", b"PK\x03\x04"), "unsupported"),
        (lambda b, t: t / "missing.pdf", "not found"),
    ],
)
def test_unreadable_file_is_rejected_with_reason_and_nothing_changes(corpus_dir, doc_builders, tmp_path, make, reason):
    bad = make(doc_builders, tmp_path)
    before = snapshot(corpus_dir)
    [r] = add_documents([bad], corpus_dir, municipality="あおば市")
    assert not r.ok
    assert reason in r.reason
    assert snapshot(corpus_dir) == before
    assert "rejected" in str(r)


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_one_bad_file_does_not_stop_the_good_ones(corpus_dir, doc_builders, plan_pdf):
    scan = doc_builders.image_pdf("scan.pdf")
    html = doc_builders.html("akiya.html")
    results = add_documents([plan_pdf, scan, html], corpus_dir)
    assert [r.ok for r in results] == [True, False, True]
    assert set(catalog(corpus_dir)) == {"000_existing.txt", "協働推進プラン.pdf", "akiya.html"}
    assert not (corpus_dir / "scan.pdf").exists()


@pytest.mark.parametrize(
    "given, expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\win.ini.txt", "win.ini.txt"),
        (".hidden.pdf", "hidden.pdf"),
        ("..pdf.pdf", "pdf.pdf"),
        ("ＡＢＣ計画（案）　2024.PDF", "ABC計画(案)_2024.pdf"),
        ("-rf.html", "rf.html"),
        ("con.txt", "con_doc.txt"),
        ("a\x00b\nc.docx", "abc.docx"),
        ("計画;rm -rf ~.pdf", "計画_rm_-rf.pdf"),
        ("noext", ""),
        ("../", ""),
        (".pdf", ""),
    ],
)
def test_sanitize_filename(given, expected):
    assert sanitize_filename(given) == expected


def test_traversal_name_lands_inside_the_corpus(corpus_dir, plan_pdf, tmp_path):
    before_outside = {p for p in tmp_path.rglob("*") if corpus_dir not in p.parents and p != corpus_dir}
    [r] = add_documents([plan_pdf], corpus_dir, names=["../../../../tmp/evil.pdf"])
    assert r.ok, r.reason
    assert r.doc_id == "evil.pdf"
    assert Path(r.path).resolve().parent == corpus_dir.resolve()
    after_outside = {p for p in tmp_path.rglob("*") if corpus_dir not in p.parents and p != corpus_dir}
    assert after_outside == before_outside


def test_hidden_name_is_made_visible_so_the_document_is_indexed(corpus_dir, doc_builders):
    html = doc_builders.html("page.html")
    [r] = add_documents([html], corpus_dir, names=[".secret.html"])
    assert r.ok and r.doc_id == "secret.html"
    assert "secret.html" in {d.doc_id for d in corpus.load_corpus(corpus_dir)}


def test_different_document_with_same_name_is_not_overwritten(corpus_dir, doc_builders):
    first = doc_builders.pdf("plan.pdf", [PAGE1])
    [r1] = add_documents([first], corpus_dir, municipality="あおば市")
    original = (corpus_dir / "plan.pdf").read_bytes()

    other_dir = doc_builders.root / "other"
    other_dir.mkdir()
    from conftest import DocBuilders

    second = DocBuilders(other_dir).pdf("plan.pdf", [PAGE2])
    [r2] = add_documents([second], corpus_dir, municipality="みどり市")
    assert r1.ok and r2.ok
    assert r2.doc_id == "plan-2.pdf" and r2.renamed and "plan.pdf" in r2.reason
    assert (corpus_dir / "plan.pdf").read_bytes() == original
    cat = catalog(corpus_dir)
    assert cat["plan.pdf"]["municipality"] == "あおば市" and cat["plan-2.pdf"]["municipality"] == "みどり市"

    # explicit replace overwrites, and only then
    [r3] = add_documents([second], corpus_dir, names=["plan.pdf"], replace=True)
    assert r3.ok and r3.replaced and r3.doc_id == "plan.pdf"
    assert (corpus_dir / "plan.pdf").read_bytes() == second.read_bytes()
    assert catalog(corpus_dir)["plan.pdf"]["municipality"] == "あおば市"  # metadata kept unless given


def test_identical_file_is_not_added_twice(corpus_dir, plan_pdf):
    [r1] = add_documents([plan_pdf], corpus_dir)
    [r2] = add_documents([plan_pdf], corpus_dir, names=["copy-of-plan.pdf"], kind="協働推進プラン")
    assert r1.ok and r2.ok and r2.unchanged
    assert r2.doc_id == r1.doc_id
    assert not (corpus_dir / "copy-of-plan.pdf").exists()
    assert catalog(corpus_dir)[r1.doc_id]["kind"] == "協働推進プラン"


def test_title_for_several_files_is_refused(corpus_dir, plan_pdf, doc_builders):
    before = snapshot(corpus_dir)
    results = add_documents([plan_pdf, doc_builders.docx("a.docx")], corpus_dir, title="同じ題名")
    assert not any(r.ok for r in results)
    assert snapshot(corpus_dir) == before


def test_malformed_catalog_is_not_overwritten(corpus_dir, plan_pdf):
    (corpus_dir / "catalog.toml").write_text('["broken"\ntitle = \n', encoding="utf-8")
    before = snapshot(corpus_dir)
    [r] = add_documents([plan_pdf], corpus_dir)
    assert not r.ok and "catalog.toml" in r.reason
    assert snapshot(corpus_dir) == before


def test_no_temporary_files_are_left_behind(corpus_dir, plan_pdf, doc_builders):
    add_documents([plan_pdf, doc_builders.image_pdf("scan.pdf")], corpus_dir)
    leftovers = [p.name for p in corpus_dir.iterdir() if p.name.startswith(".") and p.name != ".ingest.lock"]
    assert leftovers == []


def test_remove_document_deletes_file_and_entry_only(corpus_dir, plan_pdf):
    [r] = add_documents([plan_pdf], corpus_dir)
    res = remove_document(r.doc_id, corpus_dir)
    assert res.ok and res.removed_file and res.removed_entry
    assert not (corpus_dir / r.doc_id).exists()
    assert set(catalog(corpus_dir)) == {"000_existing.txt"}
    assert (corpus_dir / "000_existing.txt").exists()


@pytest.mark.parametrize("doc_id", ["../corpus/000_existing.txt", "catalog.toml", ".ingest.lock", "", "nope.pdf"])
def test_remove_refuses_non_documents(corpus_dir, doc_id):
    before = snapshot(corpus_dir)
    res = remove_document(doc_id, corpus_dir)
    assert not res.ok and res.reason
    assert snapshot(corpus_dir) == before


def test_update_entry_edits_and_deletes_fields(corpus_dir):
    entry = update_entry("000_existing.txt", corpus_dir, title="既存の計画（改訂版）", year="2025", municipality=None, kind="")
    assert entry == {"title": "既存の計画（改訂版）", "municipality": "みどり市", "year": 2025}
    assert catalog(corpus_dir)["000_existing.txt"] == entry
    with pytest.raises(KeyError):
        update_entry("../x.txt", corpus_dir, title="x")


# ---- end to end: added files answer questions, citing page / section ----------------------


def test_added_files_answer_questions_with_page_and_section(tmp_path, doc_builders):
    """Issue 6 §5: ingest real PDF/DOCX/HTML files, then ask what only they answer."""
    from assistant.core import Assistant

    cdir = tmp_path / "corpus"
    pdf = doc_builders.pdf(
        "kyodo.pdf",
        [PAGE1, PAGE2],
        bold={1: "第3章 協働の推進体制", 2: "第4章 市民活動の支援"},
    )
    results = add_documents([pdf, doc_builders.docx("fukushi.docx"), doc_builders.html("akiya.html")],
                            cdir, municipality="あおば市")
    assert all(r.ok for r in results), [r.reason for r in results]
    a = Assistant.load(cdir, tmp_path / "index")

    ans = a.ask("市民活動支援センターの開館時間は何時までですか？")
    assert not ans.refused, ans.text
    top = ans.citations[0]
    assert top.doc_id == "kyodo.pdf" and top.page == 2, [(c.doc_id, c.page) for c in ans.citations]

    ans = a.ask("見守り協力員の人数の目標値は？")
    assert not ans.refused, ans.text
    top = ans.citations[0]
    assert top.doc_id == "fukushi.docx" and top.page is None
    assert "200人" in top.text

    ans = a.ask("空き家バンクの登録件数の目標は？")
    assert not ans.refused, ans.text
    top = ans.citations[0]
    assert top.doc_id == "akiya.html"
    assert any("空き家" in s for s in top.section), top.section


def test_upload_temp_file_without_suffix_is_validated_under_its_given_name(corpus_dir, plan_pdf, tmp_path, doc_builders):
    tmp_upload = tmp_path / "upload_3f9a"  # what a web framework may hand over
    tmp_upload.write_bytes(plan_pdf.read_bytes())
    [r] = add_documents([tmp_upload], corpus_dir, names=["第2次計画.pdf"])
    assert r.ok and r.doc_id == "第2次計画.pdf" and r.pages == 2, r.reason

    scan_upload = tmp_path / "upload_77aa"
    scan_upload.write_bytes(doc_builders.image_pdf("scan.pdf").read_bytes())
    [bad] = add_documents([scan_upload], corpus_dir, names=["スキャン.pdf"])
    assert not bad.ok and "scanned" in bad.reason
    assert not (corpus_dir / "スキャン.pdf").exists()
