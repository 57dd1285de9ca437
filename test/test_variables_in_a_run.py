"""The variables as a user meets them in a run: names trimmed and said so, misspelt variables
named, and a CA bundle that is not there refused before anything is sent. Each test runs
the pipe against the local Alert24, in the test's process (see conftest.run_pipe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert24_server import Alert24Server
from conftest import API_KEY, run_pipe

FAIL_OPEN = {"FAIL_ON_ERROR": "false"}


def sent(server: Alert24Server) -> dict:
    assert len(server.received) == 1, "exactly one request was expected"
    return server.received[0].json


def warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "WARNING:" in line]


# Names lose stray spaces ---------------------------------------------------------------------


def test_an_environment_with_spaces_around_it_is_the_same_environment(env, server):
    run = run_pipe({**env, "ENVIRONMENT": " staging "})
    assert run.returncode == 0, run.output
    assert sent(server)["environment"] == "staging"


def test_trimmed_names_are_named_in_one_warning(env, server):
    run = run_pipe({**env, "ENVIRONMENT": " staging", "SERVICE_ID": "svc_1\n", "SUMMARY": " x "})
    assert run.returncode == 0, run.output
    trimmed = [line for line in warnings(run.output) if "spaces around" in line]
    assert len(trimmed) == 1, run.output
    assert "ENVIRONMENT and SERVICE_ID" in trimmed[0], run.output
    assert "SUMMARY" not in trimmed[0], run.output


def test_a_summary_keeps_its_spaces(env, server):
    run = run_pipe({**env, "SUMMARY": "  Shipped \n"})
    assert run.returncode == 0, run.output
    assert sent(server)["summary"] == "  Shipped \n"
    assert "spaces around" not in run.output


def test_tags_typed_as_a_yaml_list_in_text_are_those_tags(env, server):
    run = run_pipe({**env, "TAGS": "['payments', 'eu-west']"})
    assert run.returncode == 0, run.output
    assert sent(server)["tags"] == ["bitbucket", "main", "payments", "eu-west"]


def test_tags_typed_as_a_broken_yaml_list_are_refused_by_name(env, server):
    run = run_pipe({**env, "TAGS": "['payments', 'eu-west'"})
    assert run.returncode == 1, run.output
    assert "TAGS is \"['payments', 'eu-west'\", which is not valid: it starts with [" in run.stdout
    assert server.received == []


def test_a_blank_environment_counts_as_not_set(env, server):
    run = run_pipe({**env, "ENVIRONMENT": "   "})
    assert run.returncode == 0, run.output
    assert sent(server)["environment"] == "production"
    assert "No deployment environment is set" in run.output


# Misspelt variables are named ------------------------------------------------------------------


def test_a_misspelt_variable_is_named_with_the_one_meant(env, server):
    # Which name is meant, for each kind of slip, is test_variables.py's: here, what a run says.
    run = run_pipe({**env, "RISK_LEVL": "high"})
    assert run.returncode == 0, run.output
    said = "WARNING: RISK_LEVL is not a variable of this pipe: did you mean RISK_LEVEL?"
    assert said in run.output


def test_a_misspelt_key_is_named_without_its_value(env, server):
    run = run_pipe({**env, "ALERT24_APIKEY": API_KEY})  # run_pipe fails on any piece of the key
    assert "ALERT24_APIKEY is not a variable of this pipe" in run.output


def test_a_misspelt_variable_is_named_even_when_validation_fails(env, server):
    run = run_pipe({**env, "ENVIROMENT": "staging", "TIMEOUT": "soon"})
    assert run.returncode == 1, run.output
    assert "ENVIROMENT is not a variable of this pipe" in run.output
    assert "TIMEOUT is 'soon', which is not valid" in run.stdout


def test_the_variables_of_bitbucket_the_image_and_requests_draw_no_warning(env, server):
    others = {
        "TAGS_COUNT": "1",
        "TAGS_0": "web",
        "BITBUCKET_TAG": "v1.2.3",
        "BITBUCKET_DEPLOYMENT_ENVIRONMENT": "staging",
        "PYTHON_VERSION": "3.13.1",
        "GPG_KEY": "7169605F62C751356D054A26A821E680E5FA6305",
        "HOSTNAME": "a1b2c3",
        "NO_PROXY": "127.0.0.1",
        "DOCKER_HOST": "tcp://localhost:2375",
    }
    run = run_pipe({**env, **others})  # PATH, HOME and LANG come with every run
    assert run.returncode == 0, run.output
    assert warnings(run.output) == [], run.output


# REQUESTS_CA_BUNDLE is checked before anything is sent ------------------------------------------


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_that_does_not_exist_is_refused_by_name(name, env, server, tmp_path):
    missing = str(tmp_path / "ca.pem")
    run = run_pipe({**env, name: missing})
    assert run.returncode == 1, run.output
    said = f"{name} is '{missing}', which does not exist: give the path of a CA bundle file"
    assert said in run.stdout
    assert "$BITBUCKET_CLONE_DIR/ca.pem" in run.stdout
    assert "runner's network" not in run.output
    assert server.received == []


def test_a_missing_ca_bundle_with_fail_on_error_false_warns_and_exits_0(env, server, tmp_path):
    run = run_pipe({**env, **FAIL_OPEN, "REQUESTS_CA_BUNDLE": str(tmp_path / "ca.pem")})
    assert run.returncode == 0, run.output
    assert "REQUESTS_CA_BUNDLE is" in run.output
    assert "FAIL_ON_ERROR is false: the step carries on." in run.output
    assert server.received == []


def test_a_ca_bundle_file_that_exists_is_accepted(env, server, ca_bundle):
    run = run_pipe({**env, "REQUESTS_CA_BUNDLE": ca_bundle})
    assert run.returncode == 0, run.output
    assert len(server.received) == 1


def test_a_ca_directory_is_accepted(env, server, tmp_path: Path):
    run = run_pipe({**env, "REQUESTS_CA_BUNDLE": str(tmp_path)})
    assert run.returncode == 0, run.output
    assert len(server.received) == 1


def test_a_ca_bundle_that_requests_would_not_read_is_not_checked(env, server, ca_bundle):
    # requests reads CURL_CA_BUNDLE only when REQUESTS_CA_BUNDLE is not set.
    run = run_pipe({**env, "REQUESTS_CA_BUNDLE": ca_bundle, "CURL_CA_BUNDLE": "/nowhere.pem"})
    assert run.returncode == 0, run.output
