"""The look-up of the previous deployment, end to end: the real pipe against the local Alert24,
for which change it passes over (another step of the same pipeline run) and for what its lines
say (a dry run whose key Alert24 refuses, no earlier deployment, a look-up out of time).

The histories, the seeded changes and the runs are made as test_went_out.py makes them.
"""

from __future__ import annotations

from test_went_out import deploy, linear, listed_shas, log, posted, previous

from conftest import BRANCH_BUILD, run_pipe

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
