"""The other end at its worst, byte for byte, through the real pipe: in the test's process
(`run_pipe`), and as `python pipe/pipe.py` (`run_pipe_process`) where the bound counts the waits
really slept and the start-up, where a proxy is read from the environment, and for SIGTERM.

Every run is checked for what must hold whatever arrives: no traceback, no key in any form
(run_pipe), no password, no raw control character (the toolkit's own colours apart), exactly one
outcome line and the right one, and an end within the bound TIMEOUT sets: (MAX_RETRIES + 1) x
(TIMEOUT + a little) + the waits, plus the pipe's start-up.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import trustme

from conftest import API_KEY, Run, assert_no_secret, run_pipe, run_pipe_process, start_pipe
from forward_proxy import forward_proxy
from hostile_server import HostileServer, Repeat, Step, Trickle, header, response

TIMEOUT = 0.5  # short, to keep the file quick; the bound has room for a loaded machine
START_UP = 3.0  # the pipe's own start-up on a busy shared machine, over the bound
PASSWORD = "pr0xy-s3cret-pw"
COLOUR_AT_START = re.compile(r"^\x1b\[\d+(?:;\d+)*m")  # the toolkit's colour for a line
RESET_AT_END = re.compile(r"\x1b\[0m$")


def bound(retries: int = 0, waits: float = 0.0) -> float:
    return (retries + 1) * (TIMEOUT + 0.5) + waits + START_UP


def without_toolkit_colours(output: str) -> str:
    """The output without the escapes the toolkit itself puts at a line's start and end."""
    lines = output.split("\n")
    return "\n".join(RESET_AT_END.sub("", COLOUR_AT_START.sub("", line)) for line in lines)


def assert_kept_promises(run: Run, within: float, passwords: tuple[str, ...] = ()) -> str:
    """Everything every run must hold; returns the outcome line."""
    assert "Traceback" not in run.output, run.output
    for password in passwords:
        assert password not in run.output, "a password was printed"
    plain = without_toolkit_colours(run.stdout) + "\n" + without_toolkit_colours(run.stderr)
    raw = sorted({c for c in plain if c != "\n" and not c.isprintable()})
    assert not raw, f"raw control characters in the output: {raw!r}\n{plain}"
    assert run.elapsed < within, f"{run.elapsed:.1f} s"
    outcome = [line for line in plain.splitlines() if line.startswith(("✔", "✖"))]
    assert len(outcome) == 1, plain
    return outcome[0]


def assert_says(outcome: str, says: str) -> None:
    start, _, holds = says.rpartition(AND) if AND in says else ("", "", says)
    assert outcome.startswith(start), outcome
    assert holds in outcome, outcome


@pytest.fixture
def tls(private_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def hostile_env(bitbucket: dict[str, str], ca_bundle: str) -> dict[str, str]:
    return {
        **bitbucket,
        "ALERT24_API_KEY": API_KEY,
        "TIMEOUT": str(TIMEOUT),
        "MAX_RETRIES": "0",
        "REQUESTS_CA_BUNDLE": ca_bundle,
        # Connection n plays answers[n]: these answers are for the change, not for a lookup of
        # the previous deployment before it (test_went_out.py has the lookup's own failures).
        "LIST_COMMITS": "false",
    }


def created(change_id: str = "chg_h1", request_id: str = "req-h1") -> bytes:
    body = f'{{"data": {{"id": "{change_id}"}}}}'
    return response(201, body, [("X-Request-Id", request_id)], reason="Created")


# Slow and endless answers ------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    answers: list[list[Step]]
    says: str  # in the outcome line
    retries: int = 0
    env: dict[str, str] = field(default_factory=dict)
    waits: float = 0.0


RECORDED = "✔ Recorded"
MAY_BE_RECORDED = "✖ Alert24 did not confirm the change, which may have been recorded"
AND = "…"  # the outcome line starts with what is before it and holds what is after it
NOT_RECORDED = "✖ The change was not recorded in Alert24"

SLOW = [
    Case(
        "a status line a byte at a time, forever",
        [[Trickle(b"HTTP/1.1 201 Cre"), Repeat(b"a")]],
        f"{MAY_BE_RECORDED}{AND}no answer within TIMEOUT (0.5 s)",
    ),
    Case(
        "a status line a byte at a time, then again on the retry",
        [[Trickle(b"HTTP/1.1 201 Cre"), Repeat(b"a")]],
        "no answer within TIMEOUT (0.5 s) after 2 attempts",
        retries=1,
        waits=0.5,
    ),
    Case(
        "a 201 status line, then headers a byte at a time, forever",
        [[b"HTTP/1.1 201 Created\r\nX-Request-Id: req-h1\r\n", Repeat(b"X", 0.2)]],
        f"{RECORDED} the change in Alert24{AND}to production.",
    ),
    Case(
        "a 503 status line, then headers forever, then a 201 on the retry",
        [[b"HTTP/1.1 503 Unavailable\r\n", Repeat(b"X-Pad: y\r\n", 0.2)], [created()]],
        f"{RECORDED} change chg_h1 in Alert24{AND}(X-Request-Id: req-h1), at attempt 2.",
        retries=1,
        waits=0.5,
    ),
    Case(
        "a 201 whose body drips a byte at a time",
        [
            [
                response(
                    201, b"", [("X-Request-Id", "req-d"), ("Content-Length", "9999")], length=False
                ),
                Repeat(b"x"),
            ]
        ],
        f"{RECORDED} the change in Alert24{AND}to production (X-Request-Id: req-d).",
    ),
    Case(
        "a redirect whose body never ends, as fast as it can",
        [
            [
                response(
                    307, b"", [("Location", "https://x/"), ("X-Request-Id", "r")], length=False
                ),
                Repeat(b"x" * 65536, 0),
            ]
        ],
        f"{NOT_RECORDED}{AND}(X-Request-Id: r). It redirects to https://x/",
    ),
    Case(
        "100 Continue forever, as fast as it can",
        [[Repeat(b"HTTP/1.1 100 Continue\r\n\r\n", 0)]],
        f"{MAY_BE_RECORDED}{AND}Alert24 sent more than 100 interim (1xx) answers and no final "
        "answer",
    ),
    Case(
        "100 Continue forever, slowly",
        [[Repeat(b"HTTP/1.1 100 Continue\r\n\r\n", 0.2)]],
        "no answer within TIMEOUT (0.5 s)",
    ),
    Case(
        "103 Early Hints, then 201",
        [[response(103, b"", [("Link", "</app.css>; rel=preload")], length=False), created()]],
        f"{RECORDED} change chg_h1 in Alert24{AND}to production (X-Request-Id: req-h1).",
    ),
    Case(
        "100, 102 and 103, then 201",
        [
            [
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 102 Processing\r\n\r\n",
                b"HTTP/1.1 103 Early Hints\r\n\r\n",
                created(),
            ]
        ],
        f"{RECORDED} change chg_h1 in Alert24{AND}to production (X-Request-Id: req-h1).",
    ),
    Case(
        "103, then 500, then 201 on the retry",
        [
            [
                b"HTTP/1.1 103 Early Hints\r\n\r\n",
                response(500, '{"error": {"type": "server_error", "message": "x"}}'),
            ],
            [created()],
        ],
        f"{RECORDED} change chg_h1 in Alert24{AND}(X-Request-Id: req-h1), at attempt 2.",
        retries=1,
        waits=0.5,
    ),
    Case(
        "a 201 with more than 100 headers",
        [[response(201, b"", [(f"X-{n}", "y") for n in range(200)])]],
        f"{RECORDED} the change in Alert24{AND}to production.",
    ),
    Case(
        "a 201 with a header of 100 KB",
        [[response(201, b"", [("X-Request-Id", "req-big"), ("X-Big", "y" * 100_000)])]],
        f"{RECORDED} the change in Alert24{AND}to production.",
    ),
    Case(
        "a status line of 100 KB",
        [[b"HTTP/1.1 201 " + b"y" * 100_000 + b"\r\n\r\n"]],
        f"{MAY_BE_RECORDED}{AND}(got more than 65536 bytes when reading status line)",
    ),
]


@pytest.mark.parametrize("debug", ["false", "true"], ids=["", "debug"])
@pytest.mark.parametrize("case", SLOW, ids=[case.name for case in SLOW])
def test_slow_and_endless_answers(case: Case, debug: str, hostile_env):
    with HostileServer(case.answers) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "DEBUG": debug}
        run = run_pipe({**env, "MAX_RETRIES": str(case.retries), **case.env})
    outcome = assert_kept_promises(run, bound(case.retries, case.waits))
    assert_says(outcome, case.says)
    assert server.connections == case.retries + 1 or case.says.startswith(RECORDED)


OVER_HTTPS = [case for case in SLOW if "fast" in case.name or "forever" in case.name]


@pytest.mark.parametrize("case", OVER_HTTPS, ids=lambda case: case.name)
def test_slow_and_endless_answers_over_https(case: Case, hostile_env, tls):
    with HostileServer(case.answers, tls=tls) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "MAX_RETRIES": str(case.retries)}
        run = run_pipe(env)
    outcome = assert_kept_promises(run, bound(case.retries, case.waits))
    assert_says(outcome, case.says)


def test_a_tls_handshake_that_never_ends_is_not_an_attempt_that_reached_alert24(hostile_env):
    hello = [Trickle(b"\x16\x03\x03\x40\x00"), Repeat(b"\x00")]  # a record that never fills
    with HostileServer([hello], scheme="https", read=False) as server:
        run = run_pipe_process({**hostile_env, "ALERT24_BASE_URL": server.url})
    outcome = assert_kept_promises(run, bound())
    assert_says(outcome, f"{NOT_RECORDED}{AND}could not connect within TIMEOUT (0.5 s)")


def test_an_answer_trickled_through_an_https_proxy_ends_within_the_timeout(hostile_env, tls):
    trickle = [[Trickle(b"HTTP/1.1 201 Cre"), Repeat(b"a")]]
    with HostileServer(trickle, tls=tls) as server, forward_proxy() as (proxy_url, _):
        proxy = proxy_url.replace("http://", f"http://deploy:{PASSWORD}@")
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "HTTPS_PROXY": proxy}
        run = run_pipe_process({**env, "DEBUG": "true"})
    outcome = assert_kept_promises(run, bound(), passwords=(PASSWORD,))
    assert "no answer within TIMEOUT (0.5 s)" in outcome
    assert len(server.received) == 1


@pytest.mark.parametrize(
    "answer",
    [
        [Trickle(b"HTTP/1.1 200 Connection est"), Repeat(b"a")],
        [
            lambda request: response(
                407,
                reason=b"\x1b[2J\n\xe2\x9c\x94 Recorded change x "
                + header(request, b"proxy-authorization"),
            )
        ],
    ],
    ids=["answers CONNECT a byte at a time", "refuses with a forged line and the credentials"],
)
def test_a_hostile_proxy_is_bounded_and_shows_nothing_raw(answer, hostile_env, tls):
    with HostileServer([answer]) as proxy:
        proxy_url = proxy.url.replace("http://", f"http://deploy:{PASSWORD}@")
        env = {**hostile_env, "ALERT24_BASE_URL": "https://127.0.0.1:9", "HTTPS_PROXY": proxy_url}
        run = run_pipe({**env, "DEBUG": "true"})
    outcome = assert_kept_promises(run, bound(), passwords=(PASSWORD,))
    assert outcome.startswith(NOT_RECORDED), outcome
    assert proxy.received[0].startswith(b"CONNECT 127.0.0.1:9 ")


# Forged lines, escapes and echoed secrets ------------------------------------------------------

FORGED = "\n✔ Recorded change forged\r\x1b[2J\x1b[1A\u202e\u2066\x9b\x00\x7f"
FORGED_BYTES = FORGED.encode()


def error(message: str, status: int = 400, **headers: str) -> bytes:
    body = f'{{"error": {{"type": "validation_error", "message": {json_string(message)}}}}}'
    return response(status, body, list(headers.items()))


def json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def with_id(change_id: str) -> str:
    return json.dumps({"data": {"id": change_id}}, ensure_ascii=False)


FORGERIES = [
    Case(
        "in the reason phrase",
        [[response(500, b"x", reason=b"Oops" + FORGED_BYTES)]],
        f"{NOT_RECORDED}{AND}Alert24 answered HTTP 500",
    ),
    Case(
        "in the X-Request-Id",
        [[response(201, b"", [("X-Request-Id", b"req" + FORGED_BYTES.replace(b"\n", b" "))])]],
        f"{RECORDED} the change in Alert24{AND}(X-Request-Id: req ✔ Recorded change forged",
    ),
    Case(
        "in Alert24's error type and message",
        [[response(400, json.dumps({"error": {"type": f"v{FORGED}", "message": f"m{FORGED}"}}))]],
        f"{NOT_RECORDED}{AND}Alert24 answered HTTP 400 v\\n✔ Recorded change forged\\r\\x1b[2J",
    ),
    Case(
        "in the change id",
        [[response(201, with_id(f"chg{FORGED}"))]],
        f"{RECORDED} change chg\\n✔ Recorded change forged\\r\\x1b[2J\\x1b[1A\\u202e\\u2066",
    ),
    Case(
        "in a Location header",
        [
            [
                response(
                    307,
                    b"",
                    [
                        (
                            "Location",
                            b"https://x/" + FORGED_BYTES.replace(b"\n", b"").replace(b"\r", b""),
                        )
                    ],
                )
            ]
        ],
        "It redirects to https://x/✔ Recorded change forged\\x1b[2J\\x1b[1A\\u202e",
    ),
    Case(
        "in a body that is not JSON",
        [[response(502, FORGED_BYTES)]],
        "Alert24 answered HTTP 502 '✔ Recorded change forged \\x1b[2J\\x1b[1A\\u202e",
    ),
    Case(
        "as bytes that are not UTF-8",
        [[response(201, b'{"data": {"id": "chg\xff\xfe\\u001b[2J"}}')]],
        f"{RECORDED} change chg\ufffd\ufffd\\x1b[2J in Alert24",
    ),
]


@pytest.mark.parametrize("debug", ["false", "true"], ids=["", "debug"])
@pytest.mark.parametrize("case", FORGERIES, ids=[case.name for case in FORGERIES])
def test_text_from_the_other_end_cannot_forge_a_line(case: Case, debug: str, hostile_env):
    with HostileServer(case.answers) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "DEBUG": debug}
        run = run_pipe(env)
    outcome = assert_kept_promises(run, bound())
    assert_says(outcome, case.says)


def escaped(make: Callable[[str], str]) -> Callable[[str], str]:
    return lambda key: "".join(make(character) for character in key)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "as it is": lambda key: key,
    "in JSON \\u escapes": escaped(lambda c: f"\\u{ord(c):04x}"),
    "percent-encoded": escaped(lambda c: f"%{ord(c):02X}"),
    "percent-encoded in lower case": escaped(lambda c: f"%{ord(c):02x}"),
    "as HTML entities": escaped(lambda c: f"&#{ord(c)};"),
    "in \\x escapes": escaped(lambda c: f"\\x{ord(c):02x}"),
    "in base64": lambda key: base64.b64encode(key.encode()).decode(),
    "in base64 after Bearer": lambda key: base64.b64encode(f"Bearer {key}".encode()).decode(),
    "in hex": lambda key: key.encode().hex(),
    "every other character escaped": lambda key: "".join(
        c if i % 2 else f"\\u{ord(c):04x}" for i, c in enumerate(key)
    ),
}


def echo(answer: str, encode: Callable[[str], str]) -> Step:
    """An answer that echoes the request's key back, encoded, everywhere it can: the reason
    phrase, X-Request-Id, Location, and the change id, Alert24's error message or a foreign
    body."""

    def play(request: bytes) -> bytes:
        key = encode(header(request, b"authorization").decode().removeprefix("Bearer "))
        headers = [("X-Request-Id", f"req {key}"), ("Location", f"https://x/?key={key}")]
        if answer == "a 2xx":
            body = f'{{"data": {{"id": "{key}"}}}}'
        elif answer == "Alert24's error":
            body = f'{{"error": {{"type": "authentication_error", "message": "Bad key {key}"}}}}'
        else:
            body, headers = f"<html>upstream said: Authorization: Bearer {key}</html>", []
        status = {"a 2xx": 201, "Alert24's error": 401}.get(answer, 502)
        return response(status, body, headers, reason=f"Bearer {key}".encode())

    return play


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("answer", ["a 2xx", "Alert24's error", "a foreign error"])
def test_an_echoed_key_is_never_shown_in_any_encoding(answer: str, encoding: str, hostile_env):
    with HostileServer([[echo(answer, ENCODINGS[encoding])]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url, "DEBUG": "true"})
    outcome = assert_kept_promises(run, bound())
    for each in ENCODINGS.values():  # the whole key, however written
        assert each(API_KEY) not in run.output
        assert each(API_KEY.removeprefix("ak_live_")) not in run.output
    assert outcome.startswith(RECORDED if answer == "a 2xx" else "✖")


# Whatever the 2xx says, it is recorded ----------------------------------------------------------

BODIES = {
    "empty": (b"", "the change"),
    "not JSON": (b"<html>ok</html>", "the change"),
    "JSON nested too deep to parse": (b"[" * 100_000, "the change"),
    "an object nested too deep to parse": (b'{"data": ' * 50_000, "the change"),
    "an id that is a number": (b'{"data": {"id": 42}}', "change 42"),
    "an id that is a list": (b'{"id": ["a", "b"]}', 'change ["a", "b"]'),
    "an id of 10 KB": (with_id("c" * 10_000).encode(), "change " + "c" * 200 + "… (9800 more"),
    "a top-level list": (b'[{"id": "chg_1"}]', "the change"),
}


@pytest.mark.parametrize("body", BODIES)
def test_any_2xx_is_recorded_whatever_its_body(body: str, hostile_env):
    data, name = BODIES[body]
    with HostileServer([[response(200, data, [("X-Request-Id", "req-b")])]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url})
    outcome = assert_kept_promises(run, bound())
    assert outcome.startswith(f"✔ Recorded {name}"), outcome
    assert run.returncode == 0


def test_an_error_nested_too_deep_to_parse_is_a_plain_failure(hostile_env):
    with HostileServer([[response(400, b'{"error": ' + b"[" * 100_000)]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url})
    outcome = assert_kept_promises(run, bound())
    assert outcome.startswith(f'{NOT_RECORDED}: Alert24 answered HTTP 400 \'{{"error": [[[')
    assert "Unexpected error" not in run.output


# SIGTERM -----------------------------------------------------------------------------------------


@pytest.fixture
def stop_when() -> Iterator[Callable[..., Run]]:
    """Start the pipe, wait for `ready()`, send SIGTERM, and return the run."""

    def stop(env: dict[str, str], ready: Callable[[], bool]) -> Run:
        started = time.monotonic()
        with start_pipe(env) as process:
            deadline = time.monotonic() + 10
            while not ready() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
            stopped = time.monotonic()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=5)
        assert time.monotonic() - stopped < 1.0
        run = Run(process.returncode, stdout, stderr, time.monotonic() - started)
        assert_no_secret(run.output)
        return run

    yield stop


def test_sigterm_after_a_2xx_status_line_says_the_change_was_recorded(hostile_env, stop_when):
    drip = [
        b"HTTP/1.1 201 Created\r\nX-Request-Id: req-s\r\nContent-Length: 999\r\n\r\n{",
        Repeat(b" "),
    ]
    with HostileServer([drip]) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "TIMEOUT": "30"}
        run = stop_when(env, server.answering.is_set)
    outcome = assert_kept_promises(run, 15)
    assert outcome == (
        "✖ Stopped by SIGTERM after Alert24 answered: it recorded the change (X-Request-Id: req-s)."
    )
    assert "not recorded" not in run.output


def test_sigterm_while_the_status_line_drips_says_the_change_may_be_recorded(
    hostile_env, stop_when
):
    with HostileServer([[Trickle(b"HTTP/1.1 201 Cre"), Repeat(b"a")]]) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "TIMEOUT": "30"}
        run = stop_when(env, lambda: bool(server.received))
    outcome = assert_kept_promises(run, 15)
    assert outcome == (
        "✖ Stopped by SIGTERM before Alert24 answered: the change may have been recorded; "
        "check Alert24."
    )


def test_sigterm_before_the_request_was_sent_says_the_change_was_not_recorded(
    hostile_env, stop_when
):
    hello = [Trickle(b"\x16\x03\x03\x40\x00"), Repeat(b"\x00")]
    with HostileServer([hello], scheme="https", read=False) as server:
        env = {**hostile_env, "ALERT24_BASE_URL": server.url, "TIMEOUT": "30"}
        run = stop_when(env, lambda: server.connections > 0)
    outcome = assert_kept_promises(run, 15)
    assert outcome == (
        "✖ Stopped by SIGTERM before the request reached Alert24: the change was not recorded."
    )


def test_a_whole_run_ends_within_attempts_times_timeout_plus_the_waits(hostile_env):
    # Each attempt takes all of TIMEOUT (a 503 whose body drips) and asks for a 1 s wait.
    slow = [response(503, b"", [("Retry-After", "1"), ("Content-Length", "99")], length=False)]
    with HostileServer([[*slow, Repeat(b"x")]]) as server:
        run = run_pipe_process(
            {**hostile_env, "ALERT24_BASE_URL": server.url, "MAX_RETRIES": "2"}
        )  # the waits really slept, and the start-up, within the bound
    outcome = assert_kept_promises(run, bound(retries=2, waits=2.0))
    assert run.elapsed >= 3 * TIMEOUT + 2.0
    assert outcome.startswith(f"{NOT_RECORDED}: Alert24 answered HTTP 503 'xxx"), outcome
    assert server.connections == 3


# What arrives costs the run nothing after its deadline -----------------------------------------


def echoing_headers(status: int, body: str = "") -> Step:
    """An answer with 95 headers of 65 KB each, every one the request's key again and again."""

    def play(request: bytes) -> bytes:
        key = header(request, b"authorization").decode().removeprefix("Bearer ")
        headers = [(f"X-Echo-{n}", key * 1625) for n in range(95)]
        return response(status, body, [("X-Request-Id", "req-e"), *headers])

    return play


def test_a_2xx_with_huge_headers_echoing_the_key_is_recorded_within_the_bound(hostile_env):
    with HostileServer([[echoing_headers(201, with_id("chg_e"))]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url, "DEBUG": "true"})
    outcome = assert_kept_promises(run, bound())
    assert outcome.startswith(f"{RECORDED} change chg_e"), outcome


def test_a_503_with_huge_headers_echoing_the_key_still_ends_within_the_bound(hostile_env):
    with HostileServer([[echoing_headers(503)]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url, "MAX_RETRIES": "2"})
    outcome = assert_kept_promises(run, bound(retries=2))
    assert "after 3 attempts" in outcome, outcome


def test_an_echo_of_the_key_in_utf16_is_never_shown(hostile_env):
    def play(request: bytes) -> bytes:
        echoed = header(request, b"authorization").decode("ascii").encode("utf-16-le")
        return response(401, b"upstream said: " + echoed)

    with HostileServer([[play]]) as server:
        run = run_pipe({**hostile_env, "ALERT24_BASE_URL": server.url, "DEBUG": "true"})
    assert_kept_promises(run, bound())
    secret = API_KEY.removeprefix("ak_live_")
    assert "\\x00".join(secret[:6]) not in run.output  # as the UTF-16 would be shown
