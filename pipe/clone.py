"""The step's clone, read by the git binary: the deployed commit, and the history around it.

Git itself answers, so that the pipe says what `git log` says in every layout git reads (packs,
reftable, SHA-256, worktrees, alternates). A crafted pack can make git loop and grow, so each
call is bounded in time (one budget for the whole run) and in heap (a timeout alone lets memory
grow until it fires). No configuration of the user's or the system's may change the output.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from typing import NamedTuple

GIT_TIME = 6.0  # seconds for every git call of a run together: a pipe must never hang on git
# Bytes of heap per call (RLIMIT_DATA: what git allocates, not the packs it maps from disk).
# Measured: `git log` of git.git's whole history (75,000 commits) needs less than 32 MiB.
GIT_MEMORY = 64 << 20
RANGE_LIMIT = 10_000  # commits read of one range; a deployment of more is cut, and says so
HEX = frozenset("0123456789abcdef")
FULL_COMMIT_ID = r"[0-9a-f]{40}|[0-9a-f]{64}"  # SHA-1, SHA-256
SETTINGS = (
    "safe.directory=*",  # the clone is mounted; on self-hosted runners another uid owns it
    "core.deltaBaseCacheLimit=16m",  # git's default, 96m, is more than all of GIT_MEMORY
    "core.fsmonitor=false",
    "log.showSignature=false",
)
ISOLATED = {  # with PATH, LANG and TZ, all of git's environment: no GIT_* of the caller's
    "HOME": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",  # no configuration file but the repository's own
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_GRAFT_FILE": os.devnull,  # grafts rewrite parents; the objects are the history
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # a read must not take the index lock of the step's clone
}


class CloneUnreadable(Exception):
    """Why the clone could not say, in words that follow "because" in one log line."""


class Checkout(NamedTuple):
    """The deployed commit, and the branch it was checked out from."""

    sha: str
    branch: str | None  # the branch HEAD names, when HEAD is this commit; else None
    author_name: str
    author_email: str
    message: str  # subject and body, without trailing whitespace
    parents: tuple[str, ...] = ()  # as the clone has them: none at its cut, or for a root

    @property
    def author(self) -> str:
        return (
            f"{self.author_name} <{self.author_email}>" if self.author_email else self.author_name
        )


class Commit(NamedTuple):
    """One commit of a range, as the pipe lists it."""

    sha: str
    committed: int | None  # committer date, seconds since the epoch; None where git reads none
    author_name: str
    message: str
    parents: tuple[str, ...] = ()  # as the clone has them: none for a commit at its cut

    @property
    def subject(self) -> str:
        """The first paragraph on one line, as `git log --oneline` shows it."""
        return " ".join(self.message.strip().split("\n\n", 1)[0].split())


class Clone:
    """One handle on the clone for the whole run, its git calls sharing one budget of time: git's
    own, so that the look-up of the previous deployment, between two calls, spends none of it."""

    def __init__(self, directory: str, *, budget: float = GIT_TIME) -> None:
        self.directory, self.budget = directory, budget
        kept = {name: os.environ[name] for name in ("PATH", "LANG", "TZ") if name in os.environ}
        self.environment = {**kept, **ISOLATED}
        self.shallow_file: str | None = None  # .git/shallow's path, from the first call
        self._cut: frozenset[str] | None = None

    def git(self, *args: str) -> str:
        """git's output for `args`; CloneUnreadable for any failure, with git's own words."""
        if self.budget <= 0:
            raise CloneUnreadable(f"git took longer than {GIT_TIME:g} s in all")
        started = time.monotonic()
        options = [part for setting in SETTINGS for part in ("-c", setting)]
        try:
            done = subprocess.run(
                ["git", *options, *args],
                cwd=self.directory,
                env=self.environment,
                capture_output=True,
                timeout=self.budget,
                # One setrlimit between fork and exec: no lock taken.
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (GIT_MEMORY,) * 2),
                check=False,
            )
        except FileNotFoundError as missing:
            what = "no git binary" if missing.filename == "git" else "no such directory"
            raise CloneUnreadable(f"{what} ({missing.filename})") from None
        except subprocess.TimeoutExpired:
            raise CloneUnreadable(f"git took longer than {GIT_TIME:g} s in all") from None
        except OSError as error:
            raise CloneUnreadable(f"git could not be started ({error.strerror})") from None
        finally:
            self.budget -= time.monotonic() - started
        if not done.returncode:
            return done.stdout.decode("utf-8", "replace")
        # git's last words, on one line: `fatal: not a git repository ...`.
        lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines()]
        said = next((line for line in lines if line.startswith(("fatal:", "error:"))), "")
        said = said or next((line for line in reversed(lines) if line), "")
        if done.returncode < 0 or done.returncode in (128 + 9, 128 + 6):  # killed, or out of memory
            raise CloneUnreadable(f"git stopped ({said or f'signal {abs(done.returncode)}'})")
        said = said.removeprefix("fatal: ").removeprefix("error: ")
        raise CloneUnreadable(said or f"git exited with {done.returncode}")

    def checkout(self, name: str | None = None) -> Checkout:
        """The commit a full or short id names, else HEAD's, with its message and author, read
        in one call; CloneUnreadable when the clone holds no such commit, or several."""
        branch = None
        if name is None:
            try:
                self.shallow_file, name, ref = self.git(
                    "rev-parse", "--git-path", "shallow", "HEAD^{commit}", "--symbolic-full-name",
                    "HEAD",
                ).splitlines()  # fmt: skip
            except CloneUnreadable as why:
                if "unknown revision" in str(why) or "ambiguous argument" in str(why):
                    raise CloneUnreadable("the clone has no commit checked out") from None
                raise about_commit("HEAD", why, self.directory) from None
            branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        elif not 4 <= len(name.strip()) <= 64 or not HEX.issuperset(name.strip().lower()):
            raise CloneUnreadable(f"{name!r} is not a commit id")
        name = name.strip().lower()
        try:
            fields = self.git(
                "log", "-1", "--no-walk", "--encoding=UTF-8",
                "--format=%H%x00%P%x00%an%x00%ae%x00%B", "--end-of-options", f"{name}^{{commit}}",
                "--",
            )  # fmt: skip
        except CloneUnreadable as why:
            raise about_commit(name, why, self.directory) from None
        sha, parents, author, email, message = fields.split("\0", 4)
        return Checkout(sha, branch, author, email, message.rstrip(), tuple(parents.split()))

    def commits(self, base: str, head: str) -> list[Commit] | None:
        """What `git log base..head` shows, in its order; None when the clone does not hold the
        commit `base` (a full id)."""
        try:
            out = self.git(
                "log", "-z", f"--max-count={RANGE_LIMIT}", "--encoding=UTF-8",
                "--format=%H %P%n%ct%n%an%n%B", "--end-of-options", f"{base}^{{commit}}..{head}",
                "--",
            )  # fmt: skip
        except CloneUnreadable as why:
            if "bad revision" in str(why) or "expected commit type" in str(why):
                return None
            raise
        listed = []
        for record in filter(None, out.split("\0")):
            shas, date, author, message = record.split("\n", 3)
            sha, *parents = shas.split()
            listed.append(Commit(sha, seconds(date), author, message.rstrip(), tuple(parents)))
        return listed

    def history(self, sha: str) -> dict[str, int | None]:
        """The commit and its history, as far as the clone holds it, with committer dates."""
        lines = self.git("log", "--format=%H %ct", "--end-of-options", sha, "--").splitlines()
        return {sha: seconds(date) for sha, _, date in (line.partition(" ") for line in lines)}

    def cut(self) -> frozenset[str]:
        """The commits whose parents the clone lacks (.git/shallow); none in a full clone."""
        if self._cut is None:
            path = self.shallow_file or self.git("rev-parse", "--git-path", "shallow").strip()
            try:
                with open(os.path.join(self.directory, path), encoding="ascii") as listed:
                    self._cut = frozenset(listed.read().split())
            except FileNotFoundError:
                self._cut = frozenset()
            except (OSError, UnicodeDecodeError) as error:
                raise CloneUnreadable(
                    f"the clone's list of cut commits is unreadable: {error}"
                ) from None
        return self._cut


def seconds(date: str) -> int | None:
    """A committer date as git prints it (%ct); none for a date git could not read."""
    return int(date) if date.isdigit() else None


def about_commit(name: str, why: CloneUnreadable, directory: str) -> CloneUnreadable:
    """What git's failure to read a commit says of it, in a user's words."""
    said = str(why)
    if "not a git repository" in said:  # `clone: enabled: false` leaves a step its artifacts
        return CloneUnreadable(
            f"{directory} holds no git clone (a step with `clone: enabled: false` has none)"
        )
    if "ambiguous" in said and "short object ID" in said:
        return CloneUnreadable(f"{name} names more than one object in the clone")
    if any(words in said for words in ("bad revision", "expected commit type", "unknown revision")):
        return CloneUnreadable(f"the clone does not hold the commit {name}")
    return why  # git failed, or ran out of time: no answer about the commit
