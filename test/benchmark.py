"""What the pipe costs a user: run it with `python test/benchmark.py [--runs N]`.

Measures, in one run on one machine, the median wall time of:
- one successful pipe run (pipe/pipe.py as a process, against the local Alert24 of the tests),
- `python -c "import bitbucket_pipes_toolkit"`, the floor that every toolkit pipe pays,
- the bare `curl` of Alert24's Bitbucket recipe, against the same server;
- pipe runs that look up the previous deployment in Alert24 and find none, or find one 30
  commits back and list them (a generated repository, read by the pipe's own git reader);
the installed size of the locked dependency set (requirements.txt); and what reading history
with git costs: the deployed commit (one `Clone.checkout`), and `read_went_out` over ranges of
30, 300 and 3,000 commits of a generated repository of 6,000 commits with merges, whole and as
a clone 50 commits deep (`--history-only` measures just that; `--real-repo DIR --real-range
A..B` adds a real history, such as a depth-50 clone of git.git).
Prints Markdown tables for CONTRIBUTING.md, with the machine they came from. Figures, not
assertions: these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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
from git_history import Spec, fast_import, new_repo, run_git  # noqa: E402

sys.path[:0] = [str(ROOT / "pipe")]
from clone import Clone  # noqa: E402
from outgoing import read_went_out  # noqa: E402

HISTORY_SIZE = 6000  # commits in the generated repository
RANGES = (30, 300, 3000)  # commits listed, roughly: what a deployment, a week, a quarter ship


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
    # The image compiles the pipe's modules when it is built; so does this, once, so that no run
    # pays for compiling them (PYTHONDONTWRITEBYTECODE would have every run compile them anew).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipe")], check=True)
    with Alert24Server(api_key=API_KEY) as server, tempfile.TemporaryDirectory() as repo:
        plan = {**commands(server), **listing_commands(server, Path(repo))}
        timings: dict[str, list[float]] = {name: [] for name in plan}
        seeded = len(server.stored)
        order = random.Random(0)
        for _ in range(runs):  # interleaved, so that a noisy moment hits all alike
            # In a new order each round: in a fixed one, a run paid for its place (up to 16%).
            for name in order.sample(list(plan), len(plan)):
                command, env = plan[name]
                timings[name].append(timed(command, env))
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


def generated_history(size: int) -> list[Spec]:
    """A main line with a feature branch of 1-6 commits merged every 8 commits or so, forked a
    few commits back; messages of a few hundred bytes with issue keys; dates a minute apart,
    one in 50 skewed an hour back, as a CI clock sometimes is."""
    rng = random.Random(10)  # a fixed history
    body = "Why this change was made, in a paragraph of the usual length for this team. " * 3
    specs, main, date = [Spec("m0", (), 1_700_000_000)], ["m0"], 1_700_000_000
    while len(specs) < size:
        date += 60
        skew = -3600 if rng.random() < 0.02 else 0
        parents = (main[-1],)
        if rng.random() < 0.12:  # a feature branch, merged
            tip = main[-rng.randint(1, min(len(main), 12))]
            for step in range(rng.randint(1, 6)):
                message = f"PAY-{len(specs)} Feature step {step}\n\n{body}\n"
                specs.append(Spec(f"f{len(specs)}", (tip,), date + step + skew, message))
                tip = specs[-1].name
            parents = (main[-1], tip)
        main.append(f"m{len(specs)}")
        message = f"OPS-{len(specs)} Main line change\n\n{body}\n"
        specs.append(Spec(main[-1], parents, date + 30 + skew, message))
    return specs


def history_timings(runs: int, real_repo: Path | None, real_ranges: list[str]) -> list[list[str]]:
    """Rows of: what, commits listed, commits not placed, git calls, median ms."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        repo = new_repo(Path(scratch) / "repo")
        specs = generated_history(HISTORY_SIZE)
        shas = fast_import(repo, specs, {"main": specs[-1].name})
        run_git(repo, "gc", "-q")  # one pack, deltas as git gc makes them
        shallow = Path(scratch) / "shallow"
        run_git(Path(scratch), "clone", "-q", "--depth", "50", f"file://{repo}", str(shallow))
        head = shas[specs[-1].name]
        rows.append(timed_checkout(f"generated, {len(specs)} commits", repo, head, runs))
        for target in RANGES:
            base = base_for(repo, head, target)
            rows.append(timed_range(f"generated, {len(specs)} commits", repo, base, head, runs))
        base = base_for(repo, head, RANGES[0])
        rows.append(timed_range("generated, depth-50 clone", shallow, base, head, runs))
    for spec in real_ranges:
        base, head = (
            run_git(real_repo, "rev-parse", f"{end}^{{commit}}").strip() for end in spec.split("..")
        )
        rows.append(timed_checkout(f"{real_repo.name}", real_repo, head, runs))
        rows.append(timed_range(f"{real_repo.name} {spec}", real_repo, base, head, runs))
    return rows


def base_for(repo: Path, head: str, target: int) -> str:
    """The main-line commit from which about `target` commits lead to head."""
    main_line = run_git(repo, "rev-list", "--first-parent", head).split()
    low, high = 0, len(main_line) - 1
    while low < high:  # fewest main-line steps back that list at least `target` commits
        middle = (low + high) // 2
        listed = int(run_git(repo, "rev-list", "--count", f"{main_line[middle]}..{head}"))
        low, high = (middle + 1, high) if listed < target else (low, middle)
    return main_line[low]


class CountedClone(Clone):
    calls = 0

    def git(self, *args: str) -> str:
        CountedClone.calls += 1
        return super().git(*args)


def timed_checkout(what: str, repo: Path, head: str, runs: int) -> list[str]:
    timings = []
    for _ in range(runs):
        CountedClone.calls = 0
        started = time.perf_counter()
        CountedClone(str(repo)).checkout(head)
        timings.append(time.perf_counter() - started)
    return [f"{what}: the deployed commit", "", "", str(CountedClone.calls), ms(timings)]


def timed_range(what: str, repo: Path, base: str, head: str, runs: int) -> list[str]:
    timings, found = [], None
    for _ in range(runs):
        CountedClone.calls = 0
        started = time.perf_counter()
        found = read_went_out(CountedClone(str(repo)), base, head)
        timings.append(time.perf_counter() - started)
    listed = f"{len(found.went.commits)}{'' if found.went.complete else ' (at least)'}"
    return [what, listed, str(found.went.unplaced), str(CountedClone.calls), ms(timings)]


def ms(timings: list[float]) -> str:
    return f"{statistics.median(timings) * 1000:.1f} ms"


def print_history(runs: int, real_repo: Path | None, real_ranges: list[str]) -> None:
    print("\n| history | commits listed | not placed | git calls | median |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in history_timings(runs, real_repo, real_ranges):
        print(f"| {' | '.join(row)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (median)")
    parser.add_argument("--history-only", action="store_true", help="measure reading history only")
    parser.add_argument("--real-repo", type=Path, help="a clone with a real history to walk too")
    parser.add_argument("--real-range", action="append", default=[], help="BASE..HEAD in it")
    options = parser.parse_args()
    runs = options.runs
    if options.history_only:
        print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}; median of {runs} runs.")
        print_history(runs, options.real_repo, options.real_range)
        return
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
    print_history(runs, options.real_repo, options.real_range)


if __name__ == "__main__":
    main()
