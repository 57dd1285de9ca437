"""The Alert24 client: POST one change, retry what is worth retrying, and say why it failed.

An explicit loop rather than urllib3's Retry: it has to honour Retry-After as seconds or as a date
with a cap, send the same bytes every time, never follow a redirect with the key, and tell the user
after every attempt what happened. That reads more plainly as a loop than as Retry's options.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

log = logging.getLogger("alert24")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds before the first retry; doubled at each one, with jitter
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 30.0  # however long Alert24 asks for, a run ends in bounded time
BODY_LIMIT = 64 * 1024  # an answer larger than this is cut: only the id or the error is needed

HINTS = {
    400: "Alert24 names the field it rejected above; check that variable.",
    401: "Check that ALERT24_API_KEY holds a current key (not expired or revoked).",
    403: "The key needs the 'write' scope: create one with it in Alert24.",
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
        return f"ChangeRequest(url={self.url!r}, body={self.body!r})"

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

    def scrub(self, text: str) -> str:
        """Text from the other end with the key, and its part after `ak_live_`, blotted out:
        a proxy or a debugging endpoint may echo the request back, headers and all."""
        secrets = {self.api_key, self.api_key.rsplit("_", 1)[-1]} if self.api_key else set()
        for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
            text = text.replace(secret, "********")
        return text


class Delivery(NamedTuple):
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
    """The step was stopped (SIGTERM) before Alert24 confirmed the change.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way (logging's
    own among them) swallows it."""


class Answer(NamedTuple):
    """One attempt's outcome: a response, or the connection problem that replaced it."""

    status: int | None = None
    headers: Mapping[str, str] = {}
    text: str = ""  # the answer's body, scrubbed of the key
    problem: str | None = None
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
    """POST the change, retrying connection errors, timeouts, 429 and 5xx up to max_retries."""
    payload = request.payload()
    attempts = max_retries + 1
    log.debug("POST %s", request.url)
    for name, value in request.headers(redacted=True).items():
        log.debug("  %s: %s", name, value)
    log.debug("  body: %s", payload.decode("utf-8"))
    maybe_recorded = False
    with requests.Session() as session:
        for attempt in range(1, attempts + 1):
            answer = send(session, request, payload, timeout)
            maybe_recorded = maybe_recorded or answer.outcome_unknown
            if answer.status is not None and 200 <= answer.status < 300:
                return Delivery(answer.status, change_id(answer.text), answer.request_id, attempt)
            if not answer.retryable or attempt == attempts:
                raise failure(answer, attempt, maybe_recorded)
            delay = wait_before_retry(answer, attempt)
            try:
                log.warning(
                    "%s; retrying in %.1f s (attempt %d of %d).",
                    describe(answer),
                    delay,
                    attempt + 1,
                    attempts,
                )
                sleep(delay)
            except Stopped:
                raise Stopped(f"while waiting to retry: {fate(maybe_recorded)}") from None
    raise AssertionError("unreachable: the loop returns or raises")


def fate(maybe_recorded: bool) -> str:
    if maybe_recorded:
        return "an earlier attempt may have recorded the change; check Alert24 before re-running"
    return "the change was not recorded"


def send(
    session: requests.Session, request: ChangeRequest, payload: bytes, timeout: float
) -> Answer:
    try:
        response = session.post(
            request.url,
            data=payload,
            headers=request.headers(),
            timeout=timeout,
            allow_redirects=False,  # the key goes to ALERT24_BASE_URL and nowhere else
            stream=True,
        )
        with response:
            body = read_limited(response, deadline=time.monotonic() + timeout)
    except Stopped:
        raise Stopped(
            "before Alert24 answered: the change may have been recorded; check Alert24"
        ) from None
    except requests.exceptions.RequestException as error:
        return unanswered(error, timeout)
    headers = CaseInsensitiveDict({k: request.scrub(v) for k, v in response.headers.items()})
    text = request.scrub(body.decode("utf-8", "replace"))
    log.debug(
        "Alert24 answered %s (X-Request-Id: %s)", response.status_code, headers.get("X-Request-Id")
    )
    log.debug("  answer: %s", text[:2000])
    status = response.status_code
    return Answer(
        status,
        headers,
        text,
        retryable=status in RETRY_STATUSES,
        outcome_unknown=status in UNKNOWN_OUTCOME_STATUSES,
    )


def unanswered(error: requests.exceptions.RequestException, timeout: float) -> Answer:
    """What a request that got no answer means: refused before it was sent, or lost after."""
    reason = cause(error)
    if isinstance(error, requests.exceptions.SSLError):
        return Answer(problem=f"TLS verification failed ({reason})")
    if isinstance(error, requests.exceptions.ProxyError):
        return Answer(problem=f"the proxy failed ({reason})", retryable=True)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Answer(problem=f"could not connect within TIMEOUT ({timeout:g} s)", retryable=True)
    if isinstance(error, requests.exceptions.Timeout):
        problem = f"no answer within TIMEOUT ({timeout:g} s)"
        return Answer(problem=problem, retryable=True, outcome_unknown=True)
    if isinstance(error, requests.exceptions.ConnectionError):
        if never_connected(error):
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


def read_limited(response: requests.Response, *, deadline: float) -> bytes:
    """At most BODY_LIMIT bytes of the answer, read until the attempt's deadline at the latest:
    a server that drips its answer a byte at a time ends with the attempt too. The status has
    arrived by now, so a body cut short still leaves an answer."""
    body = b""
    try:
        while len(body) < BODY_LIMIT and time.monotonic() < deadline:
            chunk = response.raw.read1(BODY_LIMIT - len(body), decode_content=True)
            if not chunk:
                break
            body += chunk
    except (urllib3.exceptions.HTTPError, OSError) as error:
        log.debug("The answer's body was cut off: %s", error)
    return body[:BODY_LIMIT]


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
    """The new change's id, where the answer has one: `{"data": {"id"}}` or `{"id"}`."""
    document = parse_json(body)
    if not isinstance(document, dict):
        return None
    data = document.get("data")
    found = data.get("id") if isinstance(data, dict) else document.get("id")
    return str(found) if found not in (None, "") else None


def failure(answer: Answer, attempts: int, maybe_recorded: bool) -> DeliveryFailed:
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    reason = f"{describe(answer)}{tried}"
    hint = hint_for(answer)
    if hint:
        reason = f"{reason}. {hint.rstrip('.')}."
    return DeliveryFailed(reason, maybe_recorded=maybe_recorded)


def describe(answer: Answer) -> str:
    if answer.status is None:
        return str(answer.problem)
    error = alert24_error(answer.text)
    what = f"Alert24 answered HTTP {answer.status}"
    if error:
        what = f"{what} {error}"
    if answer.request_id:
        what = f"{what} (X-Request-Id: {answer.request_id})"
    return what


def alert24_error(body: str) -> str | None:
    """`type: message` from Alert24's error shape, else the start of whatever came back."""
    error = error_shape(body)
    if error:
        parts = (str(error.get(key)) for key in ("type", "message") if error.get(key))
        return ": ".join(parts) or None
    text = " ".join(body[:200].split())
    return repr(text) if text else None


def error_shape(body: str) -> dict | None:
    document = parse_json(body)
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def hint_for(answer: Answer) -> str | None:
    if answer.status is None:
        return hint_for_problem(str(answer.problem))
    if 300 <= answer.status < 400:
        where = answer.headers.get("Location", "elsewhere")
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
    except ValueError:
        return None


def cause(error: Exception) -> str:
    """The innermost reason of a requests error, without urllib3's wrappers and object reprs."""
    *_, innermost = reasons(error)
    text = re.sub(r"<[^>]*>: ", "", str(innermost))
    return text or type(innermost).__name__
