"""The look-up of the previous deployment, end to end: the real pipe against the local Alert24,
for which change it passes over (another step of the same pipeline run) and for what its lines
say (a dry run whose key Alert24 refuses, no earlier deployment, a look-up out of time).

The histories, the seeded changes and the runs are made as test_went_out.py makes them.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from test_went_out import deploy, linear, listed_shas, log, posted, previous

from alert24_server import alert24_error, contract, delay, respond
from conftest import API_KEY, BRANCH_BUILD, Run, run_pipe
from previous import LookupFailed, Mine, find_previous

__all__ = ["linear"]  # a fixture: imported to be used here

PIPELINE = BRANCH_BUILD["BITBUCKET_PIPELINE_UUID"].strip("{}")
OTHER_STEP = "55555555-5555-4555-8555-555555555555"


def sibling(sha: str) -> dict:
    """A change another step of this same pipeline run recorded, for `sha`."""
    return previous(sha, build=42, external_id=f"bitbucket:{PIPELINE}:{OTHER_STEP}")


# Steps of one pipeline run ---------------------------------------------------------------------


def test_another_steps_change_for_this_commit_is_looked_past(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]), sibling(shas[33]))
    run = run_pipe(deploy(env, repo, shas[33]))
    assert run.returncode == 0, run.output
    change = posted(server)
    assert listed_shas(change["description"]) == [
        s[:8] for s in log(repo, f"{shas[30]}..{shas[33]}")
    ], run.output
    assert change["summary"] == f"Deployed shop @ {shas[33][:8]}", run.output
    assert f"3 commits since {shas[30][:8]}." in run.stdout


def test_another_steps_change_for_this_commit_leaves_the_jira_keys_tagged(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]), sibling(shas[33]))
    run = run_pipe(deploy(env, repo, shas[33]))
    # commits 33, 32, 31: JIRA[3], JIRA[2], JIRA[1]
    assert posted(server)["tags"] == ["bitbucket", "main", "WEB-30", "PAY-2", "OPS-7"], run.output


def test_another_steps_change_for_another_commit_is_the_previous_deployment(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]), sibling(shas[33]))
    # Both steps build commit 33; this one deploys 35 (COMMIT_SHA): 33 went out before it.
    run = run_pipe(deploy(env, repo, shas[33], COMMIT_SHA=shas[35]))
    assert run.returncode == 0, run.output
    assert listed_shas(posted(server)["description"]) == [
        s[:8] for s in log(repo, f"{shas[33]}..{shas[35]}")
    ], run.output


# A dry run tells whether Alert24 takes the key ------------------------------------------------

DRY_RUN_DONE = "✔ Dry run: the change above was not sent to Alert24."
WRONG_KEY = "ak_live_" + "x" * 32
KEY_NOT_CHECKED = "ALERT24_API_KEY was not checked: Alert24 accepted no request made with it."


def last_line(run: Run) -> str:
    """The ✔ or ✖ line, without the toolkit's colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", run.stdout.rstrip().splitlines()[-1])


def test_a_dry_run_whose_key_alert24_refuses_warns_of_it(env, server, linear):
    repo, shas = linear
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true", ALERT24_API_KEY=WRONG_KEY))
    assert run.returncode == 0, run.output
    assert "WARNING: Could not list Alert24's changes: HTTP 401" in run.output, run.output


def test_a_dry_run_whose_key_alert24_refuses_says_so_in_its_last_line(env, server, linear):
    repo, shas = linear
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true", ALERT24_API_KEY=WRONG_KEY))
    assert last_line(run).startswith(
        f"{DRY_RUN_DONE} Alert24 refused ALERT24_API_KEY (HTTP 401): a real run would fail. "
        "Check that ALERT24_API_KEY holds a current key"
    ), run.output


def test_a_dry_run_whose_key_lacks_the_scope_says_it_needs_the_write_scope(env, server, linear):
    repo, shas = linear
    server.can_read = False
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert "WARNING: Could not list Alert24's changes: HTTP 403" in run.output, run.output
    assert last_line(run).startswith(
        f"{DRY_RUN_DONE} Alert24 refused ALERT24_API_KEY (HTTP 403): a real run would fail. "
        "The key needs the 'write' scope"
    ), run.output


def test_a_dry_run_whose_look_up_fails_otherwise_says_it_in_one_info_line(env, server, linear):
    repo, shas = linear
    server.script_lists(alert24_error(500, "server_error", "Unexpected error"))
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert "INFO: Could not list Alert24's changes: HTTP 500" in run.output, run.output
    assert last_line(run) == f"{DRY_RUN_DONE} {KEY_NOT_CHECKED}", run.output


def test_a_dry_run_whose_key_alert24_takes_ends_in_the_plain_line(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert len(server.listed) == 1, run.output
    assert last_line(run) == DRY_RUN_DONE


def test_a_dry_run_that_finds_nothing_in_three_pages_took_the_key_all_the_same(env, server, linear):
    repo, shas = linear
    elsewhere = "https://bitbucket.org/acme/other/pipelines/results/1"  # another repository
    server.seed(*[previous(shas[30], pipeline_url=elsewhere)] * 301)
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert "None of Alert24's latest 300 changes" in run.output, run.output
    assert last_line(run) == DRY_RUN_DONE


@pytest.mark.parametrize(
    "without_look_up",
    [{"LIST_COMMITS": "false"}, {"BITBUCKET_REPO_FULL_NAME": ""}, {"PREVIOUS_COMMIT": "set"}],
    ids=["LIST_COMMITS false", "outside Bitbucket", "PREVIOUS_COMMIT"],
)
def test_a_dry_run_that_asks_alert24_nothing_says_the_key_was_not_checked(
    without_look_up, env, server, linear
):
    repo, shas = linear
    if "PREVIOUS_COMMIT" in without_look_up:
        without_look_up = {"PREVIOUS_COMMIT": shas[30]}
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true", **without_look_up))
    assert server.listed == [], run.output
    assert last_line(run) == f"{DRY_RUN_DONE} {KEY_NOT_CHECKED}"


# What the lines say ----------------------------------------------------------------------------


def test_no_earlier_deployment_names_the_repository(env, server, linear):
    repo, shas = linear
    run = run_pipe(deploy(env, repo, shas[31]))
    assert (
        "Alert24 holds no earlier deployment of acme/shop to production: no commits listed."
    ) in run.output


def test_no_earlier_deployment_names_the_service(env, server, linear):
    repo, shas = linear
    run = run_pipe(deploy(env, repo, shas[31], SERVICE_ID="svc-1"))
    assert (
        "Alert24 holds no earlier deployment of acme/shop (service svc-1) to production: "
        "no commits listed."
    ) in run.output


def test_one_change_read_is_one_change(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    run = run_pipe(deploy(env, repo, shas[31], DEBUG="true"))
    assert "found on page 1 of Alert24's list after 1 change." in run.output, run.output


# The look-up in-process: what LookupFailed carries -----------------------------------------------

MINE = Mine("acme/shop", "production", source="bitbucket-pipelines")


def look_up(base_url: str, *, api_key: str = API_KEY, timeout: float = 5) -> LookupFailed:
    with pytest.raises(LookupFailed) as failed:
        find_previous(base_url, MINE, api_key=api_key, user_agent="test", timeout=timeout)
    return failed.value


def test_a_refused_key_comes_back_as_its_status(server):
    refused = look_up(server.url, api_key=WRONG_KEY)
    assert (refused.status, refused.key_refused) == (401, True)


def test_a_key_without_read_access_comes_back_as_its_status(server):
    server.can_read = False
    refused = look_up(server.url)
    assert (refused.status, refused.key_refused) == (403, True)


def test_a_server_error_is_no_refusal_of_the_key(server):
    server.script_lists(alert24_error(500, "server_error", "Unexpected error"))
    failed = look_up(server.url)
    assert (failed.status, failed.key_refused) == (500, False)


def test_a_later_page_without_an_answer_names_timeout_not_what_was_left_of_it(server):
    server.seed(*(previous("0" * 40, change_type="other") for _ in range(150)))
    server.script_lists(delay(1.5, contract), delay(20))  # page 2 gets what is left: ~0.5 s
    failed = look_up(server.url, timeout=2)
    assert "Could not list Alert24's changes: no answer within TIMEOUT (2 s);" in str(failed)
    assert failed.status is None


def test_a_connection_that_never_finishes_its_handshake_names_timeout():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # never accepts, never answers TLS
        failed = look_up(f"https://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    assert "Could not list Alert24's changes: could not connect within TIMEOUT (0.5 s);" in str(
        failed
    )


def test_none_in_three_pages_says_the_look_up_read_no_further(env, server, linear):
    repo, shas = linear
    server.seed(previous(shas[30]))
    server.seed(*(previous(shas[0], change_type="other") for _ in range(300)))
    run = run_pipe(deploy(env, repo, shas[31]))
    assert (
        "None of Alert24's latest 300 changes is an earlier deployment of acme/shop to "
        "production, and the look-up reads no further"
    ) in run.output


# Pages as Alert24 gives them -------------------------------------------------------------------


def page_of(items: list[dict], **meta: object) -> object:
    return respond(200, json.dumps({"data": items, "meta": meta}))


ELSEWHERE = "https://bitbucket.org/acme/other/pipelines/results/1"  # another repository's change


def test_shorter_pages_than_asked_for_are_read_on_from_where_they_end(env, server, linear):
    repo, shas = linear
    fifty = [previous(shas[30], pipeline_url=ELSEWHERE)] * 50
    server.script_lists(*[page_of(fifty, has_more=True)] * 3)
    run = run_pipe(deploy(env, repo, shas[31]))
    offsets = [re.search(r"offset=(\d+)", request.path)[1] for request in server.listed]
    assert offsets == ["0", "50", "100"], run.output
    assert "None of Alert24's latest 150 changes is an earlier deployment" in run.output


def test_a_dry_run_whose_key_listed_one_page_then_failed_took_the_key(env, server, linear):
    repo, shas = linear
    hundred = [previous(shas[30], pipeline_url=ELSEWHERE)] * 100
    failure = alert24_error(500, "server_error", "Unexpected error")
    server.script_lists(page_of(hundred, has_more=True), failure)
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert len(server.listed) == 2, run.output
    assert last_line(run) == DRY_RUN_DONE


def test_a_list_that_echoes_the_key_for_megabytes_costs_no_more_than_its_timeout(
    env, server, linear
):
    repo, shas = linear
    echo = [{"summary": API_KEY * 200, "pipeline_url": ELSEWHERE}] * 1000  # 8 MiB of the key
    server.script_lists(page_of(echo, has_more=False))
    started = time.monotonic()
    run = run_pipe(deploy(env, repo, shas[31], TIMEOUT="1", DEBUG="true"))
    assert time.monotonic() - started < 4, run.output  # the look-up's 1 s, and the POST
    assert run.returncode == 0, run.output


def test_a_dry_run_whose_look_up_got_a_page_of_html_did_not_check_the_key(env, server, linear):
    repo, shas = linear
    server.script_lists(respond(200, "<html>Sign in</html>"))
    run = run_pipe(deploy(env, repo, shas[31], DRY_RUN="true"))
    assert "not of the documented shape" in run.output, run.output
    assert last_line(run) == f"{DRY_RUN_DONE} {KEY_NOT_CHECKED}"


def at(day: int) -> str:
    return f"2026-01-{day:02d}T00:00:00.000Z"


def test_a_list_oldest_first_with_more_than_was_read_names_no_previous_deployment(
    env, server, linear
):
    repo, shas = linear
    old = previous(shas[10], created_at=at(1))
    rest = [{**previous(shas[10], pipeline_url=ELSEWHERE), "created_at": at(2)}] * 99
    filler = [{**previous(shas[10], pipeline_url=ELSEWHERE), "created_at": at(3)}] * 100
    server.script_lists(page_of([old, *rest], has_more=True), *[page_of(filler, has_more=True)] * 2)
    run = run_pipe(deploy(env, repo, shas[35]))
    assert "description" not in posted(server), run.output  # c10 may not be the last one
    assert "the previous deployment may be among the rest" in run.output


def test_a_page_that_fails_after_one_in_no_order_names_no_previous_deployment(env, server, linear):
    repo, shas = linear
    found = previous(shas[20], created_at=at(1))
    newer = [{**previous(shas[20], pipeline_url=ELSEWHERE), "created_at": at(5)}] * 99
    failure = alert24_error(500, "server_error", "Unexpected error")
    server.script_lists(page_of([found, *newer], has_more=True), failure)
    run = run_pipe(deploy(env, repo, shas[35]))
    assert "description" not in posted(server), run.output
    assert "Could not list Alert24's changes: HTTP 500" in run.output


def test_a_full_page_without_meta_is_read_on(env, server, linear):
    repo, shas = linear
    hundred = [previous(shas[30], pipeline_url=ELSEWHERE)] * 100
    last = page_of([previous(shas[30])], has_more=False)
    server.script_lists(respond(200, json.dumps({"data": hundred})), last)
    run = run_pipe(deploy(env, repo, shas[35]))
    assert len(server.listed) == 2, run.output
    assert f"5 commits since {shas[30][:8]}" in run.stdout
