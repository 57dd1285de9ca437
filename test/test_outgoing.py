"""What went out, told from P, C and the commits between: rules as examples, promises as
properties. Pure functions: no git and no server here (test_went_out.py drives the pipe)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import outgoing
from change import build_change
from clone import RANGE_LIMIT, Commit
from context import BitbucketContext
from outgoing import DIVERGED, FORWARD, MISSING, REDEPLOY, ROLLBACK, Side, WentOut

P = "9f8e7d6c" + "0" * 32
C = "1a2b3c4d" + "1" * 32
CONTEXT = BitbucketContext(repo_slug="shop", repo_full_name="acme/shop", build_number="7")


def commit(n: int, message: str = "") -> Commit:
    return Commit(f"{n:08x}" + "a" * 32, 1_700_000_000 + n, "Ann Lee", message or f"Change {n}")


def forward(count: int, complete: bool = True) -> WentOut:
    return WentOut(FORWARD, P, C, Side([commit(n) for n in range(count, 0, -1)], 0, complete))


def went(*commits: Commit) -> WentOut:
    return WentOut(FORWARD, P, C, Side(commits))


def test_the_description_lists_each_commit_under_a_heading_naming_p_and_the_environment():
    text = outgoing.description(forward(2), "staging", "acme/shop")
    heading, *lines = text.splitlines()
    assert "9f8e7d6c" in heading
    assert "staging" in heading
    assert f"https://bitbucket.org/acme/shop/commits/{P}" in heading
    assert lines == ["00000002 Change 2 (Ann Lee)", "00000001 Change 1 (Ann Lee)"]


def test_thirty_commits_are_listed_and_the_rest_counted():
    lines = outgoing.description(forward(35), "production").splitlines()
    assert len(lines) == 1 + 30 + 1
    assert lines[1].startswith("00000023 ")
    assert lines[-1] == "... and 5 more"


def test_thirty_commits_exactly_need_no_more_line():
    assert "more" not in outgoing.description(forward(30), "production")


def test_a_shallow_clone_lists_what_it_holds_and_says_its_history_ends():
    text = outgoing.description(forward(3, complete=False), "production")
    assert text.splitlines()[-1] == (
        "at least 3 commits; the clone's history ends here: "
        "set `clone: depth: full` to list them exactly."
    )
    assert outgoing.reported(forward(3, complete=False)) == "at least 3 commits since 9f8e7d6c"


def test_a_previous_commit_missing_from_the_clone_is_named_and_nothing_is_listed():
    text = outgoing.description(WentOut(MISSING, P, C), "production")
    assert "9f8e7d6c" in text
    assert "not listed" in text
    assert len(text.splitlines()) == 1


def test_a_rollback_lists_the_commits_taken_out_under_its_own_heading():
    went = WentOut(ROLLBACK, P, C, taken=Side([commit(5), commit(4)]))
    text = outgoing.description(went, "production")
    assert text.splitlines()[0].startswith("Commits taken out of production")
    assert "00000005 Change 5 (Ann Lee)" in text


def test_a_rollback_is_named_in_summary_and_change_type():
    body = build_change({}, CONTEXT, None, WentOut(ROLLBACK, P, C, taken=Side([commit(1)])))
    assert body["summary"] == "Rolled back shop to 1a2b3c4d (from 9f8e7d6c)"
    assert body["change_type"] == "rollback"


def test_a_redeploy_is_named_in_summary_and_description():
    body = build_change({}, CONTEXT, None, WentOut(REDEPLOY, C, C))
    assert body["summary"] == "Redeployed shop @ 1a2b3c4d"
    assert body["change_type"] == "deployment"
    assert "1a2b3c4d was already the commit deployed to production" in body["description"]


def test_the_users_summary_and_change_type_win_over_a_rollback():
    went = WentOut(ROLLBACK, P, C, taken=Side([commit(1)]))
    body = build_change({"SUMMARY": "Revert", "CHANGE_TYPE": "other"}, CONTEXT, None, went)
    assert (body["summary"], body["change_type"]) == ("Revert", "other")


def test_a_failed_rollback_is_summarised_as_a_failed_rollback():
    failed = CONTEXT._replace(exit_code="1", commit=C)
    body = build_change({}, failed, None, WentOut(ROLLBACK, P, C, taken=Side([commit(1)])))
    assert body["summary"] == "Failed to roll back shop to 1a2b3c4d (from 9f8e7d6c)"
    assert body["description"].startswith("Commits the failed rollback from 9f8e7d6c")


def test_a_failed_deployment_lists_its_commits_as_in_a_deployment_that_failed():
    failed = CONTEXT._replace(exit_code="1", commit=C)
    body = build_change({}, failed, None, forward(2))
    assert body["summary"] == "Failed to deploy shop @ 1a2b3c4d"
    assert body["description"].startswith("Commits in the failed deployment to production")
    assert "deployed to" not in body["description"]


def test_a_tag_build_keeps_the_tag_in_a_rollback_and_a_redeploy_summary():
    tagged = CONTEXT._replace(tag="v2.4.0")
    rollback = build_change({}, tagged, None, WentOut(ROLLBACK, P, C, taken=Side([commit(1)])))
    redeploy = build_change({}, tagged, None, WentOut(REDEPLOY, C, C))
    assert rollback["summary"] == "Rolled back shop v2.4.0 to 1a2b3c4d (from 9f8e7d6c)"
    assert redeploy["summary"] == "Redeployed shop v2.4.0 @ 1a2b3c4d"


def test_diverged_histories_list_what_went_out_and_what_was_taken_out():
    diverged = WentOut(DIVERGED, P, C, Side([commit(7)]), Side([commit(3), commit(2)]))
    first, second = outgoing.description(diverged, "staging").split("\n\n")
    assert first.startswith("Commits deployed to staging since 9f8e7d6c")
    assert first.splitlines()[1:] == ["00000007 Change 7 (Ann Lee)"]
    assert second.startswith("Commits taken out of staging (they were in 9f8e7d6c")
    assert second.splitlines()[1:] == ["00000003 Change 3 (Ann Lee)", "00000002 Change 2 (Ann Lee)"]
    assert (
        outgoing.reported(diverged)
        == "1 commit since 9f8e7d6c, and 2 commits of 9f8e7d6c's taken out"
    )
    assert build_change({}, CONTEXT, None, diverged)["change_type"] == "deployment"


def test_commits_that_could_not_be_placed_are_counted_not_listed():
    listed = WentOut(FORWARD, P, C, Side([commit(9)], unplaced=3, complete=False))
    text = outgoing.description(listed, "production")
    assert text.splitlines()[1:] == [
        "00000009 Change 9 (Ann Lee)",
        "at least 1 commit; 3 more commits merged in could not be placed: the clone is shallow; "
        "set `clone: depth: full` to list them exactly.",
    ]
    assert outgoing.reported(listed) == (
        "at least 1 commit since 9f8e7d6c (3 more commits could not be placed)"
    )


def test_the_list_follows_the_users_description():
    body = build_change({"DESCRIPTION": "Big release"}, CONTEXT, None, forward(1))
    assert body["description"].startswith("Big release\n\nCommits deployed to production since")


def test_without_a_previous_deployment_the_type_is_deployment_and_no_list_is_added():
    body = build_change({}, CONTEXT, None)
    assert body["change_type"] == "deployment"
    assert "description" not in body


def test_jira_keys_become_tags_after_the_users():
    listed = went(commit(2, "PAY-12 and OPS-3"), commit(1, "fix PAY-12"))
    body = build_change({"TAGS": ["web"]}, CONTEXT._replace(branch="main"), None, listed)
    assert body["tags"] == ["bitbucket", "main", "web", "PAY-12", "OPS-3"]


def test_jira_keys_of_the_commits_rolled_back_count_too():
    rollback = WentOut(ROLLBACK, P, C, taken=Side([commit(1, "Revert PAY-9")]))
    assert build_change({}, CONTEXT, None, rollback)["tags"] == ["bitbucket", "PAY-9"]


@given(st.integers(0, 80), st.booleans())
def test_the_description_shows_at_most_thirty_commits_and_counts_them_all(count, complete):
    lines = outgoing.description(forward(count, complete), "production").splitlines()
    listed = [line for line in lines if line.endswith("(Ann Lee)")]
    assert len(listed) == min(count, 30)
    more = int(lines[-1 if complete else -2].split()[2]) if count > 30 else 0
    assert lines[-1].startswith("at least") != complete
    assert len(listed) + more == count


def test_the_reported_phrases():
    assert outgoing.reported(forward(3)) == "3 commits since 9f8e7d6c"
    assert outgoing.reported(forward(1)) == "1 commit since 9f8e7d6c"
    rollback = WentOut(ROLLBACK, P, C, taken=Side([commit(2), commit(1)]))
    assert outgoing.reported(rollback) == "2 commits taken out"
    assert outgoing.reported(WentOut(REDEPLOY, C, C)) == "1a2b3c4d was already deployed"
    assert outgoing.reported(WentOut(MISSING, P, C)) == (
        "no commits listed: 9f8e7d6c, deployed before, is not in the clone"
    )


def test_the_receipt_names_the_previous_commit_and_the_commits():
    assert outgoing.receipt_fields(forward(2)) == {
        "went_out": "forward",
        "previous_commit": P,
        "commits": [commit(2).sha, commit(1).sha],
        "commits_complete": True,
    }


def test_the_receipt_of_diverged_histories_names_both_sides():
    diverged = WentOut(DIVERGED, P, C, Side([commit(7)]), Side([commit(3)], complete=False))
    assert outgoing.receipt_fields(diverged) == {
        "went_out": "diverged",
        "previous_commit": P,
        "commits": [commit(7).sha],
        "commits_complete": True,
        "commits_taken_out": [commit(3).sha],
        "commits_taken_out_complete": False,
    }


def test_a_range_read_only_up_to_its_limit_says_so_and_blames_no_clone():
    capped = WentOut(FORWARD, P, C, Side([commit(9)], complete=False, capped=True))
    text = outgoing.description(capped, "production")
    assert text.splitlines()[-1] == (
        f"at least 1 commit; the pipe reads at most {RANGE_LIMIT:,} commits of a deployment."
    )


def test_commits_of_p_that_could_not_be_placed_are_said_after_what_went_out():
    # C's side is proven; of P's own commits the shallow clone cannot say whether C holds them.
    unsure = WentOut(FORWARD, P, C, Side([commit(9)]), Side(unplaced=2, complete=False))
    assert outgoing.description(unsure, "staging").splitlines()[-1] == (
        "2 commits of 9f8e7d6c's could not be placed (the clone is shallow): any that 1a2b3c4d "
        "lacks were taken out of staging; set `clone: depth: full` to list them exactly."
    )
    assert outgoing.reported(unsure) == (
        "1 commit since 9f8e7d6c, and 2 commits of 9f8e7d6c's could not be placed"
    )
    fields = outgoing.receipt_fields(unsure)
    assert fields["commits_taken_out"] == []
    assert fields["commits_taken_out_complete"] is False


def test_a_subject_is_its_first_paragraph_on_one_line_as_git_log_oneline_shows_it():
    two_lines = Commit("a" * 40, 0, "Ann Lee", "line one\nline two\n\nbody")
    assert two_lines.subject == "line one line two"


def test_a_failed_redeploy_says_it_failed_in_its_description():
    again = WentOut(REDEPLOY, C, C)
    assert outgoing.description(again, "staging", failed=True) == (
        "The failed redeploy: 1a2b3c4d was already the commit deployed to staging."
    )
