"""Which of Alert24's changes is the previous deployment: the client-side filter and the choice
of the newest, as pure functions (test_went_out.py runs them against the local Alert24)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from previous import Mine, candidates, newest, newest_first

MINE = Mine(
    "acme/shop",
    "production",
    source="bitbucket-pipelines",
    external_id="bitbucket:p:s",
    commit_sha="c" * 40,
    pipeline_run="bitbucket:p:",
)
HOME = "https://bitbucket.org/acme/shop/pipelines/results/"


def change(n: int = 1, **fields: object) -> dict:
    return {
        "id": f"chg_{n}",
        "commit_sha": f"{n:040x}",
        "pipeline_url": f"{HOME}{n}",
        "environment": "production",
        "change_type": "deployment",
        **fields,
    }


def test_a_change_of_this_repository_and_environment_counts():
    assert candidates([change()], MINE) == [change()]


def test_the_repositorys_name_matches_in_any_case():
    assert candidates(
        [change(pipeline_url="https://bitbucket.org/Acme/Shop/pipelines/results/1")], MINE
    )


def test_a_rollback_counts_too():
    assert candidates([change(change_type="rollback")], MINE)


def test_fields_left_out_take_alert24s_defaults():
    bare = {"commit_sha": "a" * 40, "pipeline_url": f"{HOME}3"}
    assert candidates([bare], MINE) == [bare]


def test_what_does_not_count():
    others = [
        change(pipeline_url="https://bitbucket.org/acme/shopfront/pipelines/results/1"),
        change(pipeline_url="https://bitbucket.org.evil/acme/shop/"),
        change(pipeline_url=None),
        change(environment="staging"),
        change(change_type="config_change"),
        change(commit_sha=""),
        change(commit_sha=12),
        change(tags=["bitbucket", "failed"]),
        change(external_id="bitbucket:p:s"),
    ]
    assert candidates(others, MINE) == []


def test_with_a_service_only_that_services_changes_count():
    mine = MINE._replace(service_id="svc_1")
    assert candidates([change(service_id="svc_2"), change()], mine) == []
    assert candidates([change(service_id="svc_1")], mine)


def test_another_step_of_this_pipeline_run_for_this_commit_is_a_sibling_not_a_predecessor():
    assert candidates([change(external_id="bitbucket:p:s2", commit_sha="c" * 40)], MINE) == []


def test_a_sibling_is_known_by_its_commit_in_any_case():
    assert candidates([change(external_id="bitbucket:p:s2", commit_sha="C" * 40)], MINE) == []


def test_another_step_of_this_pipeline_run_for_another_commit_counts():
    assert candidates([change(external_id="bitbucket:p:s2", commit_sha="d" * 40)], MINE)


def test_another_pipeline_runs_change_for_this_commit_counts():
    assert candidates([change(external_id="bitbucket:q:s2", commit_sha="c" * 40)], MINE)


def test_without_a_pipeline_run_no_change_is_a_sibling():
    mine = MINE._replace(pipeline_run=None)
    assert candidates([change(external_id="bitbucket:p:s2", commit_sha="c" * 40)], mine)


def test_the_newest_by_creation_time():
    old = change(1, created_at="2026-03-19T14:30:00.000Z")
    new = change(2, created_at="2026-03-19T14:31:00.000Z")
    assert newest([old, new]) == new
    assert not newest_first([old, new])


def test_without_creation_times_the_first_listed():
    assert newest([change(1), change(2)]) == change(1)
    assert newest_first([change(1), change(2)])


def test_none_is_none():
    assert newest([]) is None


times = st.datetimes(timezones=st.just(UTC)).map(
    lambda when: when.isoformat().replace("+00:00", "Z")
)


@given(st.lists(st.one_of(st.none(), times), max_size=10))
def test_the_newest_is_never_older_than_any_other(stamps):
    items = [change(n, **({"created_at": t} if t else {})) for n, t in enumerate(stamps)]
    chosen = newest(items)
    if not items:
        assert chosen is None
    elif None in stamps:
        assert chosen == items[0]
    else:
        assert chosen["created_at"] == max(stamps, key=datetime.fromisoformat)
