"""The clone, read by git: what the pipe reads of the deployed commit, in the layouts and under
the conditions a step's clone comes in, and the bounds on every git call."""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict
from pathlib import Path

import pytest

from clone import GIT_MEMORY, Clone, CloneUnreadable
from git_history import Spec, fast_import, new_repo, run_git

T = 1_700_000_000


def git_version() -> tuple[int, int]:
    found = re.search(r"(\d+)\.(\d+)", run_git(Path.cwd(), "--version"))
    return (int(found[1]), int(found[2])) if found else (0, 0)


@pytest.fixture
def repo(tmp_path) -> Path:
    repo = new_repo(tmp_path / "repo")
    (repo / "a.txt").write_text("a\n")
    run_git(repo, "add", "a.txt")
    run_git(repo, "commit", "-q", "-m", "Ship it ✓\n\nwith a body")
    return repo


def test_reads_the_message_author_and_branch_of_head(repo):
    checkout = Clone(str(repo)).checkout()
    assert checkout.sha == run_git(repo, "rev-parse", "HEAD").strip()
    assert (checkout.branch, checkout.author) == ("main", "Ada Lovelace <ada@example.com>")
    assert checkout.message == "Ship it ✓\n\nwith a body"


def test_a_detached_head_has_no_branch(repo):
    run_git(repo, "checkout", "-q", "--detach")
    assert Clone(str(repo)).checkout().branch is None


def test_reads_from_a_subdirectory_of_the_clone(repo):
    (repo / "sub").mkdir()
    assert Clone(str(repo / "sub")).checkout().message.startswith("Ship it")


def test_a_commit_other_than_head_has_no_branch(repo):
    first = run_git(repo, "rev-parse", "HEAD").strip()
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "Later")
    checkout = Clone(str(repo)).checkout(first)
    assert (checkout.sha, checkout.branch, checkout.message[:7]) == (first, None, "Ship it")


def test_a_short_id_is_resolved_when_unique(repo):
    sha = run_git(repo, "rev-parse", "HEAD").strip()
    assert Clone(str(repo)).checkout(sha[:7].upper()).sha == sha


def test_a_short_id_of_several_objects_says_so(tmp_path):
    repo = new_repo(tmp_path / "many")
    fast_import(repo, [Spec(f"c{n}", (f"c{n - 1}",) if n else (), T + n) for n in range(300)])
    objects = run_git(
        repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"
    ).split()
    by_prefix = defaultdict(list)
    for name in objects:
        by_prefix[name[:4]].append(name)
    shared = next(prefix for prefix, names in by_prefix.items() if len(names) > 1)
    with pytest.raises(CloneUnreadable, match=f"{shared} names more than one object"):
        Clone(str(repo)).checkout(shared)


@pytest.mark.parametrize("name", ["0" * 40, "abc", "HEAD~1", "--output=x"])
def test_a_commit_the_clone_does_not_hold_is_named(repo, name):
    with pytest.raises(CloneUnreadable, match=r"not hold the commit|is not a commit id"):
        Clone(str(repo)).checkout(name)


def test_a_directory_without_a_clone_says_so(tmp_path):
    with pytest.raises(CloneUnreadable, match=f"{tmp_path} holds no git clone"):
        Clone(str(tmp_path)).checkout()


def test_an_empty_repository_has_no_commit_checked_out(tmp_path):
    with pytest.raises(CloneUnreadable, match="no commit checked out"):
        Clone(str(new_repo(tmp_path / "empty"))).checkout()


def test_reads_a_sha256_repository(tmp_path):
    repo = new_repo(tmp_path / "sha256", "--object-format=sha256")
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "Long ids")
    assert len(Clone(str(repo)).checkout().sha) == 64


def test_a_latin_1_message_arrives_as_utf_8(repo):
    latin_1 = "Café für Zoë".encode("latin-1")
    commit = ("-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "--allow-empty", "-F", "-")
    run_git(repo, *commit, stdin=latin_1)
    assert Clone(str(repo)).checkout().message == "Café für Zoë"


def test_a_clone_owned_by_another_user_is_read(repo):
    if os.geteuid() != 0:
        pytest.skip("only root can give the clone to another uid")
    for path in [repo, *repo.rglob("*")]:
        os.lchown(path, 4242, 4242)
    with pytest.raises(AssertionError, match="dubious ownership"):  # git without safe.directory
        run_git(repo, "log", "-1")
    assert Clone(str(repo)).checkout().message.startswith("Ship it")


def test_no_configuration_or_variable_of_the_callers_changes_what_is_read(
    repo, tmp_path, monkeypatch
):
    expected = Clone(str(repo)).checkout()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[i18n]\n\tlogOutputEncoding = ISO-8859-1\n[log]\n\tshowSignature = true\n"
    )
    other = new_repo(tmp_path / "other")
    run_git(other, "commit", "-q", "--allow-empty", "-m", "Another repository")
    for name, value in {
        "HOME": str(home),
        "GIT_DIR": str(other / ".git"),
        "GIT_CONFIG_PARAMETERS": "'log.showsignature'='true'",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "i18n.logOutputEncoding",
        "GIT_CONFIG_VALUE_0": "UTF-16",
    }.items():
        monkeypatch.setenv(name, value)
    assert Clone(str(repo)).checkout() == expected


@pytest.fixture
def three(tmp_path) -> tuple[Path, dict[str, str]]:
    repo = new_repo(tmp_path / "r")
    return repo, fast_import(
        repo, [Spec("a", (), T), Spec("b", ("a",), T + 1), Spec("c", ("b",), T + 2)]
    )


def test_replace_refs_do_not_rewrite_history(three):
    repo, shas = three
    run_git(repo, "replace", "--graft", shas["c"], shas["a"])  # c's parent said to be a
    commits = Clone(str(repo)).commits(shas["a"], shas["c"])
    assert [commit.sha for commit in commits] == [shas["c"], shas["b"]]


def test_grafts_do_not_rewrite_history(three):
    repo, shas = three
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "grafts").write_text(f"{shas['c']} {shas['a']}\n")
    commits = Clone(str(repo)).commits(shas["a"], shas["c"])
    assert [commit.sha for commit in commits] == [shas["c"], shas["b"]]


def test_reads_a_reftable_clone(repo, tmp_path):
    if git_version() < (2, 45):
        pytest.skip(f"git {'.'.join(map(str, git_version()))} cannot make a reftable clone (2.45+)")
    clone = tmp_path / "reftable"
    run_git(tmp_path, "clone", "-q", "--ref-format=reftable", f"file://{repo}", str(clone))
    assert Clone(str(clone)).checkout().message.startswith("Ship it")


# Bounds: a git that hangs or grows does not take the run with it. ----------------------------


def fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f"#!{os.sys.executable}\n{script}\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_a_git_that_hangs_is_given_up_at_the_deadline(repo, tmp_path, monkeypatch):
    fake_git(tmp_path, monkeypatch, "import time\ntime.sleep(60)")
    started = time.monotonic()
    with pytest.raises(CloneUnreadable, match="git took longer than"):
        Clone(str(repo), budget=0.5).checkout()
    assert time.monotonic() - started < 10


def test_a_git_that_grows_is_stopped_by_its_memory_limit(repo, tmp_path, monkeypatch):
    fake_git(tmp_path, monkeypatch, f"grown = bytearray({GIT_MEMORY * 4})\nprint('grew')")
    with pytest.raises(CloneUnreadable, match=r"MemoryError|git stopped|exited"):
        Clone(str(repo)).checkout()


def test_no_git_binary_says_so(repo, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CloneUnreadable, match="no git binary"):
        Clone(str(repo)).checkout()


def test_the_budget_is_git_s_own_time_not_the_time_between_calls(repo):
    clone = Clone(str(repo), budget=1.0)
    time.sleep(1.2)  # the look-up of the previous deployment, say: no git runs meanwhile
    assert clone.checkout().message.startswith("Ship it")


def test_a_git_out_of_time_is_no_answer_about_a_commit(repo):
    sha = run_git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(CloneUnreadable, match="git took longer than"):
        Clone(str(repo), budget=0).commits(sha, sha)


def test_a_base_the_clone_does_not_hold_lists_nothing(three):
    repo, shas = three
    tree = run_git(repo, "rev-parse", f"{shas['c']}^{{tree}}").strip()
    assert Clone(str(repo)).commits("0" * 40, shas["c"]) is None
    assert Clone(str(repo)).commits(tree, shas["c"]) is None


def test_a_commit_whose_date_git_cannot_read_is_listed_without_one(repo):
    # An old import's `committer ... 1100000000 GMT`: git prints no %ct for it.
    base = run_git(repo, "rev-parse", "HEAD").strip()
    tree = run_git(repo, "rev-parse", "HEAD^{tree}").strip()
    broken = (
        f"tree {tree}\nparent {base}\nauthor Old <o@x> 1100000000 GMT\n"
        "committer Old <o@x> 1100000000 GMT\n\nPAY-3 imported\n"
    )
    odd = run_git(
        repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", stdin=broken.encode()
    ).strip()
    listed = Clone(str(repo)).commits(base, odd)
    assert [(commit.sha, commit.committed, commit.subject) for commit in listed] == [
        (odd, None, "PAY-3 imported")
    ]
    assert Clone(str(repo)).history(odd)[odd] is None
