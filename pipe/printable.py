"""Foreign text made safe to print: the one place every piece of it passes through.

Printed raw, a newline in an id or an error could forge a `✔ Recorded` line, an ESC clear the
screen, a bidirectional override reorder what is read: so they are shown as escapes, long text
is cut, URL passwords masked; `Secrets` also hides the run's secrets, however they were echoed.
"""

from __future__ import annotations

import base64
import os
import re
import unicodedata  # requests loads it in every run anyway (idna): no start-up cost here
from collections.abc import Mapping
from os.path import commonprefix
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

LIMIT = 200  # characters: enough for any id or message worth reading, not for a page of HTML
MASK = "********"
# scheme://user:password@ in any text, such as an error that quotes a proxy's URL. Letters in
# both cases rather than (?i), which takes 0.8 ms of every run to compile instead of 0.2.
PASSWORD_IN_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)[^\s@]*@")
WINDOW = 12  # a secret is hidden wherever this many of its characters in a row appear
REACH = 10  # characters of text per character shown, at most: `&#1114111;` is one character
# How an echo may encode a character: %41, \u0041, \x41, &#65; or &#x41;
ESCAPED = re.compile(
    r"%([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})"
    r"|&#(?:[xX]([0-9A-Fa-f]{1,6})|([0-9]{1,7}));?"
)


class Shown(str):
    """Text that has been through `printable` already: passing it again changes nothing."""

    __slots__ = ()


def printable(text: object, limit: int = LIMIT, *, beyond: int = 0) -> Shown:
    """`text` on one line: printable Unicode as it is, everything else as an escape, and at most
    `limit` characters (then how many more there were, `beyond` the end of `text` included)."""
    if isinstance(text, Shown):
        return text
    text = str(text)
    cut = len(text) + beyond - limit
    shown = "".join(c if c.isprintable() else _escaped(c) for c in text[: max(limit, 0)])
    return Shown(f"{shown}… ({cut} more characters)" if cut > 0 else shown)


def _escaped(character: str) -> str:
    # A no-break or wide space reads as a space; controls, DEL, bidirectional and zero-width
    # format characters, lone surrogates, unassigned code points as \n, \x85, \u202e, \U000e0001.
    if unicodedata.category(character) == "Zs":
        return " "
    return character.encode("unicode_escape").decode("ascii")


def without_password(url: str) -> str:
    """The URL with `********` where its password was; any text is safe to pass."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # "http://[::1" and the like: fall back to the pattern alone
        password = None
    if password:
        host = parts.netloc.rpartition("@")[2]
        url = parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}").geturl()
    return PASSWORD_IN_URL.sub(lambda found: f"{found.group(1)}{MASK}@", url)


class Secrets(NamedTuple):
    """What a run must never print, whatever the other end does with it. A value of WINDOW
    characters or more is hidden wherever any WINDOW of them in a row appear, a shorter one
    wherever it appears whole; in the text as it came, and as it reads once %-, \\u-, \\x- and
    &#-escapes of the secrets' own characters are decoded (only those: a JSON body stays JSON)."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, *values: str | None) -> Secrets:
        # Under 4 characters a "secret" would blot out ordinary words; such a password is weak
        # enough that hiding it buys nothing.
        kept = {value for value in values if value and len(value) >= 4}
        return cls(tuple(sorted(kept, key=len, reverse=True)))

    def shown(self, text: object, limit: int = LIMIT) -> Shown:
        """Foreign text as it may be printed: secrets hidden, then `printable`, then hidden
        again (an escape such as `\\x9b` could join a secret's own characters). Only the start
        that can be shown is searched: megabytes of echo cost no more than a line of it."""
        text = str(text)
        head = text[: (limit + WINDOW) * REACH]
        return Shown(self.masked(printable(self.masked(head), limit, beyond=len(text) - len(head))))

    def masked(self, text: str) -> str:
        """`text` with MASK wherever a secret is; the decoded reading if that is where one was."""
        if not self.values:
            return text
        text = self._mask(text)
        if not any(sign in text for sign in "%\\&"):
            return text
        decoded = ESCAPED.sub(self._decode, text)
        return self._mask(decoded) if self._spans(decoded) else text

    def _decode(self, found: re.Match[str]) -> str:
        *hexadecimal, decimal = found.groups()
        digits = next(filter(None, hexadecimal), None)
        code = int(digits, 16) if digits else int(decimal)
        if code < 0x110000 and any(chr(code) in value for value in self.values):
            return chr(code)
        return found[0]

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where runs of at least WINDOW characters of a secret (or a short secret whole) are.

        Found from anchors rather than window by window, ~6x fewer passes over a long answer:
        every window of `size` characters holds a whole anchor of size // 2 that starts at a
        multiple of it, so each run is found from an anchor and grown both ways."""
        spans = []
        for value in self.values:
            size = min(WINDOW, len(value))
            step = max(size // 2, 1)
            for at in range(0, len(value) - step + 1, step):
                start = text.find(value[at : at + step])
                while start != -1:
                    before = text[max(start - at, 0) : start][::-1]
                    left = _common(before, value[:at][::-1])
                    after = text[start + step : start + len(value) - at]
                    right = _common(after, value[at + step :])
                    if left + step + right >= size:
                        spans.append((start - left, start + step + right))
                    start = text.find(value[at : at + step], start + 1)
        return sorted(spans)

    def _mask(self, text: str) -> str:
        parts, end = [], 0
        for start, stop in self._spans(text):
            if start >= end:
                parts += [text[end:start], MASK]
            end = max(end, stop)
        return "".join([*parts, text[end:]]) if parts else text


def _common(one: str, other: str) -> int:
    return len(commonprefix([one, other]))  # noqa: RUF071 (characters are what is compared)


def proxy_variables(environ: Mapping[str, str]) -> list[str]:
    """Where requests reads a proxy's address from, password and all: urllib's `*_proxy`, in
    any case (`NO_PROXY` is a list of hosts)."""
    names = (name for name in environ if name.lower().endswith("_proxy"))
    return sorted(name for name in names if name.lower() != "no_proxy")


def secrets_for(api_key: str, url: str) -> Secrets:
    """The key, its part after its last `_` (after `ak_live_`), and the forms of its echo that
    no decoding in Secrets undoes: UTF-16 and UTF-32 (as UTF-8 reads them), hex, and base64 at
    each of its three alignments (the key may sit anywhere in what was encoded), plain and
    URL-safe. And the passwords in the URL and in the proxy variables (which requests reads for
    itself): as written, decoded, and as the Basic credentials requests makes of them for a
    proxy, which a proxy could echo back."""
    secrets = [api_key, api_key.rsplit("_", 1)[-1], "\0".join(api_key), "\0\0\0".join(api_key)]
    if len(api_key) >= WINDOW:
        data = api_key.encode("utf-8", "replace")
        secrets += [data.hex(), data.hex().upper()]
        for shift in (b"", b"\0", b"\0\0"):
            middle = base64.b64encode(shift + data).decode("ascii")[4:-4]
            secrets += [middle, middle.replace("+", "-").replace("/", "_")]
    for each in filter(None, [url, *map(os.environ.get, proxy_variables(os.environ))]):
        try:  # a proxy may be given without its scheme, as requests allows
            parts = urlsplit(each if "://" in each else f"http://{each}")
            user, password = unquote(parts.username or ""), parts.password
        except ValueError:
            continue
        if password:
            basic = f"{user}:{unquote(password)}".encode("latin-1", "replace")
            secrets += [password, unquote(password), base64.b64encode(basic).decode("ascii")]
    return Secrets.of(*secrets)
