"""The receipt a later step can read: what was recorded, and where to find it in Alert24.

Written to BITBUCKET_PIPE_SHARED_STORAGE_DIR, which Bitbucket keeps for the whole pipeline run, so
that a later pipe or script (a notification, a rollback) can quote the change id. All or nothing:
written beside its final name and renamed into place, so that a full disk, a size limit or a kill
mid-write leaves the old receipt or the new one whole, never a cut file a later step chokes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from typing import Any

from alert24 import Delivery

RECEIPT_NAME = "alert24-change.json"


class ReceiptNotWritten(Exception):
    """Why the receipt was not written, in words fit for one warning line."""


def write_receipt(
    directory: str, delivery: Delivery, body: dict[str, Any], extra: dict[str, Any] | None = None
) -> str:
    """`extra`: more fields for later steps, such as what went out since the last deployment."""
    path = os.path.join(directory, RECEIPT_NAME)
    receipt = {
        "change_id": delivery.change_id,
        "request_id": delivery.request_id,
        "status": delivery.status,
        "body": body,
        **(extra or {}),
    }
    data = json.dumps(receipt, ensure_ascii=False, indent=2).encode("utf-8")
    try:
        os.makedirs(directory, exist_ok=True)
        # A FIFO would block the write forever, a device or a link would send it elsewhere.
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise ReceiptNotWritten("something other than a regular file is at that path")
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{RECEIPT_NAME}.", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(descriptor, "wb") as file:
                # No fsync: a kill cannot cut a rename, and surviving power loss is not this
                # file's job; fsync would cost every run milliseconds.
                file.write(data)
            os.chmod(temporary, 0o644)  # not mkstemp's 0600: a later step may run as another user
            os.replace(temporary, path)
        except BaseException:  # a full disk, a size limit, or a stop: the old receipt stays whole
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise ReceiptNotWritten(error.strerror or str(error)) from error
    return path
