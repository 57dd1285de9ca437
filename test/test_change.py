"""The change builder, a pure function: its rules as examples, and its promises as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import sizes
from alert24_server import problem_with_change
from change import DOCUMENTED_FIELDS, build_change, change_tags, default_summary
from clone import Checkout, Commit
from context import BitbucketContext
from outgoing import FORWARD, Side, WentOut

FIELD_OF = {
    "SUMMARY": "summary",
    "ENVIRONMENT": "environment",
    "SERVICE_ID": "service_id",
    "DESCRIPTION": "description",
    "CHANGED_BY": "changed_by",
    "COMMIT_MESSAGE": "commit_message",
    "COMMIT_SHA": "commit_sha",
    "BRANCH": "branch",
    "PR_NUMBER": "pr_number",
    "PR_URL": "pr_url",
    "PIPELINE_URL": "pipeline_url",
    "EXTERNAL_ID": "external_id",
    "SOURCE": "source",
}
CONTEXT_FIELDS = [
    name for name in BitbucketContext._fields if name not in ("clone_dir", "exit_code")
]

maybe_text = st.none() | st.text()
variables = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(FIELD_OF, maybe_text),
        "CHANGE_TYPE": st.sampled_from(["deployment", "rollback", "other"]),
        "RISK_LEVEL": st.sampled_from(["low", "critical"]),
        "TAGS": st.lists(maybe_text, max_size=5),
    },
)
contexts = st.builds(
    BitbucketContext,
    **{name: maybe_text for name in CONTEXT_FIELDS},
    exit_code=st.sampled_from([None, "0", "1", "2", "127"]) | maybe_text,
    clone_dir=st.just("/build/shop"),
)
checkouts = st.none() | st.builds(
    Checkout, st.text(min_size=1), maybe_text, st.text(), st.text(), st.text()
)


@given(variables, contexts, checkouts)
def test_the_body_holds_only_documented_fields_with_no_null_or_empty_value(
    given_, context, checkout
):
    body = build_change(given_, context, checkout)
    assert set(body) <= set(DOCUMENTED_FIELDS)
    assert problem_with_change(body) is None  # what the strict local Alert24 would refuse
    assert body["summary"]


CUT_AT = {"COMMIT_MESSAGE": sizes.COMMIT_MESSAGE, "DESCRIPTION": sizes.DESCRIPTION}


@given(variables, contexts, checkouts)
def test_every_value_the_user_gives_arrives_unchanged_but_long_text_cut(given_, context, checkout):
    body = build_change(given_, context, checkout)
    for variable, field in FIELD_OF.items():
        if variable == "COMMIT_SHA" and checkout:  # the commit it names, as the clone resolved it
            assert body[field] == checkout.sha
        elif variable == "SUMMARY" and given_.get(variable) and context.step_failed:
            assert body[field] == f"Failed: {given_[variable]}"  # a recorded failure says so
        elif given_.get(variable) and variable in CUT_AT:
            assert body[field] == sizes.cut(given_[variable], CUT_AT[variable])
        elif given_.get(variable):
            assert body[field] == given_[variable]
    for tag in given_.get("TAGS", []):
        if tag and tag.strip():
            assert tag in body["tags"]


@given(st.lists(maybe_text), st.booleans(), maybe_text)
def test_tags_have_no_duplicates_or_blanks_and_start_with_bitbucket(extra, failed, ref):
    tags = change_tags(ref, extra, failed)
    assert len(tags) == len(set(tags))
    assert all(tag.strip() for tag in tags)
    assert tags[0] == "bitbucket"
    assert ("failed" in tags) == (failed or "failed" in extra)


def test_the_summary_of_a_tag_build_names_the_tag():
    context = BitbucketContext(repo_slug="shop", tag="v1.2.0")
    assert default_summary(context, "0123456789abcdef", False) == "Deployed shop v1.2.0 @ 01234567"


def test_the_summary_of_a_failed_deployment_says_so():
    context = BitbucketContext(repo_slug="shop", exit_code="1")
    assert default_summary(context, "0123456789abcdef", True) == "Failed to deploy shop @ 01234567"


def test_a_given_branch_replaces_the_build_branch_in_the_tags():
    context = BitbucketContext(repo_slug="shop", branch="main", build_number="1")
    body = build_change({"BRANCH": "release"}, context, None)
    assert body["branch"] == "release"
    assert body["tags"] == ["bitbucket", "release"]


def test_inside_bitbucket_the_checkout_branch_is_not_used():
    # Bitbucket checks a tag build out detached or on a branch of its own: only BITBUCKET_* count.
    context = BitbucketContext(repo_slug="shop", tag="v1", build_number="1")
    checkout = Checkout("a" * 40, "main", "Ann", "ann@example.com", "Fix")
    assert "branch" not in build_change({}, context, checkout)


def test_a_summary_given_says_failed_when_the_step_failed():
    context = BitbucketContext(repo_slug="shop", exit_code="2")
    assert build_change({"SUMMARY": "Ship v3"}, context, None)["summary"] == "Failed: Ship v3"


def test_the_commit_named_is_sent_by_the_full_id_the_clone_resolved_it_to():
    context = BitbucketContext(repo_slug="shop", commit="b" * 40, build_number="1")
    checkout = Checkout("a" * 40, None, "Ann", "ann@example.com", "Tagged release")
    body = build_change({"COMMIT_SHA": "aaaaaaa"}, context, checkout)  # short, or a tag's id
    assert body["commit_sha"] == "a" * 40
    assert body["commit_message"] == "Tagged release"
    assert body["changed_by"] == "Ann <ann@example.com>"


# Long text, cut to its size ------------------------------------------------------------------

BUILD = BitbucketContext(repo_slug="shop", repo_full_name="acme/shop", build_number="7")


def checkout_of(message: str) -> Checkout:
    return Checkout("a" * 40, "main", "Ann", "ann@example.com", message)


def test_a_long_commit_message_is_cut_to_four_thousand_characters_with_a_marker():
    body = build_change({}, BUILD, checkout_of("Squash\n" + "x" * 192_000))
    assert len(body["commit_message"]) == 4_000
    assert body["commit_message"].startswith("Squash\nxxx")
    assert body["commit_message"].endswith("more characters]")


def test_a_long_commit_message_given_is_cut_as_the_commits_is():
    body = build_change({"COMMIT_MESSAGE": "y" * 5_000}, BUILD, None)
    assert body["commit_message"].endswith("… [cut: 1,030 more characters]")


def test_a_long_description_given_is_cut_to_eight_thousand_characters():
    body = build_change({"DESCRIPTION": "z" * 9_000}, BUILD, None)
    assert len(body["description"]) == 8_000
    assert body["description"].endswith("… [cut: 1,030 more characters]")


def test_a_description_that_fits_is_sent_whole():
    assert build_change({"DESCRIPTION": "z" * 8_000}, BUILD, None)["description"] == "z" * 8_000


# Jira keys -----------------------------------------------------------------------------------


def went_out(*messages: str) -> WentOut:
    commits = [Commit(f"{n:040x}", 1_700_000_000 + n, "Ann", m) for n, m in enumerate(messages)]
    return WentOut(FORWARD, "9" * 40, "a" * 40, Side(commits))


def test_the_branch_names_key_is_tagged_when_no_commits_are_listed():
    context = BUILD._replace(branch="feature/PAY-123-card-form")
    assert build_change({}, context, None)["tags"] == [
        "bitbucket",
        "feature/PAY-123-card-form",
        "PAY-123",
    ]


def test_the_branch_names_keys_come_before_the_commits_and_after_the_users_tags():
    context = BUILD._replace(branch="feature/PAY-123-card-form")
    body = build_change({"TAGS": ["web"]}, context, None, went_out("OPS-7 Fix", "PAY-123 Form"))
    assert body["tags"] == ["bitbucket", "feature/PAY-123-card-form", "web", "PAY-123", "OPS-7"]


def test_words_that_look_like_keys_are_not_tagged():
    body = build_change({}, BUILD, None, went_out("PAY-12 UTF-8, ISO-8859-1, SHA-256, RFC-2119"))
    assert body["tags"] == ["bitbucket", "PAY-12"]


def test_only_the_keys_of_the_projects_listed_are_tagged():
    body = build_change(
        {"JIRA_PROJECT_KEYS": ["SHOP"]}, BUILD, None, went_out("PAY-12 SHOP-3 OPS-1")
    )
    assert body["tags"] == ["bitbucket", "SHOP-3"]


def test_an_author_without_an_email_is_named_alone():
    context = BitbucketContext(repo_slug="shop", commit="a" * 40, build_number="1")
    checkout = Checkout("a" * 40, None, "Ann", "", "Ship it")
    assert build_change({}, context, checkout)["changed_by"] == "Ann"
