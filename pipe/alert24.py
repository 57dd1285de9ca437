"""The Alert24 client: POST one change, retry what is worth retrying, and say why it failed.

An explicit loop rather than urllib3's Retry: it has to honour Retry-After as seconds or as a date
with a cap, send the same bytes every time, never follow a redirect with the key, and tell the user
after every attempt what happened. That reads more plainly as a loop than as Retry's options.

Each attempt is one `exchange`, bounded as a whole by TIMEOUT (its docstring says how, and why
so). All that comes back is foreign text: it reaches the log only through `Secrets.shown`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import random
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

from printable import Secrets, printable, without_password

log = logging.getLogger("alert24")
# urllib3 logs what it cannot parse of an answer raw, with a traceback ("Failed to parse
# headers"), and its DEBUG lines name proxies: the pipe says what happened in its own words.
logging.getLogger("urllib3").propagate = False

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds before the first retry; doubled at each one, with jitter
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 30.0  # however long Alert24 asks for, a run ends in bounded time
BODY_LIMIT = 64 * 1024  # an answer larger than this is cut: only the id or the error is needed
MESSAGE_LIMIT = 500  # characters of Alert24's error message: one naming fields can be long
INTERIM_LIMIT = 100  # interim (1xx) answers before the final one; more is a server gone wrong
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
NO_SECRETS = Secrets()

HINTS = {
    400: "Alert24 names the field it rejected above; check that variable.",
    401: (
        "Check that ALERT24_API_KEY holds a current key (not expired or revoked) with the "
        "'write' scope (https://alert24.net/docs/api-authentication)"
    ),
    403: (
        "The key needs the 'write' scope: create one with it in Alert24 "
        "(https://alert24.net/docs/api-authentication)"
    ),
    404: "Check SERVICE_ID, and that ALERT24_BASE_URL is your Alert24 address.",
    429: "Alert24 is limiting requests; the pipe gave up after its retries (see MAX_RETRIES).",
}
# A gateway's error says nothing of what the server behind it did with the change.
UNKNOWN_OUTCOME_STATUSES = frozenset({502, 504})


# NamedTuples rather than dataclasses: each dataclass costs ~0.5 ms of start-up, on every run.


class ChangeRequest(NamedTuple):
    url: str
    api_key: str
    body: dict[str, Any]
    user_agent: str = "alert24-track-deployment"

    def __repr__(self) -> str:  # never the key, wherever a request ends up printed
        return f"ChangeRequest(url={without_password(self.url)!r}, body={self.body!r})"

    def headers(self, *, redacted: bool = False) -> dict[str, str]:
        key = "********" if redacted else self.api_key
        return {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }

    def payload(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class Delivery(NamedTuple):
    """A change Alert24 recorded. change_id and request_id are foreign text already made safe
    to print (through `Secrets.shown`); print them as they are."""

    status: int
    change_id: str | None
    request_id: str | None
    attempts: int


class DeliveryFailed(Exception):
    """Alert24 did not confirm the change; the reason says why and what to do."""

    def __init__(self, reason: str, *, maybe_recorded: bool):
        super().__init__(reason)
        self.reason = reason
        # True when an attempt reached Alert24 and no answer said what became of it.
        self.maybe_recorded = maybe_recorded


class Stopped(BaseException):
    """The step was stopped (SIGTERM) while the pipe was at work.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way (logging's
    own among them) swallows it. `str(stop)` says when, and what became of the change, in words
    that follow "Stopped by SIGTERM ". From `deliver`: `recorded` is True, with the `delivery`,
    once any 2xx status line has arrived, whatever came after it; `maybe_recorded` when a request
    may have reached Alert24 and no answer said what became of it. From `exchange`: `answer` is
    what had arrived of the attempt when it was stopped (the status, once its line is in)."""

    def __init__(
        self,
        fate: str = "before the change was recorded",
        *,
        recorded: bool = False,
        maybe_recorded: bool = False,
        delivery: Delivery | None = None,
        answer: Answer | None = None,
    ):
        super().__init__(fate)
        self.recorded = recorded
        self.maybe_recorded = maybe_recorded
        self.delivery = delivery
        self.answer = answer


class Answer(NamedTuple):
    """One attempt's outcome: a response, or the connection problem that replaced it."""

    status: int | None = None
    # Scrubbed of secrets, not yet printable: print a value through printable().
    headers: Mapping[str, str] = {}
    text: str = ""  # the answer's body, scrubbed of secrets, at most body_limit bytes of it
    problem: str | None = None  # safe to print as it is
    retryable: bool = False
    outcome_unknown: bool = False  # the request may have reached Alert24 and been recorded

    @property
    def request_id(self) -> str | None:
        return self.headers.get("X-Request-Id")


def deliver(
    request: ChangeRequest,
    *,
    timeout: float,
    max_retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST the change, retrying connection errors, timeouts, 429 and 5xx up to max_retries.

    Raises DeliveryFailed when Alert24 did not confirm the change. Raises Stopped when the step
    is stopped on the way, saying what became of the change: once a 2xx status has arrived that
    is `recorded=True` with the `delivery` (never a Delivery returned: the run is ending)."""
    secrets = secrets_for(request.api_key, request.url)
    payload = request.payload()
    attempts = max_retries + 1
    if log.isEnabledFor(logging.DEBUG):  # its arguments are masked and escaped: work to skip
        log.debug("POST %s", secrets.shown(without_password(request.url)))
        for name, value in request.headers(redacted=True).items():
            log.debug("  %s: %s", name, value)
        log.debug("  body: %s", secrets.shown(payload.decode("utf-8"), limit=BODY_LIMIT))
    maybe_recorded, answer, attempt = False, None, 0
    try:
        for attempt in range(1, attempts + 1):
            answer = None
            answer = exchange(
                "POST",
                request.url,
                api_key=request.api_key,
                user_agent=request.user_agent,
                timeout=timeout,
                payload=payload,
            )
            maybe_recorded = maybe_recorded or answer.outcome_unknown
            if is_success(answer.status):
                return delivered(answer, attempt, secrets)
            if not answer.retryable or attempt == attempts:
                raise failure(answer, attempt, maybe_recorded, secrets)
            delay = wait_before_retry(answer, attempt)
            log.warning(
                "%s; retrying in %.1f s (attempt %d of %d).",
                describe(answer, secrets),
                delay,
                attempt + 1,
                attempts,
            )
            sleep(delay)
    except Stopped as stop:
        raise stopped(stop, answer, attempt, maybe_recorded, secrets) from None
    raise AssertionError("unreachable: the loop returns or raises")


def is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def delivered(answer: Answer, attempt: int, secrets: Secrets) -> Delivery:
    found = change_id(answer.text)
    request_id = answer.request_id
    return Delivery(
        answer.status or 0,
        secrets.shown(found) if found is not None else None,
        secrets.shown(request_id) if request_id else None,
        attempt,
    )


def stopped(
    stop: Stopped, answer: Answer | None, attempt: int, maybe_recorded: bool, secrets: Secrets
) -> Stopped:
    """What a stop means for the change, from what had arrived when it came."""
    during = stop.answer  # set when the stop came within an attempt
    latest = during or answer
    if latest is not None and is_success(latest.status):
        delivery = delivered(latest, attempt, secrets)
        name = f"change {delivery.change_id}" if delivery.change_id else "the change"
        request_id = f" (X-Request-Id: {delivery.request_id})" if delivery.request_id else ""
        words = f"after Alert24 answered: it recorded {name}{request_id}"
        return Stopped(words, recorded=True, delivery=delivery)
    if during is None and answer is not None:
        waiting = f"while waiting to retry: {fate(maybe_recorded)}"
        return Stopped(waiting, maybe_recorded=maybe_recorded)
    if during is None:
        return stop
    maybe_recorded = maybe_recorded or during.outcome_unknown
    if during.status is not None:
        when = f"after Alert24 answered HTTP {during.status}"
    elif during.outcome_unknown:
        when = "before Alert24 answered"
    else:
        when = "before the request reached Alert24"
    if during.outcome_unknown and during.status is None:
        what = "the change may have been recorded; check Alert24"
    else:
        what = fate(maybe_recorded)
    return Stopped(f"{when}: {what}", maybe_recorded=maybe_recorded)


def fate(maybe_recorded: bool) -> str:
    if maybe_recorded:
        return "an earlier attempt may have recorded the change; check Alert24 before re-running"
    return "the change was not recorded"


def secrets_for(api_key: str, url: str) -> Secrets:
    """The key (and its part after `ak_live_`) and the passwords a run holds: in the URL and in
    the proxy variables, which requests reads from the environment for itself."""
    urls = [url]
    for name in PROXY_VARIABLES:
        urls += [os.environ.get(name) or "", os.environ.get(name.lower()) or ""]
    passwords = [password for each in urls if each for password in passwords_in(each)]
    return Secrets.of(api_key, api_key.rsplit("_", 1)[-1], *encoded(api_key), *passwords)


def encoded(secret: str) -> list[str]:
    """The forms of an echoed secret that no decoding in Secrets undoes: hex, and base64 at each
    of its three alignments (the secret may sit anywhere in what was encoded), plain and
    URL-safe. Each is hidden like the secret itself, wherever 12 of its characters show."""
    if len(secret) < 12:
        return []
    data = secret.encode("utf-8", "replace")
    forms = [data.hex(), data.hex().upper()]
    for shift in (b"", b"\0", b"\0\0"):
        middle = base64.b64encode(shift + data).decode("ascii")[4:-4]
        forms += [middle, middle.replace("+", "-").replace("/", "_")]
    return forms


def passwords_in(url: str) -> tuple[str, ...]:
    """A URL's password as written and decoded, and the Basic credentials requests makes of it
    for a proxy (which a proxy could echo back)."""
    try:  # a proxy may be given without its scheme, as requests allows
        parts = urlsplit(url if "://" in url else f"http://{url}")
        user, password = parts.username, parts.password
    except ValueError:
        return ()
    if not password:
        return ()
    basic = f"{unquote(user or '')}:{unquote(password)}".encode("latin-1", "replace")
    return password, unquote(password), base64.b64encode(basic).decode("ascii")


# One attempt ------------------------------------------------------------------------------------


def exchange(  # noqa: PLR0913 (the shape agreed with the lookup of earlier changes)
    method: str,
    url: str,
    *,
    api_key: str,
    user_agent: str,
    timeout: float,
    payload: bytes | None = None,
    params: Mapping[str, str] | None = None,
    body_limit: int = BODY_LIMIT,
) -> Answer:
    """One attempt, all of it within `timeout` seconds; network trouble comes back in the Answer
    (problem/retryable/outcome_unknown), never as an exception; Stopped propagates, with
    `answer` set to what had arrived (see Stopped).

    Why a worker thread: socket timeouts apply to each read, so a server that sends a byte every
    few seconds, or `100 Continue` forever, would hold a request for ever under them. The
    attempt runs in a daemon thread that the main thread waits for until the deadline; then it
    takes whatever has arrived (a status line is an answer even when its headers or body are still
    dripping) and abandons the rest: the attempt's sockets are shut down, which ends any read in
    progress, and an attempt that had not connected yet can no longer send. Measured against
    SIGALRM (a timer in the main thread): an alarm does interrupt reads and TLS handshakes, but
    getaddrinfo finishes its own resolver timeout first (3 s of 3 with a silent DNS server, for an
    alarm at 0.5 s), while the waiting thread returned at 0.50 s; and the main thread's wait
    still lets the SIGTERM handler raise Stopped at once (lock waits are interrupted by signals).
    """
    secrets = secrets_for(api_key, url)
    attempt = Attempt(body_limit)
    # identity: nothing to decompress, so an answer cannot grow past body_limit on the way
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    headers["User-Agent"] = user_agent
    if payload is not None:
        headers["Content-Type"] = "application/json"
    # The key through an auth object: given none, requests would put ~/.netrc's credentials for
    # the host in place of the Authorization header.
    request = requests.Request(method, url, headers, data=payload, params=params)
    request.auth = BearerAuth(api_key)
    worker = threading.Thread(
        target=attempt.make, args=(request, timeout), name="attempt", daemon=True
    )
    try:
        worker.start()
        attempt.finished.wait(timeout)
        answer = attempt.outcome(secrets, timeout)
    except Stopped as stop:
        raise Stopped(str(stop), answer=attempt.outcome(secrets, timeout)) from None
    finally:
        attempt.abandon()
    show(answer, attempt, secrets)
    return answer


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, api_key: str):
        self.api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.api_key}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(********)"


def show(answer: Answer, attempt: Attempt, secrets: Secrets) -> None:
    # Without DEBUG this would still mask the whole answer again (already masked once) for nothing.
    if answer.status is None or not log.isEnabledFor(logging.DEBUG):
        return
    log.debug(
        "Alert24 answered %s (X-Request-Id: %s)%s",
        answer.status,
        secrets.shown(answer.request_id) if answer.request_id else None,
        f", reason phrase: {secrets.shown(attempt.reason)}" if attempt.reason else "",
    )
    if attempt.cut_off is not None:
        log.debug("  The answer's body was cut off: %s", secrets.shown(cause(attempt.cut_off)))
    log.debug("  answer: %s", secrets.shown(answer.text, limit=2000))


class Attempt:
    """One attempt in flight: the worker thread that makes it writes here; the main thread,
    which waits for it, reads what has arrived and may abandon it."""

    def __init__(self, body_limit: int):
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.body_limit = body_limit
        self.abandoned = False
        self.connected = False  # connected (through any proxy, TLS done): the request may be sent
        self.status: int | None = None  # the final answer's, from the moment its line arrived
        self.reason = ""
        self.headers: Mapping[str, str] = {}
        self.body = bytearray()
        self.error: Exception | None = None  # what ended the attempt before an answer
        self.cut_off: Exception | None = None  # what ended the body early
        self.sockets: list[socket.socket] = []  # duplicates, to shut down from the main thread

    def make(self, request: requests.Request, timeout: float) -> None:
        """The worker's whole job: any error is kept for the main thread, never raised here.

        Straight to the adapter, past Session.send: that reads the whole body of a 3xx even with
        allow_redirects=False (to prepare the next request), with no limit. So no redirect is
        followed, and the key goes to ALERT24_BASE_URL and nowhere else."""
        # Signals for the main thread alone: the kernel may hand a process's SIGTERM to any
        # thread that does not block it, and one taken here would wake no one until the deadline.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        adapter = AttemptAdapter(self)
        try:
            with requests.Session() as session:
                prepared = session.prepare_request(request)
                # HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, as Session.request reads them
                settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
            # `timeout` per read as well: a worker outliving its attempt still ends on its own
            with adapter.send(prepared, timeout=timeout, **settings) as response:
                with self.lock:
                    self.headers = response.headers
                self.read_body(response)
        except Exception as error:  # the main thread turns it into an Answer
            self.error = error
        finally:
            adapter.close()
            self.finished.set()

    def read_body(self, response: requests.Response) -> None:
        """At most body_limit bytes; the status has arrived, so a body cut short still leaves
        an answer."""
        try:
            while len(self.body) < self.body_limit and not self.abandoned:
                chunk = response.raw.read1(self.body_limit - len(self.body), decode_content=True)
                if not chunk:
                    break
                with self.lock:
                    self.body += chunk[: self.body_limit - len(self.body)]
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self.cut_off = error

    def arrived(self, status: int, reason: str) -> None:
        with self.lock:
            self.status, self.reason = status, utf8(reason.strip())

    def opened(self, sock: socket.socket) -> None:
        """Keep a duplicate of a new connection's socket, so that `abandon` can shut it down
        without racing the worker for its file descriptor; refuse it once abandoned."""
        with self.lock:
            if not self.abandoned:
                self.sockets.append(sock.dup())
                return
        sock.close()
        raise ConnectionAbortedError("the attempt's time was up")

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the other end
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read in progress, TLS or not
            sock.close()

    def outcome(self, secrets: Secrets, timeout: float) -> Answer:
        """What the attempt amounts to now: the answer so far once a final status line is in,
        else why there is none."""
        with self.lock:
            status, headers, body = self.status, self.headers, bytes(self.body)
            error, connected = self.error, self.connected
        if status is not None:
            masked = {name: secrets.masked(utf8(value)) for name, value in headers.items()}
            return Answer(
                status,
                requests.structures.CaseInsensitiveDict(masked),
                secrets.masked(body.decode("utf-8", "replace")),
                retryable=status in RETRY_STATUSES,
                outcome_unknown=status in UNKNOWN_OUTCOME_STATUSES,
            )
        if error is not None:
            return unanswered(error, timeout, secrets, connected)
        if connected:
            problem = f"no answer within TIMEOUT ({timeout:g} s)"
            return Answer(problem=problem, retryable=True, outcome_unknown=True)
        return Answer(problem=f"could not connect within TIMEOUT ({timeout:g} s)", retryable=True)


def utf8(value: str) -> str:
    """A header as sent: http.client reads headers as Latin-1, which makes a `✔` of UTF-8 three
    characters of mojibake."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


class TooManyInterimAnswers(http.client.HTTPException):
    pass


class FinalAnswer(http.client.HTTPResponse):
    """http.client's response, reading past interim (1xx) answers to the final one: http.client
    skips `100 Continue` only, without limit, and takes a 103 or a 102 for the answer. It also
    tells the attempt the final status as soon as its line is in."""

    def __init__(self, sock: socket.socket, *args: Any, attempt: Attempt, **kwargs: Any):
        super().__init__(sock, *args, **kwargs)
        self.attempt = attempt
        self.final = False

    def begin(self) -> None:
        # _read_status also reads a proxy's answer to CONNECT, which says nothing of the change.
        self.final = True
        super().begin()

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(INTERIM_LIMIT + 1):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200:
                if self.final:
                    self.attempt.arrived(status, reason)
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's own headers
        raise TooManyInterimAnswers(f"more than {INTERIM_LIMIT} interim (1xx) answers")


class TrackedConnection:
    """A urllib3 connection that reports to its attempt: its socket as soon as it is open, that
    it is ready to send, and the final status through FinalAnswer."""

    def __init__(self, *args: Any, attempt: Attempt, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.attempt = attempt
        self.response_class = partial(FinalAnswer, attempt=attempt)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        self.attempt.opened(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.attempt.connected = True


class TrackedHTTPConnection(TrackedConnection, HTTPConnection):
    pass


class TrackedHTTPSConnection(TrackedConnection, HTTPSConnection):
    pass


class AttemptAdapter(HTTPAdapter):
    """requests' adapter, with this attempt's connections in its pools (its own pools: no
    global patching), the same for a direct connection and one through a proxy."""

    def __init__(self, attempt: Attempt):
        self.attempt = attempt
        super().__init__()

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        pool = super().get_connection_with_tls_context(*args, **kwargs)
        https = pool.scheme == "https"
        pool.ConnectionCls = TrackedHTTPSConnection if https else TrackedHTTPConnection
        pool.conn_kw["attempt"] = self.attempt
        return pool


def unanswered(
    error: Exception, timeout: float, secrets: Secrets, connected: bool = True
) -> Answer:
    """What a request that got no answer means: refused before it was sent, or lost after."""
    reason = secrets.shown(without_password(cause(error)))
    if any(isinstance(e, TooManyInterimAnswers) for e in reasons(error)):
        problem = f"Alert24 sent {reason} and no final answer"
        return Answer(problem=problem, retryable=True, outcome_unknown=True)
    if isinstance(error, requests.exceptions.SSLError):
        return Answer(problem=f"TLS verification failed ({reason})")
    if isinstance(error, requests.exceptions.ProxyError):
        return Answer(problem=f"the proxy failed ({reason})", retryable=True)
    # urllib3 calls a TLS handshake that timed out a read timeout: `connected` knows better.
    if isinstance(error, requests.exceptions.ConnectTimeout) or (
        isinstance(error, requests.exceptions.Timeout) and not connected
    ):
        return Answer(problem=f"could not connect within TIMEOUT ({timeout:g} s)", retryable=True)
    if isinstance(error, requests.exceptions.Timeout):
        problem = f"no answer within TIMEOUT ({timeout:g} s)"
        return Answer(problem=problem, retryable=True, outcome_unknown=True)
    if isinstance(error, requests.exceptions.ConnectionError):
        if never_connected(error) or not connected:
            return Answer(problem=f"could not connect ({reason})", retryable=True)
        problem = f"the connection was lost before Alert24 answered ({reason})"
        return Answer(problem=problem, retryable=True, outcome_unknown=True)
    return Answer(problem=f"the request failed ({reason})")


def never_connected(error: BaseException) -> bool:
    """Whether urllib3 failed to open the connection at all (refused, no such host, ...)."""
    return any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in reasons(error))


def reasons(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps, and so on: requests wraps urllib3, which wraps OSError."""
    reason: BaseException | None = error
    while reason is not None:
        yield reason
        nested = [getattr(reason, "reason", None), *reason.args]
        reason = next((e for e in nested if isinstance(e, BaseException) and e is not reason), None)


def wait_before_retry(answer: Answer, attempt: int, rng: random.Random | None = None) -> float:
    asked = retry_after(answer.headers.get("Retry-After"))
    if asked is not None:
        return min(asked, RETRY_AFTER_CAP)
    return backoff(attempt, rng or random.Random())  # noqa: S311 (jitter, not secrecy)


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential, with jitter so that many pipelines retrying at once spread out."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a Retry-After header in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # '²' is a digit to Python, not to HTTP
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def change_id(body: str) -> str | None:
    """The new change's id, where the answer has one: `{"data": {"id"}}` or `{"id"}`; an id that
    is not text (a number, a list) as its JSON."""
    document = parse_json(body)
    if not isinstance(document, dict):
        return None
    data = document.get("data")
    found = data.get("id") if isinstance(data, dict) else document.get("id")
    if found in (None, ""):
        return None
    return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)


def failure(
    answer: Answer, attempts: int, maybe_recorded: bool, secrets: Secrets = NO_SECRETS
) -> DeliveryFailed:
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    reason = f"{describe(answer, secrets)}{tried}"
    hint = hint_for(answer, secrets)
    if hint:
        reason = f"{reason}. {hint.rstrip('.')}."
    return DeliveryFailed(reason, maybe_recorded=maybe_recorded)


def describe(answer: Answer, secrets: Secrets = NO_SECRETS) -> str:
    if answer.status is None:
        return str(answer.problem)
    error = alert24_error(answer.text, secrets.shown)
    what = f"Alert24 answered HTTP {answer.status}"
    if error:
        what = f"{what} {error}"
    if answer.request_id:
        what = f"{what} (X-Request-Id: {secrets.shown(answer.request_id)})"
    return what


def alert24_error(body: str, shown: Callable[..., str] = printable) -> str | None:
    """`type: message` from Alert24's error shape, else the start of whatever came back; each
    piece printable."""
    error = error_shape(body)
    if error:
        parts = (
            shown(error.get(key), limit=MESSAGE_LIMIT)
            for key in ("type", "message")
            if error.get(key)
        )
        return ": ".join(parts) or None
    text = " ".join(body[:200].split())
    return f"'{shown(text)}'" if text else None


def error_shape(body: str) -> dict | None:
    document = parse_json(body)
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def hint_for(answer: Answer, secrets: Secrets = NO_SECRETS) -> str | None:
    if answer.status is None:
        return hint_for_problem(str(answer.problem))
    if 300 <= answer.status < 400:
        location = answer.headers.get("Location")
        where = secrets.shown(without_password(location)) if location else "elsewhere"
        return (
            f"It redirects to {where}; the pipe does not follow redirects, so that the key goes "
            "nowhere but ALERT24_BASE_URL. Set ALERT24_BASE_URL to Alert24's own address"
        )
    if not answer.request_id and not error_shape(answer.text):
        return (
            "The answer has neither an X-Request-Id nor Alert24's error shape, so it may not "
            "come from Alert24: check ALERT24_BASE_URL, and any proxy in between"
        )
    if answer.status >= 500:
        return "Alert24 had a problem; try again later, and quote the X-Request-Id to support"
    return HINTS.get(
        answer.status, "Alert24 refused the change as sent; quote the X-Request-Id to its support"
    )


def hint_for_problem(problem: str) -> str:
    if problem.startswith("TLS"):
        return (
            "If a proxy or a private certificate authority sits in between, pass its CA file as "
            "REQUESTS_CA_BUNDLE in the pipe's variables"
        )
    if problem.startswith("the proxy"):
        return "Check HTTPS_PROXY and NO_PROXY in the pipe's variables"
    return "Check ALERT24_BASE_URL and the runner's network (HTTPS_PROXY, NO_PROXY)"


def parse_json(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        return None


def cause(error: Exception) -> str:
    """The innermost reason of a requests error, without urllib3's wrappers and object reprs."""
    *_, innermost = reasons(error)
    text = re.sub(r"<[^>]*>: ", "", str(innermost))
    return text or type(innermost).__name__
