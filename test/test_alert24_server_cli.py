"""test/alert24_server.py as a command: the stand-in test/test_docker_image.py runs in a container.

Here it runs as a local process and the pipe talks to it, so the command line and the checks
the Docker tests make (the ✔ line, the receipt, the 401 message) are proved without Docker; and
what the README tells a user trying the pipe locally: the command prints each change it receives
as one line of JSON, and lists those it recorded at `GET /api/v1/changes`.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

import pytest
import requests

from conftest import API_KEY, ROOT, run_pipe

SERVER = ROOT / "test" / "alert24_server.py"
WRONG_KEY = "ak_live_" + "W" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served(NamedTuple):
    url: str
    lines: queue.Queue[str]  # what the command printed after its first line, line by line

    def next_line(self) -> str:
        return self.lines.get(timeout=10)


def copy_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.fixture
def served() -> Iterator[Served]:
    """The stand-in started as a command, once it says it listens."""
    port = free_port()
    command = [sys.executable, str(SERVER), "--port", str(port), "--api-key", API_KEY]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, encoding="utf-8") as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line == f"Alert24 stand-in listening on http://127.0.0.1:{port}\n", line
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=copy_lines, args=(process.stdout, lines), daemon=True).start()
            yield Served(f"http://127.0.0.1:{port}", lines)
        finally:
            process.terminate()


def test_a_delivery_to_the_command_is_recorded_and_leaves_a_receipt(served, bitbucket, head_sha):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": served.url})
    assert run.returncode == 0, run.output
    assert "✔ Recorded change chg_0001 in Alert24: " in run.stdout
    assert "to production (X-Request-Id: req-1)." in run.stdout
    shared = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"])
    receipt = json.loads((shared / "alert24-change.json").read_text(encoding="utf-8"))
    assert receipt["change_id"] == "chg_0001"
    assert receipt["body"]["commit_sha"] == head_sha


def test_the_command_refuses_a_wrong_key_with_401_and_the_pipe_says_so(served, bitbucket):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": WRONG_KEY, "ALERT24_BASE_URL": served.url})
    assert run.returncode == 1
    assert "✖ The change was not recorded in Alert24: Alert24 answered HTTP 401" in run.stdout
    assert "Check that ALERT24_API_KEY holds a current key" in run.stdout
    shared = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"])
    assert not (shared / "alert24-change.json").exists()


def test_the_command_prints_each_change_it_receives_as_one_line_of_json(served, bitbucket):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": served.url})
    assert run.returncode == 0, run.output
    shared = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"])
    receipt = json.loads((shared / "alert24-change.json").read_text(encoding="utf-8"))
    printed = served.next_line()
    assert printed.endswith("}\n") and printed.count("\n") == 1
    assert json.loads(printed) == receipt["body"]


def test_a_change_refused_is_printed_too(served, bitbucket):
    run = run_pipe({**bitbucket, "ALERT24_API_KEY": WRONG_KEY, "ALERT24_BASE_URL": served.url})
    assert run.returncode == 1
    assert json.loads(served.next_line())["summary"].startswith("Deployed ")


def test_a_get_of_the_changes_with_the_key_lists_those_recorded(served, bitbucket):
    for _ in range(2):
        run = run_pipe({**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": served.url})
        assert run.returncode == 0, run.output
    bodies = [json.loads(served.next_line()) for _ in range(2)]
    answer = requests.get(
        f"{served.url}/api/v1/changes", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
    )
    listed = answer.json()["data"]
    assert [item["id"] for item in listed] == ["chg_0002", "chg_0001"]  # newest first
    for item, body in zip(listed, bodies[::-1], strict=True):
        assert item.items() >= body.items()


def test_ctrl_c_ends_the_command_quietly():
    port = free_port()
    command = [sys.executable, str(SERVER), "--port", str(port), "--api-key", API_KEY]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Alert24 stand-in listening on ")
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in errors


def test_a_port_in_use_is_said_in_one_line(served):
    port = served.url.rsplit(":", 1)[1]
    command = [sys.executable, str(SERVER), "--port", port, "--api-key", API_KEY]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr == (
        f"Cannot listen on 127.0.0.1:{port}: Address already in use. Stop what uses it, "
        "or pick another --port.\n"
    )
