"""Promises that hold at any moment: a stop says what became of the change, and the receipt is
all or nothing."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alert24_server import hang
from conftest import PIPE, ROOT, assert_no_secret, process_env, start_pipe

RECEIPT = "alert24-change.json"


def handles(pid: int, signum: int) -> bool:
    """Whether the process has a handler of its own for the signal (SigCgt in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:"))[7:], 16)
    return bool(caught & (1 << (signum - 1)))


def wait_for(condition, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_during_start_up_says_nothing_was_recorded(signum, env, server):
    with start_pipe(env) as process:
        # Python handles SIGINT from its first instant; SIGTERM only once the pipe's code runs
        wait_for(lambda: handles(process.pid, signal.SIGTERM))
        process.send_signal(signum)
        stopped = time.monotonic()
        stdout, stderr = process.communicate(timeout=10)
    assert time.monotonic() - stopped < 1.0
    assert process.returncode == 1
    assert f"✖ Stopped by {signal.Signals(signum).name}" in stdout
    assert "the change was not recorded" in stdout
    assert "Traceback" not in stdout + stderr


def test_ctrl_c_while_alert24_has_not_answered_says_it_may_be_recorded(env, server):
    server.script(hang)
    with start_pipe(env) as process:
        wait_for(lambda: server.received)
        process.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        stdout, stderr = process.communicate(timeout=10)
    assert time.monotonic() - stopped < 1.0
    assert process.returncode == 1
    assert "✖ Stopped by SIGINT" in stdout
    assert "may have been recorded" in stdout
    assert "Traceback" not in stdout + stderr


def test_a_closed_stdout_after_the_change_is_recorded_still_exits_0(env, server):
    with start_pipe(env) as process:
        process.stdout.close()  # the reader is gone before the pipe says anything
        stderr = process.stderr.read()
        process.wait(timeout=30)
    assert process.returncode == 0, stderr
    assert len(server.received) == 1
    assert "Traceback" not in stderr


def test_a_closed_stdout_when_the_change_is_refused_still_exits_1(env, server):
    with start_pipe({**env, "ALERT24_API_KEY": "ak_live_" + "x" * 32}) as process:
        process.stdout.close()  # the reader is gone before the pipe says anything
        stderr = process.stderr.read()
        process.wait(timeout=30)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr


def receipt_path(env: dict[str, str]) -> Path:
    return Path(env["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / RECEIPT


def test_a_fifo_where_the_receipt_goes_is_left_alone_with_a_warning(env, server):
    receipt_path(env).parent.mkdir(parents=True)
    os.mkfifo(receipt_path(env))
    with start_pipe(env) as process:
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stdout + stderr
    assert "✔ Recorded change chg_0001" in stdout
    assert "alert24-change.json could not be written" in stderr
    assert "something other than a regular file is at that path" in stderr


def test_a_receipt_that_cannot_be_written_whole_leaves_the_previous_one_whole(env, server):
    previous = receipt_path(env)
    previous.parent.mkdir(parents=True)
    previous.write_text('{"change_id": "chg_earlier"}')

    def small_files() -> None:  # the new receipt is larger than this, so its write fails midway
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    with start_pipe(env, preexec_fn=small_files) as process:
        stdout, stderr = process.communicate(timeout=30)
    assert_no_secret(stdout + stderr)
    assert process.returncode == 0, stdout + stderr
    assert "✔ Recorded change chg_0001" in stdout
    assert "alert24-change.json could not be written" in stderr
    assert json.loads(previous.read_text()) == {"change_id": "chg_earlier"}
    assert os.listdir(previous.parent) == [RECEIPT]  # no half-written file left beside it


def test_a_receipt_is_replaced_whole_by_the_next_one(env, server):
    previous = receipt_path(env)
    previous.parent.mkdir(parents=True)
    previous.write_text('{"change_id": "chg_earlier"}')
    with start_pipe(env) as process:
        process.communicate(timeout=30)
    assert json.loads(previous.read_text())["change_id"] == "chg_0001"
    assert os.listdir(previous.parent) == [RECEIPT]


# Streams that cannot be written ------------------------------------------------------------------


def run_with_streams(env: dict[str, str], **streams: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PIPE)],
        env=process_env(env, ROOT),
        cwd=ROOT,
        timeout=60,
        check=False,
        **streams,
    )


@pytest.mark.parametrize("refused", [False, True], ids=["recorded", "refused"])
def test_a_full_stderr_leaves_the_exit_code_to_the_outcome(refused, env, server):
    key = {"ALERT24_API_KEY": "ak_live_" + "x" * 32} if refused else {}
    with open(os.devnull, "w") as null, open("/dev/full", "w") as full:
        done = run_with_streams({**env, **key}, stdout=null, stderr=full)
    assert done.returncode == (1 if refused else 0)


def test_a_stdout_closed_from_the_start_leaves_no_traceback_on_a_failure(env, server):
    done = run_with_streams(
        {**env, "TIMEOUT": "abc"},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),  # as `>&-` leaves it
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
