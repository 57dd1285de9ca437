"""Shared helpers: the local Alert24, a real git checkout, and running the pipe as the image does.

Every run of the pipe goes through `run_pipe`, which fails the test if the API key, or the part
of it after `ak_live_`, appears anywhere in what the pipe printed.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from alert24_server import Alert24Server

if TYPE_CHECKING:
    import trustme

ROOT = Path(__file__).resolve().parent.parent
PIPE = ROOT / "pipe" / "pipe.py"
BASE62 = string.ascii_letters + string.digits

API_KEY = "ak_live_" + "".join(secrets.choice(BASE62) for _ in range(32))
AUTHOR = 'Zoë "zo" O\'Brien <zoe@example.com>'
MESSAGE = 'Ship the "blue" build: $HOME\\path\nwith a second line ✓'


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def assert_no_secret(output: str, key: str = API_KEY) -> None:
    """Neither the key, nor any 12 characters in a row of its part after `ak_live_`."""
    assert key not in output, "the API key was printed"
    secret = key.removeprefix("ak_live_")
    pieces = {secret[start : start + 12] for start in range(max(1, len(secret) - 11))}
    leaked = sorted(piece for piece in pieces if piece in output)
    assert not leaked, f"part of the API key was printed: {len(leaked)} pieces of 12 characters"


def process_env(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """Only what a pipe's container has: the variables given, and a bare minimum to run."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    return {**base, **env}


def start_pipe(
    env: dict[str, str], *, cwd: Path = ROOT, script: Path = PIPE, **popen: Any
) -> subprocess.Popen:
    """Start pipe/pipe.py as the container does, in a fresh process; the caller reads and waits.
    `popen`: more of subprocess.Popen's arguments, such as a preexec_fn setting a limit."""
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=process_env(env, cwd),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        **popen,
    )


def run_pipe(
    env: dict[str, str], *, cwd: Path = ROOT, timeout: float = 60, script: Path = PIPE
) -> Run:
    """Run the pipe to its end; fail the test if the API key shows in anything it printed."""
    started = time.monotonic()
    with start_pipe(env, cwd=cwd, script=script) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    run = Run(process.returncode, stdout, stderr, time.monotonic() - started)
    assert_no_secret(run.output, env.get("ALERT24_API_KEY", API_KEY).strip() or API_KEY)
    return run


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": 'Zoë "zo" O\'Brien',
        "GIT_AUTHOR_EMAIL": "zoe@example.com",
        "GIT_COMMITTER_NAME": "CI",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def clone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkout, as Bitbucket leaves it: a clone of depth 1 of a repository."""
    origin = tmp_path_factory.mktemp("origin")
    git(origin, "init", "-q", "-b", "main")
    for n in range(3):
        (origin / "app.txt").write_text(f"version {n}\n")
        git(origin, "add", "app.txt")
        git(origin, "commit", "-q", "-m", f"Release {n}" if n < 2 else MESSAGE)
    clone = tmp_path_factory.mktemp("build")
    git(clone, "clone", "-q", "--depth", "1", f"file://{origin}", ".")
    return clone


@pytest.fixture(scope="session")
def head_sha(clone_dir: Path) -> str:
    return git(clone_dir, "rev-parse", "HEAD")


@pytest.fixture
def server() -> Iterator[Alert24Server]:
    with Alert24Server(api_key=API_KEY) as running:
        yield running


# What Bitbucket passes to every pipe of a branch build of acme/shop, but for the paths.
BRANCH_BUILD = {
    "CI": "true",
    "BITBUCKET_BRANCH": "main",
    "BITBUCKET_BUILD_NUMBER": "42",
    "BITBUCKET_REPO_SLUG": "shop",
    "BITBUCKET_REPO_FULL_NAME": "acme/shop",
    "BITBUCKET_WORKSPACE": "acme",
    "BITBUCKET_REPO_OWNER": "acme",
    "BITBUCKET_REPO_UUID": "{11111111-1111-4111-8111-111111111111}",
    "BITBUCKET_PIPELINE_UUID": "{22222222-2222-4222-8222-222222222222}",
    "BITBUCKET_STEP_UUID": "{33333333-3333-4333-8333-333333333333}",
    "BITBUCKET_STEP_TRIGGERER_UUID": "{44444444-4444-4444-8444-444444444444}",
    "BITBUCKET_EXIT_CODE": "0",
}


@pytest.fixture
def bitbucket(clone_dir: Path, head_sha: str, tmp_path: Path) -> dict[str, str]:
    """The variables Bitbucket passes to a pipe in a branch build's after-script."""
    return {
        **BRANCH_BUILD,
        "BITBUCKET_COMMIT": head_sha,
        "BITBUCKET_CLONE_DIR": str(clone_dir),
        "BITBUCKET_PIPE_STORAGE_DIR": str(tmp_path / "pipe-storage"),
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared-storage"),
    }


@pytest.fixture(scope="module")
def private_ca() -> trustme.CA:
    import trustme  # noqa: PLC0415 (the image step runs its tests with pytest alone)

    return trustme.CA()


@pytest.fixture
def ca_bundle(private_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "private-ca.pem"
    private_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def env(bitbucket: dict[str, str], server: Alert24Server) -> dict[str, str]:
    """A branch build's after-script with the pipe pointed at the local Alert24."""
    return {**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": server.url}
