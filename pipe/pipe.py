"""alert24/track-deployment: record a Bitbucket Pipelines deployment as a change in Alert24.

The story of a run: read and check the variables, read the step and the deployed commit, build
the change, deliver it to Alert24 (or show it, in a dry run), report. The work lives in the
modules beside this one; only this file turns their errors into the toolkit's fail and success.
"""

from __future__ import annotations

import os
import signal
import sys


class StopSignals:
    """The one handler of SIGTERM (how Bitbucket stops a step) and SIGINT (Ctrl-C), set before
    the imports below, which take most of a run's start-up, so that no stop ends a run silently.
    Once `running`, it raises Stopped wherever the run is, and the code on the way puts in words
    what became of the change; `by` names the signal for the ✖ line."""

    by = "SIGTERM"
    running = False

    @classmethod
    def stop(cls, signum: int, frame: object) -> None:
        cls.decided()  # one stop is enough: a second must not replace its words
        cls.by = signal.Signals(signum).name
        if not cls.running:  # nothing sent yet: end at once (an import's callback swallows raises)
            words = "while the pipe was starting: the change was not recorded."
            try:
                print(f"✖ Stopped by {cls.by} {words}", flush=True)
            finally:
                os._exit(1)
        raise Stopped()

    @staticmethod
    def decided() -> None:
        """The outcome is decided: no signal may cut its line short."""
        for signum in STOPS:
            signal.signal(signum, signal.SIG_IGN)


STOPS = (signal.SIGTERM, signal.SIGINT)
for signum in STOPS:
    signal.signal(signum, StopSignals.stop)

# ruff: noqa: E402 (the imports come after the signal handlers on purpose)
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bitbucket_pipes_toolkit import Pipe, fail, success

from alert24 import (
    HINTS,
    ChangeRequest,
    Delivery,
    DeliveryFailed,
    Stopped,
    changes_url,
    deliver,
    with_request_id,
)
from change import Where, build_change, external_id, where
from clone import FULL_COMMIT_ID, Checkout, Clone, CloneUnreadable
from context import BitbucketContext, UnreadableContext, given
from outgoing import WentOut, read_went_out, receipt_fields, reported
from previous import LookupFailed, Mine, find_previous
from printable import Secrets, printable, secrets_for, without_password
from report import ReceiptNotWritten, write_receipt
from sizes import cut_hard
from variables import InvalidVariables, PipeValidator, boolean, misspelt, read_variables

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


def text(default: str | None = None, *, expects: str | None = None, **rules: Any) -> dict[str, Any]:
    """A free-text variable; `default` says in words what applies when it is not set, and
    `expects` what to give instead of a value refused."""
    meta = {"default": default, **({"expects": expects} if expects else {})}
    return {"type": "string", "meta": meta, **rules}


def identifier(default: str | None = None, **rules: Any) -> dict[str, Any]:
    """A variable that names something (an environment, a service, a commit): trimmed, since
    ' staging ' would be another environment than 'staging' in Alert24."""
    return text(default, coerce="trimmed", **rules)


def flag(default: bool) -> dict[str, Any]:
    return {"type": "boolean", "coerce": "boolean", "default": default}


def number(kind: str, low: float, high: float, default: float, expects: str) -> dict[str, Any]:
    """A number (`kind` "number") or a whole number ("integer") from `low` to `high`."""
    rules = {"type": kind, "coerce": kind, "min": low, "max": high, "default": default}
    return {**rules, "meta": {"expects": expects}}


schema: dict[str, dict[str, Any]] = {
    "ALERT24_API_KEY": text(meta={"secret": True, "default": None}),
    "SUMMARY": text("Deployed {BITBUCKET_REPO_SLUG} @ {first 8 of the commit}"),
    "ENVIRONMENT": identifier("BITBUCKET_DEPLOYMENT_ENVIRONMENT, else production"),
    "CHANGE_TYPE": text(
        "`deployment`, or `rollback` when the commit deployed is older than the last one "
        "(see LIST_COMMITS)",
        coerce="lowercase",
        allowed=CHANGE_TYPES,
    ),
    "SERVICE_ID": identifier(),
    "RISK_LEVEL": text("Alert24's default (low)", coerce="lowercase", allowed=RISK_LEVELS),
    "DESCRIPTION": text(),
    "CHANGED_BY": text(
        "author of the deployed commit (COMMIT_SHA), else BITBUCKET_STEP_TRIGGERER_UUID"
    ),
    "COMMIT_MESSAGE": text("message of the deployed commit (COMMIT_SHA)"),
    "COMMIT_SHA": identifier("BITBUCKET_COMMIT"),
    "BRANCH": identifier("BITBUCKET_BRANCH"),
    "PR_NUMBER": identifier("BITBUCKET_PR_ID"),
    "PR_URL": text("the pull request's Bitbucket URL, on pull-request builds"),
    "PIPELINE_URL": text("this pipeline run's Bitbucket URL"),
    "EXTERNAL_ID": identifier("bitbucket:{pipeline uuid}:{step uuid}"),
    "SOURCE": {"type": "string", "coerce": "trimmed", "default": "bitbucket-pipelines"},
    # From TAGS_COUNT and TAGS_i (None where an index is missing), or a text: a YAML list typed
    # as text (`"[web, api]"`), else split at its commas.
    "TAGS": {"type": "list", "coerce": "tags", "maxlength": 100, "default": []},
    "JIRA_PROJECT_KEYS": {
        "type": "list",
        "coerce": ["tags", "project_keys"],  # each checked against Jira's rule, by jira.py
        "maxlength": 100,
        "default": [],
        "meta": {
            "expects": "give the keys of your Jira projects, such as PAY or SHOP (a letter, then "
            "letters, digits or underscores: the part of an issue key before the hyphen), as a "
            "YAML list ['PAY', 'SHOP'] or one text 'PAY, SHOP'"
        },
    },
    "LIST_COMMITS": flag(True),
    "PREVIOUS_COMMIT": text(
        "looked up in Alert24",
        coerce=["trimmed", "lowercase"],
        regex=f"(?:{FULL_COMMIT_ID})",
        expects="use the full commit id (40 hex characters, or 64 in a SHA-256 repository), "
        "as `git rev-parse HEAD` prints it",
    ),
    "ALERT24_BASE_URL": {
        "type": "string",
        "coerce": "base_url",
        # No credentials (they would be printed with the URL), no /api path (the pipe adds it).
        "regex": r"https?://[^\s/?#@]+(?!/api(/|$))(/[^\s?#]*)?",
        "check_with": "host_name",
        "default": "https://app.alert24.net",
        "meta": {
            "expects": "use the address alone, such as https://app.alert24.net (the pipe adds "
            "/api/v1/changes), with no user or password in it"
        },
    },
    "TRACK_FAILED": flag(False),
    "FAIL_ON_ERROR": flag(True),
    "DRY_RUN": flag(False),
    "TIMEOUT": number("number", 0.1, 300, 10, "use a number of seconds from 0.1 to 300"),
    "MAX_RETRIES": number("integer", 0, 10, 3, "use a whole number from 0 to 10"),
    "DEBUG": flag(False),
}

MISSING_KEY = """ALERT24_API_KEY is not set. Create an API key with the 'write' scope in Alert24 \
(https://alert24.net/docs/api-authentication), store it as a secured repository or workspace \
variable (https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/), and pass \
it to the pipe:
    variables:
      ALERT24_API_KEY: $ALERT24_API_KEY
On a pull request from a fork, Bitbucket passes no secured variables: the key is empty there."""

BROKEN_KEY = (
    "ALERT24_API_KEY holds spaces, line breaks or non-ASCII characters inside it (not shown). "
    "Copy the key again from Alert24 into the secured variable."
)


NOTHING_SENT = "Nothing was sent to Alert24: the change was not recorded."


class ConfigurationError(Exception):
    """Something the user can fix in the step's YAML or variables; the message says what."""


class TrackDeployment(Pipe):
    # What the look-up's GET showed of the key, for a dry run's last line: refused (401, 403),
    # accepted (any 2xx), or neither, when nothing was asked or Alert24 did not say.
    key_refusal: LookupFailed | None = None
    key_accepted = False

    def validate(self) -> dict[str, Any]:
        """The toolkit's own would exit through fail(): a bad variable raises InvalidVariables
        instead, for main() to fail or warn by FAIL_ON_ERROR."""
        self.agent = user_agent()
        if boolean(self.env.get("DEBUG", "")):  # now: a run its variables fail names it too
            self.logger.setLevel("DEBUG")
            self.log_debug(f"{self.agent} on Python {sys.version.split()[0]}")
        for given_name, meant in misspelt(self.env, self.schema):
            self.log_warning(f"{given_name} is not a variable of this pipe: did you mean {meant}?")
        read = read_variables(self.env, self.schema, self.validator)
        if read.trimmed:
            self.log_warning(
                f"Removed the spaces around {' and '.join(read.trimmed)}: a name with spaces "
                "around it would be another name in Alert24."
            )
        return read.values

    def run(self) -> None:
        """The story of a run, as the module's docstring tells it. What every step reads (the
        step's context, the key; the User-Agent, with the variables) is read once, onto `self`."""
        super().run()
        variables = self.variables
        self.context = context = BitbucketContext.from_environ(self.env)
        if context.step_failed and not variables["TRACK_FAILED"]:  # no key needed: none is sent
            self.log_info(
                f"The step failed (BITBUCKET_EXIT_CODE={printable(context.exit_code)}): no change "
                "recorded. "
                "Set TRACK_FAILED: 'true' to record failed deployments too."
            )
            return
        self.key = self.api_key(required=not variables["DRY_RUN"])
        if self.key:
            self.warn_if_unencrypted(variables["ALERT24_BASE_URL"])
        clone = Clone(context.clone_dir)
        checkout = self.checkout(clone)
        went_out = self.went_out(clone, checkout)
        body = build_change(variables, context, checkout, went_out)
        self.say_where(body)
        url = changes_url(variables["ALERT24_BASE_URL"])
        request = ChangeRequest(url, self.key, body, self.agent, self.secrets)
        if variables["DRY_RUN"]:
            self.show(request)
            return
        delivery = deliver(
            request,
            timeout=variables["TIMEOUT"],
            max_retries=variables["MAX_RETRIES"],
            smaller=cut_hard,
            sleep=self.sleep,
        )
        # After a 2xx, whatever comes next, the change is in Alert24, and nothing may say not:
        # a stop now would only cut the ✔ line or the receipt short.
        StopSignals.decided()
        try:
            self.report(delivery, went_out)
        except Exception as error:
            logging.getLogger("alert24").debug("Unexpected error", exc_info=True)
            self.log_warning(
                f"The change is recorded in Alert24 ({recorded(delivery)}), but reporting it "
                f"failed: {type(error).__name__}: {printable(error)}."
            )

    def checkout(self, clone: Clone) -> Checkout | None:
        """The deployed commit, from the clone; None, and a line saying why and what follows."""
        commit = self.get_variable("COMMIT_SHA") or self.context.commit  # else HEAD, outside CI
        try:
            return clone.checkout(commit)
        except CloneUnreadable as why:
            lost = [] if self.get_variable("COMMIT_MESSAGE") else ["its message"]
            if self.get_variable("LIST_COMMITS"):
                lost.append("the commits since the previous deployment")
            said = " and ".join(lost)
            follows = f"The change goes without {said}" if said else "The change goes as given"
            if not self.get_variable("CHANGED_BY"):
                uuid = self.context.triggerer_uuid
                who = "changed_by is the step triggerer's UUID" if uuid else "without changed_by"
                follows += f", and {who}: set CHANGED_BY to say who deployed"
            self.log_info(f"The deployed commit could not be read: {printable(why)}. {follows}.")
            return None

    def went_out(self, clone: Clone, checkout: Checkout | None) -> WentOut | None:
        """The commits since the previous deployment; None, and a line saying why, without."""
        if not self.get_variable("LIST_COMMITS") or not checkout:
            return None  # reading the commit said why
        mine = where(self.variables, self.context, checkout)
        previous = self.get_variable("PREVIOUS_COMMIT")
        if not previous and not checkout.parents and history_ends_at(clone, checkout.sha):
            # Nothing since any earlier commit can be listed from here: not worth a request.
            self.log_info(
                "No commits listed: the clone's history ends at the deployed commit. Set "
                "`clone: depth:` to 2 or more (50 is Bitbucket's default) to list them."
            )
            return None
        if previous:
            self.log_debug(f"The previous deployment is PREVIOUS_COMMIT, {previous}.")
        else:
            previous = self.previous_commit(mine)
        if not previous:
            return None
        try:
            return read_went_out(clone, previous, checkout.sha)
        except CloneUnreadable as why:
            self.log_info(f"The commits since {previous[:8]} could not be read: {printable(why)}")
            return None

    def previous_commit(self, mine: Where) -> str | None:
        """The commit of the last deployment Alert24 holds; None, and a line saying why."""
        repo = self.context.repo_full_name
        if not self.key or not repo:
            why = "no ALERT24_API_KEY" if not self.key else "no BITBUCKET_REPO_FULL_NAME"
            self.log_info(f"The previous deployment was not looked up ({why}).")
            return None
        # Every step of this pipeline run has an external_id starting `bitbucket:{pipeline}:`.
        this_step = external_id(self.context)
        run = this_step.rpartition(":")[0] + ":" if this_step else None
        ours = Mine(
            repo, mine.environment, mine.service_id, mine.source, mine.external_id,
            mine.commit_sha, run,
        )  # fmt: skip
        url, timeout = self.get_variable("ALERT24_BASE_URL"), self.get_variable("TIMEOUT")
        try:
            found = find_previous(
                url, ours, api_key=self.key, user_agent=self.agent, timeout=timeout,
                secrets=self.secrets,
            )  # fmt: skip
        except LookupFailed as why:
            self.key_accepted = why.key_accepted
            if why.key_refused:
                self.key_refusal = why
                self.log_warning(str(why))
            else:
                self.log_info(str(why))
            return None
        self.key_accepted = True
        if not found:
            self.log_info(
                f"Alert24 holds no earlier deployment of {ours.deployed()}: no commits listed."
            )
            return None
        changes = "1 change" if found.looked_at == 1 else f"{found.looked_at} changes"
        self.log_debug(
            f"The previous deployment is change {printable(found.change_id)} (commit "
            f"{found.commit}, created {printable(found.created_at)}), found on page {found.page} "
            f"of Alert24's list after {changes}."
        )
        return found.commit

    def api_key(self, *, required: bool) -> str | None:
        # A key pasted with its newline is common; anything inside it is a broken paste.
        key = (self.get_variable("ALERT24_API_KEY") or "").strip()
        if not key:
            if required:
                raise ConfigurationError(MISSING_KEY)
            return None
        if not key.isascii() or not key.isprintable() or " " in key:
            raise ConfigurationError(BROKEN_KEY)
        if not key.startswith("ak_"):
            self.log_warning("ALERT24_API_KEY does not look like an Alert24 key (ak_live_...).")
        return key

    def warn_if_unencrypted(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            self.log_warning(
                f"ALERT24_BASE_URL is {printable(without_password(base_url))}: over http:// the "
                "key travels unencrypted. Use https://."
            )

    def say_where(self, change: Mapping[str, Any]) -> None:
        """A change that lands in `production` only because nothing said otherwise is named,
        so that a pull-request build does not fill the production timeline unnoticed."""
        if self.get_variable("ENVIRONMENT") or self.context.deployment_environment:
            return
        log = self.log_warning if self.context.pr_id else self.log_info
        log(
            f"No deployment environment is set: the change goes to {change['environment']!r}, "
            "Alert24's default. Set `deployment:` on the step, or ENVIRONMENT in the pipe's "
            "variables, to name another."
        )

    def show(self, request: ChangeRequest) -> None:
        self.log_info("DRY_RUN is on: nothing is sent. The request would be:")
        given = "is set" if request.api_key else "is not set: a real run would stop here"
        authorization = f"Bearer ******** (ALERT24_API_KEY {given})"  # whether, never what
        headers = request.shown_headers() | {"Authorization": authorization}
        lines = "\n".join(f"{name}: {value}" for name, value in headers.items())
        # Readable Unicode, but commit messages and authors may hold control characters too.
        body = "\n".join(
            self.secrets.shown(line, limit=100_000)
            for line in json.dumps(request.body, ensure_ascii=False, indent=2).split("\n")
        )
        say(f"POST {self.secrets.shown(without_password(request.url))}\n{lines}\n\n{body}")
        verdict = ""
        if refused := self.key_refusal:
            verdict = (
                f" Alert24 refused ALERT24_API_KEY (HTTP {refused.status}): a real run would "
                f"fail. {HINTS[refused.status].rstrip('.')}."
            )
        elif request.api_key and not self.key_accepted:
            verdict = " ALERT24_API_KEY was not checked: Alert24 accepted no request made with it."
        say(f"Dry run: the change above was not sent to Alert24.{verdict}", done=True)

    def report(self, delivery: Delivery, went_out: WentOut | None) -> None:
        """The ✔ line, then the receipt later steps read, in the shared storage if there is one."""
        summary = self.secrets.shown(delivery.body["summary"], limit=120)
        environment = self.secrets.shown(delivery.body["environment"])
        request_id = with_request_id(delivery.request_id)
        tries = f", at attempt {delivery.attempts}" if delivery.attempts > 1 else ""
        what = f": {reported(went_out)}" if went_out else ""
        say(
            f'Recorded {recorded(delivery)} in Alert24: "{summary}" to {environment}'
            f"{request_id}{tries}{what}.",
            done=True,
        )
        if not (directory := self.context.shared_storage_dir):
            return
        extra = receipt_fields(went_out) if went_out else None
        try:
            path = write_receipt(directory, delivery, delivery.body, extra)
        except ReceiptNotWritten as why:
            self.log_warning(
                f"The change is recorded, but alert24-change.json could not be written in "
                f"{printable(directory)} for later steps: {printable(why)}."
            )
        else:
            self.log_debug(f"Wrote {printable(path)} for later steps.")


def history_ends_at(clone: Clone, commit: str) -> bool:
    try:
        return commit in clone.cut()
    except CloneUnreadable:
        return False  # reading the commits says why, in its own line


def recorded(delivery: Delivery) -> str:
    return f"change {printable(delivery.change_id)}" if delivery.change_id else "the change"


def is_loopback(host: str) -> bool:
    """localhost, ::1 or 127.x.y.z: written out, as the ipaddress module costs ~2 ms to import."""
    if host in ("localhost", "::1") or host.endswith(".localhost"):
        return True
    octets = host.split(".")
    return len(octets) == 4 and octets[0] == "127" and all(o.isdigit() for o in octets)


def user_agent() -> str:
    """alert24-track-deployment/X.Y.Z, from the pipe.yml the image carries beside the pipe."""
    metadata = Path(__file__).resolve().parent.parent / "pipe.yml"
    try:
        found = re.search(r"^image: \S+:(\S+)$", metadata.read_text(encoding="utf-8"), re.M)
    except OSError:
        found = None
    return f"alert24-track-deployment/{found.group(1) if found else 'unknown'}"


# The edge: only here do errors become the toolkit's ✔ and ✖ lines and an exit code. -----------


def main(sleep: Callable[[float], None] = time.sleep) -> None:
    """A run, from the variables in os.environ to the ✔ or ✖ line; `sleep` is how retries wait
    (the tests record the waits instead)."""
    fail_on_error, doubt = True, ""
    # Whatever variable the key was pasted into, no line of the run shows it: each line logged
    # is masked on its way out, as the ✖ line is, under the masking of its own pieces.
    secrets = secrets_for(
        (os.environ.get("ALERT24_API_KEY") or "").strip(), os.environ.get("ALERT24_BASE_URL", "")
    )
    masked = Masked(secrets)
    handlers = logging.getLogger().handlers
    try:
        try:
            StopSignals.running = True
            for handler in handlers:
                handler.addFilter(masked)
            fail_on_error, doubt = read_fail_on_error(os.environ)
            # A class: read_variables makes one for the variables each run sets.
            track = TrackDeployment(schema=schema, validator=PipeValidator)
            track.sleep, track.secrets = sleep, secrets
            track.run()
        finally:
            StopSignals.decided()
    except (Exception, Stopped) as error:
        message = secrets.masked(why(error, StopSignals.by, doubt))
        give_up(message, fail_on_error or isinstance(error, Stopped))
    finally:
        for handler in handlers:
            handler.removeFilter(masked)


class Masked(logging.Filter):
    """A log handler's filter: the line, and any traceback under it, with the secrets masked."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.secrets.masked(record.getMessage()), ()
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = self.secrets.masked(trace), None
        return True


def why(error: BaseException, stopped_by: str, doubt: str) -> str:
    """The ✖ line for whatever ended the run."""
    if isinstance(error, InvalidVariables):
        return f"Validation errors:\n{error}\n{NOTHING_SENT}{doubt}"
    if isinstance(error, ConfigurationError | UnreadableContext):
        return f"{error}\n{NOTHING_SENT}{doubt}"
    if isinstance(error, DeliveryFailed) and error.maybe_recorded:
        return (
            "Alert24 did not confirm the change, which may have been recorded all the same "
            f"(check Alert24 before re-running): {error.reason}"
        )
    if isinstance(error, DeliveryFailed):
        return f"The change was not recorded in Alert24: {error.reason}"
    if isinstance(error, Stopped):
        return f"Stopped by {stopped_by} {error}."
    logging.getLogger("alert24").debug("Unexpected error", exc_info=True)
    return (
        f"Unexpected error: {type(error).__name__}: {printable(error)}. The change may not have "
        "been recorded. Please report this to Alert24 support with the log of a run with "
        "DEBUG: 'true'."
    )


def read_fail_on_error(environ: Mapping[str, str]) -> tuple[bool, str]:
    """FAIL_ON_ERROR first, by the schema's own rule: it decides what every failure does, those
    of the other variables included. One that cannot be read counts as true, and says so."""
    text = given(environ, "FAIL_ON_ERROR")
    read = boolean(text) if text is not None else schema["FAIL_ON_ERROR"]["default"]
    if read is None:
        return True, "\nFAIL_ON_ERROR could not be read, so it counts as 'true': the step fails."
    return read, ""


def give_up(message: str, fail_on_error: bool) -> None:
    if not fail_on_error:
        logging.getLogger().warning(f"{message}\nFAIL_ON_ERROR is false: the step carries on.")
        sys.exit(0)
    try:  # a long line is written at once; the rest at exit, where a failure is also quieted
        fail(message, do_exit=False)
    except OSError:  # stdout is closed: the exit code still says it
        quiet(sys.stdout)
    sys.exit(1)


def say(text: str, *, done: bool = False) -> None:
    """Print `text`, as the toolkit's ✔ line when `done`; a closed stdout loses only the words."""
    try:
        if done:
            success(text, do_exit=False)
        else:
            print(text, flush=True)
    except OSError:
        quiet(sys.stdout)


def quiet(stream: object) -> None:
    """After a write to a closed or full stream, point it at /dev/null: Python's own flush at
    exit would otherwise print an error and make the exit code 120."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no such stream, or no file under it
        pass


if __name__ == "__main__":
    logging.raiseExceptions = False  # a closed stderr must not turn a log line into a traceback
    try:
        main()
    finally:  # the log lines a full or closed stderr could not take must not change the exit code
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream:
                    stream.flush()
            except (OSError, ValueError):
                quiet(stream)
    sys.exit(0)
