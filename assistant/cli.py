"""``python -m assistant`` — a thin command line over the library (simonw/llm style).

Every command is a few lines over ``Assistant`` or a layer function; no logic lives here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

DESCRIPTION = """machizukuri-qa: 自治体の計画書（総合計画・協働推進プランなど）に出典付きで答えるアシスタント
Cited answers from Japanese municipal plan documents."""


# Exit code of ``build`` (and ``add``) when not a single passage could be indexed.
EXIT_NOTHING_INDEXED = 3


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default=os.environ.get("ASSISTANT_CORPUS", "corpus"), help="計画書のフォルダ / corpus directory (default: corpus)")
    p.add_argument("--index", default=os.environ.get("ASSISTANT_INDEX"),
                   help="索引のフォルダ / index directory (default: index for ./corpus, otherwise <corpus>.index next to the corpus)")
    p.add_argument("--model", default=None, help="埋め込みモデル: HF id かローカルパス (default: ASSISTANT_MODEL or bundled offline model)")
    p.add_argument("--backend", default=None,
                   help="検索バックエンド / search backend: local (default), milvus:PATH.db, milvus:http://host:19530 "
                        "(default: ASSISTANT_BACKEND or local)")


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def default_index_dir(corpus_dir: str | os.PathLike) -> Path:
    """Where the index of ``corpus_dir`` lives unless --index / ASSISTANT_INDEX say otherwise.

    An index belongs to one corpus: ``./corpus`` keeps the historical ``./index``; any other
    corpus gets ``<corpus>.index`` beside it, so ``add --corpus scratch`` never replaces the
    main corpus's index (index.rebuild also refuses to, if asked explicitly)."""
    corpus = Path(corpus_dir).resolve()
    if corpus == Path("corpus").resolve():
        return Path("index")
    return corpus.with_name(corpus.name + ".index")


def _index(args) -> Path:
    if not getattr(args, "index", None):
        args.index = str(default_index_dir(args.corpus))
    return Path(args.index)


def _load(args, progress: bool = True):
    from .core import Assistant

    return Assistant.load(args.corpus, _index(args), args.model, progress=progress)


def _report_index(a) -> int:
    """The build summary on stdout, each skipped file on stderr; the exit code for it."""
    if a.stale:  # the rebuild could not be written; the old index still serves the app
        print(f"エラー: {a.stale}", file=sys.stderr)
        return 2
    h = a.health()
    print(f"索引 / index: {a.index_dir.resolve()}")
    print(f"索引: {h['documents']} 文書, {h['passages']} 節, model={h['model']}, built_at={h['built_at']}")
    if a.last_build:
        print(f"build: {a.last_build}")
    else:
        print("索引は最新です（作り直しなし） / index is current, nothing rebuilt")
    for s in a.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    _warn(a)
    if not h["passages"]:
        print("エラー: 索引に入れられる文書がありません / nothing could be indexed (see the skipped files above)", file=sys.stderr)
        return EXIT_NOTHING_INDEXED
    return 0


def _warn(a) -> None:
    """What the operator must fix (stale index, broken catalog), on stderr so --json stays clean."""
    for w in a.health().get("warnings", []):
        print(f"警告 / warning: {w}", file=sys.stderr)


def cmd_ask(args) -> int:
    a = _load(args, progress=not args.json)
    _warn(a)
    ans = a.ask(args.question, k=args.k)
    if args.json:
        _print_json(ans.to_dict())
        return 0
    print(ans.text)
    for c in ans.citations:
        page = f" p.{c.page}" + (f"（印刷ページ {c.page_label}）" if c.page_label else "") if c.page is not None else ""
        print(f"\n[{c.number}] {c.title}（{c.municipality}） {' > '.join(c.section)}  {c.doc_id}{page} 行{c.lines[0]}–{c.lines[1]}")
    for n in ans.notes:
        print(f"\n※ {n}")
    return 0


def cmd_search(args) -> int:
    a = _load(args, progress=not args.json)
    _warn(a)
    hits = a.search(args.query, k=args.k, municipality=args.municipality, doc_id=args.doc)
    for h in hits:
        if args.json:
            _print_json(h.to_dict())
        else:
            print(f"{h.rank:2d}. {h.score:.3f} {h.doc_id} {' > '.join(h.section)} (行{h.lines[0]}–{h.lines[1]})\n    {h.text[:120]}")
    return 0


def cmd_build(args) -> int:
    from .core import Assistant

    a = Assistant.load(args.corpus, _index(args), args.model, progress=True, rebuild=args.force)
    return _report_index(a)


def cmd_chunks(args) -> int:
    from . import chunking, corpus

    docs = corpus.load_corpus(Path(args.corpus))
    if args.doc:
        docs = [d for d in docs if d.doc_id == args.doc]
        if not docs:
            print(f"document not found: {args.doc}", file=sys.stderr)
            return 2
    chunks = chunking.chunk_corpus(docs)
    for rec in chunking.chunk_records(chunks):
        if args.json:
            _print_json(rec)
        else:
            print(f"--- {rec['doc_id']} {' > '.join(rec['section'])} (行{rec['lines'][0]}–{rec['lines'][1]})\n{rec['text']}\n")
    return 0


def cmd_eval(args) -> int:
    from . import evaluation

    if args.jsquad:
        report = evaluation.eval_jsquad(Path(args.jsquad), model=args.model, limit=args.limit)
    else:
        from .core import Assistant

        batches = evaluation.parse_batches(args.batch) if args.batch else None  # a typo fails before loading
        # an evaluation never rebuilds or publishes over what is served (Assistant.refresh, read_only)
        a = Assistant.load(args.corpus, _index(args), args.model, progress=False, read_only=True)
        report = evaluation.eval_qa(a, Path(args.qa), split=args.split, batches=batches)
        if args.details:  # per-item rows for error analysis; the printed report stays short
            Path(args.details).write_text(json.dumps(report["items"], ensure_ascii=False, indent=1), encoding="utf-8")
    print(evaluation.format_report(report) if not args.json else json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def cmd_serve(args) -> int:
    from .web import serve

    origins = [o.strip() for o in args.allowed_origins.split(",") if o.strip()]
    serve(host=args.host, port=args.port, corpus=args.corpus, index=str(_index(args)), model=args.model,
          allowed_origins=origins, data_dir=args.data_dir, workers=args.workers)
    return 0


def cmd_add(args) -> int:
    from .ingest import add_documents

    results = add_documents(
        [Path(p) for p in args.files], Path(args.corpus), title=args.title, municipality=args.municipality,
        year=args.year, kind=args.kind, url=args.url,
    )
    failed = 0
    for r in results:
        print(r)
        failed += not getattr(r, "ok", True)
    if not args.no_build and failed < len(results):
        from .core import Assistant

        code = _report_index(Assistant.load(args.corpus, _index(args), args.model, progress=True))
        if code:
            return code
    return 1 if failed else 0


def cmd_feedback(args) -> int:
    from .feedback import feedback_summary

    print(feedback_summary(args.data_dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="詳しいログ / verbose logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="質問に出典付きで答える / answer a question with citations")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="JSON で出力 (UTF-8)")
    p.add_argument("--k", type=int, default=8, help="根拠として検索する節の数 / passages retrieved as evidence (default 8)")
    _common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("search", help="関連する節を検索 / list matching passages")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--municipality", default=None, help="自治体で絞り込み")
    p.add_argument("--doc", default=None, help="文書IDで絞り込み")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("build", help="索引を作る（必要なときだけ） / build the index if missing or stale")
    p.add_argument("--force", action="store_true", help="常に作り直す / rebuild even if current")
    _common(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("chunks", help="検索対象の節を表示 / print the passages that will be searched")
    p.add_argument("--doc", default=None, help="文書ID (file name)")
    p.add_argument("--json", action="store_true", help="JSON lines: doc_id, section, text, lines")
    _common(p)
    p.set_defaults(func=cmd_chunks)

    p = sub.add_parser("eval", help="評価 / evaluate retrieval and answers on a QA set or JSQuAD")
    p.add_argument("qa", nargs="?", default="../shared/devset/qa.jsonl", help="QA JSONL (id, question, docs, evidence, answer_keywords, type)")
    p.add_argument("--jsquad", default=None, help="JSQuAD JSON file: paragraph retrieval benchmark")
    p.add_argument("--limit", type=int, default=None, help="JSQuAD: only the first N questions")
    p.add_argument("--split", choices=["tune", "test"], default=None, help="QA set: only this split (eval/plan_qa.jsonl); default all")
    p.add_argument("--batch", default=None, metavar="N", help="QA set: only these batches (3, 1,2 or 1-2; eval/plan_qa.jsonl); default all")
    p.add_argument("--details", default=None, metavar="FILE", help="QA set: write per-item results (answer, rank, missing keywords …) as JSON")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_eval)

    env = os.environ.get
    p = sub.add_parser("serve", help="チャット画面とAPIを起動 / start the web app (same as python app.py)")
    p.add_argument("--host", default=env("ASSISTANT_HOST", "127.0.0.1"),
                   help="待ち受けるアドレス（既定 127.0.0.1。外部公開は 0.0.0.0 とリバースプロキシで）")
    p.add_argument("--port", type=int, default=int(env("ASSISTANT_PORT", "7860")), help="ポート（既定 7860）")
    p.add_argument("--allowed-origins", default=env("ASSISTANT_ALLOWED_ORIGINS", ""),
                   help="APIと埋め込みを許可するオリジン（カンマ区切り、例 https://www.city.example.jp）")
    p.add_argument("--data-dir", default=env("ASSISTANT_DATA_DIR") or None, help="フィードバックログの保存先（既定 ./data）")
    p.add_argument("--workers", type=int, default=int(env("ASSISTANT_WORKERS", "1")),
                   help="プロセス数（既定 1。UIはスティッキーセッションが必要）")
    _common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("add", help="計画書を追加 / add documents to the corpus and re-index")
    p.add_argument("files", nargs="+")
    p.add_argument("--title")
    p.add_argument("--municipality")
    p.add_argument("--year")
    p.add_argument("--kind")
    p.add_argument("--url")
    p.add_argument("--no-build", action="store_true", help="索引を更新しない / do not rebuild the index")
    _common(p)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("feedback", help="👍/👎 の集計 / summarize the feedback log")
    p.add_argument("--data-dir", default=os.environ.get("ASSISTANT_DATA_DIR", "data"))
    p.set_defaults(func=cmd_feedback)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .embedding import EmbedderError
    from .index import IndexError_

    from .backends import ENV as BACKEND_ENV, BackendError

    logging.getLogger("faiss").setLevel(logging.WARNING)
    if getattr(args, "backend", None):
        # through the environment, so serve's worker processes and eval's Assistants see it too
        os.environ[BACKEND_ENV] = args.backend
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, EmbedderError, IndexError_, BackendError) as e:
        print(f"エラー: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, no permission …: the path and the reason, never a traceback
        print(f"エラー / error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
