"""What the pipe costs a user: run it with `python test/benchmark.py [--runs N]`.

Measures, in one run on one machine, the median wall time of:
- one successful pipe run (pipe/pipe.py as a process, against the local Alert24 of the tests),
- `python -c "import bitbucket_pipes_toolkit"`, the floor that every toolkit pipe pays,
- the bare `curl` of Alert24's Bitbucket recipe, against the same server;
- pipe runs that look up the previous deployment in Alert24 and find none, or find one 30
  commits back and list them (a generated repository, read by the pipe's own git reader);
and the installed size of the locked dependency set (requirements.txt). Prints a Markdown table
for the README, with the machine it came from. Figures, not assertions: these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent)]

from alert24_server import Alert24Server  # noqa: E402
from conftest import API_KEY, PIPE, ROOT, git, process_env  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[:3]} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed


def commands(server: Alert24Server) -> dict[str, tuple[list[str], dict[str, str]]]:
    variables = {
        "ALERT24_API_KEY": API_KEY,
        "ALERT24_BASE_URL": server.url,
        "BITBUCKET_CLONE_DIR": str(ROOT),
        "BITBUCKET_COMMIT": "0123456789abcdef0123456789abcdef01234567",
        "BITBUCKET_BRANCH": "main",
        "BITBUCKET_BUILD_NUMBER": "1",
        "BITBUCKET_REPO_SLUG": "shop",
        "BITBUCKET_REPO_FULL_NAME": "acme/shop",
        "BITBUCKET_EXIT_CODE": "0",
    }
    env = process_env(variables, ROOT)
    body = '{"summary": "Deployed shop @ 01234567", "change_type": "deployment"}'
    curl = [
        "curl", "-s", "-X", "POST", f"{server.url}/api/v1/changes",
        "-H", f"Authorization: Bearer {API_KEY}",
        "-H", "Content-Type: application/json",
        "-d", body,
    ]  # fmt: skip
    return {
        "pipe run (pipe/pipe.py, one change recorded)": ([sys.executable, str(PIPE)], env),
        'floor: python -c "import bitbucket_pipes_toolkit"': (
            [sys.executable, "-c", "import bitbucket_pipes_toolkit"],
            env,
        ),
        "the recipe's bare curl": (curl, env),
    }


def listing_commands(
    server: Alert24Server, directory: Path
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Runs that look up the previous deployment: in production, 30 commits back; in staging,
    none. The repository is generated; Alert24 is seeded with the production deployment."""
    git(directory, "init", "-q", "-b", "main")
    shas = []
    for n in range(31):
        (directory / "app.txt").write_text(f"{n}\n")
        git(directory, "add", "app.txt")
        git(directory, "commit", "-q", "-m", f"Change {n} for PAY-{n + 1}")
        shas.append(git(directory, "rev-parse", "HEAD"))
    server.seed({
        "summary": "Deployed shop", "commit_sha": shas[0], "environment": "production",
        "source": "bitbucket-pipelines", "pipeline_url": "https://bitbucket.org/acme/shop/pipelines/results/1",
    })  # fmt: skip
    variables = {
        "ALERT24_API_KEY": API_KEY,
        "ALERT24_BASE_URL": server.url,
        "BITBUCKET_CLONE_DIR": str(directory),
        "BITBUCKET_COMMIT": shas[30],
        "BITBUCKET_BRANCH": "main",
        "BITBUCKET_BUILD_NUMBER": "2",
        "BITBUCKET_REPO_SLUG": "shop",
        "BITBUCKET_REPO_FULL_NAME": "acme/shop",
        "BITBUCKET_EXIT_CODE": "0",
    }
    listing = process_env(variables, directory)
    none = process_env({**variables, "ENVIRONMENT": "staging"}, directory)
    off = process_env({**variables, "LIST_COMMITS": "false"}, directory)
    return {
        "pipe run, LIST_COMMITS false (no lookup)": ([sys.executable, str(PIPE)], off),
        "pipe run, no previous deployment found in Alert24": ([sys.executable, str(PIPE)], none),
        "pipe run listing 30 commits since the previous deployment": (
            [sys.executable, str(PIPE)],
            listing,
        ),
    }


def medians(runs: int) -> dict[str, float]:
    with Alert24Server(api_key=API_KEY) as server, tempfile.TemporaryDirectory() as repo:
        timings: dict[str, list[float]] = {}
        plan = {**commands(server), **listing_commands(server, Path(repo))}
        seeded = len(server.stored)
        for _ in range(runs):  # interleaved, so that a noisy moment hits all alike
            for name, (command, env) in plan.items():
                timings.setdefault(name, []).append(timed(command, env))
                del server.stored[seeded:]  # each run finds the seeded deployment, not the last run
        if server.changes < runs:
            sys.exit("the pipe did not record a change on every run")
    return {name: statistics.median(values) for name, values in timings.items()}


def installed_sizes() -> dict[str, int]:
    """Bytes on disk per top-level entry of the locked set, installed as the Dockerfile does."""
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes",
             "--no-compile", "--target", target, "-r", str(ROOT / "requirements.txt")],
            check=True,
        )  # fmt: skip
        subprocess.run([sys.executable, "-m", "compileall", "-q", target], check=True)
        return {entry.name: tree_size(Path(entry.path)) for entry in os.scandir(target)}


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, curl {curl_version()}"
    )


def curl_version() -> str:
    if not shutil.which("curl"):
        return "absent"
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False)
    return version.stdout.split()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (median)")
    runs = parser.parse_args().runs
    times = medians(runs)
    floor = times['floor: python -c "import bitbucket_pipes_toolkit"']
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}; median of {runs} runs.\n")
    print("| command | median | vs. floor |\n| --- | ---: | ---: |")
    for name, seconds in times.items():
        print(f"| {name} | {seconds * 1000:.0f} ms | {seconds / floor:.2f}x |")
    sizes = installed_sizes()
    total = sum(sizes.values())
    print(f"\nLocked dependency set installed (with bytecode): {total / 1e6:.1f} MB\n")
    print("| package | size |\n| --- | ---: |")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        if size >= 50_000:
            print(f"| {name} | {size / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
