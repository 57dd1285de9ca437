"""The release script: its git side run for real against a local bare remote, its image side
against a stand-in docker command.

version and tag need only git and semversioner. Each release must leave X.Y.Z, X.Y and X on
origin, at a commit whose pipe.yml pins image: alert24/track-deployment:X.Y.Z, because
Bitbucket resolves `pipe: ...:1.0` by reading pipe.yml at git ref 1.0. The image command is
run with a script in place of docker (no engine here; test/test_docker_image.py runs the real
image where there is one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, git

RELEASE = ROOT / ".ci" / "release"
IMAGE = "alert24/track-deployment"
# The files the release reads and writes, copied from this repository as they are.
RELEASED_FILES = ["pipe.yml", "README.md", "CHANGELOG.md", ".semversioner/1.0.0.json"]


def release(clone: Path, command: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # semversioner
        "HOME": str(clone),
        "GIT_CONFIG_NOSYSTEM": "1",
        "BITBUCKET_BRANCH": "main",
    }
    done = subprocess.run(
        ["bash", str(RELEASE), command],
        check=False,  # the assert below shows the script's output
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def remote_tags(origin: Path) -> dict[str, str]:
    """Tag -> the commit it names, on origin."""
    lines = git(origin, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
    tags = dict(line.split() for line in lines.splitlines())
    return {tag: git(origin, "rev-parse", f"{sha}^{{commit}}") for tag, sha in tags.items()}


def image_at(origin: Path, ref: str) -> str:
    return yaml.safe_load(git(origin, "show", f"{ref}:pipe.yml"))["image"]


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin holding this pipe's release files as committed (1.0.0, never tagged), and
    the clone a release step works in."""
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    for name in RELEASED_FILES:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, clone / name)
    git(clone, "add", ".")
    git(clone, "commit", "-q", "-m", "The pipe, 1.0.0 not yet released")
    git(clone, "push", "-q", "origin", "HEAD:main")
    return origin, clone


def first_release(clone: Path) -> None:
    release(clone, "version")
    release(clone, "tag")


def patch_release(clone: Path) -> None:
    git(clone, "pull", "-q", "origin", "main")
    subprocess.run(
        [Path(sys.executable).parent / "semversioner", "add-change", "--type", "patch",
         "--description", "Fix a thing."],
        cwd=clone, check=True, capture_output=True,
    )  # fmt: skip
    git(clone, "add", ".")
    git(clone, "commit", "-q", "-m", "Fix a thing")
    git(clone, "push", "-q", "origin", "HEAD:main")
    release(clone, "version")
    release(clone, "tag")


def test_the_first_release_tags_1_0_0_and_points_1_0_and_1_at_it(repository):
    origin, clone = repository
    first_release(clone)
    tags = remote_tags(origin)
    assert set(tags) == {"1.0.0", "1.0", "1"}
    assert tags["1.0"] == tags["1"] == tags["1.0.0"] == git(origin, "rev-parse", "main")
    for tag in tags:
        assert image_at(origin, tag) == f"{IMAGE}:1.0.0"


def test_a_patch_release_moves_1_0_and_1_and_leaves_1_0_0_where_it_was(repository):
    origin, clone = repository
    first_release(clone)
    before = remote_tags(origin)
    patch_release(clone)
    tags = remote_tags(origin)
    assert set(tags) == {"1.0.0", "1.0.1", "1.0", "1"}
    assert tags["1.0.0"] == before["1.0.0"]
    assert tags["1.0.1"] == tags["1.0"] == tags["1"] == git(origin, "rev-parse", "main")
    assert image_at(origin, "1.0.0") == f"{IMAGE}:1.0.0"
    for tag in ("1.0.1", "1.0", "1"):
        assert image_at(origin, tag) == f"{IMAGE}:1.0.1"


def test_the_release_commit_carries_the_changelog_readme_and_no_changeset(repository):
    origin, clone = repository
    first_release(clone)
    patch_release(clone)
    assert git(origin, "log", "-1", "--format=%s", "1.0.1") == "Release 1.0.1 [skip ci]"
    assert "## 1.0.1" in git(origin, "show", "1.0.1:CHANGELOG.md")
    assert f"pipe: {IMAGE}:1.0" in git(origin, "show", "1.0.1:README.md")
    assert git(origin, "ls-tree", "-r", "--name-only", "1.0.1", ".semversioner/next-release") == ""


def test_changesets_before_the_first_publish_join_it_so_1_0_resolves(repository):
    origin, clone = repository
    semversioner = Path(sys.executable).parent / "semversioner"
    subprocess.run(
        [semversioner, "add-change", "--type", "minor", "--description", "A new thing."],
        cwd=clone, check=True, capture_output=True,
    )  # fmt: skip
    git(clone, "add", ".")
    git(clone, "commit", "-q", "-m", "A new thing, before 1.0.0 is published")
    git(clone, "push", "-q", "origin", "HEAD:main")
    first_release(clone)
    tags = remote_tags(origin)
    assert set(tags) == {"1.0.0", "1.0", "1"}
    assert image_at(origin, "1.0") == f"{IMAGE}:1.0.0"
    changelog = git(origin, "show", "1.0:CHANGELOG.md")
    assert "- minor: A new thing." in changelog.split("## 1.0.0", 1)[1]
    assert git(origin, "ls-tree", "-r", "--name-only", "1.0", ".semversioner/next-release") == ""


def test_with_no_changesets_and_the_version_tagged_there_is_nothing_to_release(repository):
    origin, clone = repository
    first_release(clone)
    before = remote_tags(origin)
    assert "nothing to release" in release(clone, "version").stdout
    assert "nothing to release" in release(clone, "tag").stdout
    assert remote_tags(origin) == before


# The image command's order, with a stand-in for the docker command ------------------------------
#
# No Docker here: a script named docker on PATH logs each call and answers as Docker would. What
# is checked is the script's own logic: both platforms smoke-run before anything is pushed, a
# failed smoke run pushes nothing, one push carries the three tags, the password never reaches
# a command line.

FAKE_DOCKER = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >>"$DOCKER_LOG"
case "$*" in
    "login "*) cat >/dev/null ;;
    "buildx inspect "*) exit 1 ;;
    "buildx imagetools inspect "*) printf 'Platform:    linux/amd64\nPlatform:    linux/arm64\n' ;;
    "run --rm --platform $FAIL_ON "*) echo "exec format error"; exit 1 ;;
    "run --rm --platform "*) echo "POST https://app.alert24.net/api/v1/changes" ;;
esac
"""
PASSWORD = "hub-password-not-on-argv"


def run_image_command(clone: Path, tmp_path: Path, fail_on: str = "none") -> tuple[int, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(clone),
        "DOCKER_LOG": str(log),
        "FAIL_ON": fail_on,
        "DOCKERHUB_USERNAME": "alert24",
        "DOCKERHUB_PASSWORD": PASSWORD,
    }
    done = subprocess.run(
        ["bash", str(RELEASE), "image"], check=False, cwd=clone, env=env, capture_output=True
    )
    return done.returncode, log.read_text().splitlines() if log.exists() else []


def test_both_platforms_are_smoke_run_before_one_push_of_the_three_tags(repository, tmp_path):
    _, clone = repository
    release(clone, "version")
    returncode, calls = run_image_command(clone, tmp_path)
    assert returncode == 0, calls
    smoke_runs = [i for i, call in enumerate(calls) if call.startswith("run --rm --platform")]
    pushes = [i for i, call in enumerate(calls) if " --push " in call]
    assert [calls[i].split()[3] for i in smoke_runs] == ["linux/amd64", "linux/arm64"]
    assert len(pushes) == 1 and pushes[0] > max(smoke_runs)
    push = calls[pushes[0]]
    assert "--platform linux/amd64,linux/arm64" in push
    for tag in ("1.0.0", "1.0", "1"):
        assert f"--tag {IMAGE}:{tag} " in push
    assert any(call.startswith("run --privileged --rm tonistiigi/binfmt:") for call in calls)
    assert not any(PASSWORD in call for call in calls)


def test_a_failed_smoke_run_pushes_nothing(repository, tmp_path):
    _, clone = repository
    release(clone, "version")
    returncode, calls = run_image_command(clone, tmp_path, fail_on="linux/arm64")
    assert returncode == 1
    assert not any("--push" in call or call.startswith("login") for call in calls)
