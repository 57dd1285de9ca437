"""Jira keys as tags, and long text cut, end to end: the real pipe, a real clone made with `git`,
and the local Alert24. One run per promise of the README."""

from __future__ import annotations

from pathlib import Path

from alert24_server import Alert24Server
from alert24_server import alert24_error as error_answer
from conftest import git, run_pipe


def repository(path: Path, *messages: str) -> list[str]:
    """A repository with one commit per message, oldest first; their ids."""
    git(path, "init", "-q", "-b", "main")
    shas = []
    for n, message in enumerate(messages):
        (path / "app.txt").write_text(f"version {n}\n")
        git(path, "add", "app.txt")
        (path / "message.txt").write_text(message)  # a 192 KB message is too long for argv
        git(path, "commit", "-q", "--cleanup=verbatim", "-F", "message.txt")
        shas.append(git(path, "rev-parse", "HEAD"))
    return shas


def posted(server: Alert24Server) -> dict:
    assert len(server.received) == 1, "exactly one change was expected"
    return server.received[0].json


def test_a_192_kb_commit_message_arrives_cut_with_a_marker_and_the_change_is_recorded(
    env, server, tmp_path
):
    message = "Squash of 900 commits\n\n" + "* a line of the squashed log\n" * 6_860
    assert len(message) > 192_000
    (sha,) = repository(tmp_path, message)
    run = run_pipe({**env, "BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": sha})
    assert run.returncode == 0, run.output
    assert "Recorded change" in run.stdout, run.output
    sent = posted(server)["commit_message"]
    assert len(sent) == 4_000
    assert sent.startswith("Squash of 900 commits\n\n* a line")
    assert sent.endswith(f"… [cut: {len(message.rstrip()) - 3_968:,} more characters]")


def test_the_deployed_branchs_jira_key_is_tagged_when_no_commits_are_listed(env, server):
    run = run_pipe({**env, "BITBUCKET_BRANCH": "feature/PAY-123-card-form"})
    assert run.returncode == 0, run.output
    assert "No commits listed" in run.output, run.output
    assert posted(server)["tags"] == ["bitbucket", "feature/PAY-123-card-form", "PAY-123"]


def test_words_that_look_like_keys_are_not_tagged_next_to_the_real_one(env, server, tmp_path):
    first, last = repository(
        tmp_path, "Start", "PAY-12 Read UTF-8 and ISO-8859-1, hash with SHA-256, per RFC-2119"
    )
    server.seed(
        {
            "summary": f"Deployed shop @ {first[:8]}",
            "source": "bitbucket-pipelines",
            "commit_sha": first,
            "pipeline_url": "https://bitbucket.org/acme/shop/pipelines/results/41",
            "environment": "production",
            "external_id": "bitbucket:earlier:step",
        }
    )
    run = run_pipe({**env, "BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": last})
    assert run.returncode == 0, run.output
    assert posted(server)["tags"] == ["bitbucket", "main", "PAY-12"]


def test_jira_project_keys_as_a_yaml_list_restrict_the_tags_and_read_the_branch_in_any_case(
    env, server
):
    run = run_pipe(
        {
            **env,
            "BITBUCKET_BRANCH": "feature/pay-123-ops-7-card-form",
            "JIRA_PROJECT_KEYS_COUNT": "2",
            "JIRA_PROJECT_KEYS_0": "PAY",
            "JIRA_PROJECT_KEYS_1": "SHOP",
        }
    )
    assert run.returncode == 0, run.output
    assert posted(server)["tags"] == ["bitbucket", "feature/pay-123-ops-7-card-form", "PAY-123"]


def test_a_jira_project_key_that_jira_would_refuse_is_named_and_nothing_is_sent(env, server):
    run = run_pipe({**env, "JIRA_PROJECT_KEYS": "PAY, PAY-1"})
    assert run.returncode == 1, run.output
    assert (
        "JIRA_PROJECT_KEYS is 'PAY, PAY-1', which is not valid: 'PAY-1' is not a Jira project "
        "key; give the keys of your Jira projects" in run.stdout
    ), run.output
    assert "Traceback" not in run.output
    assert server.received == []


def test_a_bad_jira_project_key_is_named_with_the_other_bad_variables_at_once(env, server):
    run = run_pipe({**env, "JIRA_PROJECT_KEYS": "PAY-1", "RISK_LEVEL": "huge"})
    assert "JIRA_PROJECT_KEYS is 'PAY-1', which is not valid" in run.stdout, run.output
    assert "RISK_LEVEL is 'huge', which is not valid" in run.stdout, run.output


def test_a_change_alert24_finds_too_large_is_sent_once_more_cut_hard_and_recorded(
    env, server, tmp_path
):
    (sha,) = repository(tmp_path, "Ship it\n\n" + "why " * 1_000)
    server.script(error_answer(413, "payload_too_large", "Too large"))
    run = run_pipe({**env, "BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": sha})
    assert run.returncode == 0, run.output
    assert "Alert24 refused the change as too large (HTTP 413" in run.output
    assert len(server.received) == 2, run.output
    first, second = (received.json for received in server.received)
    assert len(first["commit_message"]) > 500 >= len(second["commit_message"])
    assert second["commit_message"].startswith("Ship it")
    assert "✔ Recorded change" in run.stdout
