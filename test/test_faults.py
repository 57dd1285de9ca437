"""The fault table: what the pipe does when Alert24, or the road to it, misbehaves.

One row per fault, run end to end against the local server, each twice: with FAIL_ON_ERROR true
(the default: a failure exits 1) and false (a failure warns and exits 0). The fail-open runs also
turn DEBUG on, so that every fault path is searched for the key with DEBUG both off and on. Every
row asserts the exit code, how many requests Alert24 received, a bound on the time taken and what
the user reads.
The README's "Reliability" table is this table in the users' words.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from alert24_server import (
    Action,
    Alert24Server,
    Handler,
    alert24_error,
    contract,
    drip,
    drop,
    foreign,
    hang,
    huge,
    respond,
)
from conftest import API_KEY, run_pipe


@dataclass
class Fault:
    name: str
    script: Callable[[], list]
    recorded: bool
    requests: int
    says: str
    within: float = 10.0
    waits: tuple[tuple[float, float], ...] | None = None  # bounds of each wait asked for
    env: dict[str, str] = field(default_factory=dict)
    maybe_recorded: bool = False  # Alert24 may have recorded it without saying so


def in_seconds(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


def server_error(status: int) -> Callable[[], list]:
    return lambda: [alert24_error(status, "server_error", "Unexpected error")]


def raw(data: bytes, then: Action | None = None, *, every: float = 0.0) -> Action:
    """Write these bytes to the socket as they are (a byte at a time, forever, with `every`),
    then answer with `then`, if given."""

    def act(handler: Handler) -> None:
        try:
            while True:
                for byte in [data] if not every else [bytes([b]) for b in data]:
                    handler.wfile.write(byte)
                    handler.wfile.flush()
                    if every and handler.owner.stopping.wait(every):
                        return
                if not every or then:
                    break
        except OSError:
            handler.close_connection = True  # the pipe hung up, as it should
            return
        if then:
            then(handler)
        else:
            handler.close_connection = True

    return act


def forever(data: bytes, every: float = 0.2) -> Action:
    return raw(data, every=every)


def endless_continue(handler: Handler) -> None:
    try:
        while not handler.owner.stopping.is_set():
            handler.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    except OSError:
        handler.close_connection = True


def echo_key_escaped(handler: Handler) -> None:
    key = handler.headers["Authorization"].removeprefix("Bearer ")
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    body = f'{{"error": {{"type": "authentication_error", "message": "Bad key {escaped}"}}}}'
    handler.answer(401, body.encode())


FAR_FUTURE = "Mon, 01 Jan 99999 00:00:00 GMT"  # Python's dates end at the year 9999

FAULTS = [
    *(
        Fault(f"{status} then success", server_error(status), True, 2, "Recorded change chg_0001")
        for status in (500, 502, 503, 504)
    ),
    Fault(
        "429 with Retry-After in seconds",
        lambda: [
            alert24_error(429, "rate_limit_error", "Too many requests", **{"Retry-After": "1"})
        ],
        True,
        2,
        "retrying in 1.0 s",
        waits=((1.0, 1.0),),
    ),
    Fault(
        "429 with Retry-After as an HTTP date",
        lambda: [
            alert24_error(429, "rate_limit_error", "Slow down", **{"Retry-After": in_seconds(3)})
        ],
        True,
        2,
        "Recorded change chg_0001",
        waits=((1.0, 3.0),),  # the date is to the second, and made a moment before the run
    ),
    Fault(
        "429 with Retry-After as a date past any calendar",
        lambda: [alert24_error(429, "rate_limit_error", "Later", **{"Retry-After": FAR_FUTURE})],
        True,
        2,
        "Recorded change chg_0001",
        waits=((0.25, 0.5),),  # unreadable: the first retry's own backoff
    ),
    Fault("503 every time", lambda: [server_error(503)()[0]] * 4, False, 4, "after 4 attempts"),
    Fault(
        "a dropped connection, then success",
        lambda: [drop],
        True,
        2,
        "the connection was lost before Alert24 answered",
    ),
    Fault(
        "accepts and never answers",
        lambda: [hang, hang],
        False,
        2,
        "no answer within TIMEOUT (0.5 s) after 2 attempts",
        env={"TIMEOUT": "0.5", "MAX_RETRIES": "1"},
        maybe_recorded=True,
    ),
    Fault(
        "answers, then drips its body a byte at a time",
        lambda: [drip()],
        True,
        1,
        "to production (X-Request-Id: req-drip).",
        within=5.0,
        env={"TIMEOUT": "1", "MAX_RETRIES": "0"},
    ),
    Fault(
        "502 every time (a gateway: the server behind may have recorded it)",
        lambda: [alert24_error(502, "server_error", "Bad gateway")] * 2,
        False,
        2,
        "after 2 attempts",
        env={"MAX_RETRIES": "1"},
        maybe_recorded=True,
    ),
    Fault("a 2xx with an empty body", lambda: [respond(201)], True, 1, "Recorded the change"),
    Fault(
        "a 2xx with a body that is not JSON",
        lambda: [respond(200, "<html>ok</html>")],
        True,
        1,
        "Recorded the change",
    ),
    Fault("a 2xx of several megabytes", lambda: [huge(8)], True, 1, "Recorded the change"),
    Fault(
        "400 validation_error",
        lambda: [alert24_error(400, "validation_error", "service_id is not a valid service")],
        False,
        1,
        "HTTP 400 validation_error: service_id is not a valid service",
    ),
    Fault(
        "401 authentication_error",
        lambda: [alert24_error(401, "authentication_error", "API key expired")],
        False,
        1,
        "Check that ALERT24_API_KEY holds a current key",
    ),
    Fault(
        "403 authorization_error",
        lambda: [
            alert24_error(403, "authorization_error", "API key missing required scope: write")
        ],
        False,
        1,
        "The key needs the 'write' scope",
    ),
    Fault(
        "422, a status Alert24 does not document",
        lambda: [alert24_error(422, "unprocessable", "Cannot process")],
        False,
        1,
        "Alert24 refused the change as sent; quote the X-Request-Id to its support.",
    ),
    Fault(
        "an answer that is not from Alert24",
        lambda: [foreign(501, "<html><body>Unsupported method</body></html>")],
        False,
        1,
        "it may not come from Alert24: check ALERT24_BASE_URL",
    ),
    Fault(
        "sends its status line a byte at a time, forever",
        lambda: [forever(b"HTTP/1.1 201 Created"), forever(b"HTTP/1.1 201 Created")],
        False,
        2,
        "no answer within TIMEOUT (1 s) after 2 attempts",
        within=8.0,
        env={"TIMEOUT": "1", "MAX_RETRIES": "1"},
        maybe_recorded=True,
    ),
    Fault(
        "sends 100 Continue forever",
        lambda: [endless_continue],
        False,
        1,
        "Alert24 sent more than 100 interim (1xx) answers and no final answer",
        within=5.0,
        env={"TIMEOUT": "1", "MAX_RETRIES": "0"},
        maybe_recorded=True,
    ),
    Fault(
        "sends 103 Early Hints before its answer",
        lambda: [raw(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", contract)],
        True,
        1,
        "to production (X-Request-Id: req-1).",
    ),
    Fault(
        "a 2xx status, then its headers a byte at a time, forever",
        lambda: [raw(b"HTTP/1.1 201 Created\r\n", forever(b"X-Pad: y\r\n"))],
        True,
        1,
        "✔ Recorded the change in Alert24: ",
        within=5.0,
        env={"TIMEOUT": "1", "MAX_RETRIES": "0"},
    ),
    Fault(
        "a 2xx with JSON nested too deep to parse",
        lambda: [respond(201, b"[" * 100_000)],
        True,
        1,
        "to production (X-Request-Id: req-1).",
    ),
    Fault("a 2xx whose id is a number", lambda: [respond(201, '{"id": 42}')], True, 1, "change 42"),
    Fault(
        "an error message that tries to forge a line",
        lambda: [alert24_error(400, "validation_error", "bad\n\u2714 Recorded change x\x1b[2J")],
        False,
        1,
        "validation_error: bad\\n\u2714 Recorded change x\\x1b[2J",
    ),
    Fault(
        "an answer that echoes the key, escaped",
        lambda: [echo_key_escaped],
        False,
        1,
        "authentication_error: Bad key ********",
    ),
    Fault(
        "404 not_found",
        lambda: [alert24_error(404, "not_found", "Service not found")],
        False,
        1,
        "HTTP 404 not_found: Service not found",
    ),
]


def mode(fail_on_error: bool) -> dict[str, str]:
    return (
        {"FAIL_ON_ERROR": "true"} if fail_on_error else {"FAIL_ON_ERROR": "false", "DEBUG": "true"}
    )


@pytest.mark.parametrize("fail_on_error", [True, False], ids=["fail", "fail-open-debug"])
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault(fault: Fault, fail_on_error: bool, env, server: Alert24Server):
    server.script(*fault.script())
    run = run_pipe({**env, **mode(fail_on_error), **fault.env})
    assert run.returncode == (0 if fault.recorded or not fail_on_error else 1), run.output
    assert len(server.received) == fault.requests, run.output
    assert run.elapsed < fault.within, run.output
    if fault.waits is not None:
        bounds = zip(run.waits, fault.waits, strict=True)
        assert len(run.waits) == len(fault.waits), run.output
        assert all(low <= wait <= high for wait, (low, high) in bounds), run.waits
    assert fault.says in run.output
    if not fault.recorded and fault.maybe_recorded:
        assert "Alert24 did not confirm the change, which may have been recorded" in run.output
    elif not fault.recorded:
        assert "The change was not recorded in Alert24" in run.output
        assert ("✖" in run.stdout) == fail_on_error
    assert "Traceback" not in run.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refused() -> tuple[str, str]:
    port = free_port()
    return (
        f"http://127.0.0.1:{port}",
        f"could not connect to 127.0.0.1:{port}: the connection was refused",
    )


UNREACHABLE = {
    "connection refused": refused,
    "a name that does not resolve": lambda: (
        "http://alert24.invalid",
        "could not resolve the host name alert24.invalid",
    ),
}


@pytest.mark.parametrize("fail_on_error", [True, False], ids=["fail", "fail-open-debug"])
@pytest.mark.parametrize("where", UNREACHABLE)
def test_unreachable(where: str, fail_on_error: bool, env):
    url, says = UNREACHABLE[where]()
    variables = {"ALERT24_BASE_URL": url, "MAX_RETRIES": "1"}
    run = run_pipe({**env, **variables, **mode(fail_on_error)})
    assert run.returncode == (1 if fail_on_error else 0), run.output
    assert f"{says} after 2 attempts" in run.output, run.output
    assert run.elapsed < 10


@pytest.mark.parametrize("fail_on_error", [True, False], ids=["fail", "fail-open-debug"])
def test_a_redirect_to_another_host_is_not_followed_with_the_key(fail_on_error, env, server):
    with Alert24Server(api_key=API_KEY, host="localhost") as elsewhere:
        location = f"{elsewhere.url}/api/v1/changes"
        server.script(respond(307, headers={"Location": location}))
        run = run_pipe({**env, **mode(fail_on_error)})
        assert elsewhere.received == []
    assert run.returncode == (1 if fail_on_error else 0)
    assert len(server.received) == 1
    assert f"HTTP 307 (X-Request-Id: req-1). It redirects to {location}" in run.output
