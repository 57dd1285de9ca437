"""The change record: what the pipe tells Alert24, built from the pipe's variables and the step.

A pure function, so that every rule of the mapping can be tested without a server. The body holds
only fields Alert24 documents, and never a null or empty one: Alert24 does not say what it does with
either, and leaving a field out lets its own default apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jira
import outgoing
import sizes
from clone import Checkout
from context import BitbucketContext
from outgoing import WentOut

BITBUCKET = "https://bitbucket.org"
PRODUCTION = "production"  # Alert24's own default environment

DOCUMENTED_FIELDS = tuple(  # Alert24's, in the order the body sends them
    "summary service_id change_type description source commit_sha commit_message"  # noqa: SIM905
    " branch pr_number pr_url pipeline_url environment risk_level changed_by"
    " external_id tags".split()
)


def build_change(
    variables: Mapping[str, Any],
    context: BitbucketContext,
    checkout: Checkout | None,
    went_out: WentOut | None = None,
) -> dict[str, Any]:
    """The body to POST, from the validated variables, the step, the deployed commit (the one
    they name, as the clone resolved it), and what went out since the previous deployment."""
    given = variables  # read by the schema: a blank variable is not there at all
    commit_sha, environment, service_id, source, external = where(given, context, checkout)
    local = None if context.in_bitbucket else checkout
    branch = given.get("BRANCH") or context.branch or (local and local.branch)
    pr_number = given.get("PR_NUMBER") or context.pr_id
    repo, run, failed = context.repo_full_name, context.build_number, context.step_failed
    description, messages = given.get("DESCRIPTION"), []
    if went_out:  # what went out, after the user's description, under its own heading
        listed = outgoing.description(went_out, environment, repo, failed)
        description = f"{description}\n\n{listed}" if description else listed
        messages = [commit.message for commit in went_out.commits]
    projects = given.get("JIRA_PROJECT_KEYS") or ()  # read in capitals, checked, by variables
    keys = jira.issue_keys(branch, messages, projects)
    record = {
        "summary": summary(given.get("SUMMARY"), context, commit_sha, went_out),
        "service_id": service_id,
        "change_type": given.get("CHANGE_TYPE")
        or (went_out and outgoing.change_type(went_out))
        or "deployment",
        "description": sizes.cut(description or "", sizes.DESCRIPTION),
        "source": source,
        "commit_sha": commit_sha,
        "commit_message": sizes.cut(
            given.get("COMMIT_MESSAGE") or (checkout and checkout.message) or "",
            sizes.COMMIT_MESSAGE,
        ),
        "branch": branch,
        "pr_number": pr_number,
        "pr_url": given.get("PR_URL")
        or (repo and pr_number and f"{BITBUCKET}/{repo}/pull-requests/{pr_number}"),
        "pipeline_url": given.get("PIPELINE_URL")
        or (repo and run and f"{BITBUCKET}/{repo}/pipelines/results/{run}"),
        "environment": environment,
        "risk_level": given.get("RISK_LEVEL"),
        "changed_by": given.get("CHANGED_BY")
        or (checkout and checkout.author)
        or context.triggerer_uuid,
        "external_id": external,
        "tags": change_tags(branch or context.tag, [*(given.get("TAGS") or ()), *keys], failed),
    }
    return {field: value for field, value in record.items() if value}


class Where(NamedTuple):
    """What a change shares with the deployments before it: how the previous one is found."""

    commit_sha: str | None
    environment: str
    service_id: str | None
    source: str | None
    external_id: str | None


def where(
    variables: Mapping[str, Any], context: BitbucketContext, checkout: Checkout | None
) -> Where:
    # The checkout is the commit named (COMMIT_SHA, else BITBUCKET_COMMIT, else HEAD) as the
    # clone resolved it: a short id or an annotated tag's id becomes the commit's full id.
    return Where(
        checkout.sha if checkout else variables.get("COMMIT_SHA") or context.commit,
        variables.get("ENVIRONMENT") or context.deployment_environment or PRODUCTION,
        variables.get("SERVICE_ID") or None,
        variables.get("SOURCE") or None,
        variables.get("EXTERNAL_ID") or external_id(context),
    )


def summary(
    given: str | None, context: BitbucketContext, commit_sha: str | None, went_out: WentOut | None
) -> str:
    """The user's summary, or the default; a failure recorded must say so whichever it is."""
    failed = context.step_failed
    if given:
        return f"Failed: {given}" if failed else given
    backwards = went_out and outgoing.summary(went_out, named(context), failed)
    return backwards or default_summary(context, commit_sha, failed)


def default_summary(context: BitbucketContext, commit_sha: str | None, failed: bool) -> str:
    at = f" @ {commit_sha[:8]}" if commit_sha else ""
    return f"Failed to deploy {named(context)}{at}" if failed else f"Deployed {named(context)}{at}"


def named(context: BitbucketContext) -> str:
    """The repository's name, and the tag after it on a tag build: `shop v2.4.0`."""
    return " ".join(part for part in (context.name, context.tag) if part)


def external_id(context: BitbucketContext) -> str | None:
    """One id per step of one pipeline run: a retried delivery sends the same one."""
    pipeline, step = context.pipeline_uuid, context.step_uuid
    return f"bitbucket:{pipeline.strip('{}')}:{step.strip('{}')}" if pipeline and step else None


def change_tags(ref: str | None, extra: Sequence[str | None], failed: bool) -> list[str]:
    """The automatic tags, then the user's, in order, without duplicates or blanks."""
    tags = ["bitbucket", ref, *extra, "failed" if failed else None]
    return list(dict.fromkeys(tag for tag in tags if tag and tag.strip()))
