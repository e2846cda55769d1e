"""Words and numbers of the web face: titles, paths, limits, example questions, messages.

Why a module of its own: the Japanese texts a resident or an admin reads and the limits
they run into are reviewed by the city's staff, who should find all of them in one place
rather than spread over the rendering, API, admin and UI code. Nothing here imports
anything; every other module of :mod:`assistant.web` may import from it.
"""

from __future__ import annotations

TITLE = "まちづくり計画 Q&A"
EMBED_PATH = "/embed"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_HISTORY = 12          # messages of history passed to Assistant.ask
MAX_HISTORY_ITEMS = 100           # more than this in a request is rejected, not truncated
MAX_HISTORY_CONTENT_CHARS = 4000
MAX_TURNS_KEPT = 50              # per browser session, for history and 👍/👎
MAX_SECTION_CHARS = 12000         # "read the whole section" view is capped so one page stays light

RESIDENT_EXAMPLES = [
    "地域協働体とは何ですか？",
    "市民活動団体への補助金はありますか？",
    "公共施設の里親制度とはどんな仕組みですか？",
    "NPO法人の認証数の目標はいくつですか？",
]
STAFF_EXAMPLES = [
    "協働推進プランの基本方針と推進施策を教えてください",
    "地域コミュニティの振興の現状と課題は？",
    "電子自治体の推進で目標指標は何ですか？",
    "協働を担う人材育成のための取り組みは？",
]

MSG_EMPTY = "質問を入力してください。"
MSG_TOO_LONG = "質問が長すぎます。{n}文字以内で入力してください。"
MSG_ERROR = "申し訳ありません。回答の作成中にエラーが発生しました。時間をおいてもう一度お試しください。"
MSG_BUSY = "ただいま混み合っています。しばらくしてからもう一度お試しください。"
# The search backend (a Milvus server shared by the replicas) does not answer; the next question tries again.
MSG_BACKEND_DOWN = "ただいま検索システムに接続できません。しばらくしてからもう一度お試しください。"
# A question in English that the (Japanese) plans could not answer: said in English, once.
MSG_ENGLISH_UNSUPPORTED = ("The plans are in Japanese and this assistant searches them in Japanese; it could "
                           "not answer this English question. Please ask in Japanese, for example "
                           "「地域協働体とは何ですか？」 (What is a regional collaboration body?).")
MSG_FEEDBACK_THANKS = "フィードバックありがとうございます。"

SOURCES_PLACEHOLDER = (
    '<div class="mq-sources mq-empty" lang="ja">回答の根拠となった計画書の箇所がここに表示されます。</div>'
)

# The 管理 tab (only built when an admin password is configured)
ADMIN_ENV = "ASSISTANT_ADMIN_PASSWORD"
ADMIN_MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # = ingest.MAX_BYTES
ADMIN_FILE_TYPES = [".txt", ".md", ".pdf", ".docx", ".html", ".htm", ".jsonl"]
MSG_ADMIN_BAD_PASSWORD = "パスワードが正しくありません。何も変更していません。"
MSG_ADMIN_ERROR = ("処理中にエラーが発生しました。質問への回答はこれまでの索引で続いています。"
                   "時間をおいてもう一度お試しください。")
MSG_ADMIN_LOCKED = ("ログインの失敗が続いたため、ログインを一時的に止めています。"
                    "約{n}秒後にもう一度お試しください。何も変更していません。")
MSG_ADMIN_NO_FILES = "追加するファイルを選んでください。"
MSG_ADMIN_NO_DOC = "文書を選んでください。"
MSG_ADMIN_CONFIRM = "削除するには「削除を確認しました」にチェックを入れてください。"
