"""The sizes of the long fields: text cut to its size before it is sent, with a marker saying how
much was left out.

Alert24 documents no limit on any field, but a squash merge's message of 192 KB once went out
whole: a body that size may be refused (413) or make the change unreadable. So each long field
is cut, in characters (Unicode code points, as Python counts them), never inside a character
built of several (an accent on its letter, an emoji joined to the next, a flag):

  commit_message  COMMIT_MESSAGE or the commit's message    4,000 characters at most
  description     DESCRIPTION, then the commits listed      8,000
  a commit's subject, in the description's list              200 (outgoing.commit_line)

Free text the user gave is cut the same way: those sizes are the fields' sizes. When Alert24
still answers 413, `cut_hard` makes one much smaller body for one more attempt: the deployment
must never go unrecorded because of its commit message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

COMMIT_MESSAGE = 4_000
DESCRIPTION = 8_000
SUBJECT = 200
# The one more attempt after a 413: every free-text field to a few lines.
HARD = {"summary": 200, "description": 500, "commit_message": 500}

ZWJ = "\u200d"


def cut(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters; else its start and a marker, `limit` in all:
    `… [cut: 188,000 more characters]`. Cutting a cut text again leaves it as it is."""
    if len(text) <= limit:
        return text
    end = limit
    while True:  # the marker's own length depends on how much it says was left out
        end = whole_characters(text, end)
        marker = f"… [cut: {len(text) - end:,} more characters]"
        if end + len(marker) <= limit or end == 0:
            return text[:end] + marker
        end = max(0, limit - len(marker))


def whole_characters(text: str, end: int) -> int:
    """`end`, moved back so that `text[:end]` ends between two whole characters as a reader
    sees them: not before a combining accent, a joiner, a variation selector or a skin tone,
    not after a joiner or half a surrogate pair, not inside a flag's pair of letters."""
    while 0 < end < len(text) and (joins_previous(text[end]) or ends_open(text[end - 1])):
        end -= 1
    if 0 < end < len(text) and is_flag_letter(text[end]) and is_flag_letter(text[end - 1]):
        letters = 0
        while letters < end and is_flag_letter(text[end - 1 - letters]):
            letters += 1
        end -= letters % 2  # flags are pairs: an odd run before the cut splits one
    return end


def joins_previous(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")  # accents and other marks
        or char == ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or 0xDC00 <= code <= 0xDFFF  # the second half of a surrogate pair
    )


def ends_open(char: str) -> bool:
    return char == ZWJ or 0xD800 <= ord(char) <= 0xDBFF


def is_flag_letter(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def cut_hard(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with its free text cut much shorter, for one more attempt after a 413."""
    return {
        field: cut(value, HARD[field]) if field in HARD and isinstance(value, str) else value
        for field, value in body.items()
    }
