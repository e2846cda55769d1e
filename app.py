"""Start the chat app and JSON API: ``python app.py [--host H] [--port P] [--corpus DIR] [--index DIR] [--model M] …``.

Thin on purpose: it is ``python -m assistant serve`` (see ``--help``), so both start exactly the
same app with the same flags. Flags default to environment variables (ASSISTANT_HOST,
ASSISTANT_PORT, ASSISTANT_CORPUS, ASSISTANT_INDEX, ASSISTANT_MODEL, ASSISTANT_ALLOWED_ORIGINS,
ASSISTANT_DATA_DIR, ASSISTANT_WORKERS) so a service unit or container can configure it without
changing the command line. The first start builds the index (progress is shown in the terminal);
later starts load it. ASSISTANT_ADMIN_PASSWORD (environment only — a flag would show up in
``ps``) adds the 管理 tab for adding, editing and removing documents (docs/embedding.md).
"""

from __future__ import annotations

import logging
import sys

from assistant.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main(["serve", *sys.argv[1:]]))
