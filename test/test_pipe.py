"""The pipe as a user meets it: variables in, a change in Alert24 (here, the local one) out.

Each test runs the pipe against the local server, in the test's process (`run_pipe`); the
first run and the newcomer's run start `python pipe/pipe.py` as the image does
(`run_pipe_process`). Both fail any test whose output holds the API key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from alert24_server import Alert24Server, alert24_error, echo_request, respond
from conftest import API_KEY, AUTHOR, MESSAGE, ROOT, run_pipe, run_pipe_process


def sent(server: Alert24Server) -> dict:
    assert len(server.received) == 1, "exactly one request was expected"
    return server.received[0].json


# The defaults of a branch build -----------------------------------------------------------------


def test_a_branch_build_records_the_deployment(env, server, head_sha):
    run = run_pipe_process(env)
    assert run.returncode == 0, run.output
    assert (
        f'✔ Recorded change chg_0001 in Alert24: "Deployed shop @ {head_sha[:8]}" to production '
        "(X-Request-Id: req-1)." in run.stdout
    )
    assert sent(server) == {
        "summary": f"Deployed shop @ {head_sha[:8]}",
        "change_type": "deployment",
        "source": "bitbucket-pipelines",
        "commit_sha": head_sha,
        "commit_message": MESSAGE,
        "branch": "main",
        "pipeline_url": "https://bitbucket.org/acme/shop/pipelines/results/42",
        "environment": "production",
        "changed_by": AUTHOR,
        "external_id": (
            "bitbucket:22222222-2222-4222-8222-222222222222:33333333-3333-4333-8333-333333333333"
        ),
        "tags": ["bitbucket", "main"],
    }


def test_the_request_carries_the_key_as_a_bearer_token_and_json(env, server):
    run_pipe(env)
    headers = server.received[0].headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Content-Type"] == "application/json"
    assert server.received[0].path == "/api/v1/changes"


def test_the_environment_is_the_bitbucket_deployment_environment(env, server):
    run_pipe({**env, "BITBUCKET_DEPLOYMENT_ENVIRONMENT": "staging"})
    assert sent(server)["environment"] == "staging"


def test_a_tag_build_names_the_tag_and_sends_no_branch(env, server, head_sha):
    del env["BITBUCKET_BRANCH"]
    run_pipe({**env, "BITBUCKET_TAG": "v2.4.0"})
    change = sent(server)
    assert change["summary"] == f"Deployed shop v2.4.0 @ {head_sha[:8]}"
    assert "branch" not in change
    assert change["tags"] == ["bitbucket", "v2.4.0"]


def test_a_pull_request_build_sends_the_number_as_text_and_its_url(env, server):
    run_pipe({**env, "BITBUCKET_PR_ID": "17"})
    change = sent(server)
    assert change["pr_number"] == "17"
    assert change["pr_url"] == "https://bitbucket.org/acme/shop/pull-requests/17"


def test_without_a_clone_changed_by_is_the_triggerer_and_the_log_says_why(env, server, tmp_path):
    run = run_pipe({**env, "BITBUCKET_CLONE_DIR": str(tmp_path)})
    change = sent(server)
    assert change["changed_by"] == "{44444444-4444-4444-8444-444444444444}"
    assert "commit_message" not in change
    assert (
        f"INFO: The deployed commit could not be read: {tmp_path} holds no git clone (a step "
        "with `clone: enabled: false` has none). The change "
        "goes without its message and the commits since the previous deployment, and changed_by "
        "is the step triggerer's UUID: set CHANGED_BY to say who deployed." in run.output
    ), run.output


def test_a_commit_the_clone_lacks_is_named_at_info(env, server):
    run = run_pipe({**env, "BITBUCKET_COMMIT": "0123456789" * 4, "CHANGED_BY": "Ann"})
    assert sent(server)["changed_by"] == "Ann"
    assert (
        "INFO: The deployed commit could not be read: the clone does not hold the commit "
        "0123456789012345678901234567890123456789. The change goes without its message and the "
        "commits since the previous deployment." in run.output
    ), run.output


def test_a_short_commit_sha_is_resolved_in_the_clone(env, server, head_sha):
    run = run_pipe({**env, "COMMIT_SHA": head_sha[:7].upper()})
    change = sent(server)
    assert change["commit_sha"] == head_sha, run.output
    assert change["commit_message"] == MESSAGE
    assert change["summary"] == f"Deployed shop @ {head_sha[:8]}"


def test_the_same_step_sends_the_same_external_id_and_another_step_another(env, server):
    run_pipe(env)
    run_pipe(env)
    run_pipe({**env, "BITBUCKET_STEP_UUID": "{55555555-5555-4555-8555-555555555555}"})
    ids = [request.json["external_id"] for request in server.received]
    assert ids[0] == ids[1] != ids[2]


# Every variable the user can set ----------------------------------------------------------------

GIVEN = {
    "SUMMARY": ("summary", "Shipped the 'blue' build"),
    "ENVIRONMENT": ("environment", "eu-west"),
    "CHANGE_TYPE": ("change_type", "database_migration"),
    "SERVICE_ID": ("service_id", "svc_123"),
    "RISK_LEVEL": ("risk_level", "high"),
    "DESCRIPTION": ("description", "Line one\nLine two"),
    "CHANGED_BY": ("changed_by", "release-bot@example.com"),
    "COMMIT_MESSAGE": ("commit_message", "A message of my own"),
    "COMMIT_SHA": ("commit_sha", "0123456789abcdef0123456789abcdef01234567"),
    "BRANCH": ("branch", "release/2.x"),
    "PR_NUMBER": ("pr_number", "99"),
    "PR_URL": ("pr_url", "https://example.com/pr/99"),
    "PIPELINE_URL": ("pipeline_url", "https://example.com/run/1"),
    "EXTERNAL_ID": ("external_id", "deploy-2026-11-26"),
    "SOURCE": ("source", "bitbucket-custom"),
}


@pytest.mark.parametrize("variable", GIVEN)
def test_a_variable_given_is_sent_exactly_as_given(variable, env, server):
    field, value = GIVEN[variable]
    run = run_pipe({**env, variable: value})
    assert run.returncode == 0, run.output
    assert sent(server)[field] == value


def test_tags_are_added_to_the_automatic_ones_without_duplicates_or_blanks(env, server):
    tags = {"TAGS_COUNT": "4", "TAGS_0": "web", "TAGS_1": "main", "TAGS_2": "", "TAGS_3": "api"}
    run_pipe({**env, **tags})
    assert sent(server)["tags"] == ["bitbucket", "main", "web", "api"]


def test_a_base_url_with_a_trailing_slash_works(env, server):
    run = run_pipe({**env, "ALERT24_BASE_URL": server.url + "/"})
    assert run.returncode == 0, run.output
    assert server.received[0].path == "/api/v1/changes"


def test_a_variable_mapped_from_an_unset_one_counts_as_not_set(env, server):
    run = run_pipe({**env, "SERVICE_ID": "", "ENVIRONMENT": "", "TIMEOUT": ""})
    assert run.returncode == 0, run.output
    assert "service_id" not in sent(server)
    assert sent(server)["environment"] == "production"


def test_values_with_quotes_backslashes_dollars_newlines_and_unicode_arrive_unchanged(env, server):
    tricky = 'He said "ship it" \\o/ $PATH `x`\n\ttab — 日本語 🚀 \u2028'
    run_pipe({**env, "SUMMARY": tricky, "DESCRIPTION": tricky, "TAGS_COUNT": "1", "TAGS_0": tricky})
    change = sent(server)
    assert change["summary"] == change["description"] == tricky
    assert change["tags"][-1] == tricky.strip()  # a tag names something: it loses stray spaces


# The step's outcome ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["1", "2", "127"])
def test_a_failed_step_records_nothing_and_says_why(code, env, server):
    run = run_pipe({**env, "BITBUCKET_EXIT_CODE": code})
    assert run.returncode == 0
    assert server.received == []
    assert f"The step failed (BITBUCKET_EXIT_CODE={code}): no change recorded." in run.output


def test_with_track_failed_a_failed_step_is_recorded_as_failed(env, server, head_sha):
    run = run_pipe({**env, "BITBUCKET_EXIT_CODE": "2", "TRACK_FAILED": "True"})
    assert run.returncode == 0, run.output
    change = sent(server)
    assert change["summary"] == f"Failed to deploy shop @ {head_sha[:8]}"
    assert change["tags"] == ["bitbucket", "main", "failed"]


# Reporting -------------------------------------------------------------------------------------


def test_success_leaves_a_receipt_in_shared_storage(env, server):
    run_pipe(env)
    receipt_path = Path(env["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / "alert24-change.json"
    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    assert receipt["change_id"] == "chg_0001"
    assert receipt["request_id"] == "req-1"
    assert receipt["body"] == sent(server)


def test_a_refusal_shows_status_type_message_and_request_id_and_exits_1(env, server):
    server.script(
        alert24_error(403, "authorization_error", "API key missing required scope: write")
    )
    run = run_pipe(env)
    assert run.returncode == 1
    assert "✖ The change was not recorded in Alert24: Alert24 answered HTTP 403" in run.stdout
    assert "authorization_error: API key missing required scope: write" in run.stdout
    assert "X-Request-Id: req-1" in run.stdout
    assert "Traceback" not in run.output


def test_the_request_id_is_read_whatever_the_case_of_its_header(env, server):
    server.script(respond(201, '{"data": {"id": "chg_9"}}', {"x-request-id": "edge-7"}))
    run = run_pipe(env)
    assert "✔ Recorded change chg_9 in Alert24: " in run.stdout
    assert "(X-Request-Id: edge-7)." in run.stdout


def test_a_refusal_with_fail_on_error_false_warns_and_exits_0(env, server):
    server.script(alert24_error(401, "authentication_error", "Invalid API key"))
    run = run_pipe({**env, "FAIL_ON_ERROR": "false"})
    assert run.returncode == 0
    assert "WARNING: The change was not recorded in Alert24" in run.output
    assert "FAIL_ON_ERROR is false: the step carries on." in run.output


# Validation ------------------------------------------------------------------------------------


def test_a_missing_key_names_the_variable_and_shows_the_line_to_add(env, server):
    del env["ALERT24_API_KEY"]
    run = run_pipe(env)
    assert run.returncode == 1
    assert "✖ ALERT24_API_KEY is not set." in run.stdout
    assert "ALERT24_API_KEY: $ALERT24_API_KEY" in run.stdout
    assert server.received == []


def test_a_key_with_a_pasted_newline_is_stripped(env, server):
    run = run_pipe({**env, "ALERT24_API_KEY": f"  {API_KEY}\n"})
    assert run.returncode == 0, run.output
    assert server.received[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_a_key_broken_inside_is_refused_without_showing_it(env, server):
    broken = API_KEY[:20] + "\n" + API_KEY[20:]
    run = run_pipe({**env, "ALERT24_API_KEY": broken})
    assert run.returncode == 1
    assert "ALERT24_API_KEY holds spaces, line breaks or non-ASCII characters" in run.stdout
    assert server.received == []


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("CHANGE_TYPE", "deploy", "use one of deployment, config_change, infrastructure"),
        ("RISK_LEVEL", "extreme", "use one of low, medium, high, critical"),
        ("TIMEOUT", "ten", "use a number of seconds from 0.1 to 300"),
        ("TIMEOUT", "0", "use a number of seconds from 0.1 to 300"),
        ("TIMEOUT", "nan", "use a number of seconds from 0.1 to 300"),
        ("MAX_RETRIES", "-1", "use a whole number from 0 to 10"),
        ("DRY_RUN", "maybe", "use 'true' or 'false'"),
        ("FAIL_ON_ERROR", "nope", "use 'true' or 'false'"),
        ("ALERT24_BASE_URL", "app.alert24.net", "use the address alone"),
        ("ALERT24_BASE_URL", "https://app.alert24.net/api/v1", "use the address alone"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(
    variable, value, allowed, env, server
):
    run = run_pipe({**env, variable: value})
    assert run.returncode == 1
    assert f"{variable} is '{value}', which is not valid: {allowed}" in run.stdout
    assert server.received == []


def test_a_base_url_with_credentials_is_refused_without_showing_them(env, server):
    run = run_pipe({**env, "ALERT24_BASE_URL": "https://deploy:hunter2-secret@alert24.example"})
    assert run.returncode == 1
    assert "ALERT24_BASE_URL is 'https://deploy:********@alert24.example'" in run.stdout
    assert "hunter2" not in run.output
    assert "with no user or password in it" in run.stdout
    assert server.received == []


def test_a_tags_count_that_is_not_a_number_is_explained(env, server):
    run = run_pipe({**env, "TAGS_COUNT": "abc"})
    assert run.returncode == 1
    assert "TAGS_COUNT is 'abc', which is not valid: give TAGS as a YAML list" in run.stdout
    assert server.received == []


def test_boolean_words_are_read_in_any_case(env, server):
    run = run_pipe({**env, "DRY_RUN": "TRUE"})
    assert run.returncode == 0, run.output
    assert server.received == []


# Dry run ---------------------------------------------------------------------------------------


def test_a_dry_run_shows_the_request_sends_nothing_and_needs_no_key(env, server, head_sha):
    del env["ALERT24_API_KEY"]
    run = run_pipe({**env, "DRY_RUN": "true"})
    assert run.returncode == 0, run.output
    assert server.received == []
    assert f"POST {server.url}/api/v1/changes" in run.stdout
    assert "Authorization: Bearer ********" in run.stdout
    assert f'"summary": "Deployed shop @ {head_sha[:8]}"' in run.stdout
    assert "✔ Dry run: the change above was not sent to Alert24." in run.stdout


def test_a_dry_run_with_a_key_redacts_it(env, server):
    run = run_pipe({**env, "DRY_RUN": "true", "DEBUG": "true"})
    assert "Authorization: Bearer ********" in run.stdout
    assert server.received == []


# Secrets ---------------------------------------------------------------------------------------


def test_an_answer_that_echoes_the_key_is_shown_without_it(env, server):
    server.script(echo_request(400))
    run = run_pipe({**env, "DEBUG": "true"})  # run_pipe fails the test if the key shows
    assert '"Authorization": "Bearer ********"' in run.stdout  # in the ✖ line
    assert '\\"Authorization\\": \\"Bearer ********\\"' in run.stderr  # in DEBUG's answer


def test_a_proxy_password_is_not_shown_when_the_proxy_is_down(env, server):
    run = run_pipe({**env, "HTTP_PROXY": "http://deploy:pr0xy-s3cret@127.0.0.1:9", "DEBUG": "true"})
    assert "the proxy failed" in run.output
    assert "pr0xy-s3cret" not in run.output


# Debug -----------------------------------------------------------------------------------------


def test_the_pipe_names_its_version_to_alert24_and_under_debug(env, server):
    metadata = yaml.safe_load((ROOT / "pipe.yml").read_text(encoding="utf-8"))
    version = metadata["image"].rsplit(":", 1)[1]
    run = run_pipe({**env, "DEBUG": "true"})
    assert server.received[0].headers["User-Agent"] == f"alert24-track-deployment/{version}"
    assert f"DEBUG: alert24-track-deployment/{version} on Python 3." in run.stderr


@pytest.mark.parametrize("refused", [{"RISK_LEVEL": "urgent"}, {"TIMEOUT": "x"}])
def test_a_run_whose_variables_are_refused_names_its_version_first_under_debug(
    refused, env, server
):
    run = run_pipe({**env, "DEBUG": "yes", **refused})
    assert run.returncode == 1, run.output
    assert "Validation errors:" in run.stdout
    assert re.sub(r"\x1b\[[0-9;]*m", "", run.stderr).startswith("DEBUG: alert24-track-deployment/")


def test_debug_shows_the_request_with_the_key_redacted(env, server):
    run = run_pipe({**env, "DEBUG": "true"})
    assert run.returncode == 0, run.output
    assert "Authorization: Bearer ********" in run.output
    assert "Alert24 answered 201 (X-Request-Id: req-1)" in run.output
    assert f"  body: {server.received[0].body.decode()}" in run.stderr


# Outside Bitbucket -----------------------------------------------------------------------------


def test_outside_bitbucket_it_runs_from_a_local_checkout(clone_dir, server, head_sha):
    local = {"ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": server.url}
    run = run_pipe(local, cwd=clone_dir)
    assert run.returncode == 0, run.output
    change = sent(server)
    assert change["summary"] == f"Deployed {clone_dir.name} @ {head_sha[:8]}"
    assert change["commit_sha"] == head_sha
    assert change["branch"] == "main"
    assert change["changed_by"] == AUTHOR
    assert change["tags"] == ["bitbucket", "main"]


def test_outside_bitbucket_and_any_repository_a_dry_run_still_works(tmp_path):
    run = run_pipe({"DRY_RUN": "true"}, cwd=tmp_path)
    assert run.returncode == 0, run.output
    assert f'"summary": "Deployed {tmp_path.name}"' in run.stdout
    assert "POST https://app.alert24.net/api/v1/changes" in run.stdout


def test_the_pipe_runs_from_this_repository_as_a_newcomer_would(server):
    if not (ROOT / ".git").exists():
        pytest.skip("this copy of the pipe is not a git checkout")
    run = run_pipe_process({"DRY_RUN": "true"})
    assert run.returncode == 0, run.output
    assert '"commit_sha"' in run.stdout


def test_a_value_that_is_not_utf8_is_refused_by_name(env, server):
    run = run_pipe({**env, "DESCRIPTION": b"caf\xe9".decode("utf-8", "surrogateescape")})
    assert run.returncode == 1
    assert (
        "DESCRIPTION holds bytes that are not UTF-8 text, which Alert24 cannot take" in run.stdout
    )
    assert server.received == []


# Input the toolkit never sees ------------------------------------------------------------------


def test_a_bitbucket_variable_that_is_not_utf8_is_refused_by_name(env, server):
    branch = b"caf\xe9".decode("utf-8", "surrogateescape")
    run = run_pipe({**env, "BITBUCKET_BRANCH": branch})
    assert run.returncode == 1
    assert "BITBUCKET_BRANCH holds bytes that are not UTF-8 text" in run.stdout
    assert "Unexpected error" not in run.output
    assert server.received == []


def test_more_than_100_tags_are_refused_before_any_is_read(env, server):
    run = run_pipe({**env, "TAGS_COUNT": "1000000000"}, timeout=10)
    assert run.returncode == 1
    assert "TAGS has 1000000000 items, which is too many: give at most 100." in run.stdout
    assert server.received == []


def test_100_tags_are_sent(env, server):
    tags = {f"TAGS_{i}": f"t{i}" for i in range(100)}
    run = run_pipe({**env, "TAGS_COUNT": "100", **tags})
    assert run.returncode == 0, run.output
    assert sent(server)["tags"][-1] == "t99"


def test_an_empty_tags_count_means_no_tags_were_given(env, server):
    run = run_pipe({**env, "TAGS_COUNT": ""})
    assert run.returncode == 0, run.output
    assert sent(server)["tags"] == ["bitbucket", "main"]


def test_a_base_url_with_spaces_around_it_and_an_upper_case_scheme_works(env, server):
    shouted = server.url.replace("http://", "HTTP://")
    run = run_pipe({**env, "ALERT24_BASE_URL": f"  {shouted}/ \n"})
    assert run.returncode == 0, run.output
    assert len(server.received) == 1


@pytest.mark.parametrize(
    "url",
    ["https://app..alert24.net", f"https://{'a' * 64}.alert24.net", "https://.", "https://h:0"],
    ids=["empty label", "label over 63", "no name", "port 0"],
)
def test_a_host_that_cannot_be_a_host_name_is_refused_by_name(url, env, server):
    run = run_pipe({**env, "ALERT24_BASE_URL": url})
    assert run.returncode == 1
    assert f"ALERT24_BASE_URL is '{url}', which is not valid: use the address alone" in run.stdout
    assert "Unexpected error" not in run.output


def test_a_key_sent_over_plain_http_to_another_host_is_warned_about(env, server):
    run = run_pipe({**env, "ALERT24_BASE_URL": "http://alert24.example", "DRY_RUN": "true"})
    assert run.returncode == 0, run.output
    assert "over http:// the key travels unencrypted. Use https://." in run.output


def test_plain_http_to_this_machine_is_not_warned_about(env, server):
    run = run_pipe(env)
    assert run.returncode == 0, run.output
    assert "unencrypted" not in run.output


# The key in text the user gave ---------------------------------------------------------------


def test_a_dry_run_never_shows_the_key_even_in_text_it_was_given(env, server):
    # run_pipe fails the test if any piece of the key shows
    run = run_pipe({**env, "DRY_RUN": "true", "DESCRIPTION": f"rotated {API_KEY} today"})
    assert '"description": "rotated ******** today"' in run.stdout


def test_the_success_line_never_shows_the_key_even_in_the_summary_given(env, server):
    run = run_pipe({**env, "SUMMARY": f"Deployed with {API_KEY}"})
    assert run.returncode == 0, run.output
    assert '"Deployed with ********"' in run.stdout


# Proxies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxy",
    [
        "http://deploy:Zm9vQmFy/YmF6cXV4@proxy.corp:3128",
        "http://deploy:8841/Zm9vQmFy@proxy.corp:3128",  # reads as host `deploy`, port 8841
        "http://deploy:Zm9vQmFyYmF6@[::1",
        "http://deploy:Zm9v%E2%82%ACwsx@proxy.corp:3128",
        "http://deploy:Zm9vQmFy@proxy..corp:3128",
        "socks5://deploy:Zm9vQmFy@proxy.corp:1080",
    ],
    ids=[
        "a slash in the password",
        "a slash after digits",
        "a broken IPv6 literal",
        "a password beyond Latin-1",
        "an empty label in the host",
        "a SOCKS proxy",
    ],
)
def test_a_proxy_address_requests_cannot_use_is_named_without_its_password(proxy, env, server):
    run = run_pipe({**env, "HTTPS_PROXY": proxy})
    assert run.returncode == 1, run.output
    assert "HTTPS_PROXY cannot be read as a proxy's address" in run.stdout
    assert "Zm9v" not in run.output
    assert "Unexpected error" not in run.output
    assert server.received == []


def test_a_proxy_variable_in_mixed_case_is_checked_as_requests_reads_it(env, server):
    run = run_pipe({**env, "Https_Proxy": "http://deploy:Zm9vQmFy/YmF6cXV4@proxy.corp:3128"})
    assert run.returncode == 1, run.output
    assert "Https_Proxy cannot be read as a proxy's address" in run.stdout
    assert "Zm9v" not in run.output


# The key, wherever a user put it ------------------------------------------------------------


@pytest.mark.parametrize(
    "misplaced",
    [
        {"RISK_LEVEL": API_KEY},
        {"ALERT24_BASE_URL": f"http://{API_KEY}@127.0.0.1:9"},
        {"COMMIT_SHA": API_KEY},
        {"SERVICE_ID": API_KEY},
        {"BITBUCKET_EXIT_CODE": API_KEY},
    ],
    ids=lambda misplaced: next(iter(misplaced)),
)
def test_the_key_pasted_into_another_variable_is_never_shown(misplaced, env, server):
    run_pipe({**env, "DEBUG": "true", **misplaced})  # fails if any piece of the key shows


def test_a_line_break_in_the_exit_code_cannot_forge_a_line(env, server):
    run = run_pipe({**env, "BITBUCKET_EXIT_CODE": "1\n✔ Recorded change chg_999 in Alert24"})
    assert "BITBUCKET_EXIT_CODE=1\\n✔ Recorded change chg_999" in run.output, run.output
    assert not any(line.startswith("✔") for line in run.output.splitlines())


# A failed step -----------------------------------------------------------------------------------


def test_a_failed_step_records_nothing_even_without_a_key(env, server):
    del env["ALERT24_API_KEY"]  # a pull request from a fork: no secured variables
    run = run_pipe({**env, "BITBUCKET_EXIT_CODE": "1"})
    assert run.returncode == 0, run.output
    assert "The step failed (BITBUCKET_EXIT_CODE=1): no change recorded." in run.output
