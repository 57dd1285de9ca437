"""Which words are Jira issue keys: rules as examples, promises as properties. Pure: no server."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jira


def test_encodings_hashes_and_standards_are_not_issue_keys():
    message = "PAY-12: read UTF-8 and ISO-8859-1, sign with SHA-256 (not SHA-1), per RFC-2119"
    assert jira.issue_keys(None, [message]) == ["PAY-12"]


def test_a_cve_id_is_a_vulnerability_not_an_issue_key():
    assert jira.issue_keys(None, ["Patch CVE-2024-1234 and CWE-79 (SEC-4)"]) == ["SEC-4"]


def test_names_like_es_2015_utc_5_and_x86_64_are_not_issue_keys():
    assert jira.issue_keys(None, ["ES-2015 syntax, UTC-5, X86-64, HTTP-2, PEP-8"]) == []


def test_every_word_left_out_is_listed_in_the_modules_documentation():
    documented = set(re.findall(r"\b[A-Z][A-Z0-9]+\b", jira.__doc__ or ""))
    assert documented >= jira.NOT_PROJECTS


def test_what_only_looks_like_a_key_is_not_one():
    words = "PAY-0 PAY-01 fooXPAY-12 PAY-12x ÄPAY-2 2PAY-6 pay-3 A-1 PAY_4-5"
    assert jira.issue_keys(None, [words]) == []


def test_with_projects_listed_only_their_keys_are_tagged():
    message = "PAY-1 SHOP-2 OPS-3 UTF-8"
    assert jira.issue_keys(None, [message], ("PAY", "SHOP")) == ["PAY-1", "SHOP-2"]


def test_a_project_listed_is_honoured_even_when_named_like_a_hash():
    assert jira.issue_keys(None, ["SHA-12 and SHA-256"], ("SHA",)) == ["SHA-12", "SHA-256"]


def test_a_project_listed_with_an_underscore_is_found():
    assert jira.issue_keys(None, ["Fix PAY_EU-4"], ("PAY_EU",)) == ["PAY_EU-4"]


def test_a_listed_project_inside_a_longer_word_is_not_a_key():
    assert jira.issue_keys(None, ["XPAY-12 PAYX-1 PAY-12"], ("PAY",)) == ["PAY-12"]


def test_the_branch_names_keys_come_before_the_commits():
    keys = jira.issue_keys("feature/PAY-123-card-form", ["OPS-7 fix", "PAY-123 again"])
    assert keys == ["PAY-123", "OPS-7"]


def test_a_lower_case_key_in_the_branch_counts_for_a_listed_project():
    assert jira.issue_keys("feature/pay-123-card-form", [], ("PAY",)) == ["PAY-123"]


def test_a_lower_case_key_in_the_branch_does_not_count_without_projects():
    # `release-12` or `hotfix-2` would become RELEASE-12 and HOTFIX-2.
    assert jira.issue_keys("feature/pay-123-card-form", []) == []


def test_a_lower_case_key_in_a_commit_message_does_not_count_even_for_a_listed_project():
    assert jira.issue_keys(None, ["see pay-123"], ("PAY",)) == []


def test_at_most_twenty_keys_the_branchs_included():
    messages = [" ".join(f"K{n}X-{n + 1}" for n in range(30))]
    keys = jira.issue_keys("OPS-1-branch", messages)
    assert keys == ["OPS-1", *(f"K{n}X-{n + 1}" for n in range(19))]


def test_project_keys_are_read_in_capitals_each_once_blanks_dropped():
    assert jira.project_keys([" pay ", None, "", "SHOP", "Pay", "EU_2"]) == ("PAY", "SHOP", "EU_2")


@pytest.mark.parametrize("bad", ["2PAY", "PAY-1", "P", "PA Y", "_PAY", "PAÜ", "paß"])
def test_a_project_key_breaking_jiras_rule_is_refused_as_given(bad):
    with pytest.raises(jira.NotAProjectKey) as refused:
        jira.project_keys(["PAY", bad])
    assert str(refused.value) == bad


projects = st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{1,5}", fullmatch=True), max_size=3)


@given(st.text() | st.none(), st.lists(st.text(), max_size=10), projects)
def test_keys_are_unique_at_most_twenty_and_found_in_the_text(branch, messages, listed):
    keys = jira.issue_keys(branch, messages, tuple(listed))
    assert len(keys) == len(set(keys)) <= jira.MOST
    everything = f"{branch or ''} {' '.join(messages)}".upper()
    assert all(key in everything for key in keys)
    for key in keys:
        project = key.rsplit("-", 1)[0]
        assert project in listed if listed else project not in jira.NOT_PROJECTS


def test_a_key_followed_by_an_underscore_in_a_branch_is_found():
    assert jira.issue_keys("feature/PAY-123_card_form", []) == ["PAY-123"]
    assert jira.issue_keys("feature/pay-6_x", [], ["PAY"]) == ["PAY-6"]


def test_a_constant_with_an_underscore_before_its_number_is_still_not_a_key():
    assert jira.issue_keys(None, ["raise MAX_RETRIES-1 to 4"]) == []


def test_only_ascii_letters_make_a_key_even_in_a_branch_of_any_case():
    assert jira.issue_keys("feature/\u212aey-1", [], ["KEY"]) == []  # the Kelvin sign is no K
