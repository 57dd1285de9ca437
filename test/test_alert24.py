"""The client in-process: how long it waits (with a sleep that only counts), what it reads from
an answer, and what it says of a connection that failed, against real local sockets."""

from __future__ import annotations

import base64
import contextlib
import random
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from alert24 import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Answer,
    ChangeRequest,
    DeliveryFailed,
    alert24_error,
    backoff,
    change_id,
    deliver,
    exchange,
    retry_after,
    secrets_for,
    stopped,
    wait_before_retry,
)
from alert24_server import Alert24Server
from alert24_server import alert24_error as error_answer
from conftest import API_KEY

BODY = {"summary": "Deployed shop @ 1234abcd", "description": "d" * 5000}


def test_retry_after_in_seconds():
    assert retry_after("7") == 7.0


def test_retry_after_as_an_http_date():
    in_five = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 3.0 <= retry_after(in_five) <= 5.0


def test_retry_after_in_the_past_means_now():
    assert retry_after("Thu, 26 Nov 2020 11:00:00 GMT") == 0.0


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


# deliver, against the local Alert24, with a sleep that only counts ------------------------------


def post(server: Alert24Server, **kwargs) -> tuple[object, list[float]]:
    slept: list[float] = []
    request = ChangeRequest(f"{server.url}/api/v1/changes", API_KEY, BODY, "test")
    options = {"timeout": 5, "max_retries": 3, **kwargs}
    return deliver(request, sleep=slept.append, **options), slept


def test_a_503_is_retried_after_a_backoff_without_waiting_for_it(server):
    server.script(error_answer(503, "server_error", "Down"))
    delivery, slept = post(server)
    assert delivery.attempts == 2
    assert len(slept) == 1
    assert 0.25 <= slept[0] <= 0.5


def test_a_429_waits_as_long_as_retry_after_asks(server):
    server.script(error_answer(429, "rate_limit_error", "Slow", **{"Retry-After": "7"}))
    delivery, slept = post(server)
    assert slept == [7.0]
    assert delivery.change_id == "chg_0001"


def test_a_retry_after_of_a_day_waits_the_cap(server):
    server.script(error_answer(429, "rate_limit_error", "Slow", **{"Retry-After": "86400"}))
    _, slept = post(server)
    assert slept == [RETRY_AFTER_CAP]


def test_503_every_time_gives_up_after_max_retries_plus_one_attempts(server):
    server.script(*[error_answer(503, "server_error", "Down")] * 4)
    with pytest.raises(DeliveryFailed) as failed:
        post(server)
    assert "after 4 attempts" in failed.value.reason
    assert len(server.received) == 4


def cut(body: dict) -> dict:
    return {**body, "description": body["description"][:10]}


def test_a_413_is_sent_once_more_cut_short_and_recorded(server, caplog):
    server.script(error_answer(413, "payload_too_large", "Too large"))
    delivery, slept = post(server, max_retries=0, smaller=cut)
    assert delivery.change_id == "chg_0001"
    assert server.received[1].json["description"] == "d" * 10
    assert slept == []
    assert "Alert24 refused the change as too large (HTTP 413 (X-Request-Id: req-1)): " in (
        caplog.text
    ), caplog.text
    assert (
        "sending it once more with its long text (summary, description, commit message)"
        in caplog.text
    )


def test_the_delivery_of_a_413_cut_short_holds_the_body_that_was_sent(server):
    server.script(error_answer(413, "payload_too_large", "Too large"))
    delivery, _ = post(server, smaller=cut)
    assert delivery.body == cut(BODY)
    assert delivery.attempts == 2


def test_a_413_after_the_cut_fails_without_a_third_try(server):
    server.script(*[error_answer(413, "payload_too_large", "Too large")] * 3)
    with pytest.raises(DeliveryFailed) as failed:
        post(server, smaller=cut)
    assert len(server.received) == 2
    assert "HTTP 413 payload_too_large: Too large" in failed.value.reason
    assert "The change is too large for Alert24" in failed.value.reason


def test_a_413_without_a_way_to_cut_fails_at_once(server):
    server.script(error_answer(413, "payload_too_large", "Too large"))
    with pytest.raises(DeliveryFailed):
        post(server)
    assert len(server.received) == 1


def test_a_413_is_not_sent_again_when_cutting_changes_nothing(server):
    server.script(error_answer(413, "payload_too_large", "Too large"))
    with pytest.raises(DeliveryFailed):
        post(server, smaller=dict)
    assert len(server.received) == 1


def test_a_recorded_change_holds_the_request_body(server):
    delivery, _ = post(server)
    assert delivery.body == BODY


# A connection that failed, in words --------------------------------------------------------------


def problem(url: str) -> Answer:
    return exchange("POST", url, api_key=API_KEY, user_agent="test", timeout=2, payload=b"{}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_is_named_with_its_host_and_port():
    port = free_port()
    answer = problem(f"http://127.0.0.1:{port}/api/v1/changes")
    assert answer.problem == f"could not connect to 127.0.0.1:{port}: the connection was refused"
    assert answer.retryable
    assert not answer.outcome_unknown


def test_a_host_name_that_does_not_resolve_is_named():
    answer = problem("https://alert24.invalid/api/v1/changes")
    assert answer.problem == "could not resolve the host name alert24.invalid"
    assert answer.retryable


@pytest.fixture
def untrusted_tls() -> Iterator[str]:
    """A TLS server whose certificate comes from a CA no one trusts; its URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))

    def handshake() -> None:
        connection, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):  # the client refuses the certificate
            context.wrap_socket(connection, server_side=True)
        connection.close()

    threading.Thread(target=handshake, daemon=True).start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_an_untrusted_certificate_is_named_with_its_host_and_why(untrusted_tls):
    answer = problem(untrusted_tls)
    port = untrusted_tls.rsplit(":", 1)[1]
    assert answer.problem == (
        f"the TLS certificate of 127.0.0.1:{port} was not trusted "
        "(unable to get local issuer certificate)"
    )
    assert not answer.retryable


def test_a_connection_problem_names_no_class():
    answer = problem(f"http://127.0.0.1:{free_port()}")
    assert "Error" not in answer.problem
    assert "(" not in answer.problem


def test_a_stop_before_a_retry_is_sent_still_says_an_earlier_attempt_may_have_recorded_it():
    # Stopped within the next attempt before its request was under way: nothing of it arrived.
    stop = stopped(None, None, maybe_recorded=True, secrets=secrets_for(API_KEY, "http://x"))
    assert str(stop) == (
        "before the request reached Alert24: an earlier attempt may have recorded the change; "
        "check Alert24 before re-running"
    )


def test_a_stop_before_the_first_request_is_sent_says_it_was_not_recorded():
    stop = stopped(None, None, maybe_recorded=False, secrets=secrets_for(API_KEY, "http://x"))
    assert str(stop) == "before the request reached Alert24: the change was not recorded"


def test_a_stop_while_a_gateways_error_arrives_puts_no_blame_on_an_earlier_attempt():
    gateway = Answer(502, {}, "", retryable=True, outcome_unknown=True)
    stop = stopped(gateway, None, maybe_recorded=False, secrets=secrets_for(API_KEY, "http://x"))
    assert str(stop) == (
        "after Alert24 answered HTTP 502: the change may have been recorded; "
        "check Alert24 before re-running"
    )
