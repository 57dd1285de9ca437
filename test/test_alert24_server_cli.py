"""test/alert24_server.py as a command: the stand-in test/test_docker_image.py runs in a container.

Here it runs as a local process and the pipe talks to it, so the command line and the checks
the Docker tests make (the ✔ line, the receipt, the 401 message) are proved without Docker.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import API_KEY, ROOT, run_pipe

SERVER = ROOT / "test" / "alert24_server.py"
WRONG_KEY = "ak_live_" + "W" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served() -> Iterator[str]:
    """The stand-in started as a command; its URL once it says it listens."""
    port = free_port()
    command = [sys.executable, str(SERVER), "--port", str(port), "--api-key", API_KEY]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line == f"Alert24 stand-in listening on http://127.0.0.1:{port}\n", line
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()


def test_a_delivery_to_the_command_is_recorded_and_leaves_a_receipt(served, bitbucket, head_sha):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": served})
    assert run.returncode == 0, run.output
    assert "✔ Recorded change chg_0001 in Alert24: " in run.stdout
    assert "to production (X-Request-Id: req-1)." in run.stdout
    shared = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"])
    receipt = json.loads((shared / "alert24-change.json").read_text(encoding="utf-8"))
    assert receipt["change_id"] == "chg_0001"
    assert receipt["body"]["commit_sha"] == head_sha


def test_the_command_refuses_a_wrong_key_with_401_and_the_pipe_says_so(served, bitbucket):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": WRONG_KEY, "ALERT24_BASE_URL": served})
    assert run.returncode == 1
    assert "✖ The change was not recorded in Alert24: Alert24 answered HTTP 401" in run.stdout
    assert "Check that ALERT24_API_KEY holds a current key" in run.stdout
    shared = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"])
    assert not (shared / "alert24-change.json").exists()
