"""What Bitbucket tells the pipe about the step it runs in.

Bitbucket passes its default variables into the pipe's container; the conditional ones
(BITBUCKET_TAG, BITBUCKET_PR_ID, BITBUCKET_EXIT_CODE, ...) are there only when the step has them,
and a user may also set any of them in the pipe's `variables:` block. Outside Bitbucket none are
set at all, and the pipe still runs from a local checkout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

# The variables whose values go into the change; a path (the clone, the storage) is only opened.
SENT = (
    "BITBUCKET_COMMIT",
    "BITBUCKET_BRANCH",
    "BITBUCKET_TAG",
    "BITBUCKET_PR_ID",
    "BITBUCKET_BUILD_NUMBER",
    "BITBUCKET_REPO_FULL_NAME",
    "BITBUCKET_REPO_SLUG",
    "BITBUCKET_DEPLOYMENT_ENVIRONMENT",
    "BITBUCKET_EXIT_CODE",
    "BITBUCKET_PIPELINE_UUID",
    "BITBUCKET_STEP_UUID",
    "BITBUCKET_STEP_TRIGGERER_UUID",
)


class UnreadableContext(Exception):
    """Bitbucket passed a variable the change cannot carry; the message names it."""


class BitbucketContext(NamedTuple):  # a NamedTuple: a dataclass costs ~1 ms more to create
    commit: str | None = None
    branch: str | None = None
    tag: str | None = None
    pr_id: str | None = None
    build_number: str | None = None
    repo_full_name: str | None = None
    repo_slug: str | None = None
    deployment_environment: str | None = None
    exit_code: str | None = None
    pipeline_uuid: str | None = None
    step_uuid: str | None = None
    triggerer_uuid: str | None = None
    clone_dir: str = "."
    shared_storage_dir: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> BitbucketContext:
        unreadable = [name for name in SENT if not is_utf8(environ.get(name, ""))]
        if unreadable:
            raise UnreadableContext(
                "\n".join(
                    f"{name} holds bytes that are not UTF-8 text, which Alert24 cannot take: "
                    "give the branch, tag, environment or repository a UTF-8 name."
                    for name in unreadable
                )
            )

        def get(name: str) -> str | None:
            return given(environ, name)

        return cls(
            commit=get("BITBUCKET_COMMIT"),
            branch=get("BITBUCKET_BRANCH"),
            tag=get("BITBUCKET_TAG"),
            pr_id=get("BITBUCKET_PR_ID"),
            build_number=get("BITBUCKET_BUILD_NUMBER"),
            repo_full_name=get("BITBUCKET_REPO_FULL_NAME"),
            repo_slug=get("BITBUCKET_REPO_SLUG"),
            deployment_environment=get("BITBUCKET_DEPLOYMENT_ENVIRONMENT"),
            exit_code=get("BITBUCKET_EXIT_CODE"),
            pipeline_uuid=get("BITBUCKET_PIPELINE_UUID"),
            step_uuid=get("BITBUCKET_STEP_UUID"),
            triggerer_uuid=get("BITBUCKET_STEP_TRIGGERER_UUID"),
            clone_dir=get("BITBUCKET_CLONE_DIR") or os.getcwd(),
            shared_storage_dir=get("BITBUCKET_PIPE_SHARED_STORAGE_DIR"),
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
