"""Build the Sudachi synonym subset shipped in ``assistant/data/sudachi_synonyms.tsv.gz``.

Source: ``../shared/data/sudachi-synonyms/synonyms.txt`` (WorksApplications/SudachiDict,
Apache-2.0). We keep every entry that may be used in expansion (column 2 != 2 "never use"),
drop misspellings/misuses (they would only add noise), and write one line per word:
``group<TAB>lexeme<TAB>trigger<TAB>word`` where trigger=0 means "may be expanded to but never
triggers an expansion" (column 2 == 1).

Run: python scripts/build_synonyms.py [SOURCE] [DEST]
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT.parent / "shared" / "data" / "sudachi-synonyms" / "synonyms.txt"
DEST = ROOT / "assistant" / "data" / "sudachi_synonyms.tsv.gz"


def convert(src: Path, dest: Path) -> int:
    rows = []
    for line in src.read_text(encoding="utf-8").splitlines():
        cols = line.split(",")
        if len(cols) < 9 or not cols[0].isdigit():
            continue
        group, _flag, control, lexeme, form, _abbr, variant, _domain, word = cols[:9]
        if control == "2" or form == "4" or variant == "3" or not word:
            continue
        rows.append(f"{group}\t{lexeme}\t{0 if control == '1' else 1}\t{word}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("\n".join(rows) + "\n")
    tmp.replace(dest)
    lic = src.parent / "LICENSE-2.0.txt"
    if lic.exists():
        shutil.copyfile(lic, dest.parent / "SUDACHI-SYNONYMS-LICENSE.txt")
    return len(rows)


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else DEST
    print(f"{convert(src, dest)} entries → {dest}")
