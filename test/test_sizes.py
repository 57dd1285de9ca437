"""Long text cut to its size: rules as examples, promises as properties. Pure: no server."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

import sizes

MARKER = re.compile(r"… \[cut: ([0-9,]+) more characters\]$")


def left_out(text: str) -> int:
    found = MARKER.search(text)
    assert found, f"no marker at the end of {text[-60:]!r}"
    return int(found.group(1).replace(",", ""))


def test_text_that_fits_is_sent_unchanged():
    assert sizes.cut("x" * 200, 200) == "x" * 200


def test_long_text_is_cut_to_its_size_with_a_marker_counting_what_was_left_out():
    text = "a" * 192_000
    shown = sizes.cut(text, sizes.COMMIT_MESSAGE)
    assert len(shown) == sizes.COMMIT_MESSAGE
    kept = shown[: MARKER.search(shown).start()]
    assert text.startswith(kept)
    assert len(kept) + left_out(shown) == len(text)
    assert shown.endswith("… [cut: 188,032 more characters]")


def test_a_cut_does_not_part_an_accent_from_its_letter():
    accented = "e\u0301"  # é written as e and a combining accent
    for start in (0, 1):
        kept = sizes.cut("a" * start + accented * 300, 200).split("…")[0]
        assert kept.endswith(("a", accented)), repr(kept[-3:])


def test_a_cut_does_not_split_an_emoji_joined_of_several():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man, ZWJ, woman, ZWJ, girl
    for start in range(len(family)):
        kept = sizes.cut("a" * start + family * 100, 200).split("…")[0]
        assert kept.endswith(("a", family)), repr(kept[-6:])


def test_a_cut_does_not_split_a_flag():
    flag = "\U0001f1eb\U0001f1f7"  # two regional letters: F, R
    for start in (0, 1):
        kept = sizes.cut("a" * start + flag * 200, 200).split("…")[0]
        assert len(kept) % 2 == start  # whole flags after the `a`s


@given(st.text(), st.integers(50, 500))
def test_a_cut_text_fits_starts_as_the_text_did_and_counts_the_rest(text, limit):
    shown = sizes.cut(text, limit)
    assert len(shown) <= limit
    if shown != text:
        kept = shown[: MARKER.search(shown).start()]
        assert text.startswith(kept)
        assert len(kept) + left_out(shown) == len(text)


@given(st.text(min_size=300), st.integers(50, 300))
def test_cutting_a_cut_text_again_changes_nothing(text, limit):
    once = sizes.cut(text, limit)
    assert sizes.cut(once, limit) == once


def test_cut_hard_shortens_the_free_text_and_leaves_the_rest():
    body = {
        "summary": "s" * 1000,
        "description": "d" * 8000,
        "commit_message": "m" * 4000,
        "commit_sha": "a" * 40,
        "pipeline_url": "https://bitbucket.org/acme/shop/pipelines/results/" + "9" * 600,
        "tags": ["bitbucket", "t" * 600],
    }
    smaller = sizes.cut_hard(body)
    assert len(smaller["summary"]) == 200
    assert len(smaller["description"]) == len(smaller["commit_message"]) == 500
    assert {k: smaller[k] for k in ("commit_sha", "pipeline_url", "tags")} == {
        k: body[k] for k in ("commit_sha", "pipeline_url", "tags")
    }


def test_cut_hard_leaves_the_body_it_was_given_as_it_was():
    body = {"summary": "s" * 1000}
    sizes.cut_hard(body)
    assert body == {"summary": "s" * 1000}


def test_cutting_a_cut_text_shorter_counts_all_that_was_left_out():
    text = "x" * 100_000
    once = sizes.cut(text, sizes.DESCRIPTION)
    twice = sizes.cut(once, 500)
    assert len(twice) <= 500
    assert len(twice.removesuffix(MARKER.search(twice)[0])) + left_out(twice) == len(text)
