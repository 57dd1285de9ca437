"""alert24/track-deployment: record a Bitbucket Pipelines deployment as a change in Alert24.

The story of a run: read and check the variables, read the step and the checked-out commit, build
the change, deliver it to Alert24 (or show it, in a dry run), report. The work lives in the
modules beside this one; only this file turns their errors into the toolkit's fail and success.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from pathlib import Path
from typing import Any

from bitbucket_pipes_toolkit import Pipe, fail

from alert24 import ChangeRequest, Delivery, DeliveryFailed, Stopped, deliver
from change import build_change
from checkout import Checkout, CheckoutUnreadable, read_checkout
from context import BitbucketContext
from outgoing import WentOut, read_went_out, receipt_fields, reported
from previous import LookupFailed, Mine, find_previous
from report import RECEIPT_NAME, write_receipt
from variables import InvalidVariables, PipeValidator, cerberus_rules, read_variables

CHANGE_TYPES = (
    "deployment",
    "config_change",
    "infrastructure",
    "code",
    "database_migration",
    "feature_flag",
    "rollback",
    "scaling",
    "security_patch",
    "other",
)
RISK_LEVELS = ("low", "medium", "high", "critical")


def text(default: str | None = None, **rules: Any) -> dict[str, Any]:
    """A free-text variable; `default` says in words what applies when it is not set."""
    return {"type": "string", "meta": {"default": default}, **rules}


def flag(default: bool) -> dict[str, Any]:
    return {"type": "boolean", "coerce": "boolean", "default": default}


schema: dict[str, dict[str, Any]] = {
    "ALERT24_API_KEY": text(meta={"secret": True, "default": None}),
    "SUMMARY": text("Deployed {BITBUCKET_REPO_SLUG} @ {first 8 of the commit}"),
    "ENVIRONMENT": text("BITBUCKET_DEPLOYMENT_ENVIRONMENT, else production"),
    "CHANGE_TYPE": text(
        "`deployment`, or `rollback` when the commit deployed is older than the last one "
        "(see LIST_COMMITS)",
        allowed=CHANGE_TYPES,
    ),
    "SERVICE_ID": text(),
    "RISK_LEVEL": text("Alert24's default (low)", allowed=RISK_LEVELS),
    "DESCRIPTION": text(),
    "CHANGED_BY": text("author of the checked-out commit, else BITBUCKET_STEP_TRIGGERER_UUID"),
    "COMMIT_MESSAGE": text("message of the checked-out commit"),
    "COMMIT_SHA": text("BITBUCKET_COMMIT"),
    "BRANCH": text("BITBUCKET_BRANCH"),
    "PR_NUMBER": text("BITBUCKET_PR_ID"),
    "PR_URL": text("the pull request's Bitbucket URL, on pull-request builds"),
    "PIPELINE_URL": text("this pipeline run's Bitbucket URL"),
    "EXTERNAL_ID": text("bitbucket:{pipeline uuid}:{step uuid}"),
    "SOURCE": {"type": "string", "default": "bitbucket-pipelines"},
    "TAGS": {"type": "list", "default": []},  # items are text, or None where an index is missing
    "LIST_COMMITS": flag(True),
    "PREVIOUS_COMMIT": text(
        regex=r"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})",
        meta={
            "default": "looked up in Alert24",
            "expects": "use the full commit id (40 hex characters, or 64 in a SHA-256 "
            "repository), as `git rev-parse HEAD` prints it",
        },
    ),
    "ALERT24_BASE_URL": {
        "type": "string",
        # No credentials (they would be printed with the URL), no /api path (the pipe adds it).
        "regex": r"https?://[^\s/?#@]+(?!/api(/|$))(/[^\s?#]*)?",
        "default": "https://app.alert24.net",
        "meta": {
            "expects": "use the address alone, such as https://app.alert24.net (the pipe adds "
            "/api/v1/changes), with no user or password in it"
        },
    },
    "TRACK_FAILED": flag(False),
    "FAIL_ON_ERROR": flag(True),
    "DRY_RUN": flag(False),
    "TIMEOUT": {
        "type": "number",
        "coerce": "number",
        "min": 0.1,
        "max": 300,
        "default": 10,
        "meta": {"expects": "use a number of seconds from 0.1 to 300"},
    },
    "MAX_RETRIES": {
        "type": "integer",
        "coerce": "integer",
        "min": 0,
        "max": 10,
        "default": 3,
        "meta": {"expects": "use a whole number from 0 to 10"},
    },
    "DEBUG": flag(False),
}

MISSING_KEY = """ALERT24_API_KEY is not set. Create an API key with the 'write' scope in Alert24, \
store it as a secured repository or workspace variable, and pass it to the pipe:
    variables:
      ALERT24_API_KEY: $ALERT24_API_KEY"""


class TrackDeployment(Pipe):
    def validate(self) -> dict[str, Any]:
        try:
            return read_variables(self.env, self.validator, self.schema)
        except InvalidVariables as problems:
            self.fail(f"Validation errors:\n{problems}")
            raise  # unreachable: fail exits

    def run(self) -> None:
        super().run()
        agent = user_agent()
        self.log_debug(f"{agent} on Python {sys.version.split()[0]}")
        dry_run = self.get_variable("DRY_RUN")
        api_key = "" if dry_run else self.api_key()
        context = BitbucketContext.from_environ(self.env)
        if context.step_failed and not self.get_variable("TRACK_FAILED"):
            self.log_info(
                f"The step failed (BITBUCKET_EXIT_CODE={context.exit_code}): no change recorded. "
                "Set TRACK_FAILED: 'true' to record failed deployments too."
            )
            return
        checkout = self.checkout(context)
        change = build_change(self.variables, context, checkout)
        base_url = self.get_variable("ALERT24_BASE_URL").rstrip("/")
        went_out = self.went_out(change, context, checkout, base_url, agent)
        if went_out:
            change = build_change(self.variables, context, checkout, went_out)
        request = ChangeRequest(f"{base_url}/api/v1/changes", api_key, change, agent)
        if dry_run:
            self.show(request)
            return
        self.deliver(request, context, went_out)

    def went_out(
        self,
        change: dict[str, Any],
        context: BitbucketContext,
        checkout: Checkout | None,
        base_url: str,
        agent: str,
    ) -> WentOut | None:
        """The commits since the previous deployment; None, and a line saying why, without."""
        if not self.get_variable("LIST_COMMITS"):
            return None
        current = change.get("commit_sha", "").lower()
        if not checkout or checkout.sha != current:
            self.log_debug("No commits listed: the deployed commit is not in the clone.")
            return None
        previous = self.get_variable("PREVIOUS_COMMIT")
        if previous:
            self.log_debug(f"The previous deployment is PREVIOUS_COMMIT, {previous}.")
        else:
            previous = self.previous_commit(change, context, base_url, agent)
        if not previous:
            return None
        try:
            return read_went_out(context.clone_dir, previous, current)
        except CheckoutUnreadable as why:
            self.log_info(f"The commits since {previous[:8]} could not be read: {why}")
            return None

    def previous_commit(
        self, change: dict[str, Any], context: BitbucketContext, base_url: str, agent: str
    ) -> str | None:
        """The commit of the last deployment Alert24 holds; None, and a line saying why."""
        key = self.lookup_key()
        if not key or not context.repo_full_name:
            why = "no ALERT24_API_KEY" if not key else "no BITBUCKET_REPO_FULL_NAME"
            self.log_info(f"The previous deployment was not looked up ({why}).")
            return None
        mine = Mine(
            context.repo_full_name,
            change["environment"],
            change.get("service_id"),
            change.get("source"),
            change.get("external_id"),
        )
        timeout = self.get_variable("TIMEOUT")
        try:
            found = find_previous(base_url, mine, api_key=key, user_agent=agent, timeout=timeout)
        except LookupFailed as why:
            self.log_info(str(why))
            return None
        if not found:
            self.log_info(f"Alert24 holds no earlier deployment to {mine.environment}.")
            return None
        self.log_debug(
            f"The previous deployment is change {found.change_id} (commit {found.commit}, "
            f"created {found.created_at}), found on page {found.page} of Alert24's list "
            f"after {found.looked_at} changes."
        )
        return found.commit

    def lookup_key(self) -> str:
        """The key, or in a dry run the key when one is set and looks whole."""
        if not self.get_variable("DRY_RUN"):
            return self.api_key()
        key = (self.get_variable("ALERT24_API_KEY") or "").strip()
        return key if key.isascii() and key.isprintable() and " " not in key else ""

    def api_key(self) -> str:
        # A key pasted with its newline is common; anything inside it is a broken paste.
        key = (self.get_variable("ALERT24_API_KEY") or "").strip()
        if not key:
            self.fail(MISSING_KEY)
        if not key.isascii() or not key.isprintable() or " " in key:
            self.fail(
                "ALERT24_API_KEY holds spaces, line breaks or non-ASCII characters inside it "
                "(not shown). Copy the key again from Alert24 into the secured variable."
            )
        if not key.startswith("ak_"):
            self.log_warning("ALERT24_API_KEY does not look like an Alert24 key (ak_live_...).")
        return key

    def checkout(self, context: BitbucketContext) -> Checkout | None:
        commit = self.get_variable("COMMIT_SHA") or context.commit  # else HEAD, outside Bitbucket
        try:
            return read_checkout(context.clone_dir, commit)
        except CheckoutUnreadable as why:
            self.log_debug(f"No commit message or author from the checkout: {why}")
            return None

    def show(self, request: ChangeRequest) -> None:
        self.log_info("DRY_RUN is on: nothing is sent. The request would be:")
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers(redacted=True).items())
        body = json.dumps(request.body, ensure_ascii=False, indent=2)
        print(f"POST {request.url}\n{headers}\n\n{body}", flush=True)
        self.success("Dry run: the change above was not sent to Alert24.")

    def deliver(
        self, request: ChangeRequest, context: BitbucketContext, went_out: WentOut | None = None
    ) -> None:
        try:
            delivery = deliver(
                request,
                timeout=self.get_variable("TIMEOUT"),
                max_retries=self.get_variable("MAX_RETRIES"),
            )
        except DeliveryFailed as failure:
            if failure.maybe_recorded:
                self.report_failure(
                    "Alert24 did not confirm the change, which may have been recorded all the "
                    f"same (check Alert24 before re-running): {failure.reason}"
                )
            else:
                self.report_failure(f"The change was not recorded in Alert24: {failure.reason}")
            return
        extra = receipt_fields(went_out) if went_out else None
        if context.shared_storage_dir:
            self.leave_receipt(context.shared_storage_dir, delivery, request, extra)
        name = f"change {delivery.change_id}" if delivery.change_id else "the change"
        what = f": {reported(went_out)}" if went_out else ""
        request_id = f" (X-Request-Id: {delivery.request_id})" if delivery.request_id else ""
        tries = f", at attempt {delivery.attempts}" if delivery.attempts > 1 else ""
        self.success(f"Recorded {name} in Alert24{request_id}{tries}{what}.")

    def leave_receipt(
        self,
        directory: str,
        delivery: Delivery,
        request: ChangeRequest,
        extra: dict[str, Any] | None = None,
    ) -> None:
        try:
            path = write_receipt(directory, delivery, request.body, extra)
        except OSError as error:
            self.log_warning(f"Could not write {RECEIPT_NAME} in {directory}: {error.strerror}.")
        else:
            self.log_debug(f"Wrote {path} for later steps.")

    def report_failure(self, message: str) -> None:
        if self.get_variable("FAIL_ON_ERROR"):
            self.fail(message)
        self.log_warning(f"{message}\nFAIL_ON_ERROR is false: the step carries on.")


def user_agent() -> str:
    """alert24-track-deployment/X.Y.Z, from the pipe.yml the image carries beside the pipe."""
    metadata = Path(__file__).resolve().parent.parent / "pipe.yml"
    try:
        found = re.search(r"^image: \S+:(\S+)$", metadata.read_text(encoding="utf-8"), re.M)
    except OSError:
        found = None
    return f"alert24-track-deployment/{found.group(1) if found else 'unknown'}"


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stopped("before the change was recorded")


def main() -> None:
    # Bitbucket stops a step with SIGTERM; say what became of the change rather than vanish.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        pipe = TrackDeployment(schema=schema, validator=PipeValidator(cerberus_rules(schema)))
    except Stopped as stop:
        fail(f"Stopped by SIGTERM {stop}.")
    except Exception as error:  # the last guard: a message, never a traceback
        fail(unexpected(error))
    try:
        pipe.run()
    except Stopped as stop:
        fail(f"Stopped by SIGTERM {stop}.")
    except Exception as error:
        pipe.report_failure(unexpected(error))  # the variables are read: FAIL_ON_ERROR applies


def unexpected(error: Exception) -> str:
    logging.getLogger("alert24").debug("Unexpected error", exc_info=True)
    return (
        f"Unexpected error: {type(error).__name__}: {error}. The change may not have been "
        "recorded. Please report this to Alert24 support with the log of a run with DEBUG: 'true'."
    )


if __name__ == "__main__":
    main()
    sys.exit(0)
