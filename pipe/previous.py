"""The previous deployment: the change this pipe (or the old curl recipe) recorded last time.

Alert24 lists changes, but does not document which filters its list honours, nor its order, nor
its items' fields; so the list is asked for with filters and filtered here again whatever came
back. Up to three GETs (pages of 100 changes), none retried, all of them within one TIMEOUT: the
look-up is a nicety, and the change must never wait long for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, NamedTuple

from alert24 import (
    Answer,
    alert24_error,
    changes_url,
    exchange,
    parse_json,
    secrets_for,
    with_request_id,
)
from change import PRODUCTION
from printable import printable, without_password

log = logging.getLogger("alert24")

PAGE = 100  # the most Alert24 lists at once
PAGES = 3
LIST_BODY_LIMIT = 8 * 1024 * 1024  # 100 changes, each with a long description, fit with room
COUNTED = frozenset({"deployment", "rollback"})
KEY_REFUSED = frozenset({401, 403})  # the key itself: a change posted with it is refused too
WITHOUT = "the commits since the previous deployment are not listed"


class Mine(NamedTuple):
    """What the previous deployment shares with this change."""

    repo_full_name: str
    environment: str
    service_id: str | None = None
    source: str | None = None
    external_id: str | None = None  # this step's own: a retried step must not find itself
    commit_sha: str | None = None  # the commit this step deploys
    pipeline_run: str | None = None  # `bitbucket:{pipeline uuid}:`, every step's external_id

    def deployed(self) -> str:
        """What is looked for, in the user's words: `acme/shop (service svc-1) to production`."""
        service = f" (service {printable(self.service_id)})" if self.service_id else ""
        return f"{printable(self.repo_full_name)}{service} to {printable(self.environment)}"


class Previous(NamedTuple):
    commit: str
    change_id: str | None
    created_at: str | None
    page: int  # of the list, from 1
    looked_at: int  # changes read to find it


class LookupFailed(Exception):
    """The look-up failed: str() is the one line that says why; `status` is Alert24's HTTP
    status, when it answered one, for the caller to tell what else that means."""

    def __init__(self, why: str, status: int | None = None):
        super().__init__(why)
        self.status = status

    @property
    def key_refused(self) -> bool:
        return self.status in KEY_REFUSED


def find_previous(
    base_url: str, mine: Mine, *, api_key: str, user_agent: str, timeout: float
) -> Previous | None:
    """The newest change that is this repository's last deployment here, or None."""
    url = changes_url(base_url, mine.service_id)
    secrets = secrets_for(api_key, url)  # one for all pages
    params = {"limit": str(PAGE), "environment": mine.environment}
    if mine.source:
        params["source"] = mine.source
    deadline = time.monotonic() + timeout
    best: Previous | None = None
    looked_at, more = 0, False
    for page in range(1, PAGES + 1):
        left, offset = deadline - time.monotonic(), (page - 1) * PAGE
        if left <= 0:
            if best:
                return best  # the pages read hold one; later pages would be older
            raise LookupFailed(
                f"Alert24 did not list enough of its changes within TIMEOUT ({timeout:g} s) to "
                f"find the previous deployment: {WITHOUT}."
            )
        log.debug(
            "Looking up the previous deployment: GET %s (page %d, %s)",
            printable(without_password(url)),
            page,
            ", ".join(f"{k}={printable(v)}" for k, v in {**params, "offset": offset}.items()),
        )
        answer = exchange(
            "GET",
            url,
            api_key=api_key,
            user_agent=user_agent,
            timeout=left,
            params={**params, "offset": str(offset)},
            body_limit=LIST_BODY_LIMIT,
            secrets=secrets,
        )
        try:
            items, more = read_page(answer, offset, timeout, deadline)
        except LookupFailed:
            if best:
                return best  # the newest of the pages read: better than none
            raise
        found = newest(candidates(items, mine))
        looked_at += len(items)
        if found is not None:
            commit = printable(found["commit_sha"], limit=64)  # foreign: it may be printed
            at = Previous(commit, *identity(found), page, looked_at)
            best = at if best is None or later(found, best) else best
            if newest_first(items):
                return best
        if not more:
            break
    if best is None and more:
        raise LookupFailed(
            f"None of Alert24's latest {PAGES * PAGE} changes is an earlier deployment of "
            f"{mine.deployed()}, and the look-up reads no further: {WITHOUT}. Set "
            "PREVIOUS_COMMIT to the commit deployed before to list them."
        )
    return best


def read_page(
    answer: Answer, offset: int, timeout: float, deadline: float
) -> tuple[list[dict[str, Any]], bool]:
    """The page's changes, and whether more follow (by has_more, else by total); LookupFailed
    for anything else."""
    if answer.status is None:
        why = unanswered(answer, timeout, deadline)
        raise LookupFailed(f"Could not list Alert24's changes: {why}; {WITHOUT}.")
    if not 200 <= answer.status < 300:
        raise LookupFailed(refusal(answer), answer.status)
    document = parse_json(answer.text)
    data = document.get("data") if isinstance(document, dict) else None
    meta = document.get("meta", {}) if isinstance(document, dict) else None
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise LookupFailed(
            "Alert24's list of changes is not of the documented shape {data, meta}"
            f"{with_request_id(answer.request_id)}: {WITHOUT}.",
            answer.status,
        )
    more = len(data) > 0 and (
        meta["has_more"] is True
        if "has_more" in meta
        else isinstance(meta.get("total"), int) and meta["total"] > offset + len(data)
    )
    return [item for item in data if isinstance(item, dict)], more


def unanswered(answer: Answer, timeout: float, deadline: float) -> str:
    """Why no answer came. An attempt cut off at the look-up's deadline had what was left of
    TIMEOUT, a number the user never set: the line names TIMEOUT's own."""
    if time.monotonic() < deadline:
        return str(answer.problem)  # refused, unresolved, TLS...: it names no seconds
    if answer.outcome_unknown:  # out of time after the request was sent
        return f"no answer within TIMEOUT ({timeout:g} s)"
    return f"could not connect within TIMEOUT ({timeout:g} s)"


def refusal(answer: Answer) -> str:
    why = alert24_error(answer.text)
    said = (
        f"HTTP {answer.status}"
        + (f" {printable(why)}" if why else "")
        + with_request_id(answer.request_id)
    )
    if answer.status == 401:
        hint = "Alert24 refused ALERT24_API_KEY"
    elif answer.status == 403:
        hint = "The key lacks read access to changes (the 'write' scope includes it)"
    elif answer.status == 404:
        hint = "Check SERVICE_ID and ALERT24_BASE_URL"
    elif answer.status >= 500:
        hint = "Alert24 had a problem"
    else:
        hint = "Alert24 refused the list request"
    return f"Could not list Alert24's changes: {said}. {hint}: {WITHOUT}."


def candidates(items: Iterable[Mapping[str, Any]], mine: Mine) -> list[Mapping[str, Any]]:
    """The changes that can be this one's predecessor, whatever filters Alert24 applied."""
    home = f"https://bitbucket.org/{mine.repo_full_name}/".lower()  # Bitbucket ignores case
    kept = []
    for item in items:
        tags = item.get("tags")
        if not (
            text(item, "pipeline_url").lower().startswith(home)
            and text(item, "environment", PRODUCTION) == mine.environment
            and (not mine.service_id or text(item, "service_id") == mine.service_id)
            and text(item, "change_type", "deployment") in COUNTED
            and text(item, "commit_sha")
            and not (isinstance(tags, list) and "failed" in tags)
            and not (mine.external_id and text(item, "external_id") == mine.external_id)
            and not sibling(item, mine)
        ):
            continue
        kept.append(item)
    return kept


def sibling(item: Mapping[str, Any], mine: Mine) -> bool:
    """Recorded by another step of this pipeline run for this same commit: a monorepo that
    deploys several services from one commit, one step each, makes one deployment, not a
    redeploy. Another step's change for another commit (COMMIT_SHA) did go out before."""
    if not (mine.pipeline_run and mine.commit_sha):
        return False
    return (
        text(item, "external_id").startswith(mine.pipeline_run)
        and text(item, "commit_sha").lower() == mine.commit_sha.lower()
    )


def text(item: Mapping[str, Any], field: str, default: str = "") -> str:
    """A field's text; absent, Alert24's own default; of another type, nothing to match."""
    value = item.get(field, default)
    return value if isinstance(value, str) else ""


def newest(items: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """By created_at when every one has it, else the first in the list's order."""
    if not items:
        return None
    times = [created(item) for item in items]
    if None in times:
        return items[0]
    return items[max(range(len(items)), key=lambda at: (times[at], -at))]


def newest_first(items: list[Mapping[str, Any]]) -> bool:
    """Whether the list reads newest first, so that later pages can only be older."""
    times = [created(item) for item in items]
    known = [when for when in times if when is not None]
    return all(a >= b for a, b in pairwise(known))


def later(item: Mapping[str, Any], best: Previous) -> bool:
    mine, theirs = created(item), parse_time(best.created_at)
    return mine is not None and theirs is not None and mine > theirs


def created(item: Mapping[str, Any]) -> datetime | None:
    return parse_time(item.get("created_at"))


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def identity(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The change's id and creation time, made printable: they are shown with DEBUG."""
    change_id, created_at = item.get("id"), item.get("created_at")
    return (
        printable(change_id) if change_id not in (None, "") else None,
        printable(created_at) if isinstance(created_at, str) else None,
    )
