"""What went out: the commits between the previous deployment (P) and this one (C).

The truth is the full history. In a shallow clone, `git log P..C` can show commits P holds
beyond the cut (through a merge's second parent), and miss some that went out. So a commit of
P..C is listed, counted and tagged only when the clone proves it is not in P's history:
- it descends from P (`git rev-list --ancestry-path P..C`);
- it was committed more than SKEW after every cut commit P's history reaches: what the clone
  lacks of P's history lies behind those, so was committed before them (committer dates are
  taken as honest within SKEW; rewritten ones, as by `rebase --committer-date-is-author-date`,
  can fool this rule, and only a full clone is then exact);
- or the clone is complete for the range: not shallow, or P's history in it reaches no cut.
The others are counted as commits that could not be placed. The same rules hold for what a
rollback takes out (C..P), and for both sides of histories that diverged.
`read_went_out` asks the clone; the rest is pure, so that each wording is tested without git.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import sizes
from clone import FULL_COMMIT_ID, RANGE_LIMIT, Clone, Commit

SHOWN = 30  # lines of commits in the description; then "... and N more"
SKEW = 10 * 60  # seconds of clock skew allowed between the machines that made the commits
FORWARD, ROLLBACK, DIVERGED = "forward", "rollback", "diverged"
REDEPLOY, MISSING = "redeploy", "missing"


class Side(NamedTuple):
    """The commits of one end that the other end's history lacks, as far as the clone proves."""

    commits: Sequence[Commit] = ()  # proven, in git log's order (newest first)
    unplaced: int = 0  # in the clone's range, but maybe in the other end's history
    complete: bool = True  # False: more may lie beyond the clone's cut, or past RANGE_LIMIT
    capped: bool = False  # git log was read up to RANGE_LIMIT commits, and no further


class WentOut(NamedTuple):
    kind: str  # FORWARD, ROLLBACK, DIVERGED, REDEPLOY, or MISSING (P is not in the clone)
    previous: str  # P, the commit deployed before
    current: str  # C, the commit deployed now
    went: Side = Side()  # P..C: the commits that went out
    taken: Side = Side()  # C..P: the commits taken out (ROLLBACK, DIVERGED)

    @property
    def commits(self) -> Sequence[Commit]:
        """The commits a rollback took out, else those that went out."""
        return self.taken.commits if self.kind == ROLLBACK else self.went.commits


def read_went_out(clone: Clone, previous: str, current: str) -> WentOut:
    """P and C compared in the clone. Raises CloneUnreadable where the clone cannot say."""
    previous, current = previous.lower(), current.lower()
    if previous == current:
        return WentOut(REDEPLOY, previous, current)
    listed = clone.commits(previous, current) if re.fullmatch(FULL_COMMIT_ID, previous) else None
    if listed is None:
        return WentOut(MISSING, previous, current)
    descending = descendants(previous, listed)
    went = side(clone, previous, listed, descending)
    if current in descending:  # P is in C's history: nothing of P's went
        return WentOut(FORWARD, previous, current, went)
    backward = clone.commits(current, previous) or []
    taken = side(clone, current, backward, descendants(current, backward))
    if not listed:  # C is in P's history, as the clone shows it: this deployment goes back
        return WentOut(ROLLBACK, previous, current, went, taken)
    if taken.commits:
        return WentOut(DIVERGED, previous, current, went, taken)
    return WentOut(FORWARD, previous, current, went, taken)  # P's own, if any, not placed


def side(clone: Clone, base: str, listed: list[Commit], descending: set[str]) -> Side:
    """What the clone proves of `git log base..head` (`listed`, of which `descending` descend
    from base) against the full history."""
    cut = clone.cut() if listed else frozenset()
    history = clone.history(base) if cut else {}
    proven = listed  # base's whole history is in the clone: git's answer is the truth
    if reached := [history[sha] for sha in cut & history.keys()]:
        # What the clone lacks of base's history lies behind the cut commits base reaches, so
        # was committed before them (within SKEW): a commit committed later is not base's.
        after = max(reached) + SKEW if None not in reached else math.inf
        proven = [c for c in listed if c.sha in descending or (c.committed or 0) > after]
    unplaced = len(listed) - len(proven)
    reaches_cut = not cut.isdisjoint(commit.sha for commit in listed)
    capped = len(listed) >= RANGE_LIMIT
    return Side(proven, unplaced, not unplaced and not reaches_cut and not capped, capped)


def descendants(base: str, listed: list[Commit]) -> set[str]:
    """What of `git log base..head` descends from base (`rev-list --ancestry-path`): none of it
    can be in base's history, however shallow the clone. Its path to base lies in the range."""
    children: dict[str, list[str]] = {}
    for commit in listed:
        for parent in commit.parents:
            children.setdefault(parent, []).append(commit.sha)
    found, walk = set(), [base]
    while walk:  # from base down to its children, without recursion: a range may be deep
        below = set(children.get(walk.pop(), ())) - found
        found |= below
        walk += below
    return found


def summary(went_out: WentOut, name: str, failed: bool = False) -> str | None:
    """The default summary for a rollback or a redeploy; None where the usual one holds.
    `name` is the repository, and the tag on a tag build."""
    c8, p8 = went_out.current[:8], went_out.previous[:8]
    if went_out.kind == ROLLBACK:
        done = "Failed to roll back" if failed else "Rolled back"
        return f"{done} {name} to {c8} (from {p8})"
    if went_out.kind == REDEPLOY:
        return f"Failed to redeploy {name} @ {c8}" if failed else f"Redeployed {name} @ {c8}"
    return None


def change_type(went_out: WentOut) -> str | None:
    return "rollback" if went_out.kind == ROLLBACK else None


def description(
    went_out: WentOut, environment: str, repo_full_name: str | None = None, failed: bool = False
) -> str:
    """The part of the description that says what went out, under a heading of its own."""
    p8, c8 = went_out.previous[:8], went_out.current[:8]
    if went_out.kind == REDEPLOY:
        done = "The failed redeploy" if failed else "Redeployed"
        return f"{done}: {c8} was already the commit deployed to {environment}."
    if went_out.kind == MISSING:
        return (
            f"The previous deployment to {environment} was {p8}, which this clone does not hold "
            "(it may lie deeper than the clone, or on a branch the clone did not fetch; "
            "set `clone: depth: full` to list them): the commits since are not listed."
        )
    # Bitbucket documents a commit's URL; it documents none comparing two commits.
    url = f"https://bitbucket.org/{repo_full_name}/commits/{went_out.previous}"
    link = f" ({url})" if repo_full_name else ""
    if failed:
        went = f"Commits in the failed deployment to {environment} (since {p8}{link}):"
        taken = f"Commits the failed deployment would have taken out of {environment}:"
        back = f"Commits the failed rollback from {p8}{link} would have taken out:"
    else:
        went = f"Commits deployed to {environment} since {p8}{link}:"
        taken = f"Commits taken out of {environment} (they were in {p8}, not in {c8}):"
        back = f"Commits taken out of {environment} (rolled back from {p8}{link}):"
    if went_out.kind == ROLLBACK:
        return listing(back, went_out.taken)
    if went_out.kind == DIVERGED:
        return f"{listing(went, went_out.went)}\n\n{listing(taken, went_out.taken)}"
    if unsure := went_out.taken.unplaced:  # commits of P's that C may or may not hold
        gone = "would have been taken out of" if failed else "were taken out of"
        return (
            f"{listing(went, went_out.went)}\n{many(unsure)} of {p8}'s could not be placed (the "
            f"clone is shallow): any that {c8} lacks {gone} {environment}; set `clone: depth: "
            "full` to list them exactly."
        )
    return listing(went, went_out.went)


def listing(heading: str, side: Side) -> str:
    lines = [heading, *(commit_line(commit) for commit in side.commits[:SHOWN])]
    if len(side.commits) > SHOWN:
        lines.append(f"... and {len(side.commits) - SHOWN} more")
    unplaced = f"{many(side.unplaced, 'more commit')} merged in could not be placed"
    if side.unplaced:  # only a shallow clone leaves commits unplaced
        why = f"{unplaced}: the clone is shallow; set `clone: depth: full` to list them exactly."
    elif side.capped:
        why = f"the pipe reads at most {RANGE_LIMIT:,} commits of a deployment."
    else:
        why = "the clone's history ends here: set `clone: depth: full` to list them exactly."
    if not side.complete:
        lines.append(f"{counted(side)}; {why}")
    return "\n".join(lines)


def commit_line(commit: Commit) -> str:
    return f"{commit.sha[:8]} {sizes.cut(commit.subject, sizes.SUBJECT)} ({commit.author_name})"


def many(count: int, what: str = "commit") -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


def counted(side: Side) -> str:
    """`3 commits`, or `at least 3 commits` where more may exist."""
    return ("" if side.complete else "at least ") + many(len(side.commits))


def reported(went_out: WentOut) -> str:
    """The short phrase for the `✔` line: what went out, since which commit. A rollback's and a
    redeploy's summary already name them: the phrase adds what they leave out."""
    p8, c8 = went_out.previous[:8], went_out.current[:8]
    if went_out.kind == ROLLBACK:
        return f"{counted(went_out.taken)} taken out"
    if went_out.kind == REDEPLOY:
        return f"{c8} was already deployed"
    if went_out.kind == MISSING:
        return f"no commits listed: {p8}, deployed before, is not in the clone"
    said = f"{counted(went_out.went)} since {p8}"
    if went_out.went.unplaced:
        said += f" ({many(went_out.went.unplaced, 'more commit')} could not be placed)"
    if went_out.kind == DIVERGED:
        said += f", and {counted(went_out.taken)} of {p8}'s taken out"
    elif went_out.taken.unplaced:
        said += f", and {many(went_out.taken.unplaced)} of {p8}'s could not be placed"
    return said


def receipt_fields(went_out: WentOut) -> dict[str, Any]:
    """What went out, for the receipt a later step reads: only commits the clone proves."""
    fields = {
        "went_out": went_out.kind,
        "previous_commit": went_out.previous,
        "commits": [commit.sha for commit in went_out.commits],
        "commits_complete": went_out.kind != MISSING
        and (went_out.taken if went_out.kind == ROLLBACK else went_out.went).complete,
    }
    if went_out.kind == DIVERGED or went_out.taken.unplaced:
        fields["commits_taken_out"] = [commit.sha for commit in went_out.taken.commits]
        fields["commits_taken_out_complete"] = went_out.taken.complete
    return fields
