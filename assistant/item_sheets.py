"""A plan's item sheets: the rows of one measure, and which of them a line belongs to (issue 10).

Some plans write each of their measures as a sheet of labelled rows — 山口市's 協働推進プラン, 46 推進項目:

    整理番号: I - (2) - ③ / 種別 / 継続 担当課 / 協働推進課     (the first row: number, kind, office)
    推進項目: ③ 社会貢献活動に対する活動保険制度の運用          (the name)
    対象主体 / 目的 / 推進内容 / 完了の目安                      (the body rows)
    年次計画: H25 / H26 / H27 / H28 / H29                        (the schedule's years)
    平人司回: 実施 / → / → / → / →                              (what is done each year; OCR garbles its label)

Why a module: the body rows rarely say which measure they belong to, and the row a question asks for
(「どうなったらゴール？」 → 完了の目安, 「どの年度に？」 → 年次計画, 「担当課は？」 → the first row) often shares no word
with it; answers reach them by a row's place on its sheet. Passages are cut by length, so a sheet may run
across the boundary between two passages (25 of the bundled plan's passages open inside one): the functions
here take the lines of a window — the passage and the ones around it, in reading order — and an index.

Lines are the passages' sentences as the cleaning writes table rows (「label: cell / cell」); OCR keeps some
labels' first characters only (「推進內台:」「完了の目安: ま了の目安 …」).
"""

from __future__ import annotations

import re

# what is done, for whom, why, when it is complete, when: the body rows
BODY_RE = re.compile(r"^(?:目的|推進内容|推進內|対象主体|完了の目安|年次計画)[^:：/]{0,2}[:：]")
NAME_RE = re.compile(r"^推進項目\s*[:：]")
START_RE = re.compile(r"^(?:整理番号|事業番号)\s*[:：]")
# an item sheet's rows between its name and its last body row
ITEM_ROWS = 8
SCHEDULE = "年次計画"
OFFICE = "担当課"


def is_body(line: str) -> bool:
    return bool(BODY_RE.match(line.strip()))


def is_name(line: str) -> bool:
    return bool(NAME_RE.match(line.strip()))


def is_start(line: str) -> bool:
    return bool(START_RE.match(line.strip()))


def name_of(lines: list[str], at: int) -> int | None:
    """For a body row (「目的: 各地域に眠る資源を発掘・創造し…」), the index of the row naming its item
    (「推進項目: ⑥ 地域資源の発掘・創造」) above it on the same sheet; None for any other line, or when the
    sheet's first row comes first (the name is not in the window: never another sheet's name)."""
    if not is_body(lines[at]):
        return None
    for p in range(at - 1, max(-1, at - 1 - ITEM_ROWS), -1):
        if is_name(lines[p]):
            return p
        if is_start(lines[p]):
            return None
    return None


def field_of(lines: list[str], at: int, label: str) -> list[int]:
    """The indices of the rows labelled ``label`` (「完了の目安」「目的」「年次計画」「担当課」) on the sheet of the line
    at ``at`` (its name row or a body row under it): for 「担当課」 the sheet's first row right above its name
    (「整理番号: … 担当課 / 協働推進課」: by place, not by its item number, which OCR garbles: 「整理番号: I - (2) - ①」
    over 「推進項目: ⑩ …」); for 「年次計画」 the years and the row under them (``schedule_values``). Empty when the
    line is on no sheet or its sheet has no such row in the window."""
    name = at if is_name(lines[at]) else name_of(lines, at)
    if name is None:
        return []
    if label == OFFICE:
        first = name - 1
        return [first] if first >= 0 and is_start(lines[first]) and OFFICE in lines[first] else []
    for p in range(name + 1, min(len(lines), name + 1 + ITEM_ROWS)):
        if is_name(lines[p]) or is_start(lines[p]):
            return []
        if re.match(rf"{re.escape(label)}\s*[:：]", lines[p].strip()):
            return [p, *schedule_values(lines, p)] if label == SCHEDULE else [p]
    return []


def schedule_values(lines: list[str], header: int) -> list[int]:
    """The row under a sheet's 「年次計画: H25 / H26 / … / H29」 that says what is done each year
    (「平大計画: 検討・実施 / → / → / → / →」, 「4次計画 / 実施 / → / …」: OCR garbles its label, so it is found by
    its place and its number of cells, at most one per year and the label), as a one-element list; empty when
    the next line is no such row. Why: the years alone do not say what happens in them."""
    nxt = header + 1
    if nxt >= len(lines) or is_start(lines[nxt]) or is_name(lines[nxt]):
        return []
    years = lines[header].count(" / ")  # the cells after the label, less one
    # the label is a cell of its own where OCR lost its 「:」 (「4次計画 / 実施 / → / …」); a year left blank
    # loses its cell (「平水計画: 検討 / 実施 / 検討 / 実施」 under five years: shown, not read year by year)
    return [nxt] if years > 0 and 1 <= lines[nxt].count(" / ") <= years + 1 else []


def schedule_text(header: str, values: str) -> str | None:
    """The schedule's two rows read as one, each year with what is done in it: 「年次計画: H25 / H26 / H27」 and
    「平大計画: 検討・実施 / → / →」 → 「年次計画: H25 検討・実施 / H26 → / H27 →」; None when they do not pair up
    (not a schedule's years, or another number of cells). Why: shown as they stand, the second row's label is
    OCR's garble of 「年次計画」 and its cells name no year, so a resident cannot read which year is which."""
    label, _colon, years = header.strip().partition(":")
    if label.strip() != SCHEDULE or not years:
        return None
    years_cells = [y.strip() for y in years.split(" / ")]
    cells = [v.strip() for v in values.strip().split(" / ")]
    if len(cells) == len(years_cells) + 1:
        cells = cells[1:]  # the garbled label as a cell of its own
    elif len(cells) == len(years_cells):
        cells[0] = cells[0].partition(":")[2].strip()  # 「平大計画: 検討・実施」 → 「検討・実施」
    else:
        return None
    if not all(re.fullmatch(r"[HRS]\d{1,2}", y) for y in years_cells):
        return None
    return f"{SCHEDULE}: " + " / ".join(f"{y} {v}" for y, v in zip(years_cells, cells))
