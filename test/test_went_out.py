"""What went out, end to end: the real pipe, real git histories made with the real `git`, and
the local Alert24 holding the changes recorded before.

Each test builds (or shares) a repository, seeds Alert24 with the previous deployment as this
pipe or the old curl recipe recorded it, runs the pipe (in the test's process: conftest.run_pipe)
and reads the change Alert24 received. What git itself says (`git log P..C`) is the expected list.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import clone
import outgoing
from alert24_server import Alert24Server, alert24_error, contract, delay, drip, respond
from conftest import git, run_pipe

RESULTS = "https://bitbucket.org/acme/shop/pipelines/results"
JIRA = ["PAY-1", "OPS-7", "PAY-2", "WEB-30", "PAY-3", "OPS-8"]


def commit(repo: Path, subject: str, body: str = "") -> str:
    (repo / "app.txt").write_text(f"{subject}\n")
    git(repo, "add", "app.txt")
    git(repo, "commit", "-q", "-m", subject + (f"\n\n{body}" if body else ""))
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A repository of 40 commits in a row, cloned whole; commit n mentions JIRA[n % 6]."""
    origin = tmp_path_factory.mktemp("linear")
    git(origin, "init", "-q", "-b", "main")
    shas = [commit(origin, f"Change {n}", f"Fixes {JIRA[n % 6]}") for n in range(40)]
    return origin, shas


def shallow_clone(origin: Path, into: Path, depth: int, *options: str) -> Path:
    """A clone of `depth` commits, as Bitbucket makes them (50 by default)."""
    into.mkdir()
    git(into, "clone", "-q", "--depth", str(depth), *options, f"file://{origin}", ".")
    return into


def log(repo: Path, revisions: str) -> list[str]:
    return git(repo, "log", "--format=%H", revisions).split()


def previous(sha: str, build: int = 41, **fields: object) -> dict:
    """A change as the pipe recorded it at an earlier build."""
    return {
        "summary": f"Deployed shop @ {sha[:8]}",
        "change_type": "deployment",
        "source": "bitbucket-pipelines",
        "commit_sha": sha,
        "branch": "main",
        "pipeline_url": f"{RESULTS}/{build}",
        "environment": "production",
        "external_id": f"bitbucket:earlier-{build}:step",
        "tags": ["bitbucket", "main"],
        **fields,
    }


def deploy(env: dict, repo: Path, sha: str, **variables: str) -> dict:
    return {**env, "BITBUCKET_CLONE_DIR": str(repo), "BITBUCKET_COMMIT": sha, **variables}


def posted(server: Alert24Server) -> dict:
    assert len(server.received) == 1, "exactly one change was expected"
    return server.received[0].json


def listed_shas(description: str) -> list[str]:
    """The commit lines' short shas, in order."""
    lines = description.splitlines()[1:]
    return [line.split()[0] for line in lines if re.match(r"[0-9a-f]{8} .* \(", line)]


# Commits since the previous deployment ---------------------------------------------------------


def test_the_commits_since_the_previous_deployment_are_listed_newest_first(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run = run_pipe(deploy(env, repo, shas[35]))
    assert run.returncode == 0, run.output
    change = posted(server)
    assert listed_shas(change["description"]) == [
        s[:8] for s in log(repo, f"{shas[30]}..{shas[35]}")
    ]
    assert f"since {shas[30][:8]}" in change["description"].splitlines()[0]
    assert change["summary"] == f"Deployed shop @ {shas[35][:8]}"
    assert change["change_type"] == "deployment"
    assert f"5 commits since {shas[30][:8]}." in run.stdout


def test_the_users_description_comes_first(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run_pipe(deploy(env, repo, shas[32], DESCRIPTION="Spring release"))
    assert posted(server)["description"].startswith("Spring release\n\nCommits deployed to")


def test_more_than_thirty_commits_are_cut_and_counted(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[2]))
    run_pipe(deploy(env, repo, shas[39]))
    lines = posted(server)["description"].splitlines()
    assert len(listed_shas("\n".join(lines))) == 30
    assert lines[-1] == "... and 7 more"


def test_jira_keys_of_the_commits_become_tags_after_the_users(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run_pipe(deploy(env, repo, shas[33], TAGS_COUNT="1", TAGS_0="web"))
    # commits 33, 32, 31: JIRA[3], JIRA[2], JIRA[1]
    assert posted(server)["tags"] == ["bitbucket", "main", "web", "WEB-30", "PAY-2", "OPS-7"]


def test_merged_branches_are_listed_as_git_log_lists_them(env, server, tmp_path):
    repo = tmp_path / "merges"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "Base")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "Feature one PAY-11")
    commit(repo, "Feature two")
    git(repo, "checkout", "-q", "main")
    (repo / "other.txt").write_text("main work\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "Main work")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    head = git(repo, "rev-parse", "HEAD")
    server.seed(previous(base))
    run = run_pipe(deploy(env, repo, head))
    assert run.returncode == 0, run.output
    change = posted(server)
    assert sorted(listed_shas(change["description"])) == sorted(
        s[:8] for s in log(repo, f"{base}..{head}")
    )
    assert len(listed_shas(change["description"])) == 4
    assert "PAY-11" in change["tags"]


# Rollbacks and redeploys -----------------------------------------------------------------------


def test_an_older_commit_is_a_rollback_listing_the_commits_taken_out(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[36]))
    run = run_pipe(deploy(env, repo, shas[33]))
    assert run.returncode == 0, run.output
    change = posted(server)
    assert change["change_type"] == "rollback"
    assert change["summary"] == f"Rolled back shop to {shas[33][:8]} (from {shas[36][:8]})"
    assert change["description"].startswith("Commits taken out of production")
    assert listed_shas(change["description"]) == [
        s[:8] for s in log(repo, f"{shas[33]}..{shas[36]}")
    ]
    assert {"PAY-1", "OPS-8", "PAY-3"} <= set(change["tags"])  # commits 36, 35, 34
    assert f'(from {shas[36][:8]})" to production (X-Request-Id: req-1): 3 commits taken out.' in (
        run.stdout
    )


def test_a_rollback_keeps_the_users_summary_and_change_type(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[36]))
    run_pipe(deploy(env, repo, shas[33], SUMMARY="Back out", CHANGE_TYPE="other"))
    change = posted(server)
    assert (change["summary"], change["change_type"]) == ("Back out", "other")


def test_a_failed_rollback_recorded_with_track_failed_is_told_as_a_failed_rollback(
    env, server, linear
):
    repo, shas = linear
    server.seed(previous(shas[36]))
    failed = {"BITBUCKET_EXIT_CODE": "1", "TRACK_FAILED": "true"}
    run = run_pipe(deploy(env, repo, shas[33], **failed))
    assert run.returncode == 0, run.output
    change = posted(server)
    assert change["summary"] == f"Failed to roll back shop to {shas[33][:8]} (from {shas[36][:8]})"
    assert change["description"].startswith(f"Commits the failed rollback from {shas[36][:8]} (")
    assert change["tags"][-1] == "failed"


def test_the_same_commit_again_is_a_redeploy(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[20]))
    run = run_pipe(deploy(env, repo, shas[20]))
    change = posted(server)
    assert change["summary"] == f"Redeployed shop @ {shas[20][:8]}"
    assert change["change_type"] == "deployment"
    assert "was already the commit deployed to production" in change["description"]
    assert f'@ {shas[20][:8]}" to production (X-Request-Id: req-1): {shas[20][:8]} was already' in (
        run.stdout
    )


# Which change is the previous deployment -------------------------------------------------------


def test_only_this_repositorys_working_deployments_to_this_environment_count(env, server, linear):
    repo, shas = linear
    server.ignores_filters = True  # whatever Alert24 filters, the pipe filters again
    server.seed(
        previous(shas[30]),
        previous(shas[1], environment="staging"),
        previous(shas[2], pipeline_url="https://bitbucket.org/acme/other/pipelines/results/9"),
        previous(shas[3], tags=["bitbucket", "main", "failed"], summary="Failed to deploy"),
        previous(shas[4], change_type="config_change"),
        {k: v for k, v in previous(shas[5]).items() if k != "commit_sha"},
    )
    run = run_pipe(deploy(env, repo, shas[32], DEBUG="true"))
    assert f"since {shas[30][:8]}" in posted(server)["description"]
    assert "The previous deployment is change chg_0001" in run.output


def test_a_change_the_old_curl_recipe_recorded_is_found(env, server, linear):
    repo, shas = linear
    recipe = {
        "summary": f"Deployed shop @ {shas[30][:8]}",
        "change_type": "deployment",
        "environment": "production",
        "branch": "main",
        "commit_sha": shas[30],
        "pipeline_url": f"{RESULTS}/17",
        "changed_by": "{44444444-4444-4444-8444-444444444444}",
        "source": "bitbucket-pipelines",
        "tags": ["bitbucket", "main"],
    }
    server.seed(recipe)
    run_pipe(deploy(env, repo, shas[31]))
    assert listed_shas(posted(server)["description"]) == [shas[31][:8]]


def test_the_newest_by_creation_time_wins_over_the_lists_order(env, server, linear):
    repo, shas = linear
    older, newer = server.seed(previous(shas[30]), previous(shas[31]))
    server.stored[:] = [newer, older]  # listed oldest first, yet created_at tells
    run_pipe(deploy(env, repo, shas[32]))
    assert listed_shas(posted(server)["description"]) == [shas[32][:8]]


def test_without_creation_times_the_lists_order_decides(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]), previous(shas[31]), created_at=False)
    run_pipe(deploy(env, repo, shas[32]))
    assert listed_shas(posted(server)["description"]) == [shas[32][:8]]


def test_the_lookup_reads_further_pages_up_to_three(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.seed(
        *(previous(shas[0], environment="production", change_type="other") for _ in range(150))
    )
    run = run_pipe(deploy(env, repo, shas[31], DEBUG="true"))
    assert listed_shas(posted(server)["description"]) == [shas[31][:8]]
    assert "found on page 2" in run.output
    assert all("limit=100" in request.path for request in server.listed)


def test_nothing_is_listed_beyond_three_pages(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.seed(*(previous(shas[0], change_type="other") for _ in range(300)))
    run = run_pipe(deploy(env, repo, shas[31]))
    assert len(server.listed) == 3
    assert "description" not in posted(server)
    assert (
        "None of Alert24's latest 300 changes is an earlier deployment of acme/shop to production"
        in run.output
    )


def test_a_service_asks_the_services_list(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30], service_id="svc_1"), previous(shas[31], service_id="svc_2"))
    run_pipe(deploy(env, repo, shas[33], SERVICE_ID="svc_1"))
    assert server.listed[0].path.startswith("/api/v1/services/svc_1/changes?")
    assert len(listed_shas(posted(server)["description"])) == 3


def test_the_list_is_asked_with_the_environment_and_source(env, server, linear):
    repo, shas = linear
    run_pipe(deploy(env, repo, shas[31], BITBUCKET_DEPLOYMENT_ENVIRONMENT="staging"))
    path = server.listed[0].path
    assert path.startswith("/api/v1/changes?")
    assert "environment=staging" in path
    assert "source=bitbucket-pipelines" in path


def test_a_second_run_finds_the_first_runs_change(env, server, linear):
    repo, shas = linear
    first = run_pipe(deploy(env, repo, shas[30]))
    assert first.returncode == 0, first.output
    assert "description" not in server.received[0].json
    second_step = {"BITBUCKET_STEP_UUID": "{55555555-5555-4555-8555-555555555555}"}
    second = run_pipe(deploy(env, repo, shas[34], **second_step))
    assert second.returncode == 0, second.output
    assert listed_shas(server.received[1].json["description"]) == [
        s[:8] for s in log(repo, f"{shas[30]}..{shas[34]}")
    ]
    assert f"4 commits since {shas[30][:8]}" in second.stdout


def test_a_retried_step_does_not_find_its_own_change(env, server, linear):
    repo, shas = linear
    run_pipe(deploy(env, repo, shas[30]))
    run = run_pipe(deploy(env, repo, shas[30]))
    assert "description" not in server.received[1].json
    assert "Alert24 holds no earlier deployment" in run.output


# The clone's history ---------------------------------------------------------------------------


def test_a_shallow_clone_lists_what_it_holds_and_says_where_history_ends(
    env, server, linear, tmp_path
):
    origin, shas = linear
    git(origin, "branch", "-f", "old", shas[1])
    clone = shallow_clone(origin, tmp_path / "shallow", 3, "--no-single-branch")
    assert git(clone, "cat-file", "-t", shas[1]) == "commit"  # P is in the clone, far below
    server.seed(previous(shas[1]))
    run = run_pipe(deploy(env, clone, shas[39]))
    assert run.returncode == 0, run.output
    description = posted(server)["description"]
    assert listed_shas(description) == [s[:8] for s in shas[39:36:-1]]
    assert description.splitlines()[-2:] == [
        "at least 3 commits; the clone's history ends here: "
        "set `clone: depth: full` to list them exactly.",
        # P's own commits lie below C's cut: whether C holds them, the clone cannot say.
        f"2 commits of {shas[1][:8]}'s could not be placed (the clone is shallow): any that "
        f"{shas[39][:8]} lacks were taken out of production; set `clone: depth: full` to list "
        "them exactly.",
    ]
    assert f"at least 3 commits since {shas[1][:8]}" in run.stdout


def test_a_previous_commit_missing_from_the_clone_is_named_and_nothing_listed(
    env, server, linear, tmp_path
):
    origin, shas = linear
    clone = shallow_clone(origin, tmp_path / "shallow", 5)
    server.seed(previous(shas[10]))
    run = run_pipe(deploy(env, clone, shas[39]))
    assert run.returncode == 0, run.output
    description = posted(server)["description"]
    assert shas[10][:8] in description
    assert listed_shas(description) == []
    assert "deployed before, is not in the clone." in run.stdout
    assert posted(server)["tags"] == ["bitbucket", "main"]


def test_a_clone_of_depth_1_is_not_worth_a_look_up(env, server, linear, tmp_path):
    origin, shas = linear
    clone = shallow_clone(origin, tmp_path / "depth-1", 1)
    server.seed(previous(shas[10]))
    run = run_pipe(deploy(env, clone, shas[39]))
    assert run.returncode == 0, run.output
    assert server.listed == []
    assert "No commits listed: the clone's history ends at the deployed commit." in run.output
    assert "description" not in posted(server)


# Given, or not asked ---------------------------------------------------------------------------


def test_previous_commit_given_is_used_without_asking_alert24(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[5]))
    run = run_pipe(deploy(env, repo, shas[32], PREVIOUS_COMMIT=shas[30].upper()))
    assert run.returncode == 0, run.output
    assert server.listed == []
    assert listed_shas(posted(server)["description"]) == [shas[32][:8], shas[31][:8]]


def test_a_sha256_repository_lists_its_commits(env, server, tmp_path):
    repo = tmp_path / "sha256"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    shas = [commit(repo, f"Change {n}") for n in range(3)]
    assert len(shas[0]) == 64
    server.seed(previous(shas[0]))
    run = run_pipe(deploy(env, repo, shas[2]))
    assert run.returncode == 0, run.output
    assert "description" in posted(server), run.output  # the line saying why none was made
    assert listed_shas(posted(server)["description"]) == [shas[2][:8], shas[1][:8]]


def test_a_sha256_repository_lists_its_commits_since_previous_commit(env, server, tmp_path):
    repo = tmp_path / "sha256"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    shas = [commit(repo, f"Change {n}") for n in range(3)]
    run = run_pipe(deploy(env, repo, shas[2], PREVIOUS_COMMIT=shas[1]))
    assert run.returncode == 0, run.output
    assert server.listed == []
    assert "description" in posted(server), run.output
    assert listed_shas(posted(server)["description"]) == [shas[2][:8]]


@pytest.mark.parametrize("value", ["1a2b3c4d", "g" * 40, "a" * 41])
def test_previous_commit_must_be_a_full_commit_id(env, server, linear, value):
    repo, shas = linear
    run = run_pipe(deploy(env, repo, shas[32], PREVIOUS_COMMIT=value))
    assert run.returncode == 1
    assert f"PREVIOUS_COMMIT is '{value}', which is not valid: use the full commit id" in run.stdout
    assert server.received == server.listed == []


def test_with_list_commits_false_nothing_is_asked_and_nothing_added(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run = run_pipe(deploy(env, repo, shas[32], LIST_COMMITS="false"))
    assert run.returncode == 0, run.output
    assert server.listed == []
    assert "description" not in posted(server)
    assert posted(server)["tags"] == ["bitbucket", "main"]


def test_a_dry_run_with_a_key_looks_up_and_shows_the_list(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert run.returncode == 0, run.output
    assert server.received == []
    assert len(server.listed) == 1
    assert f"{shas[31][:8]} Change 31" in run.stdout


def test_a_dry_run_without_a_key_says_it_skipped_the_lookup(env, server, linear):
    repo, shas = linear
    del env["ALERT24_API_KEY"]
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert run.returncode == 0, run.output
    assert server.listed == []
    assert "The previous deployment was not looked up (no ALERT24_API_KEY)." in run.output


# The lookup fails: the change is recorded all the same -----------------------------------------

FAILURES = {
    "403": (None, "The key needs the 'write' scope"),
    "404": (alert24_error(404, "not_found", "No such service"), "HTTP 404 not_found"),
    "500": (alert24_error(500, "server_error", "Unexpected error"), "HTTP 500 server_error"),
    "not the documented shape": (respond(200, '{"data": {"id": 1}}'), "not of the documented"),
    "not json": (respond(200, "<html>hello</html>"), "not of the documented shape"),
    "json too deep to parse": (respond(200, "[" * 200_000), "not of the documented shape"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_lookup_still_records_the_change_with_one_line_saying_why(
    failure, env, server, linear
):
    repo, shas = linear
    server.seed(previous(shas[30]))
    action, says = FAILURES[failure]
    if action is None:
        server.can_read = False
    else:
        server.script_lists(action)
    run = run_pipe(deploy(env, repo, shas[32]))
    assert run.returncode == 0, run.output
    assert len(server.listed) == 1  # one attempt, no retries
    assert "description" not in posted(server)
    lines = [
        line
        for line in run.output.splitlines()
        if "Could not list Alert24's changes" in line or "list of changes is not" in line
    ]
    assert len(lines) == 1, run.output
    assert says in lines[0]
    assert "the commits since the previous deployment are not listed" in lines[0]
    assert "Traceback" not in run.output


def test_a_lookup_that_gets_no_answer_costs_at_most_one_timeout(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.script_lists(delay(20))
    run = run_pipe(deploy(env, repo, shas[32], TIMEOUT="2"))
    assert run.returncode == 0, run.output
    assert len(server.received) == 1
    assert "description" not in posted(server)
    assert 2 <= run.elapsed < 2 + 3  # one TIMEOUT, and the run's own second or so
    assert "no answer within TIMEOUT (2 s); the commits since the previous" in run.output


def test_a_list_that_drips_forever_costs_at_most_one_timeout(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.script_lists(drip(200, every=0.1))
    run = run_pipe(deploy(env, repo, shas[32], TIMEOUT="2"))
    assert run.returncode == 0, run.output
    assert "description" not in posted(server)
    assert run.elapsed < 2 + 3
    assert "the commits since the previous deployment are not listed" in run.output


def test_all_pages_of_the_lookup_share_one_timeout(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.seed(*(previous(shas[0], change_type="other") for _ in range(150)))
    server.script_lists(delay(2.7, contract), delay(20))  # page 1 slow, page 2 never answers
    run = run_pipe(deploy(env, repo, shas[32], TIMEOUT="3"))
    assert run.returncode == 0, run.output
    assert len(server.listed) == 2
    assert len(server.received) == 1
    assert 3 <= run.elapsed < 3 + 2  # not 2.7 s and then another whole TIMEOUT (5.7 s)


def test_the_receipt_says_what_went_out(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run_pipe(deploy(env, repo, shas[32]))
    receipt = json.loads(
        (Path(env["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / "alert24-change.json").read_text()
    )
    assert receipt["went_out"] == "forward"
    assert receipt["previous_commit"] == shas[30]
    assert receipt["commits"] == [shas[32], shas[31]]
    assert receipt["commits_complete"] is True


# Commits named otherwise -------------------------------------------------------------------------


def test_an_annotated_tags_id_deploys_the_commit_it_tags(env, server, tmp_path):
    repo = tmp_path / "tagged"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = [commit(repo, f"Change {n}", "By PAY-7") for n in range(3)]
    git(repo, "tag", "-a", "v3", "-m", "Release 3")
    tag = git(repo, "rev-parse", "v3")
    run = run_pipe(deploy(env, repo, shas[2], COMMIT_SHA=tag, PREVIOUS_COMMIT=shas[0]))
    change = posted(server)
    assert change["commit_sha"] == shas[2], run.output
    assert change["commit_message"] == "Change 2\n\nBy PAY-7"
    assert listed_shas(change["description"]) == [shas[2][:8], shas[1][:8]]


def test_a_range_longer_than_the_pipe_reads_is_cut_and_blames_no_clone(
    env, server, linear, monkeypatch
):
    repo, shas = linear
    monkeypatch.setattr(clone, "RANGE_LIMIT", 5)
    monkeypatch.setattr(outgoing, "RANGE_LIMIT", 5)
    run = run_pipe(deploy(env, repo, shas[38], PREVIOUS_COMMIT=shas[30]))
    description = posted(server)["description"]
    assert len(listed_shas(description)) == 5, run.output
    assert description.splitlines()[-1] == (
        "at least 5 commits; the pipe reads at most 5 commits of a deployment."
    )
    assert "depth" not in description
