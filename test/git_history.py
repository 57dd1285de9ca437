"""Build git histories with the real git binary, fast, for the tests and the benchmark.

`git fast-import` writes a whole history in one process, with the parents, committer dates and
messages asked for: hundreds of commits take milliseconds, where `git commit` takes a process
each. Every commit also changes a file, so that a history has trees and blobs as a real one does.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

IDENTITY = "Ada Lovelace <ada@example.com>"


class Spec(NamedTuple):
    """One commit to write: its name in the test, its parents' names, its committer date."""

    name: str
    parents: tuple[str, ...]
    date: int  # seconds since the epoch, for author and committer alike
    message: str = ""  # "<name>\n" when empty
    author: str = IDENTITY


def git_env(home: Path) -> dict[str, str]:
    """Fixed identities, and no user or system config to change what git writes."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada Lovelace",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "LANG": "C.UTF-8",
    }


def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, env=git_env(cwd), capture_output=True, check=False
    )
    if done.returncode:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode("utf-8", "replace")


def new_repo(path: Path, *init_args: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "-c", "init.defaultBranch=main", "init", "-q", *init_args, ".")
    return path


def fast_import(
    repo: Path, commits: Iterable[Spec], branches: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Write the commits (parents before children) into one new pack; their shas by name.

    Every commit without children gets a branch `tip/<name>`, so that all stay reachable when
    git repacks; `branches` adds more, such as {"main": name}.
    """
    commits = list(commits)
    marks = {spec.name: number for number, spec in enumerate(commits, start=1)}
    stream, has_children = [], {parent for spec in commits for parent in spec.parents}
    for spec in commits:
        message = (spec.message or f"{spec.name}\n").encode()
        content = f"{spec.name}\n".encode()
        stream.append(b"reset refs/heads/build\n" if not spec.parents else b"")
        stream.append(b"commit refs/heads/build\nmark :%d\n" % marks[spec.name])
        for role in (b"author", b"committer"):
            who = spec.author.encode() if role == b"author" else IDENTITY.encode()
            stream.append(b"%s %s %d +0000\n" % (role, who, spec.date))
        stream.append(b"data %d\n%s\n" % (len(message), message))
        for number, parent in enumerate(spec.parents):
            stream.append(b"%s :%d\n" % (b"merge" if number else b"from", marks[parent]))
        stream.append(b"M 644 inline file.txt\ndata %d\n%s\n" % (len(content), content))
    tips = {f"tip/{spec.name}": spec.name for spec in commits if spec.name not in has_children}
    for branch, name in {**tips, **(branches or {})}.items():
        stream.append(b"reset refs/heads/%s\nfrom :%d\n\n" % (branch.encode(), marks[name]))
    marks_file = repo / ".git" / "marks"
    options = ("-c", "fastimport.unpackLimit=0", "fast-import", "--quiet")  # always a pack
    run_git(repo, *options, f"--export-marks={marks_file}", stdin=b"".join(stream))
    run_git(repo, "update-ref", "-d", "refs/heads/build")
    by_mark = dict(line.split() for line in marks_file.read_text().splitlines())
    marks_file.unlink()
    return {name: by_mark[f":{number}"] for name, number in marks.items()}


def git_log(repo: Path, base: str, head: str) -> list[str]:
    """What the pipe must agree with: `git log --format=%H base..head`."""
    return run_git(repo, "log", "--format=%H", f"{base}..{head}").split()
