"""Start the chat app and JSON API: ``python app.py [--host H] [--port P] [--corpus DIR] [--index DIR] [--model M]``.

Thin on purpose: all behaviour lives in ``assistant.web`` so that ``python -m assistant serve``
and this script start exactly the same app. Flags default to environment variables
(ASSISTANT_HOST, ASSISTANT_PORT, ASSISTANT_CORPUS, ASSISTANT_INDEX, ASSISTANT_MODEL,
ASSISTANT_ALLOWED_ORIGINS, ASSISTANT_DATA_DIR, ASSISTANT_WORKERS) so a
service unit or container can configure it without changing the command line.
The first start builds the index (progress is shown in the terminal); later starts load it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="まちづくり計画 Q&A — チャット画面とAPIを起動します")
    p.add_argument("--host", default=env("ASSISTANT_HOST", "127.0.0.1"),
                   help="待ち受けるアドレス（既定 127.0.0.1。外部公開は 0.0.0.0 とリバースプロキシで）")
    p.add_argument("--port", type=int, default=int(env("ASSISTANT_PORT", "7860")), help="ポート（既定 7860）")
    p.add_argument("--corpus", default=env("ASSISTANT_CORPUS", "corpus"), help="計画書のディレクトリ")
    p.add_argument("--index", default=env("ASSISTANT_INDEX", "index"), help="索引のディレクトリ（初回起動時に作成）")
    p.add_argument("--model", default=env("ASSISTANT_MODEL") or None,
                   help="埋め込みモデル（既定: 同梱のオフラインモデル）")
    p.add_argument("--allowed-origins", default=env("ASSISTANT_ALLOWED_ORIGINS", ""),
                   help="APIと埋め込みを許可するオリジン（カンマ区切り、例 https://www.city.example.jp）")
    p.add_argument("--data-dir", default=env("ASSISTANT_DATA_DIR") or None,
                   help="フィードバックログの保存先（既定 ./data）")
    p.add_argument("--workers", type=int, default=int(env("ASSISTANT_WORKERS", "1")),
                   help="プロセス数（既定 1。APIの処理能力を上げるときに 2 など。UIはスティッキーセッションが必要）")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from assistant.web import serve

    origins = [o.strip() for o in args.allowed_origins.split(",") if o.strip()]
    serve(host=args.host, port=args.port, corpus=args.corpus, index=args.index, model=args.model,
          allowed_origins=origins, data_dir=args.data_dir, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
