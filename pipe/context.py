"""What Bitbucket tells the pipe about the step it runs in.

Bitbucket passes its default variables into the pipe's container; the conditional ones
(BITBUCKET_TAG, BITBUCKET_PR_ID, BITBUCKET_EXIT_CODE, ...) only when the step has them, and a user
may set any of them in `variables:`. Outside Bitbucket none are set; the pipe runs from a checkout.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Mapping

# Each field's variable, whose value goes into the change; the two paths after them are only
# opened: the clone (else the working directory) and the pipe's shared storage.
SENT = {
    "commit": "BITBUCKET_COMMIT",
    "branch": "BITBUCKET_BRANCH",
    "tag": "BITBUCKET_TAG",
    "pr_id": "BITBUCKET_PR_ID",
    "build_number": "BITBUCKET_BUILD_NUMBER",
    "repo_full_name": "BITBUCKET_REPO_FULL_NAME",
    "repo_slug": "BITBUCKET_REPO_SLUG",
    "deployment_environment": "BITBUCKET_DEPLOYMENT_ENVIRONMENT",
    "exit_code": "BITBUCKET_EXIT_CODE",
    "pipeline_uuid": "BITBUCKET_PIPELINE_UUID",
    "step_uuid": "BITBUCKET_STEP_UUID",
    "triggerer_uuid": "BITBUCKET_STEP_TRIGGERER_UUID",
}
NOT_UTF8 = (
    "{} holds bytes that are not UTF-8 text, which Alert24 cannot take: give the branch, tag, "
    "environment or repository a UTF-8 name."
)


class UnreadableContext(Exception):
    """Bitbucket passed a variable the change cannot carry; the message names it."""


FIELDS = [*SENT, "clone_dir", "shared_storage_dir"]


class BitbucketContext(namedtuple("Fields", FIELDS, defaults=[*[None] * len(SENT), ".", None])):
    """Each variable's text, or None when it is not set. A named tuple: a dataclass costs ~1 ms
    more to create."""

    __slots__ = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> BitbucketContext:
        if unreadable := [name for name in SENT.values() if not is_utf8(environ.get(name, ""))]:
            raise UnreadableContext("\n".join(map(NOT_UTF8.format, unreadable)))
        return cls(
            **{field: given(environ, name) for field, name in SENT.items()},
            clone_dir=given(environ, "BITBUCKET_CLONE_DIR") or os.getcwd(),
            shared_storage_dir=given(environ, "BITBUCKET_PIPE_SHARED_STORAGE_DIR"),
        )

    @property
    def in_bitbucket(self) -> bool:
        return self.build_number is not None or self.repo_full_name is not None

    @property
    def step_failed(self) -> bool:
        # In after-script any non-zero code means the script failed: 1, 2, 127, ...
        return self.exit_code is not None and self.exit_code.strip() != "0"

    @property
    def name(self) -> str:
        """The repository's name, as a user would say it in a summary."""
        return self.repo_slug or os.path.basename(os.path.abspath(self.clone_dir))


def given(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's text, or None when it is not set. Empty or blank counts as not set, so that
    the default applies: `X: $UNSET` in `variables:` arrives empty, and a blank names nothing."""
    text = environ.get(name, "")
    return text if text.strip() else None


def is_utf8(value: str) -> bool:
    """Python keeps bytes that are not UTF-8 as lone surrogates, which no JSON body can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
