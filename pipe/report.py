"""The receipt a later step can read: what was recorded, and where to find it in Alert24.

Written to BITBUCKET_PIPE_SHARED_STORAGE_DIR, which Bitbucket keeps for the whole pipeline run, so
that a later pipe or script (a notification, a rollback) can quote the change id.
"""

from __future__ import annotations

import json
import os
from typing import Any

from alert24 import Delivery

RECEIPT_NAME = "alert24-change.json"


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
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(receipt, file, ensure_ascii=False, indent=2)
    return path
