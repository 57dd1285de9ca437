"""A user's first hour: fail-open that really fails open, values read as obviously meant, and
logs that say where the change went."""

from __future__ import annotations

import pytest

from alert24_server import alert24_error
from conftest import API_KEY, run_pipe, run_pipe_process

FAIL_OPEN = {"FAIL_ON_ERROR": "false"}


# FAIL_ON_ERROR: 'false' means the pipe never fails the step ------------------------------------


def test_fail_open_turns_a_missing_key_into_a_warning_and_exit_0(env, server):
    del env["ALERT24_API_KEY"]
    run = run_pipe_process({**env, **FAIL_OPEN})  # exit 0 as the step sees it, from a process
    assert run.returncode == 0, run.output
    assert "WARNING: ALERT24_API_KEY is not set." in run.output
    assert "FAIL_ON_ERROR is false: the step carries on." in run.output
    assert server.received == []


def test_fail_open_turns_a_bad_value_into_a_warning_and_exit_0(env, server):
    run = run_pipe({**env, **FAIL_OPEN, "TIMEOUT": "soon"})
    assert run.returncode == 0, run.output
    assert "TIMEOUT is 'soon', which is not valid" in run.output
    assert "FAIL_ON_ERROR is false: the step carries on." in run.output
    assert server.received == []


def test_fail_open_turns_a_broken_key_into_a_warning_and_exit_0(env, server):
    run = run_pipe({**env, **FAIL_OPEN, "ALERT24_API_KEY": API_KEY[:10] + " " + API_KEY[10:]})
    assert run.returncode == 0, run.output
    assert "ALERT24_API_KEY holds spaces" in run.output
    assert server.received == []


def test_a_configuration_error_fails_the_step_by_default(env, server):
    run = run_pipe({**env, "RISK_LEVEL": "extreme"})
    assert run.returncode == 1
    assert "✖ Validation errors:" in run.stdout


def test_a_fail_on_error_that_cannot_be_read_counts_as_true_and_says_so(env, server):
    run = run_pipe({**env, "FAIL_ON_ERROR": "sometimes", "RISK_LEVEL": "extreme"})
    assert run.returncode == 1
    assert "FAIL_ON_ERROR is 'sometimes', which is not valid: use 'true' or 'false'" in run.stdout
    assert "RISK_LEVEL is 'extreme'" in run.stdout
    assert "FAIL_ON_ERROR could not be read, so it counts as 'true'" in run.stdout


# Values read as a user obviously meant them ---------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "given", "sent"),
    [
        ("RISK_LEVEL", "HIGH", "high"),
        ("RISK_LEVEL", " Critical ", "critical"),
        ("CHANGE_TYPE", "Database_Migration", "database_migration"),
        ("CHANGE_TYPE", "ROLLBACK\n", "rollback"),
    ],
)
def test_choices_are_read_in_any_case_and_without_surrounding_spaces(
    variable, given, sent, env, server
):
    run = run_pipe({**env, variable: given})
    assert run.returncode == 0, run.output
    assert server.received[0].json[variable.lower()] == sent


def test_tags_given_as_one_text_are_split_at_commas(env, server):
    run = run_pipe({**env, "TAGS": "payments, eu-west,,"})
    assert run.returncode == 0, run.output
    assert server.received[0].json["tags"] == ["bitbucket", "main", "payments", "eu-west"]


def test_one_tag_given_as_text_is_one_tag(env, server):
    run = run_pipe({**env, "TAGS": "payments"})
    assert run.returncode == 0, run.output
    assert server.received[0].json["tags"] == ["bitbucket", "main", "payments"]


# Logs that say where the change went -----------------------------------------------------------


def test_without_an_environment_the_log_says_production_was_assumed_and_how_to_change_it(
    env, server
):
    run = run_pipe(env)
    assert run.returncode == 0, run.output
    assert "INFO: No deployment environment is set: the change goes to 'production'" in run.output
    assert "Set `deployment:` on the step, or ENVIRONMENT" in run.output
    assert server.received[0].json["environment"] == "production"


def test_a_pull_request_without_an_environment_is_warned_about(env, server):
    run = run_pipe({**env, "BITBUCKET_PR_ID": "7"})
    assert "WARNING: No deployment environment is set: the change goes to 'production'" in (
        run.output
    )


@pytest.mark.parametrize(
    "where", [{"ENVIRONMENT": "staging"}, {"BITBUCKET_DEPLOYMENT_ENVIRONMENT": "staging"}]
)
def test_with_an_environment_nothing_is_assumed(where, env, server):
    run = run_pipe({**env, **where})
    assert "No deployment environment" not in run.output
    assert "to staging (X-Request-Id: req-1)." in run.stdout


def test_the_success_line_names_the_summary_on_one_line(env, server):
    run = run_pipe({**env, "SUMMARY": "Ship it\n✔ Recorded change forged"})
    assert run.returncode == 0, run.output
    assert '"Ship it\\n✔ Recorded change forged" to production' in run.stdout
    assert len([line for line in run.stdout.splitlines() if "✔" in line]) == 1


# A dry run says whether the key was passed ------------------------------------------------------


def test_a_dry_run_without_a_key_says_a_real_run_would_stop(env, server):
    del env["ALERT24_API_KEY"]
    run = run_pipe({**env, "DRY_RUN": "true"})
    assert run.returncode == 0, run.output
    assert (
        "Authorization: Bearer ******** (ALERT24_API_KEY is not set: a real run would stop here)"
        in run.stdout
    )


def test_a_dry_run_with_a_key_says_it_is_set(env, server):
    run = run_pipe({**env, "DRY_RUN": "true"})
    assert "Authorization: Bearer ******** (ALERT24_API_KEY is set)" in run.stdout
    assert server.received == []


def test_a_dry_run_checks_the_key_as_a_real_run_does(env, server):
    run = run_pipe({**env, "DRY_RUN": "true", "ALERT24_API_KEY": API_KEY[:10] + "\n" + API_KEY})
    assert run.returncode == 1
    assert "ALERT24_API_KEY holds spaces, line breaks or non-ASCII characters" in run.stdout


# Messages point to where the fix is ------------------------------------------------------------


def test_the_missing_key_message_links_where_keys_and_secured_variables_are_made(env, server):
    del env["ALERT24_API_KEY"]
    run = run_pipe(env)
    assert "https://alert24.net/docs/api-authentication" in run.stdout
    assert "https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/" in run.stdout


@pytest.mark.parametrize(
    ("status", "error_type"), [(401, "authentication_error"), (403, "authorization_error")]
)
def test_a_refused_key_is_told_the_scope_it_needs(status, error_type, env, server):
    server.script(alert24_error(status, error_type, "No"))
    run = run_pipe_process(env)  # exit 1 as the step sees it, from a process
    assert run.returncode == 1
    assert "'write' scope" in run.stdout
    assert "https://alert24.net/docs/api-authentication" in run.stdout


@pytest.mark.parametrize(
    "wrong", [{"RISK_LEVEL": "urgent"}, {"ALERT24_API_KEY": ""}], ids=["a bad variable", "no key"]
)
def test_a_run_stopped_by_its_variables_says_nothing_was_recorded(wrong, env, server):
    run = run_pipe({**env, **FAIL_OPEN, **wrong})
    assert run.returncode == 0, run.output
    assert "Nothing was sent to Alert24: the change was not recorded." in run.output
    assert run.output.index("not recorded") < run.output.index("FAIL_ON_ERROR is false")
