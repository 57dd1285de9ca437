"""The variables as read from their text by Cerberus, taught the pipe's coercers: in one process,
for the rules' details; test_variables_in_a_run.py and test_pipe.py run the pipe itself."""

from __future__ import annotations

import pytest

from pipe import read_fail_on_error, schema
from variables import (
    InvalidVariables,
    PipeValidator,
    misspelt,
    read_variables,
)


def read(environ: dict[str, str]) -> dict:
    return read_variables(environ, schema).values


def trimmed(environ: dict[str, str]) -> list[str]:
    return read_variables(environ, schema).trimmed


def problems(environ: dict[str, str]) -> str:
    with pytest.raises(InvalidVariables) as raised:
        read(environ)
    return str(raised.value)


def test_the_schema_is_one_cerberus_accepts():
    rules = {name: {k: v for k, v in r.items() if k != "meta"} for name, r in schema.items()}
    PipeValidator(rules)  # raises SchemaError if not


def test_defaults_apply_to_what_is_not_given():
    values = read({})
    assert values["TIMEOUT"] == 10
    assert values["TAGS"] == []
    assert values["SOURCE"] == "bitbucket-pipelines"
    assert "SUMMARY" not in values


@pytest.mark.parametrize("name", ["TIMEOUT", "MAX_RETRIES", "RISK_LEVEL", "ALERT24_BASE_URL"])
def test_every_problem_is_named_at_once(name):
    environ = {"TIMEOUT": "x", "MAX_RETRIES": "x", "RISK_LEVEL": "x", "ALERT24_BASE_URL": "x"}
    assert f"{name} is 'x', which is not valid" in problems(environ)


# Today's inputs, read as before: as text, never as YAML ---------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("DRY_RUN", "TRUE", True),
        ("DRY_RUN", " Yes ", True),
        ("DRY_RUN", "off", False),
        ("DRY_RUN", "1", True),
        ("DRY_RUN", "0", False),
        ("TIMEOUT", " 2.5 ", 2.5),
        ("TIMEOUT", "300", 300),
        ("MAX_RETRIES", "010", 10),  # YAML would read an octal 8
        ("MAX_RETRIES", " 7 ", 7),
        ("RISK_LEVEL", " HIGH ", "high"),
        ("CHANGE_TYPE", "Rollback\n", "rollback"),
        ("ALERT24_BASE_URL", "  HTTPS://alert24.example/ \n", "https://alert24.example"),
        ("PREVIOUS_COMMIT", "ABCDEF" + "0" * 34, "abcdef" + "0" * 34),
    ],
)
def test_a_value_is_read_from_its_text_as_a_user_means_it(name, text, value):
    assert read({name: text})[name] == value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("TIMEOUT", "nan"),
        ("TIMEOUT", ".nan"),  # YAML would read a NaN, which passes min and max
        ("TIMEOUT", "1:30"),  # YAML would read 90, in base 60
        ("TIMEOUT", "inf"),
        ("MAX_RETRIES", "2.5"),
        ("MAX_RETRIES", "11"),
        ("DEBUG", "[x"),  # the toolkit's YAML parse raised a ParserError here
        ("DEBUG", "maybe"),
        ("CHANGE_TYPE", "deploy"),
        ("ALERT24_BASE_URL", "https://\u2603.example"),  # no IDNA name: requests cannot send to it
        ("ALERT24_BASE_URL", "https://alert24..example"),
    ],
)
def test_a_value_that_means_nothing_here_is_refused_by_name(name, text):
    assert f"{name} is {text!r}, which is not valid" in problems({name: text})


def test_a_value_that_is_not_utf8_is_named_and_not_checked_further():
    said = problems({"ENVIRONMENT": "caf\udce9", "TIMEOUT": "\udce9"})
    assert "ENVIRONMENT holds bytes that are not UTF-8 text" in said
    assert "TIMEOUT holds bytes that are not UTF-8 text" in said
    assert "TIMEOUT is" not in said


def test_a_tag_that_is_not_utf8_names_tags():
    said = problems({"TAGS_COUNT": "2", "TAGS_0": "web", "TAGS_1": "caf\udce9"})
    assert "TAGS holds bytes that are not UTF-8 text" in said


def test_a_base_url_password_is_not_shown_when_the_url_is_refused():
    said = problems({"ALERT24_BASE_URL": "https://deploy:hunter2@alert24.example/api"})
    assert "hunter2" not in said
    assert "ALERT24_BASE_URL is 'https://deploy:********@alert24.example/api'" in said


# Empty or blank means not set --------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "  ", "\n"])
def test_a_blank_value_counts_as_not_set_and_the_default_applies(blank):
    values = read({"TIMEOUT": blank, "DRY_RUN": blank, "SOURCE": blank, "ENVIRONMENT": blank})
    assert values["TIMEOUT"] == 10
    assert values["DRY_RUN"] is False
    assert values["SOURCE"] == "bitbucket-pipelines"
    assert "ENVIRONMENT" not in values


@pytest.mark.parametrize("blank", ["", " "])
def test_a_blank_fail_on_error_counts_as_its_default_true_without_a_word(blank):
    assert read_fail_on_error({"FAIL_ON_ERROR": blank}) == (True, "")


# Names lose stray spaces; free text keeps them --------------------------------------------------

NAMES = {
    "ENVIRONMENT": "staging",
    "SERVICE_ID": "svc_123",
    "BRANCH": "release/2.x",
    "COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
    "PREVIOUS_COMMIT": "0123456789abcdef0123456789abcdef01234567",
    "SOURCE": "bitbucket-custom",
    "EXTERNAL_ID": "deploy-42",
    "PR_NUMBER": "99",
}


@pytest.mark.parametrize("name", NAMES)
def test_a_name_loses_the_spaces_around_it_and_is_said_to(name):
    environ = {name: f" {NAMES[name]}\n"}
    assert read(environ)[name] == NAMES[name]
    assert trimmed(environ) == [name]


@pytest.mark.parametrize("name", ["SUMMARY", "DESCRIPTION", "COMMIT_MESSAGE", "CHANGED_BY"])
def test_free_text_keeps_its_spaces(name):
    environ = {name: "  indented text \n"}
    assert read(environ)[name] == "  indented text \n"
    assert trimmed(environ) == []


def test_a_name_without_spaces_is_not_said_to_be_trimmed():
    assert trimmed({"ENVIRONMENT": "staging", "TAGS": "web, api"}) == []


def test_tags_of_a_yaml_list_lose_their_spaces_and_are_said_to():
    environ = {"TAGS_COUNT": "3", "TAGS_0": " web", "TAGS_1": "api ", "TAGS_2": ""}
    assert read(environ)["TAGS"] == ["web", "api"]
    assert trimmed(environ) == ["TAGS"]


# TAGS typed as text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("payments, eu-west,,", ["payments", "eu-west"]),
        ("['payments', 'eu-west']", ["payments", "eu-west"]),
        ("[payments, eu-west]", ["payments", "eu-west"]),
        (" [on, 1.10, 'a, b'] ", ["on", "1.10", "a, b"]),  # each item as written
        ("[]", []),
    ],
)
def test_tags_typed_as_text_are_the_list_they_mean(text, tags):
    assert read({"TAGS": text})["TAGS"] == tags


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[payments, eu-west", "it starts with [ but is not a YAML list (expected ',' or ']'"),
        ("[payments, [eu, west]]", "its item 2 is a list, not a tag"),
        ("[payments, {region: eu}]", "its item 2 is a mapping, not a tag"),
        ("[a] b", "it starts with [ but is not a YAML list"),
    ],
)
def test_tags_typed_as_a_broken_yaml_list_are_refused_saying_why(text, why):
    said = problems({"TAGS": text})
    assert f"TAGS is {text!r}, which is not valid: {why}" in said
    assert "give a YAML list of at most 100" in said


def test_more_than_100_tags_in_one_text_are_refused():
    said = problems({"TAGS": ",".join(f"t{n}" for n in range(101))})
    assert "TAGS is 't0,t1," in said
    assert "give a YAML list of at most 100" in said


# Misspelt names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("ENVIROMENT", "ENVIRONMENT"),
        ("RISK_LEVL", "RISK_LEVEL"),
        ("TAG", "TAGS"),
        ("ALERT24_APIKEY", "ALERT24_API_KEY"),
        ("ALERT_24_API_KEY", "ALERT24_API_KEY"),
        ("environment", "ENVIRONMENT"),
        ("SERVICEID", "SERVICE_ID"),
    ],
)
def test_a_misspelt_variable_is_matched_to_the_one_meant(given, meant):
    assert misspelt({given: "x"}, schema) == [(given, meant)]


def test_a_misspelt_list_is_named_once_by_its_name():
    assert misspelt({"TAG_COUNT": "2", "TAG_0": "a", "TAG_1": "b"}, schema) == [("TAG", "TAGS")]


@pytest.mark.parametrize(
    "name",
    [
        "TAGS_COUNT", "TAGS_0", "TAGS_12", "PATH", "HOME", "LANG", "HOSTNAME", "GPG_KEY",
        "PYTHON_VERSION", "PYTHON_SHA256", "PYTHONDONTWRITEBYTECODE", "BITBUCKET_TAG",
        "BITBUCKET_BRANCH", "BITBUCKET_COMMIT", "CI", "DOCKER_HOST", "HTTPS_PROXY", "https_proxy",
        "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "AWS_REGION",
        "DEPLOY_TARGET",
    ],
)  # fmt: skip
def test_variables_of_others_are_not_taken_for_misspellings(name):
    assert misspelt({name: "x", "TAGS_COUNT": "13"}, schema) == []


def test_jira_project_keys_are_read_in_capitals_each_once():
    assert read({"JIRA_PROJECT_KEYS": "pay, shop, PAY"})["JIRA_PROJECT_KEYS"] == ["PAY", "SHOP"]


def test_a_list_count_too_long_to_be_a_number_is_refused_by_name():
    said = problems({"TAGS_COUNT": "9" * 5000, "TAGS_0": "web"})
    assert "TAGS has 99999" in said
    assert "which is too many: give at most 100." in said


@pytest.mark.parametrize("items", [{"ENVIRONMENT_0": "staging"}, {}], ids=["one item", "none"])
def test_a_single_value_given_as_a_yaml_list_is_refused_by_name(items):
    said = problems({"ENVIRONMENT_COUNT": "1", **items})
    assert "ENVIRONMENT is given as a YAML list: give it one value, not a list." in said
    assert "None" not in said


def test_a_refused_value_shows_its_escapes_once():
    said = problems({"CHANGE_TYPE": "deploy\nment"})
    assert "CHANGE_TYPE is 'deploy\\nment', which is not valid" in said
