"""What went out: the commits between the previous deployment (P) and this one (C).

`read_went_out` asks the clone; everything else here is pure, so that each wording and each rule
(a rollback, a redeploy, a clone whose history ends too soon, Jira keys) is tested without git.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jira

if TYPE_CHECKING:
    from checkout import Commit

SHOWN = 30  # lines of commits in the description; then "... and N more"
JIRA_KEYS = jira.MOST
JIRA_KEY = jira.KEY
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
DEEPEN = "set `clone: depth: full` to list them all"

FORWARD, ROLLBACK, REDEPLOY, MISSING = "forward", "rollback", "redeploy", "missing"


class WentOut(NamedTuple):
    kind: str  # FORWARD, ROLLBACK, REDEPLOY, or MISSING (P is not in the clone)
    previous: str  # P, the commit deployed before
    current: str  # C, the commit deployed now
    # FORWARD: `git log P..C`; ROLLBACK: `git log C..P`, the commits taken out; newest first
    commits: Sequence[Commit] = ()
    complete: bool = True  # False: the clone's history ended before the range was decided


def read_went_out(directory: str, previous: str, current: str) -> WentOut:
    """P and C compared in the clone. Raises CheckoutUnreadable where the clone cannot say."""
    from checkout import commits_between, has_commit  # noqa: PLC0415 (only when listing)

    previous, current = previous.lower(), current.lower()
    if previous == current:
        return WentOut(REDEPLOY, previous, current)
    if not FULL_SHA.fullmatch(previous) or not has_commit(directory, previous):
        return WentOut(MISSING, previous, current)
    forward = commits_between(directory, previous, current)
    if forward.commits or not forward.complete:
        return WentOut(FORWARD, previous, current, forward.commits, forward.complete)
    # Nothing in C that P lacks: C is in P's history, so this deployment goes backwards.
    backward = commits_between(directory, current, previous)
    return WentOut(ROLLBACK, previous, current, backward.commits, backward.complete)


def jira_keys(went_out: WentOut, projects: Sequence[str] = ()) -> list[str]:
    """Issue keys in the messages of the commits listed, newest first, each once, at most 20
    (the rules are jira.py's)."""
    return jira.issue_keys(None, (commit.message for commit in went_out.commits), projects)


def summary(went_out: WentOut, name: str) -> str | None:
    """The default summary for a rollback or a redeploy; None where the usual one holds."""
    if went_out.kind == ROLLBACK:
        return f"Rolled back {name} to {went_out.current[:8]} (from {went_out.previous[:8]})"
    if went_out.kind == REDEPLOY:
        return f"Redeployed {name} @ {went_out.current[:8]}"
    return None


def change_type(went_out: WentOut) -> str | None:
    return "rollback" if went_out.kind == ROLLBACK else None


def description(went_out: WentOut, environment: str, repo_full_name: str | None = None) -> str:
    """The part of the description that says what went out, under a heading of its own."""
    p8, c8 = went_out.previous[:8], went_out.current[:8]
    if went_out.kind == REDEPLOY:
        return f"Redeployed: {c8} was already the commit deployed to {environment}."
    if went_out.kind == MISSING:
        return (
            f"The previous deployment to {environment} was {p8}, which this clone does not hold "
            "(it may lie deeper than the clone, or on a branch the clone did not fetch; "
            f"{DEEPEN}): the commits since are not listed."
        )
    link = f" ({commit_url(repo_full_name, went_out.previous)})" if repo_full_name else ""
    if went_out.kind == ROLLBACK:
        heading = f"Commits taken out of {environment} (rolled back from {p8}{link}):"
    else:
        heading = f"Commits deployed to {environment} since {p8}{link}:"
    count = len(went_out.commits)
    lines = [heading, *(commit_line(commit) for commit in went_out.commits[:SHOWN])]
    if count > SHOWN:
        lines.append(f"... and {count - SHOWN} more")
    if not went_out.complete:
        lines.append(f"at least {many(count)}; the clone's history ends here: {DEEPEN}")
    return "\n".join(lines)


def many(count: int) -> str:
    return f"{count} commit" if count == 1 else f"{count} commits"


def commit_line(commit: Commit) -> str:
    return f"{commit.sha[:8]} {commit.subject} ({commit.author_name})"


def commit_url(repo_full_name: str, sha: str) -> str:
    # Bitbucket documents a commit's URL; it documents none comparing two commits.
    return f"https://bitbucket.org/{repo_full_name}/commits/{sha}"


def reported(went_out: WentOut) -> str:
    """The short phrase for the `✔` line: what went out, since which commit."""
    p8, c8 = went_out.previous[:8], went_out.current[:8]
    if went_out.kind == ROLLBACK:
        return f"a rollback to {c8} from {p8}"
    if went_out.kind == REDEPLOY:
        return f"a redeploy of {c8}"
    if went_out.kind == MISSING:
        return f"no commits listed: {p8}, deployed before, is not in the clone"
    at_least = "" if went_out.complete else "at least "
    return f"{at_least}{many(len(went_out.commits))} since {p8}"


def receipt_fields(went_out: WentOut) -> dict[str, Any]:
    """What went out, for the receipt a later step reads."""
    return {
        "went_out": went_out.kind,
        "previous_commit": went_out.previous,
        "commits": [commit.sha for commit in went_out.commits],
        "commits_complete": went_out.complete and went_out.kind != MISSING,
    }
