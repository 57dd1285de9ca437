"""The image itself, built for linux/amd64 and run the way Bitbucket runs a pipe.

These tests need a Docker engine: the Image step of bitbucket-pipelines.yml (Runtime v3, the
docker CLI image) runs them on every push and pull request. Where `docker info` fails, as on a
machine without an engine, every test here skips and says so.

As Bitbucket does, each run mounts a clone at the BITBUCKET_CLONE_DIR path and works there,
passes the BITBUCKET_* variables, and mounts a directory at BITBUCKET_PIPE_SHARED_STORAGE_DIR.
The stand-in Alert24 (test/alert24_server.py) runs in a second container, started from the same
image (it has Python), on a user-defined network, where the pipe reaches it by name.

Working files live under the repository, not in /tmp: in Pipelines the Docker engine is a
separate service that shares the clone directory with the build container, not its /tmp, so
bind mounts must come from inside the clone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import API_KEY, BRANCH_BUILD, MESSAGE, ROOT, Run, assert_no_secret, git

CLONE_DIR = "/opt/atlassian/pipelines/agent/build"  # where Bitbucket Cloud mounts the clone
SHARED_DIR = "/opt/atlassian/pipelines/agent/pipe-shared"  # stands in for Bitbucket's own path
PORT = 8080
WRONG_KEY = "ak_live_" + "W" * 32
RECEIPT = "alert24-change.json"


def docker_engine_problem() -> str | None:
    """Why there is no usable Docker engine here, or None when `docker info` works."""
    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        return "there is no docker command"
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if info.returncode != 0:
        lines = info.stderr.strip().splitlines()
        return f"`docker info` failed: {lines[-1] if lines else f'exit {info.returncode}'}"
    return None


PROBLEM = docker_engine_problem()
pytestmark = pytest.mark.skipif(
    PROBLEM is not None, reason=f"no Docker engine is present ({PROBLEM})"
)


def docker(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir=ROOT, prefix=".docker-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    tag = f"alert24/track-deployment:test-{uuid.uuid4().hex[:12]}"
    docker("build", "--platform", "linux/amd64", "--tag", tag, str(ROOT), timeout=900)
    yield tag
    docker("image", "rm", "--force", tag)


@pytest.fixture(scope="module")
def network() -> Iterator[str]:
    name = f"pipe-test-{uuid.uuid4().hex[:12]}"
    docker("network", "create", name)
    yield name
    docker("network", "rm", name)


@pytest.fixture(scope="module")
def alert24(image: str, network: str) -> Iterator[str]:
    """test/alert24_server.py in its own container on the network; its URL there."""
    name = f"alert24-{uuid.uuid4().hex[:12]}"
    docker(
        "run", "--detach", "--name", name, "--network", network,
        "--volume", f"{ROOT / 'test'}:/stand-in:ro", "--entrypoint", "python",
        image, "/stand-in/alert24_server.py",
        "--host", "0.0.0.0", "--port", str(PORT), "--api-key", API_KEY,  # noqa: S104 (its network)
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in docker("logs", name):
            assert time.monotonic() < deadline, docker("logs", name)
            time.sleep(0.2)
        yield f"http://{name}:{PORT}"
    finally:
        docker("rm", "--force", name)


@pytest.fixture(scope="module")
def clone(workdir: Path) -> Path:
    """A clone of depth 1, as Bitbucket leaves it, whose last commit has MESSAGE."""
    origin, build = workdir / "origin", workdir / "build"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    (origin / "app.txt").write_text("v1\n")
    git(origin, "add", "app.txt")
    git(origin, "commit", "-q", "-m", MESSAGE)
    git(workdir, "clone", "-q", "--depth", "1", f"file://{origin}", str(build))
    return build


@pytest.fixture
def shared(workdir: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=workdir, prefix="shared-"))


@pytest.fixture
def bitbucket(clone: Path, alert24: str) -> dict[str, str]:
    return {
        **BRANCH_BUILD,
        "BITBUCKET_COMMIT": git(clone, "rev-parse", "HEAD"),
        "BITBUCKET_CLONE_DIR": CLONE_DIR,
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": SHARED_DIR,
        "ALERT24_BASE_URL": alert24,
    }


@pytest.fixture
def pipe_run(image: str, network: str, clone: Path, shared: Path) -> Callable[..., Run]:
    """docker run as Bitbucket runs a pipe. Values go through the docker command's environment
    (`--env NAME`), so the key is never on a command line."""

    def run(env: dict[str, str], clone: Path = clone) -> Run:
        command = ["docker", "run", "--rm", "--network", network]
        command += ["--volume", f"{clone}:{CLONE_DIR}", "--workdir", CLONE_DIR]
        command += ["--volume", f"{shared}:{SHARED_DIR}"]
        for name in env:
            command += ["--env", name]
        started = time.monotonic()
        done = subprocess.run(
            [*command, image],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        result = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        assert_no_secret(result.output, env.get("ALERT24_API_KEY") or API_KEY)
        return result

    return run


def test_the_image_is_built_for_linux_amd64(image):
    assert docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", image) == (
        "linux/amd64"
    )


def test_a_dry_run_reads_the_mounted_clone_and_sends_nothing(pipe_run, shared, bitbucket, alert24):
    run = pipe_run({**bitbucket, "DRY_RUN": "true"})
    assert run.returncode == 0, run.output
    assert f"POST {alert24}/api/v1/changes" in run.stdout
    assert f'"commit_sha": "{bitbucket["BITBUCKET_COMMIT"]}"' in run.stdout
    assert "✔ Dry run: the change above was not sent to Alert24." in run.stdout
    assert not (shared / RECEIPT).exists()


def test_a_delivery_is_recorded_and_leaves_the_receipt_in_shared_storage(
    pipe_run, shared, bitbucket
):
    run = pipe_run({**bitbucket, "ALERT24_API_KEY": API_KEY})
    assert run.returncode == 0, run.output
    recorded = re.search(r"✔ Recorded change (chg_\d+) in Alert24", run.stdout)
    assert recorded, run.output
    receipt = json.loads((shared / RECEIPT).read_text(encoding="utf-8"))
    assert receipt["change_id"] == recorded.group(1)
    assert receipt["body"]["commit_sha"] == bitbucket["BITBUCKET_COMMIT"]
    assert receipt["body"]["commit_message"] == MESSAGE  # read from the mounted clone


def test_a_delivery_refused_with_401_fails_the_step_and_says_why(pipe_run, shared, bitbucket):
    run = pipe_run({**bitbucket, "ALERT24_API_KEY": WRONG_KEY})
    assert run.returncode == 1, run.output
    assert (
        "✖ The change was not recorded in Alert24: Alert24 answered HTTP 401 "
        "authentication_error: Invalid API key"
    ) in run.stdout
    assert "Check that ALERT24_API_KEY holds a current key" in run.stdout
    assert not (shared / RECEIPT).exists()


def test_the_image_s_git_is_new_enough_to_read_reftable(image):
    version = docker("run", "--rm", "--entrypoint", "git", image, "--version")
    print(f"The image's {version}")
    found = re.search(r"(\d+)\.(\d+)", version)
    assert found and (int(found[1]), int(found[2])) >= (2, 45), version


def test_git_s_layer_stays_small_and_pip_leaves_no_bytecode_of_its_own(image):
    history = docker(
        "image", "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    )
    print("The image's layers, newest first:", *history.splitlines(), sep="\n  ")
    git_layer = next(line for line in history.splitlines() if "apk add --no-cache git" in line)
    size = git_layer.split("\t")[0]
    print(f"git's layer: {size}")
    number, unit = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", size).groups()
    assert float(number) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[unit] < 40, size
    compiled = docker(
        "run", "--rm", "--entrypoint", "sh", image, "-c",
        "find /usr/local/lib/python3.13/site-packages/pip -name '*.pyc' | wc -l",
    )  # fmt: skip
    assert compiled == "0", f"{compiled} compiled modules of pip itself in the image"


def test_a_reftable_clone_is_read_by_the_image(image, workdir, pipe_run, shared, bitbucket):
    made = workdir / "reftable"
    made.mkdir()
    script = (
        "git init -q -b main /work/origin && cd /work/origin && "
        "git -c user.name=Ann -c user.email=ann@example.com commit -q --allow-empty -m Reftable && "
        "git clone -q --ref-format=reftable file:///work/origin /work/build && "
        "git -C /work/build rev-parse HEAD"
    )
    head = docker(
        "run", "--rm", "--volume", f"{made}:/work", "--entrypoint", "sh", image, "-c", script
    )
    reftable = {**bitbucket, "BITBUCKET_COMMIT": head.splitlines()[-1], "DRY_RUN": "true"}
    run = pipe_run(reftable, clone=made / "build")
    assert run.returncode == 0, run.output
    assert '"commit_message": "Reftable"' in run.stdout, run.output
