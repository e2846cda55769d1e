"""The question in the form the models were trained to read: courtesy frames and pictographs off, a question mark on.

Why: the search encoder, the answer reader and the fitted answer model learnt from questions written as
questions — about 70 % of the plan training questions end in 「？」, almost none opens with 「すみません、」,
none holds an emoji. Residents on phones write 「すみません、NPOの相談ってどこ」「…か教えてください🙏」, and
those words, which ask nothing, moved the models' answers: on the 395 tune questions, 「すみません、」 in front
lowered the keyword hit from 0.813 to 0.793 and raised hedged answers from 0.161 to 0.197; an emoji behind
changed 110 answers; a missing 「？」 changed 80 answers and answered 2 more out-of-scope questions
(docs/BENCHMARKS.md §9.37). Taking the frame off and putting the mark on gives those questions the answers
their plain form gets.

What is dropped carries no content by construction: greetings and 「すみません」 at the start, 「教えてください」
「知りたいです」「お願いします」 at the end, emoji (U+1F000 and above, and any character followed by the emoji
selector U+FE0F). 「について」「とは」 stay: they say what is asked. A text that would be left with fewer than two
characters stays as it was. The 「？」 is added only where a text ends with no punctuation
nor the question particle か (「…ありますか」 is as asked: one in seven training questions ends so) and is a
sentence (it has hiragana) or was a request (「担当課を教えてください」 → 「担当課？」): a keyword search such as
「NPO 補助金」 is not a question and stays as typed.
"""

from __future__ import annotations

import re

# words that open a message without asking anything (a filler あの only with its long vowel or a comma:
# 「あのゆるキャラ」 is "that mascot"), with the punctuation or space after them
_LEAD_RE = re.compile(
    r"^(?:(?:すみません(?:が)?|すいません(?:が)?|恐れ入ります(?:が)?|こんにちは|こんばんは|おはようございます"
    r"|はじめまして|初めまして|あの[ーぅう〜]+|あの(?=[、,\s])|えっと|えーと|ええと"
    r"|質問(?:です|があります|なんですが|なのですが|させてください)"
    r"|ちょっと(?:質問|聞きたい(?:こと)?)(?:です|があります|なんですが|んですが|のですが|んだけど)?)"
    r"[、。,.!！\s]*)+"
)
# requests that close a message: 「（を）教えてください」「知りたいです」「お願いします」, with what ends them
_TAIL_RE = re.compile(
    r"(?:[、,\s]*を?(?:教えて(?:ください|下さい|くださいませ|ほしい(?:です)?|欲しい(?:です)?|もらえますか|もらえませんか"
    r"|いただけますか|いただけませんか|くれ(?:る|ない)?|ね|よ)?"
    r"|知りたい(?:です|んですが|のですが|んだけど)?|(?:よろしく)?お願い(?:します|いたします|致します))[。！!？?\s]*)+$"
)
# emoji: pictographs from U+1F000 on, any character asked to show as emoji (followed by U+FE0F: ❤️ ☀️ 1️⃣,
# while a plain ★ or ❶, which plans use, stays) and the joiners between them
_PICTOGRAPH_RE = re.compile("[\U0001F000-\U0001FAFF]|.?\ufe0f\u20e3?|\u200d")
_HIRAGANA_RE = re.compile("[\u3041-\u309f]")
# what may already end a question or a sentence
_ENDINGS = "。？?！!．.」』）)"
MIN_CHARS = 2


def plain_question(text: str) -> str:
    """``text`` (already cleaned: ``conversation.clean_question``) without its courtesy frame and
    pictographs, ending in 「？」 when it asks with no final punctuation."""
    plain = _PICTOGRAPH_RE.sub("", text).strip()
    unframed = _LEAD_RE.sub("", plain)
    asked = _TAIL_RE.sub("", unframed).strip()
    if len(asked) < MIN_CHARS:  # nothing but courtesy (「よろしくお願いします」): as typed
        return text.strip()
    # a sentence (hiragana), or words a request closed (「担当課を教えてください」), is a question; one that
    # ends in the particle か already says so, as one in seven training questions does
    if asked[-1] not in _ENDINGS + "か" and (asked != unframed.strip() or _HIRAGANA_RE.search(asked)):
        asked += "？"
    return asked
