"""Foreign text made safe to print: the one place every piece of it passes through.

Text from the other end (a change id, an X-Request-Id, Alert24's error message, a Location
header, a reason phrase, a proxy's error) and text from a user's URL reach the log. Printed raw,
a newline in it could start a line of its own and forge a `✔ Recorded` line, an ESC could clear
the screen, a bidirectional override could reorder what is read. So control and format
characters are shown as escapes, overlong text is cut, and passwords in URLs are masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LIMIT = 200  # characters: enough for any id or message worth reading, not for a page of HTML
MASK = "********"
ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# scheme://user:password@ in any text, such as an error that quotes a proxy's URL
PASSWORD_IN_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s@]*@")


def printable(text: object, limit: int = LIMIT) -> str:
    """`text` on one line: printable Unicode as it is, everything else as an escape, and at most
    `limit` characters (then how many more there were)."""
    text = str(text)
    cut = len(text) - limit
    shown = "".join(_shown(character) for character in text[: max(limit, 0)])
    return f"{shown}… ({cut} more characters)" if cut > 0 else shown


def _shown(character: str) -> str:
    if character.isprintable():  # letters, marks, symbols and the plain space, in any script
        return character
    if character in ESCAPES:
        return ESCAPES[character]
    import unicodedata  # noqa: PLC0415 (only ever needed for rare text; keeps start-up lean)

    if unicodedata.category(character) == "Zs":  # a no-break or wide space reads as a space
        return " "
    # C0 and C1 controls, DEL, bidirectional and zero-width format characters, separators,
    # lone surrogates, unassigned code points
    code = ord(character)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def without_password(url: str) -> str:
    """The URL with `********` where its password was; any text is safe to pass."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # "http://[::1" and the like: fall back to the pattern alone
        password = None
    if password:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        url = parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()
    return PASSWORD_IN_URL.sub(lambda found: f"{found.group(1)}{MASK}@", url)
