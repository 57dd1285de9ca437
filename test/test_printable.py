"""Foreign text as the log shows it: on one line, readable, cut, and without passwords."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from printable import LIMIT, MASK, printable, without_password


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
