"""The long fields cut to their sizes before they are sent, with a marker saying how much is cut.

Alert24 documents no limit on any field, but a squash merge's message of 192 KB once went out
whole: a body that size may be refused (413) or make the change unreadable. So each long field,
and free text the user gave for it, is cut in characters (code points, as Python counts them),
never inside a character built of several (an accent on its letter, emoji joined, a flag):

  commit_message  COMMIT_MESSAGE or the commit's message    4,000 characters at most
  description     DESCRIPTION, then the commits listed      8,000
  a commit's subject, in the description's list              200 (outgoing.commit_line)

When Alert24 still answers 413, `cut_hard` makes one much smaller body for one more attempt: the
deployment must never go unrecorded because of its commit message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

COMMIT_MESSAGE = 4_000
DESCRIPTION = 8_000
SUBJECT = 200
HARD = {"summary": 200, "description": 500, "commit_message": 500}  # the attempt after a 413

# Not to cut before a mark (an accent) or one of JOINS: a joiner, a variation selector, a skin
# tone, a tag character (of a subdivision's flag), the second half of a surrogate pair; nor after
# one of OPENS: a joiner, the first half of a surrogate pair.
JOINS = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\udc00-\udfff]")
OPENS = re.compile("[\u200d\ud800-\udbff]")
MARKER = re.compile(r"… \[cut: ([0-9,]+) more characters\]\Z")
FLAG_LETTERS = "".join(map(chr, range(0x1F1E6, 0x1F200)))  # two make a flag


def cut(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters; else its start and a marker, `limit` in all:
    `… [cut: 188,000 more characters]`. Cutting a cut text again leaves it as it is; cutting it
    shorter (after a 413) counts what the first cut left out too."""
    if len(text) <= limit:
        return text
    gone = 0
    if earlier := MARKER.search(text):
        text, gone = text[: earlier.start()], int(earlier[1].replace(",", ""))
    end = min(limit, len(text))
    while True:  # the marker's own length depends on how much it says was left out
        end = whole_characters(text, end)
        marker = f"… [cut: {len(text) - end + gone:,} more characters]"
        if end + len(marker) <= limit or end == 0:
            return text[:end] + marker
        end = max(0, limit - len(marker))


def whole_characters(text: str, end: int) -> int:
    """`end`, moved back so that `text[:end]` ends between two whole characters as a reader
    sees them, and not inside a flag's pair of letters."""
    while 0 < end < len(text) and (
        unicodedata.category(text[end]) in ("Mn", "Me", "Mc")  # a mark: an accent, say
        or JOINS.match(text[end])
        or OPENS.match(text[end - 1])
    ):
        end -= 1
    if 0 < end < len(text) and text[end] in FLAG_LETTERS and text[end - 1] in FLAG_LETTERS:
        kept = text[:end]
        end -= (len(kept) - len(kept.rstrip(FLAG_LETTERS))) % 2  # an odd run splits a flag
    return end


def cut_hard(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with its free text cut much shorter, for one more attempt after a 413."""
    return {
        field: cut(value, HARD[field]) if field in HARD and isinstance(value, str) else value
        for field, value in body.items()
    }
