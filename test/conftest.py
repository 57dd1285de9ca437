"""Shared helpers: the local Alert24, a real git checkout, and running the pipe as the image does.

`run_pipe` runs the pipe's `main()` in the test's own process, with exactly a container's
environment, working directory and output streams, and its retries' waits recorded instead of
slept; `run_pipe_process` runs `python pipe/pipe.py` as a new process, for what only a process
shows (signals, the exit code as the OS sees it, a closed stdout, limits, the start-up path). Both
fail the test if the API key, or the part of it after `ak_live_`, appears in what the pipe printed.
A test that fails shows what the pipe printed in each of its runs, whatever it asserted.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from alert24_server import Alert24Server

if TYPE_CHECKING:
    import trustme

ROOT = Path(__file__).resolve().parent.parent
PIPE = ROOT / "pipe" / "pipe.py"
BASE62 = string.ascii_letters + string.digits

API_KEY = "ak_live_" + "".join(secrets.choice(BASE62) for _ in range(32))
AUTHOR = 'Zoë "zo" O\'Brien <zoe@example.com>'
MESSAGE = 'Ship the "blue" build: $HOME\\path\nwith a second line ✓'


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    waits: list[float] = field(default_factory=list)  # what retries asked to sleep (in-process)

    def __post_init__(self) -> None:
        RUNS.append(self)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


RUNS: list[Run] = []  # the current test's runs of the pipe, printed if the test fails


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test that fails shows what the pipe printed in each of its runs, whatever it asserted."""
    report = (yield).get_result()
    if report.failed:
        for number, run in enumerate(RUNS, 1):
            title = f"the pipe's run {number} of {len(RUNS)}, exit {run.returncode}"
            report.sections.append((title, run.output))
    if call.when == "teardown":
        RUNS.clear()


def assert_no_secret(output: str, key: str = API_KEY) -> None:
    """Neither the key, nor any 12 characters in a row of its part after `ak_live_`."""
    assert key not in output, "the API key was printed"
    secret = key.removeprefix("ak_live_")
    pieces = {secret[start : start + 12] for start in range(max(1, len(secret) - 11))}
    leaked = sorted(piece for piece in pieces if piece in output)
    assert not leaked, f"part of the API key was printed: {len(leaked)} pieces of 12 characters"


def process_env(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """Only what a pipe's container has: the variables given, and a bare minimum to run."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    return {**base, **env}


def start_pipe(
    env: dict[str, str], *, cwd: Path = ROOT, script: Path = PIPE, **popen: Any
) -> subprocess.Popen:
    """Start pipe/pipe.py as the container does, in a fresh process; the caller reads and waits.
    `popen`: more of subprocess.Popen's arguments, such as a preexec_fn setting a limit."""
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=process_env(env, cwd),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        **popen,
    )


def run_pipe_process(
    env: dict[str, str], *, cwd: Path = ROOT, timeout: float = 60, script: Path = PIPE
) -> Run:
    """Run `python pipe/pipe.py` to its end in a new process, as the image does; fail the test
    if the API key shows in anything it printed."""
    started = time.monotonic()
    with start_pipe(env, cwd=cwd, script=script) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    run = Run(process.returncode, stdout, stderr, time.monotonic() - started)
    assert_no_secret(run.output, env.get("ALERT24_API_KEY", API_KEY).strip() or API_KEY)
    return run


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def pipe_module() -> ModuleType:
    """pipe/pipe.py, imported once into the tests' process. Importing it sets its handlers of
    SIGTERM and SIGINT (before its other imports, for the process); the test process keeps its
    own, and each in-process run sets the pipe's for its duration."""
    if "pipe" not in sys.modules:
        kept = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        try:
            import pipe  # noqa: F401, PLC0415 (only when a test runs the pipe in-process)
        finally:
            for signum, handler in kept.items():
                signal.signal(signum, handler)
    return sys.modules["pipe"]


def toolkit_handlers() -> list[logging.StreamHandler]:
    """The handlers bitbucket_pipes_toolkit put on the root logger when imported: colorlog's
    StreamHandler, which keeps the sys.stderr of that moment rather than looking it up."""
    import colorlog  # noqa: PLC0415

    return [
        handler
        for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler
        and isinstance(handler.formatter, colorlog.ColoredFormatter)
    ]


@contextlib.contextmanager
def logging_as_started() -> Iterator[None]:
    """Every logger's level as a fresh process has it (the toolkit's root at INFO; DEBUG: 'true'
    lowers it), and back to the test process's afterwards."""
    root = logging.getLogger()
    loggers = [root] + [
        each
        for each in logging.Logger.manager.loggerDict.values()
        if isinstance(each, logging.Logger)
    ]
    kept = [(each, each.level, each.propagate, each.disabled) for each in loggers]
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        for each, level, propagate, disabled in kept:
            each.setLevel(level)
            each.propagate, each.disabled = propagate, disabled


class OwnThread(io.TextIOBase):
    """A stream that takes what this thread (the pipe's) writes into `captured`, and passes what
    other threads write (the local servers', such as socketserver's tracebacks) on to `others`:
    in a container they are other processes, whose output is not the pipe's."""

    def __init__(self, captured: io.StringIO, others: Any) -> None:
        super().__init__()
        self.captured, self.others, self.owner = captured, others, threading.get_ident()

    @property
    def encoding(self) -> str:
        return "utf-8"  # PYTHONIOENCODING, as the image sets it

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if threading.get_ident() == self.owner:
            return self.captured.write(text)
        return self.others.write(text)

    def flush(self) -> None:
        if threading.get_ident() != self.owner:
            self.others.flush()


@contextlib.contextmanager
def output_captured(stdout: io.StringIO, stderr: io.StringIO) -> Iterator[None]:
    """print() to `stdout`; the toolkit's log lines and warnings to `stderr`, as in a process."""
    handlers = toolkit_handlers()
    assert handlers, "bitbucket_pipes_toolkit set no log handler: its set-up changed"
    kept = [handler.stream for handler in handlers]
    for handler in handlers:
        handler.setStream(OwnThread(stderr, handler.stream))
    try:
        with (
            contextlib.redirect_stdout(OwnThread(stdout, sys.stdout)),
            contextlib.redirect_stderr(OwnThread(stderr, sys.stderr)),
            warnings.catch_warnings(),
        ):
            warnings.resetwarnings()  # Python's own filters, not pytest's: shown on stderr
            for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
                warnings.simplefilter("ignore", quiet)
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
            yield
    finally:
        for handler, stream in zip(handlers, kept, strict=True):
            handler.setStream(stream)


@contextlib.contextmanager
def stop_signals_as_started(pipe: ModuleType) -> Iterator[None]:
    """The pipe's handlers of SIGTERM and SIGINT, and its StopSignals fresh, as at start-up;
    the test process's own handlers back afterwards (main() leaves both signals ignored)."""
    stops = pipe.StopSignals
    kept_handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    kept_state = (stops.by, stops.running)
    stops.by, stops.running = "SIGTERM", False
    for signum in STOP_SIGNALS:
        signal.signal(signum, stops.stop)
    try:
        yield
    finally:
        for signum, handler in kept_handlers.items():
            signal.signal(signum, handler)
        stops.by, stops.running = kept_state


@contextlib.contextmanager
def stopped_after(timeout: float) -> Iterator[None]:
    """A run that outlives `timeout` gets SIGINT, as Ctrl-C would stop it: the pipe's own
    handler ends it (run_pipe then fails the test), where the test would otherwise hang."""
    lock, running, main_thread = threading.Lock(), [True], threading.get_ident()

    def interrupt() -> None:
        with lock:
            if running[0]:
                signal.pthread_kill(main_thread, signal.SIGINT)

    timer = threading.Timer(timeout, interrupt)
    timer.start()
    try:
        yield
    finally:
        with lock:
            running[0] = False
        timer.cancel()


@contextlib.contextmanager
def working_directory(cwd: Path) -> Iterator[None]:
    kept = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(kept)


def run_pipe(env: dict[str, str], *, cwd: Path = ROOT, timeout: float = 60) -> Run:
    """Run the pipe's main() to its end in this process, as `python pipe/pipe.py` would run in a
    container: exactly the container's environment and working directory, stdout and stderr
    captured, SystemExit's code as the exit code. Retries record their waits in `Run.waits`
    instead of sleeping. Whatever the run changes of the process (environment, directory,
    signal handlers, logger levels, the pipe's module state) is put back. Fails the test if the
    API key shows in anything the pipe printed, or if the run took longer than `timeout`."""
    pipe = pipe_module()
    stdout, stderr, waits = io.StringIO(), io.StringIO(), []
    started = time.monotonic()
    with (
        mock.patch.dict(os.environ, process_env(env, cwd), clear=True),
        mock.patch.object(sys, "argv", [str(PIPE)]),
        working_directory(cwd),
        logging_as_started(),
        output_captured(stdout, stderr),
        stop_signals_as_started(pipe),
        stopped_after(timeout),
    ):
        try:
            pipe.main(sleep=waits.append)
            returncode = 0
        except SystemExit as ended:
            returncode = exit_code(ended, stderr)
        except BaseException:  # uncaught: Python prints it and exits 1
            stderr.write(traceback.format_exc())
            returncode = 1
    run = Run(returncode, stdout.getvalue(), stderr.getvalue(), time.monotonic() - started, waits)
    assert_no_secret(run.output, env.get("ALERT24_API_KEY", API_KEY).strip() or API_KEY)
    assert run.elapsed < timeout, (
        f"the run took {run.elapsed:.1f} s, over {timeout} s\n{run.output}"
    )
    return run


def exit_code(ended: SystemExit, stderr: io.StringIO) -> int:
    """The status a process would end with for this SystemExit."""
    if ended.code is None:
        return 0
    if isinstance(ended.code, int):
        return ended.code & 0xFF
    print(ended.code, file=stderr)
    return 1


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": 'Zoë "zo" O\'Brien',
        "GIT_AUTHOR_EMAIL": "zoe@example.com",
        "GIT_COMMITTER_NAME": "CI",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def clone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkout, as Bitbucket leaves it: a clone of depth 1 of a repository."""
    origin = tmp_path_factory.mktemp("origin")
    git(origin, "init", "-q", "-b", "main")
    for n in range(3):
        (origin / "app.txt").write_text(f"version {n}\n")
        git(origin, "add", "app.txt")
        git(origin, "commit", "-q", "-m", f"Release {n}" if n < 2 else MESSAGE)
    clone = tmp_path_factory.mktemp("build")
    git(clone, "clone", "-q", "--depth", "1", f"file://{origin}", ".")
    return clone


@pytest.fixture(scope="session")
def head_sha(clone_dir: Path) -> str:
    return git(clone_dir, "rev-parse", "HEAD")


@pytest.fixture
def server() -> Iterator[Alert24Server]:
    with Alert24Server(api_key=API_KEY) as running:
        yield running


# What Bitbucket passes to every pipe of a branch build of acme/shop, but for the paths.
BRANCH_BUILD = {
    "CI": "true",
    "BITBUCKET_BRANCH": "main",
    "BITBUCKET_BUILD_NUMBER": "42",
    "BITBUCKET_REPO_SLUG": "shop",
    "BITBUCKET_REPO_FULL_NAME": "acme/shop",
    "BITBUCKET_WORKSPACE": "acme",
    "BITBUCKET_REPO_OWNER": "acme",
    "BITBUCKET_REPO_UUID": "{11111111-1111-4111-8111-111111111111}",
    "BITBUCKET_PIPELINE_UUID": "{22222222-2222-4222-8222-222222222222}",
    "BITBUCKET_STEP_UUID": "{33333333-3333-4333-8333-333333333333}",
    "BITBUCKET_STEP_TRIGGERER_UUID": "{44444444-4444-4444-8444-444444444444}",
    "BITBUCKET_EXIT_CODE": "0",
}


@pytest.fixture
def bitbucket(clone_dir: Path, head_sha: str, tmp_path: Path) -> dict[str, str]:
    """The variables Bitbucket passes to a pipe in a branch build's after-script."""
    return {
        **BRANCH_BUILD,
        "BITBUCKET_COMMIT": head_sha,
        "BITBUCKET_CLONE_DIR": str(clone_dir),
        "BITBUCKET_PIPE_STORAGE_DIR": str(tmp_path / "pipe-storage"),
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared-storage"),
    }


@pytest.fixture(scope="module")
def private_ca() -> trustme.CA:
    import trustme  # noqa: PLC0415 (the image step runs its tests with pytest alone)

    return trustme.CA()


@pytest.fixture
def ca_bundle(private_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "private-ca.pem"
    private_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def env(bitbucket: dict[str, str], server: Alert24Server) -> dict[str, str]:
    """A branch build's after-script with the pipe pointed at the local Alert24."""
    return {**bitbucket, "ALERT24_API_KEY": API_KEY, "ALERT24_BASE_URL": server.url}
