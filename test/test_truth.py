"""What went out, checked against the full history: the oracle is `git log` in the repository
the clone was made from, never git's view of the shallow clone.

Histories are written with git fast-import (dates chosen, so that each shape is what real teams
have: git-flow's develop merged into main again and again, branches taking turns on one
environment), cloned as Bitbucket clones them (`--depth 50` of one branch), and read through
`read_went_out`, in the process; one end-to-end run per promise drives the pipe itself.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clone import Clone
from conftest import run_pipe
from git_history import Spec, fast_import, git_log, new_repo, run_git
from outgoing import DIVERGED, FORWARD, ROLLBACK, descendants, description, read_went_out, reported

T = 1_700_000_000
DAY = 86_400
RESULTS = "https://bitbucket.org/acme/shop/pipelines/results"


def clone_of(origin: Path, into: Path, depth: int | None = 50, branch: str = "main") -> Path:
    """A clone as Bitbucket makes it: one branch, `depth` commits deep."""
    into.mkdir(parents=True)
    deep = ["--depth", str(depth)] if depth else []
    run_git(into, "clone", "-q", *deep, "--branch", branch, f"file://{origin}", ".")
    return into


def shas_of(side) -> list[str]:
    return [commit.sha for commit in side.commits]


def git_flow() -> list[Spec]:
    """main merges develop (OLD-1) for release 1; 60 hotfixes; P; develop gets NEW-2; main
    merges develop for release 2: C. The truth of P..C is NEW-2 and C."""
    specs = [Spec("root", (), T, "Start\n"), Spec("old", ("root",), T + DAY, "OLD-1 feature\n")]
    specs.append(Spec("release1", ("root", "old"), T + 2 * DAY, "Release 1\n"))
    tip = "release1"
    for n in range(60):
        specs.append(Spec(f"fix{n}", (tip,), T + 3 * DAY + n * 3600, f"Hotfix {n}\n"))
        tip = f"fix{n}"
    specs.append(Spec("P", (tip,), T + 10 * DAY, "Deployed before\n"))
    specs.append(Spec("new", ("old",), T + 11 * DAY, "NEW-2 feature\n"))
    specs.append(Spec("C", ("P", "new"), T + 12 * DAY, "Release 2\n"))
    return specs


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("flow")
    origin = new_repo(root / "origin")
    shas = fast_import(origin, git_flow(), {"main": "C"})
    return origin, shas, clone_of(origin, root / "clone")


def test_git_flow_at_depth_50_lists_only_what_the_full_history_says_went_out(flow):
    origin, shas, clone = flow
    went_out = read_went_out(Clone(str(clone)), shas["P"], shas["C"])
    truth = git_log(origin, shas["P"], shas["C"])
    assert sorted(truth) == sorted([shas["C"], shas["new"]])
    assert went_out.kind == FORWARD
    assert shas_of(went_out.went) == [shas["C"], shas["new"]]
    assert went_out.went.unplaced == 2  # OLD-1 and the first commit: shipped long ago
    assert not went_out.went.complete


def test_git_flow_in_a_full_clone_is_complete(flow, tmp_path):
    origin, shas, _ = flow
    went_out = read_went_out(
        Clone(str(clone_of(origin, tmp_path / "c", None))), shas["P"], shas["C"]
    )
    assert shas_of(went_out.went) == git_log(origin, shas["P"], shas["C"])
    assert (went_out.went.unplaced, went_out.went.complete) == (0, True)


def test_git_flow_end_to_end_tags_and_counts_only_what_went_out(flow, env, server):
    _, shas, clone = flow
    server.seed(deployed(shas["P"]))
    run = run_pipe({**env, "BITBUCKET_CLONE_DIR": str(clone), "BITBUCKET_COMMIT": shas["C"]})
    assert run.returncode == 0, run.output
    change = server.received[-1].json
    assert "NEW-2" in change["tags"] and "OLD-1" not in change["tags"], run.output
    assert shas["old"][:8] not in change["description"]
    assert shas["root"][:8] not in change["description"]
    assert "2 more commits merged in could not be placed" in change["description"]
    assert "at least 2 commits since" in run.stdout
    receipt = json.loads(
        (Path(env["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / "alert24-change.json").read_text()
    )
    assert receipt["commits"] == [shas["C"], shas["new"]]
    assert receipt["commits_complete"] is False


def turns() -> list[Spec]:
    """Two feature branches take turns on staging: P on one, C on the other."""
    return [
        Spec("root", (), T),
        Spec("a1", ("root",), T + DAY, "PAY-1 card form\n"),
        Spec("a2", ("a1",), T + 2 * DAY, "PAY-2 card form tests\n"),
        Spec("b1", ("root",), T + 3 * DAY, "SHOP-7 basket\n"),
    ]


@pytest.mark.parametrize("depth", [50, None], ids=["depth 50", "full"])
def test_branches_taking_turns_list_what_went_out_and_what_was_taken_out(tmp_path, depth):
    origin = new_repo(tmp_path / "origin")
    shas = fast_import(origin, turns(), {"main": "b1", "feature": "a2"})
    clone = clone_of(origin, tmp_path / "clone", depth)
    run_git(clone, "fetch", "-q", *(["--depth", "50"] if depth else []), "origin", "feature")
    went_out = read_went_out(Clone(str(clone)), shas["a2"], shas["b1"])
    assert went_out.kind == DIVERGED
    assert shas_of(went_out.went) == [shas["b1"]]
    assert shas_of(went_out.taken) == [shas["a2"], shas["a1"]]


def test_branches_taking_turns_off_a_long_main_list_both_sides_at_depth_50(tmp_path):
    # 100 commits of main, then a branch each: the clone's cut lies on main, below both.
    specs = [Spec("m0", (), T)]
    specs += [Spec(f"m{n}", (f"m{n - 1}",), T + n * 3600) for n in range(1, 100)]
    specs += [
        Spec("a1", ("m99",), T + 5 * DAY, "PAY-1 card form\n"),
        Spec("a2", ("a1",), T + 5 * DAY + 60, "PAY-2 card form tests\n"),
        Spec("b1", ("m99",), T + 6 * DAY, "SHOP-7 basket\n"),
    ]
    origin = new_repo(tmp_path / "origin")
    shas = fast_import(origin, specs, {"main": "b1", "feature": "a2"})
    clone = clone_of(origin, tmp_path / "clone")
    run_git(clone, "fetch", "-q", "--depth", "50", "origin", "feature")
    went_out = read_went_out(Clone(str(clone)), shas["a2"], shas["b1"])
    assert went_out.kind == DIVERGED
    assert shas_of(went_out.went) == git_log(origin, shas["a2"], shas["b1"]) == [shas["b1"]]
    assert shas_of(went_out.taken) == git_log(origin, shas["b1"], shas["a2"])


def test_a_long_lived_branch_left_by_this_deployment_is_not_called_forward_silently(tmp_path):
    # feature branched off main long ago, deployed to staging (P); then main's tip (C).
    specs = [Spec("m0", (), T)]
    specs += [Spec(f"m{n}", (f"m{n - 1}",), T + n * 3600) for n in range(1, 100)]
    specs += [
        Spec("a1", ("m10",), T + 11 * 3600 + 60, "PAY-1 card form\n"),
        Spec("a2", ("a1",), T + 11 * 3600 + 120, "PAY-2 card form tests\n"),
    ]
    origin = new_repo(tmp_path / "origin")
    shas = fast_import(origin, specs, {"main": "m99", "feature": "a2"})
    clone = clone_of(origin, tmp_path / "clone")
    run_git(clone, "fetch", "-q", "--depth", "50", "origin", "feature")
    went_out = read_went_out(Clone(str(clone)), shas["a2"], shas["m99"])
    assert git_log(origin, shas["m99"], shas["a2"]) == [shas["a2"], shas["a1"]]  # the truth
    assert went_out.kind == DIVERGED or went_out.taken.unplaced >= 2
    assert "taken out" in describe(went_out)


def describe(went_out) -> str:
    return description(went_out, "staging") + "\n" + reported(went_out)


def test_a_rollback_through_a_shallow_clone_lists_only_what_was_taken_out(flow, tmp_path):
    origin, shas, _ = flow
    clone = clone_of(origin, tmp_path / "clone")
    went_out = read_went_out(Clone(str(clone)), shas["C"], shas["P"])
    assert went_out.kind == ROLLBACK
    assert set(shas_of(went_out.taken)) <= set(git_log(origin, shas["P"], shas["C"]))
    assert shas_of(went_out.taken)[0] == shas["C"]


# Any history, any depth: what is listed is true of the full history. ------------------------


@st.composite
def histories(draw) -> list[Spec]:
    """Commits with one or two parents among the earlier ones, dated forward with skew of at
    most a few minutes, as machines with honest clocks make them."""
    count = draw(st.integers(3, 24))
    specs = [Spec("c0", (), T)]
    for n in range(1, count):
        first = draw(st.integers(max(0, n - 4), n - 1))
        parents = [f"c{first}"]
        if draw(st.booleans()):
            second = draw(st.integers(0, n - 1))
            parents += [f"c{second}"] if second != first else []
        skew = draw(st.integers(-180, 180))
        specs.append(Spec(f"c{n}", tuple(parents), T + n * 3600 + skew))
    return specs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=histories(), depth=st.integers(1, 8), data=st.data())
def test_what_is_listed_is_true_of_the_full_history(specs, depth, data):
    with tempfile.TemporaryDirectory() as scratch:
        origin = new_repo(Path(scratch) / "origin")
        shas = fast_import(origin, specs, {"main": specs[-1].name})
        clone = clone_of(origin, Path(scratch) / "clone", depth)
        held = run_git(clone, "rev-list", "HEAD").split()
        previous = data.draw(st.sampled_from(held))
        current = data.draw(st.sampled_from(held))
        if previous == current:
            return
        went_out = read_went_out(Clone(str(clone)), previous, current)
        range_ = f"{previous}..{current}"
        ancestry_path = set(run_git(clone, "rev-list", "--ancestry-path", range_).split())
        assert descendants(previous, Clone(str(clone)).commits(previous, current)) == ancestry_path
        went, taken = git_log(origin, previous, current), git_log(origin, current, previous)
        assert set(shas_of(went_out.went)) <= set(went)
        assert set(shas_of(went_out.taken)) <= set(taken)
        if went_out.went.complete:
            assert shas_of(went_out.went) == went
        if went_out.taken.complete and went_out.kind in (ROLLBACK, DIVERGED):
            assert shas_of(went_out.taken) == taken
        if went_out.kind == ROLLBACK:
            assert not went  # C is in P's history: nothing went out
        assert shas


def deployed(sha: str) -> dict:
    return {
        "summary": f"Deployed shop @ {sha[:8]}",
        "change_type": "deployment",
        "source": "bitbucket-pipelines",
        "commit_sha": sha,
        "pipeline_url": f"{RESULTS}/41",
        "environment": "production",
        "external_id": "bitbucket:earlier:step",
    }
