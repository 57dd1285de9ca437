"""The client's pure parts: how long to wait, and what to read from an answer."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from alert24 import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Answer,
    alert24_error,
    backoff,
    change_id,
    retry_after,
    secrets_for,
    wait_before_retry,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def test_retry_after_in_seconds():
    assert retry_after("7") == 7.0


def test_retry_after_as_an_http_date():
    assert retry_after("Thu, 26 Nov 2026 12:00:05 GMT", NOW) == 5.0


def test_retry_after_in_the_past_means_now():
    assert retry_after("Thu, 26 Nov 2026 11:00:00 GMT", NOW) == 0.0


def test_retry_after_that_cannot_be_read_is_ignored():
    assert retry_after("soon") is None
    assert retry_after("²") is None  # a digit to Python, not to HTTP
    assert retry_after("") is None
    assert retry_after(None) is None


def test_a_long_retry_after_is_capped_so_the_run_ends_in_bounded_time():
    answer = Answer(429, {"Retry-After": "86400"})
    assert wait_before_retry(answer, 1) == RETRY_AFTER_CAP


@given(st.integers(min_value=1, max_value=50), st.integers())
def test_backoff_grows_with_jitter_and_stays_under_its_cap(attempt, seed):
    wait = backoff(attempt, random.Random(seed))
    ceiling = min(BACKOFF_CAP, 0.5 * 2 ** (attempt - 1))
    assert ceiling / 2 <= wait <= ceiling


def test_the_change_id_is_read_from_data_or_the_top_level():
    assert change_id('{"data": {"id": "chg_1"}}') == "chg_1"
    assert change_id('{"id": 42}') == "42"


def test_a_change_id_that_is_not_text_is_its_json():
    assert change_id('{"data": {"id": ["a", 1]}}') == '["a", 1]'
    assert change_id('{"data": {"id": 1.5}}') == "1.5"


def test_json_nested_too_deep_to_parse_is_no_change_id():
    assert change_id("[" * 100_000) is None
    assert change_id('{"data": ' * 50_000) is None


def test_no_change_id_in_an_empty_or_foreign_answer():
    assert change_id("") is None
    assert change_id("<html>") is None
    assert change_id("[1, 2]") is None
    assert change_id('{"data": {}}') is None


def test_an_alert24_error_is_read_as_type_and_message():
    body = '{"error": {"type": "validation_error", "message": "summary is required"}}'
    assert alert24_error(body) == "validation_error: summary is required"


def test_a_foreign_error_body_is_shown_as_its_first_line_of_text():
    assert alert24_error("<h1>Bad gateway</h1>\n\n") == "'<h1>Bad gateway</h1>'"
    assert alert24_error("") is None


def test_an_alert24_error_is_shown_on_one_line():
    body = '{"error": {"type": "x\\n\\u001b[2J", "message": "\\u202em"}}'
    assert alert24_error(body) == "x\\n\\x1b[2J: \\u202em"


def test_the_secrets_of_a_request_are_the_key_its_secret_part_and_proxy_passwords(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://deploy:p%40ss-w0rd@proxy:3128")
    secrets = secrets_for("ak_live_" + "k" * 32, "https://app.alert24.net")
    assert "ak_live_" + "k" * 32 in secrets.values
    assert "k" * 32 in secrets.values
    assert {"p%40ss-w0rd", "p@ss-w0rd"} <= set(secrets.values)
    assert base64.b64encode(b"deploy:p@ss-w0rd").decode() in secrets.values
