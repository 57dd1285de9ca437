"""The variables as a user meets them in a run: names trimmed and said so. Each test runs
pipe/pipe.py in a fresh process against the local Alert24 (see conftest.py)."""

from __future__ import annotations

from alert24_server import Alert24Server
from conftest import run_pipe


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
