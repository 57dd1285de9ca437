"""Foreign text as the log shows it: on one line, readable, cut, and without passwords."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from printable import LIMIT, MASK, WINDOW, Secrets, printable, without_password

SECRET = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
KEY = f"ak_live_{SECRET}"
SECRETS = Secrets.of(KEY, SECRET)


@given(st.text())
def test_nothing_printed_can_start_a_line_or_hold_a_control_character(text):
    shown = printable(text, limit=10_000)
    assert all(character.isprintable() for character in shown)


@given(st.text(min_size=LIMIT + 1))
def test_overlong_text_is_cut_and_says_how_much(text):
    shown = printable(text)
    assert shown.endswith(f"… ({len(text) - LIMIT} more characters)")


def test_a_forged_line_stays_on_the_line_it_came_in():
    assert (
        printable("x\n✔ Recorded change chg_1\r\x1b[2J") == "x\\n✔ Recorded change chg_1\\r\\x1b[2J"
    )


def test_bidirectional_overrides_and_zero_width_characters_are_shown_as_escapes():
    assert printable("abc\u202edef\u200b\u2066") == "abc\\u202edef\\u200b\\u2066"


def test_c1_controls_and_del_are_escaped():
    assert printable("a\x85b\x9bc\x7f") == "a\\x85b\\x9bc\\x7f"


def test_printable_unicode_stays_readable():
    assert printable("Zoë déployé 部署 ✓ 🚀") == "Zoë déployé 部署 ✓ 🚀"


def test_a_url_password_is_masked():
    assert without_password("http://bob:s3cret@proxy:3128") == f"http://bob:{MASK}@proxy:3128"


def test_a_password_with_an_at_sign_is_masked_whole():
    assert "p@ss" not in without_password("https://bob:p@ss@alert24.example")


def test_a_password_in_running_text_is_masked():
    text = "Unable to connect to proxy http://u:hunter2@10.0.0.1:3128/ (refused)"
    assert "hunter2" not in without_password(text)


def test_a_url_without_a_password_is_unchanged():
    assert without_password("https://app.alert24.net/x?y=1") == "https://app.alert24.net/x?y=1"


def test_a_url_that_cannot_be_parsed_is_still_masked():
    assert "pw" not in without_password("http://u:pw@[::1")


def test_printable_text_passes_through_printable_unchanged():
    shown = printable("x\n" * 300)
    assert printable(shown) == shown


@given(st.text(), st.integers(min_value=0, max_value=len(SECRET) - 12), st.text())
def test_no_12_characters_of_the_secret_in_a_row_are_ever_shown(before, start, after):
    shown = SECRETS.shown(before + SECRET[start : start + 12] + after, limit=10_000)
    assert not any(SECRET[i : i + 12] in shown for i in range(len(SECRET) - 11))


def test_an_escaped_key_is_hidden_in_each_encoding():
    encodings = [
        "".join(f"\\u{ord(c):04x}" for c in KEY),
        "".join(f"%{ord(c):02X}" for c in KEY),
        "".join(f"&#x{ord(c):x};" for c in KEY),
        "".join(f"\\x{ord(c):02x}" for c in KEY),
    ]
    for encoded in encodings:
        assert MASK in SECRETS.shown(f"Bearer {encoded}", limit=1000), encoded


def test_an_escape_cannot_join_the_secrets_own_characters():
    # printable shows \x9b as the four characters \x9b: with the right neighbours, a secret.
    secret = "9b" + SECRET[2:]
    shown = Secrets.of(secret).shown("\x9b" + secret[2:14])
    assert secret[:12] not in shown


def test_decoding_touches_only_the_secrets_characters_so_json_stays_json():
    body = '{"a": "\\u0022%20"}'
    assert SECRETS.masked(body) == body


@given(
    st.text(alphabet="ab", min_size=4, max_size=40),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=4),
    st.text(alphabet="abc", max_size=30),
)
def test_no_window_of_a_repetitive_secret_survives_however_its_pieces_are_laid(secret, cuts, glue):
    """Secrets of few letters make anchors match everywhere: the hardest case for the search."""
    text = glue.join(secret[min(a, b) : max(a, b)] for a, b in cuts) + glue + secret
    shown = Secrets.of(secret).masked(text)
    size = min(WINDOW, len(secret))
    windows = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    assert not any(window in shown for window in windows)
