"""The Alert24 client: POST one change, retry what is worth retrying, and say why it failed.

A loop of our own rather than urllib3's Retry, to say after every attempt what happened, and cut
the body short once after a 413. Each attempt (`exchange`) is bounded in time as a whole, and
never follows a redirect with the key. All that comes back reaches the log through `Secrets`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

from printable import MASK, Secrets, printable, secrets_for, without_password

log = logging.getLogger("alert24")
# urllib3 logs what it cannot parse of an answer raw, with a traceback ("Failed to parse
# headers"), and its DEBUG lines name proxies: the pipe says what happened in its own words.
logging.getLogger("urllib3").propagate = False

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A gateway's error says nothing of what the server behind it did with the change.
UNKNOWN_OUTCOME_STATUSES = frozenset({502, 504})
TOO_LARGE = 413
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0  # seconds before the first retry, doubled at each one
RETRY_AFTER_CAP = 30.0  # however long Alert24 asks for, a run ends in bounded time
BODY_LIMIT = 64 * 1024  # an answer larger than this is cut: only the id or the error is needed
MESSAGE_LIMIT = 500  # characters of Alert24's error message: one naming fields can be long
INTERIM_LIMIT = 100  # interim (1xx) answers before the final one; more is a server gone wrong
NO_SECRETS = Secrets()
NOT_SENT = "before the request reached Alert24: the change was not recorded"

HINTS = {
    400: "Alert24's message names the field it rejected; check that variable.",
    401: (
        "Check that ALERT24_API_KEY holds a current key (not expired or revoked) with the "
        "'write' scope (https://alert24.net/docs/api-authentication)"
    ),
    403: (
        "The key needs the 'write' scope: create one with it in Alert24 "
        "(https://alert24.net/docs/api-authentication)"
    ),
    404: "Check SERVICE_ID, and that ALERT24_BASE_URL is your Alert24 address.",
    TOO_LARGE: (
        "The change is too large for Alert24: shorten DESCRIPTION, COMMIT_MESSAGE or SUMMARY, "
        "or set LIST_COMMITS: 'false'"
    ),
    429: "Alert24 is limiting requests; the pipe gave up after its retries (see MAX_RETRIES).",
}
CONNECTION = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError)

# NamedTuples rather than dataclasses: each dataclass costs ~0.5 ms of start-up, on every run.


class ChangeRequest(NamedTuple):
    url: str
    api_key: str
    body: dict[str, Any]
    user_agent: str = "alert24-track-deployment"
    secrets: Secrets | None = None  # the run's; else those of the key and the URL alone

    def __repr__(self) -> str:  # never the key, wherever a request ends up printed
        return f"ChangeRequest(url={without_password(self.url)!r}, body={self.body!r})"

    def shown_headers(self) -> dict[str, str]:
        """The headers sent, as DEBUG and a dry run show them: with the key masked."""
        return headers(MASK, self.user_agent, body=True)


def headers(api_key: str, user_agent: str, *, body: bool) -> dict[str, str]:
    """The headers of every request, the same whether sent or shown. `identity`: nothing to
    decompress, so an answer cannot grow past its limit on the way."""
    return {
        "Authorization": f"Bearer {api_key}",
        **({"Content-Type": "application/json"} if body else {}),
        "Accept": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": user_agent,
    }


def changes_url(base_url: str, service_id: str | None = None) -> str:
    """Where Alert24 takes and lists changes: the organisation's, or one service's."""
    if service_id:
        return f"{base_url}/api/v1/services/{quote(service_id, safe='')}/changes"
    return f"{base_url}/api/v1/changes"


class Delivery(NamedTuple):
    """A change Alert24 recorded: its ids already through `Secrets.shown`, and the body recorded
    (the request's, or the one cut short after a 413)."""

    status: int
    change_id: str | None
    request_id: str | None
    attempts: int
    body: dict[str, Any]


class DeliveryFailed(Exception):
    """Alert24 did not confirm the change: `reason` says why and what to do; `maybe_recorded`,
    that an attempt reached Alert24 and no answer said what became of it."""

    def __init__(self, reason: str, *, maybe_recorded: bool):
        super().__init__(reason)
        self.reason, self.maybe_recorded = reason, maybe_recorded


class Stopped(BaseException):
    """The step was stopped (SIGTERM, SIGINT): a BaseException, like KeyboardInterrupt, so that
    no `except Exception` on the way swallows it. `str(stop)` follows "Stopped by SIGTERM " and
    says what became of the change; from `exchange`, `answer` is what had arrived of it."""

    def __init__(self, words: str = NOT_SENT, answer: Answer | None = None):
        super().__init__(words)
        self.answer = answer


class Answer(NamedTuple):
    """One attempt's outcome: a response, or the connection problem that replaced it. Headers
    and text (at most body_limit bytes) as they came: shown only through `Secrets.shown`."""

    status: int | None = None
    headers: Mapping[str, str] = {}
    text: str = ""
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
    smaller: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Delivery:
    """POST the change, retrying connection errors, timeouts, 429 and 5xx up to max_retries;
    after a 413, once more (beyond max_retries) with the body `smaller` makes of it. Raises
    DeliveryFailed, or Stopped in words that say what became of the change."""
    secrets = request.secrets or secrets_for(request.api_key, request.url)
    body, attempts, maybe_recorded, answer, attempt = request.body, max_retries + 1, False, None, 0
    post = partial(exchange, "POST", request.url, api_key=request.api_key, secrets=secrets)
    try:
        if log.isEnabledFor(logging.DEBUG):  # its arguments are masked and escaped: work to skip
            log.debug("POST %s", secrets.shown(without_password(request.url)))
            for name, value in request.shown_headers().items():
                log.debug("  %s: %s", name, value)
            text = json.dumps(request.body, ensure_ascii=False)
            log.debug("  body: %s", secrets.shown(text, limit=BODY_LIMIT))
        while True:
            attempt, answer = attempt + 1, None
            sent = json.dumps(body, ensure_ascii=False).encode("utf-8")
            answer = post(user_agent=request.user_agent, timeout=timeout, payload=sent)
            maybe_recorded = maybe_recorded or answer.outcome_unknown
            if 200 <= (answer.status or 0) < 300:
                found, request_id = change_id(answer.text), answer.request_id
                found = secrets.shown(found) if found is not None else None
                request_id = secrets.shown(request_id) if request_id else None
                return Delivery(answer.status or 0, found, request_id, attempt, body)
            cut = smaller(body) if answer.status == TOO_LARGE and smaller else body
            if body is request.body and cut != body:
                log.warning(
                    "Alert24 refused the change as too large (HTTP 413%s): sending it once more "
                    "with its long text (summary, description, commit message) cut shorter.",
                    with_request_id(answer.request_id, secrets),
                )
                body, attempts = cut, attempts + 1
                continue
            if not answer.retryable or attempt >= attempts:
                tried = f" after {attempt} attempts" if attempt > 1 else ""
                hint = hint_for(answer, secrets).rstrip(".")
                reason = f"{describe(answer, secrets)}{tried}. {hint}."
                raise DeliveryFailed(reason, maybe_recorded=maybe_recorded)
            delay = wait_before_retry(answer, attempt)
            what = describe(answer, secrets)
            log.warning(
                "%s; retrying in %.1f s (attempt %d of %d).", what, delay, attempt + 1, attempts
            )
            sleep(delay)
    except Stopped as stop:
        raise stopped(stop.answer, answer, maybe_recorded, secrets) from None


def with_request_id(request_id: str | None, secrets: Secrets = NO_SECRETS) -> str:
    """The one way an X-Request-Id is quoted after what it identifies."""
    return f" (X-Request-Id: {secrets.shown(request_id)})" if request_id else ""


def stopped(
    during: Answer | None, last: Answer | None, maybe_recorded: bool, secrets: Secrets
) -> Stopped:
    """What a stop means for the change, from what had arrived when it came: `during` the
    attempt it stopped, else the `last` attempt's answer."""
    latest = during or last
    if latest is not None and 200 <= (latest.status or 0) < 300:
        found = change_id(latest.text)
        name = f"change {secrets.shown(found)}" if found else "the change"
        by = with_request_id(latest.request_id, secrets)
        return Stopped(f"after Alert24 answered: it recorded {name}{by}")
    if during is None:
        # between attempts, or within one before its request was under way
        when = "while waiting to retry" if last else "before the request reached Alert24"
    elif during.status is not None:
        when = f"after Alert24 answered HTTP {during.status}"
    elif during.outcome_unknown:
        return Stopped("before Alert24 answered: the change may have been recorded; check Alert24")
    else:
        when = "before the request reached Alert24"
    if during is not None and during.outcome_unknown:  # a gateway's 502 or 504
        return Stopped(
            f"{when}: the change may have been recorded; check Alert24 before re-running"
        )
    if maybe_recorded:
        fate = "an earlier attempt may have recorded the change; check Alert24 before re-running"
        return Stopped(f"{when}: {fate}")
    return Stopped(f"{when}: the change was not recorded")


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
    secrets: Secrets | None = None,
) -> Answer:
    """One attempt, all of it within `timeout` seconds: trouble comes back in the Answer, a stop
    as Stopped with the `answer` so far. requests' timeouts bound each read, not a server that
    drips bytes or 1xx answers, nor a TLS handshake or CONNECT that never ends: an alarm (so, the
    main thread only) ends the attempt wherever it is, and nothing of it sends later. Only a
    stalled host name lookup outlasts it, up to the resolver's own timeout."""
    secrets = secrets or secrets_for(api_key, url)
    sent_headers = headers(api_key, user_agent, body=payload is not None)
    # Prepared without a Session: only Session.prepare_request reads ~/.netrc.
    prepared = requests.Request(method, url, sent_headers, data=payload, params=params).prepare()
    with requests.Session() as session:  # HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE
        settings = session.merge_environment_settings(prepared.url, {}, False, None, None)
    adapter, body, sent, cut_off, problem = AttemptAdapter(), bytearray(), None, None, None
    try:
        try:
            with contextlib.closing(adapter), deadline(timeout):
                # Straight to the adapter: Session.send reads all of a 3xx's body (to follow it).
                sent = adapter.send(prepared, timeout=(timeout, timeout), **settings)
                cut_off = read_body(sent, body, body_limit)
        except TimeUp:
            cut_off = f"TIMEOUT ({timeout:g} s) ran out"
        except requests.RequestException as error:
            proxy = requests.utils.select_proxy(prepared.url, settings["proxies"])
            where = proxy or url
            problem = adapter.unanswered(error, where=where, timeout=timeout, secrets=secrets)
        answer = adapter.answer(sent, body)
        if answer is not None and log.isEnabledFor(logging.DEBUG):
            reason = f", reason phrase: {secrets.shown(adapter.reason)}" if adapter.reason else ""
            request_id = with_request_id(answer.request_id, secrets)
            log.debug("Alert24 answered %s%s%s", answer.status, request_id, reason)
            if cut_off is not None:
                log.debug("  The answer's body was cut off: %s", secrets.shown(cut_off))
            log.debug("  answer: %s", secrets.shown(answer.text, limit=2000))
        return answer or problem or adapter.too_late(timeout)
    except Stopped as stop:  # wherever it came, what had arrived says what became of the change
        raise Stopped(str(stop), adapter.answer(sent, body) or adapter.too_late(timeout)) from None


class TimeUp(BaseException):
    """The attempt's deadline: a BaseException, so that no library's `except` swallows it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def time_up(signum: int, frame: object) -> None:
        raise TimeUp

    previous = signal.signal(signal.SIGALRM, time_up)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))  # 0 would mean no alarm at all
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # first: SIGALRM's default would end the process
        signal.signal(signal.SIGALRM, previous)


def read_body(response: requests.Response, body: bytearray, limit: int) -> str | None:
    """At most `limit` bytes, kept as they arrive (the deadline may end the read); the status
    has arrived, so a body cut short still leaves an answer. What cut it short, if anything."""
    with response:
        try:
            while len(body) < limit and (chunk := response.raw.read1(limit - len(body))):
                body += chunk
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return in_words(innermost(error))
    return None


class AttemptAdapter(HTTPAdapter):
    """requests' adapter, its connections (direct or through a proxy, in its own pools: no
    global patching) saying what happened: connected, interim answers, the final status line."""

    # Set by its connections, during the one attempt each adapter makes:
    connected = False  # through any proxy, TLS done: the request may have been sent
    interim = 0
    status: int | None = None  # the final answer's, as soon as its line is in
    reason = ""

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        pool = super().get_connection_with_tls_context(*args, **kwargs)
        pool.ConnectionCls = ToldHTTPSConnection if pool.scheme == "https" else ToldHTTPConnection
        pool.conn_kw["adapter"] = self
        return pool

    def answer(self, sent: requests.Response | None, body: bytes) -> Answer | None:
        """The answer, once a final status line arrived, with what arrived after it."""
        if self.status is None:
            return None
        headers = sent.headers if sent is not None else {}
        read = {name: utf8(value) for name, value in headers.items()}
        return Answer(
            self.status,
            requests.structures.CaseInsensitiveDict(read),
            bytes(body).decode("utf-8", "replace"),
            retryable=self.status in RETRY_STATUSES,
            outcome_unknown=self.status in UNKNOWN_OUTCOME_STATUSES,
        )

    def too_late(self, timeout: float) -> Answer:
        """No status line within the time: was the request sent, or not?"""
        if self.connected:
            problem = f"no answer within TIMEOUT ({timeout:g} s)"
            return Answer(problem=problem, retryable=True, outcome_unknown=True)
        return Answer(problem=f"could not connect within TIMEOUT ({timeout:g} s)", retryable=True)

    def unanswered(
        self, error: requests.RequestException, *, where: str, timeout: float, secrets: Secrets
    ) -> Answer:
        """No status line: requests' class of the error says at which stage, the innermost
        error why (`where`: the proxy's URL when there is one, else Alert24's)."""
        if self.interim > INTERIM_LIMIT:
            problem = (
                f"Alert24 sent more than {INTERIM_LIMIT} interim (1xx) answers and no final answer"
            )
            return Answer(problem=problem, retryable=True, outcome_unknown=True)
        if isinstance(error, requests.exceptions.Timeout):
            return self.too_late(timeout)
        cause = innermost(error)
        if self.connected:
            why = secrets.shown(in_words(cause))
            problem = f"the connection was lost before Alert24 answered ({why})"
            return Answer(problem=problem, retryable=True, outcome_unknown=True)
        why = secrets.shown(not_connected(cause, where))
        if isinstance(error, requests.exceptions.ProxyError):
            return Answer(problem=f"the proxy failed ({why})", retryable=True)
        if isinstance(error, requests.exceptions.SSLError):
            return Answer(problem=why)  # a certificate does not change by trying again
        return Answer(problem=why, retryable=isinstance(error, requests.ConnectionError))


def innermost(error: BaseException) -> BaseException:
    """The error every other one wraps: requests wraps urllib3, which wraps OSError or ssl's."""
    for _ in range(20):  # the chain is a few links long; no loop can hold it here
        if (inner := error.__cause__ or error.__context__) is None:
            break
        error = inner
    return error


def not_connected(cause: BaseException, where: str) -> str:
    """Why a connection to `where` (a URL) could not be made, in words."""
    parts = urlsplit(where if "://" in where else f"http://{where}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = "?"
    host = parts.hostname or where
    if isinstance(cause, socket.gaierror):
        return f"could not resolve the host name {host}"
    at = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {at} was not trusted ({cause.verify_message})"
    if isinstance(cause, ssl.SSLError):
        return f"the TLS handshake with {at} failed ({cause.reason or cause})"
    return f"could not connect to {at}: {in_words(cause)}"


def in_words(cause: BaseException) -> str:
    if type(cause) in CONNECTION:  # ConnectionRefusedError: "the connection was refused"
        return f"the connection was {type(cause).__name__[10:-5].lower()}"
    if isinstance(cause, OSError) and cause.strerror:  # "No route to host", "Network is ..."
        return cause.strerror[0].lower() + cause.strerror[1:]
    return without_password(str(cause)) or "no reason given"


class ToldConnection:
    """A urllib3 connection that tells its adapter that it is connected, and reads past
    interim answers to the final one (FinalAnswer)."""

    def __init__(self, *args: Any, adapter: AttemptAdapter, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.adapter = adapter
        self.response_class = partial(FinalAnswer, adapter=adapter)

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.adapter.connected = True


ToldHTTPConnection = type("ToldHTTPConnection", (ToldConnection, HTTPConnection), {})
ToldHTTPSConnection = type("ToldHTTPSConnection", (ToldConnection, HTTPSConnection), {})


class FinalAnswer(http.client.HTTPResponse):
    """http.client's response, reading past interim (1xx) answers to the final one: http.client
    skips `100 Continue` only, without limit, and takes a 103 or a 102 for the answer. It tells
    the adapter the final status as soon as its line is in."""

    def __init__(self, sock: socket.socket, *args: Any, adapter: AttemptAdapter, **kwargs: Any):
        super().__init__(sock, *args, **kwargs)
        self.adapter = adapter

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            # A proxy's answer to CONNECT comes before `connected`: it says nothing of the change.
            if not 100 <= status < 200 or not self.adapter.connected:
                break
            self.adapter.interim += 1
            if self.adapter.interim > INTERIM_LIMIT:
                raise http.client.HTTPException(f"more than {INTERIM_LIMIT} interim answers")
            http.client.parse_headers(self.fp)  # the interim answer's own headers
        if self.adapter.connected:
            self.adapter.status, self.adapter.reason = status, utf8(reason.strip())
        return version, status, reason


def utf8(value: str) -> str:
    """A header as sent: http.client reads headers as Latin-1, which makes a `✔` of UTF-8 three
    characters of mojibake."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


# What the answer means ----------------------------------------------------------------------------


def wait_before_retry(answer: Answer, attempt: int, rng: random.Random | None = None) -> float:
    asked = retry_after(answer.headers.get("Retry-After"))
    if asked is not None:
        return asked
    return backoff(attempt, rng or random.Random())  # noqa: S311 (jitter, not secrecy)


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential, with jitter so that many pipelines retrying at once spread out."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait, from a Retry-After header in seconds or as an HTTP date, at most
    RETRY_AFTER_CAP; None when there is none, or it cannot be read."""
    try:
        return float(RETRY_AFTER.parse_retry_after(value or ""))
    except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):  # a date past 9999
        return None


RETRY_AFTER = urllib3.util.Retry(retry_after_max=RETRY_AFTER_CAP)  # only its parser is used


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


def describe(answer: Answer, secrets: Secrets = NO_SECRETS) -> str:
    if answer.status is None:
        return str(answer.problem)
    error = alert24_error(answer.text, secrets.shown)
    what = f"Alert24 answered HTTP {answer.status}" + (f" {error}" if error else "")
    return f"{what}{with_request_id(answer.request_id, secrets)}"


def alert24_error(body: str, shown: Callable[..., str] = printable) -> str | None:
    """`type: message` from Alert24's error shape, else the start of whatever came back; each
    piece printable."""
    error = error_shape(body)
    if error:
        parts = (
            shown(error[key], limit=MESSAGE_LIMIT) for key in ("type", "message") if error.get(key)
        )
        return ": ".join(parts) or None
    text = " ".join(body[:200].split())
    return f"'{shown(text)}'" if text else None


def error_shape(body: str) -> dict | None:
    document = parse_json(body)
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def hint_for(answer: Answer, secrets: Secrets = NO_SECRETS) -> str:
    status, problem = answer.status or 0, str(answer.problem)
    if answer.status is None and problem.startswith("the TLS"):
        return (
            "If a proxy or a private certificate authority sits in between, pass its CA file as "
            "REQUESTS_CA_BUNDLE in the pipe's variables"
        )
    if answer.status is None:
        if problem.startswith("the proxy"):
            return "Check HTTPS_PROXY and NO_PROXY in the pipe's variables"
        return "Check ALERT24_BASE_URL and the runner's network (HTTPS_PROXY, NO_PROXY)"
    if 300 <= status < 400:
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
    if status >= 500:
        return "Alert24 had a problem; try again later, and quote the X-Request-Id to support"
    return HINTS.get(
        status, "Alert24 refused the change as sent; quote the X-Request-Id to its support"
    )


def parse_json(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        return None
