"""The previous deployment: the change this pipe (or the old curl recipe) recorded last time.

Alert24 does not document which filters its list of changes honours, nor its order, nor its
items' fields; so the list is asked for with filters and filtered here again whatever came back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from typing import Any, NamedTuple

import alert24
from change import PRODUCTION
from printable import Secrets, printable, secrets_for, without_password

log = logging.getLogger("alert24")

PAGE = 100  # the most Alert24 lists at once
PAGES = 3  # each GET not retried, all within one TIMEOUT: the change must not wait long
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
    """str() is the one line that says why; `status`, of Alert24's last answer to the look-up if
    it answered, and `key_accepted`, whether any answer took the key, say what else it means."""

    def __init__(self, why: str, status: int | None = None, *, key_accepted: bool = False):
        super().__init__(why)
        self.status = status
        self.key_refused = status in KEY_REFUSED
        self.key_accepted = key_accepted  # a 2xx of a page of another shape proves nothing


def find_previous(  # noqa: PLR0913 (exchange's shape, and the run's secrets)
    base_url: str,
    mine: Mine,
    *,
    api_key: str,
    user_agent: str,
    timeout: float,
    secrets: Secrets | None = None,
) -> Previous | None:
    """The newest change that is this repository's last deployment here, or None."""
    url = alert24.changes_url(base_url, mine.service_id)
    shown, secrets = printable(without_password(url)), secrets or secrets_for(api_key, url)
    get = partial(alert24.exchange, "GET", url, api_key=api_key, user_agent=user_agent)
    params = {"limit": str(PAGE), "environment": mine.environment}
    params |= {"source": mine.source} if mine.source else {}
    deadline = time.monotonic() + timeout
    best: Previous | None = None
    looked_at, offset, more = 0, 0, False
    for page in range(1, PAGES + 1):
        left = deadline - time.monotonic()
        query = {**params, "offset": str(offset)}
        try:
            if left <= 0:
                raise LookupFailed(
                    f"Alert24 did not list enough of its changes within TIMEOUT ({timeout:g} s) "
                    f"to find the previous deployment: {WITHOUT}."
                )
            asked = ", ".join(f"{k}={printable(v)}" for k, v in query.items())
            log.debug(
                "Looking up the previous deployment: GET %s (page %d, %s)", shown, page, asked
            )
            answer = get(timeout=left, params=query, body_limit=LIST_BODY_LIMIT, secrets=secrets)
            items, listed, more = read_page(answer, offset, timeout, deadline, secrets)
        except LookupFailed as failed:  # a change found before is not proven the newest
            failed.key_accepted = failed.key_accepted or page > 1  # the pages before took it
            raise
        # On from where the page ended: Alert24 may list fewer than asked for.
        offset, looked_at = offset + listed, looked_at + len(items)
        found = newest(candidates(items, mine))
        if found is not None and (best is None or newest([best._asdict(), found]) is found):
            change_id, created_at = found.get("id"), found.get("created_at")
            best = Previous(
                secrets.shown(found["commit_sha"], limit=64),  # foreign: it may be printed
                secrets.shown(change_id) if change_id not in (None, "") else None,
                secrets.shown(created_at) if isinstance(created_at, str) else None,
                page,
                looked_at,
            )
        if not more or (found is not None and newest_first(items)):
            return best  # nothing left, or all that is left is older
    # More changes than the look-up reads, and none of those it read proven the newest.
    if best is None:
        why = f"None of Alert24's latest {offset} changes is an earlier deployment of "
        why += f"{mine.deployed()}, and the look-up reads no further"
    else:
        why = "Alert24 lists its changes in no order the look-up can rely on, and more than "
        why += f"the {offset} it read: the previous deployment may be among the rest"
    raise LookupFailed(
        f"{why}: {WITHOUT}. Set PREVIOUS_COMMIT to the commit deployed before to list them.",
        key_accepted=True,
    )


def read_page(
    answer: alert24.Answer, offset: int, timeout: float, deadline: float, secrets: Secrets
) -> tuple[list[dict[str, Any]], int, bool]:
    """The page's changes, how many it listed, and whether more follow (by has_more, else by
    total)."""
    request_id = alert24.with_request_id(answer.request_id, secrets)
    if answer.status is None:
        # Cut off at the look-up's deadline, the attempt had what was left of TIMEOUT, a number
        # the user never set: name TIMEOUT's own. Other problems (refused, TLS...) name none.
        late = "no answer" if answer.outcome_unknown else "could not connect"
        late = f"{late} within TIMEOUT ({timeout:g} s)"
        why = answer.problem if time.monotonic() < deadline else late
        raise LookupFailed(f"Could not list Alert24's changes: {why}; {WITHOUT}.")
    if not 200 <= answer.status < 300:
        error = alert24.alert24_error(answer.text, secrets.shown)
        said = f"HTTP {answer.status}" + (f" {error}" if error else "") + request_id
        hint = (
            "Alert24 had a problem" if answer.status >= 500 else "Alert24 refused the list request"
        )
        if answer.status in (*KEY_REFUSED, 404):  # the same key and address as the change's
            hint = alert24.HINTS[answer.status].rstrip(".")
        raise LookupFailed(
            f"Could not list Alert24's changes: {said}. {hint}: {WITHOUT}.", answer.status
        )
    document = alert24.parse_json(answer.text)
    document = document if isinstance(document, dict) else {}
    data, meta = document.get("data"), document.get("meta", {})
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise LookupFailed(
            "Alert24's list of changes is not of the documented shape {data, meta}"
            f"{request_id}: {WITHOUT}.",
            answer.status,
        )
    # More follow if has_more or total says so; a full page that says neither may have more.
    says = [meta["has_more"] is True] if "has_more" in meta else []
    if isinstance(meta.get("total"), int):
        says.append(meta["total"] > offset + len(data))
    more = len(data) > 0 and (any(says) if says else len(data) >= PAGE)
    return [item for item in data if isinstance(item, dict)], len(data), more


def candidates(items: Iterable[Mapping[str, Any]], mine: Mine) -> list[Mapping[str, Any]]:
    """The changes that can be this one's predecessor, whatever filters Alert24 applied. Another
    step of this pipeline run that recorded this same commit is a sibling, not a predecessor: a
    monorepo deploying several services from one commit, a step each, makes one deployment."""
    home = f"https://bitbucket.org/{mine.repo_full_name}/".lower()  # Bitbucket ignores case
    run, sha = mine.pipeline_run, (mine.commit_sha or "").lower()
    return [
        item
        for item in items
        if text(item, "pipeline_url").lower().startswith(home)
        and text(item, "environment", PRODUCTION) == mine.environment
        and (not mine.service_id or text(item, "service_id") == mine.service_id)
        and text(item, "change_type", "deployment") in COUNTED
        and text(item, "commit_sha")
        and not (isinstance(item.get("tags"), list) and "failed" in item["tags"])
        and not (mine.external_id and text(item, "external_id") == mine.external_id)
        and not (
            run
            and sha
            and text(item, "external_id").startswith(run)
            and text(item, "commit_sha").lower() == sha
        )
    ]


def text(item: Mapping[str, Any], field: str, default: str = "") -> str:
    """A field's text; absent, Alert24's own default; of another type, nothing to match."""
    value = item.get(field, default)
    return value if isinstance(value, str) else ""


def newest(items: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """By created_at when every one has it, else the first in the list's order."""
    times = [created(item) for item in items]
    if not items or None in times:
        return items[0] if items else None
    return items[max(range(len(items)), key=lambda at: (times[at], -at))]


def newest_first(items: list[Mapping[str, Any]]) -> bool:
    """Whether the list reads newest first, so that later pages can only be older."""
    known = [when for when in map(created, items) if when is not None]
    return all(a >= b for a, b in pairwise(known))


def created(item: Mapping[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(item.get("created_at"))
    except (TypeError, ValueError):  # absent, not text, or not a time
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
