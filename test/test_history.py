"""commits_between and has_commit against real repositories built by git, checked against git.

One history, the zoo, holds every shape of DAG the walk must get right (merges, an octopus, a
criss-cross, two roots, equal timestamps, clock skew that misleads git's walk and skew that does
not). It is stored in each way git stores history, and in each the reader must say what
`git log --format=%H base..head` says for every pair of the zoo's commits. Shallow clones are
checked twice: against git in the clone itself, and, when the reader calls its answer complete,
against git in the full history.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checkout import CheckoutUnreadable, Commit, CommitRange, commits_between, has_commit
from git_history import Spec, fast_import, git_log, new_repo, run_git

T = 1_700_000_000
ZOO = [
    Spec("r1", (), T),
    Spec("a1", ("r1",), T + 10),
    Spec("a2", ("a1",), T + 20),
    Spec("b1", ("a1",), T + 20),  # a2's date: equal timestamps on two branches
    Spec("b2", ("b1",), T + 30),
    Spec("m1", ("a2", "b2"), T + 40),
    Spec("a3", ("m1",), T + 50),
    Spec("c1", ("a2",), T + 35),
    Spec("c2", ("c1",), T + 25),  # clock skew: older than its parent
    Spec("x1", ("a3", "c2"), T + 60),  # x1 and x2 cross: each merges both
    Spec("x2", ("c2", "a3"), T + 60),
    Spec("y1", ("x1", "x2"), T + 70),
    Spec("y2", ("x2", "x1"), T + 70),
    Spec("r2", (), T + 5),  # a second root, merged in by the octopus
    Spec("s1", ("r2",), T + 15),
    Spec("o1", ("a3",), T + 65),
    Spec("o2", ("a3",), T + 65),
    Spec("oct", ("y1", "o1", "o2", "s1"), T + 80),
    Spec("e1", ("oct",), T + 90),
    Spec("e2", ("oct",), T + 90),
    Spec("e3", ("e1", "e2"), T + 90),  # three commits of the same second
    # The trap: q7 reaches t1 through a chain too long for git's walk to follow once it has
    # shown t1, which is newer than all of them; so git log q7..h1 shows t1, and so must we.
    Spec("t1", (), T + 500),
    *(Spec(f"q{n}", (f"q{n - 1}" if n > 1 else "t1",), T + 90 + n) for n in range(1, 8)),
    Spec("h1", ("q7", "t1"), T + 600),
    Spec("d1", ("a1",), T + 700),  # an old fork, dated late
    Spec("d2", ("d1",), T + 710),
    Spec("late", ("h1", "d2", "e3"), T + 800),
]
NAMES = [spec.name for spec in ZOO]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module", autouse=True)
def no_user_config(home):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The zoo as fast-import leaves it: one pack, with a branch at each tip."""
    repo = new_repo(tmp_path_factory.mktemp("zoo") / "repo")
    return repo, fast_import(repo, ZOO, {"main": "late"})


@pytest.fixture(scope="module")
def truth(zoo) -> dict[tuple[str, str], list[str]]:
    """git log base..head for every ordered pair of the zoo's commits."""
    repo, shas = zoo
    return {
        (base, head): git_log(repo, shas[base], shas[head])
        for base, head in itertools.product(NAMES, repeat=2)
    }


def assert_agrees_with_git(repo: Path, shas: dict[str, str], truth, git_pairs: int = 12) -> None:
    """Each pair of `truth` as the full history's git log has it, and a sample checked with git
    here too: git's answer does not depend on how the history is stored either."""
    for (base, head), expected in truth.items():
        found = commits_between(repo, shas[base], shas[head])
        assert found.complete
        assert [commit.sha for commit in found.commits] == expected, (base, head)
    for base, head in list(truth)[:: max(1, len(truth) // git_pairs)]:
        assert git_log(repo, shas[base], shas[head]) == truth[base, head]
    assert all(has_commit(repo, sha) for sha in shas.values())
    tree = run_git(repo, "rev-parse", f"{shas['late']}^{{tree}}").strip()
    assert run_git(repo, "cat-file", "-t", tree).strip() == "tree"
    assert not has_commit(repo, tree)


def test_the_zoo_has_the_shapes_it_claims(zoo, truth):
    repo, shas = zoo
    assert shas["t1"] in truth["q7", "h1"]  # git's walk shows t1, which q7 reaches
    assert shas["t1"] not in truth["q6", "h1"]  # with a shorter chain it finds that out
    run_git(repo, "merge-base", "--is-ancestor", shas["t1"], shas["q7"])  # fails if it is not
    assert len(run_git(repo, "cat-file", "-p", shas["oct"]).split("parent ")) == 5
    assert truth["late", "oct"] == [] and truth["d2", "late"] != []


def test_agrees_with_git_on_a_pack_as_fast_import_writes_it(zoo, truth):
    assert_agrees_with_git(*zoo, truth)


@pytest.fixture(scope="module")
def some(truth) -> dict[tuple[str, str], list[str]]:
    """A third of the pairs: enough to read every commit of the zoo in each way it is stored."""
    return {pair: truth[pair] for pair in list(truth)[::3]}


# -- how the objects are stored


def copy_of(zoo, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo, shas = zoo
    shutil.copytree(repo, tmp_path / "repo", symlinks=True)
    return tmp_path / "repo", shas


def pack_files(repo: Path, suffix: str) -> list[Path]:
    return sorted((repo / ".git/objects/pack").glob(f"*{suffix}"))


def test_agrees_with_git_on_loose_objects(zoo, some, tmp_path):
    source, shas = zoo
    repo = new_repo(tmp_path / "repo")
    (pack,) = pack_files(source, ".pack")
    run_git(repo, "unpack-objects", "-q", stdin=pack.read_bytes())
    assert not pack_files(repo, ".pack")
    assert_agrees_with_git(repo, shas, some)


def test_agrees_with_git_on_loose_commits_over_a_pack(zoo, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    run_git(repo, "checkout", "-q", "--detach", shas["y2"])
    for number in range(3):
        run_git(repo, "commit", "-q", "--allow-empty", "-m", f"loose {number}")
    run_git(repo, "merge", "-q", "--no-edit", "-s", "ours", shas["o1"])
    top = run_git(repo, "rev-parse", "HEAD").strip()
    assert (repo / ".git/objects" / top[:2] / top[2:]).is_file()
    for name in ["r1", "y1", "o2", "late", "e3"]:
        for base, head in [(shas[name], top), (top, shas[name])]:
            found = commits_between(repo, base, head)
            assert [commit.sha for commit in found.commits] == git_log(repo, base, head)


@pytest.mark.parametrize("offsets", ["ofs-delta", "ref-delta"])
def test_agrees_with_git_on_a_repacked_history(zoo, some, tmp_path, offsets):
    repo, shas = copy_of(zoo, tmp_path)
    use_offsets = "true" if offsets == "ofs-delta" else "false"
    run_git(repo, "-c", f"repack.useDeltaBaseOffset={use_offsets}", "repack", "-adfq")
    assert len(pack_files(repo, ".pack")) == 1
    assert_agrees_with_git(repo, shas, some)


def test_agrees_with_git_across_packs_and_a_multi_pack_index(zoo, some, tmp_path):
    source, shas = zoo
    repo = new_repo(tmp_path / "repo")
    for part in range(0, len(ZOO), 12):  # three packs, each needing the ones before
        wanted = (shas[spec.name] for spec in ZOO[part : part + 12])
        run_git(repo, "-c", "transfer.unpackLimit=1", "fetch", "-q", str(source), *wanted)
    run_git(repo, "multi-pack-index", "write")
    assert len(pack_files(repo, ".pack")) == 3
    assert (repo / ".git/objects/pack/multi-pack-index").is_file()
    assert_agrees_with_git(repo, shas, some)


def test_agrees_with_git_after_repack_write_midx(zoo, some, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    (repo / "extra").write_text("a loose commit for a second pack\n")
    run_git(repo, "add", "extra")
    run_git(repo, "commit", "-qm", "extra")
    run_git(repo, "repack", "-dq", "--write-midx")
    assert len(pack_files(repo, ".pack")) == 2
    assert (repo / ".git/objects/pack/multi-pack-index").is_file()
    assert_agrees_with_git(repo, shas, some)


def test_agrees_with_git_reading_a_commit_graph(zoo, truth, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    run_git(repo, "commit-graph", "write", "--reachable")
    assert (repo / ".git/objects/info/commit-graph").is_file()
    assert_agrees_with_git(repo, shas, truth, git_pairs=150)  # git reads the graph: does it agree?


def test_agrees_with_git_in_a_partial_clone(zoo, some, tmp_path):
    source, shas = zoo
    run_git(source, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", "--no-checkout", "--filter=blob:none", f"file://{source}", "c")
    (tmp_path / "c").rename(clone)
    assert (clone / ".git/objects/pack").glob("*.promisor")
    assert_agrees_with_git(clone, shas, some)


@pytest.mark.parametrize("how", ["--shared", "--reference"])
def test_agrees_with_git_through_alternates(zoo, some, tmp_path, how):
    source, shas = zoo
    args = [how, str(source)] if how == "--shared" else [how, str(source), f"file://{source}"]
    run_git(tmp_path, "clone", "-q", "--no-checkout", *args, "clone")
    clone = tmp_path / "clone"
    assert (clone / ".git/objects/info/alternates").is_file()
    assert not pack_files(clone, ".pack")
    assert_agrees_with_git(clone, shas, some)


@pytest.mark.parametrize("how", ["--bare", "--mirror"])
def test_agrees_with_git_in_a_bare_repository(zoo, some, tmp_path, how):
    source, shas = zoo
    run_git(tmp_path, "clone", "-q", how, f"file://{source}", "bare.git")
    assert not (tmp_path / "bare.git/.git").exists()
    assert_agrees_with_git(tmp_path / "bare.git", shas, some, git_pairs=4)


def test_agrees_with_git_in_a_worktree(zoo, some, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    run_git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "worktree"), shas["e3"])
    assert (tmp_path / "worktree/.git").is_file()
    assert_agrees_with_git(tmp_path / "worktree", shas, some, git_pairs=4)


def test_agrees_with_git_in_a_submodule(zoo, some, tmp_path):
    source, shas = zoo
    repo = new_repo(tmp_path / "repo")
    run_git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(source), "sub")
    assert (repo / "sub/.git").read_text().startswith("gitdir: ../")
    assert_agrees_with_git(repo / "sub", shas, some, git_pairs=4)


def test_agrees_with_git_in_a_sha256_repository(tmp_path):
    repo = new_repo(tmp_path / "repo", "--object-format=sha256")
    shas = fast_import(repo, ZOO, {"main": "late"})
    assert len(shas["late"]) == 64
    truth = {
        (base, head): git_log(repo, shas[base], shas[head])
        for base, head in itertools.product(NAMES[::3], NAMES[1::2])
    }
    assert_agrees_with_git(repo, shas, truth, git_pairs=1)
    run_git(repo, "repack", "-adfq")
    assert_agrees_with_git(repo, shas, truth, git_pairs=1)


def test_agrees_with_git_through_deep_delta_chains(tmp_path):
    # Each message is the one before with one line changed, so git deltifies each against a
    # neighbour rather than all against one
    lines, chain = [f"Line {n} of a long body.\n" for n in range(80)], []
    for n in range(300):
        lines[n * 37 % 80] = f"Line {n * 37 % 80}, as commit {n} changed it.\n"
        parents = (f"c{n - 1}",) if n else ()
        chain.append(Spec(f"c{n}", parents, T + n, f"Change {n}\n\n{''.join(lines)}"))
    repo = new_repo(tmp_path / "repo")
    shas = fast_import(repo, chain, {"main": "c299"})
    run_git(repo, "repack", "-adfq", "--depth=4095", "--window=250")
    (index,) = pack_files(repo, ".idx")
    depths = [
        int(line.split()[5])
        for line in run_git(repo, "verify-pack", "-v", str(index)).splitlines()
        if " commit " in line and len(line.split()) == 7
    ]
    assert max(depths) > 100, "no deep chain: the test would prove nothing"
    for base, head in [("c0", "c299"), ("c150", "c160"), ("c299", "c0"), ("c7", "c7")]:
        found = commits_between(repo, shas[base], shas[head])
        assert [commit.sha for commit in found.commits] == git_log(repo, shas[base], shas[head])


# -- what each commit says


def test_each_commit_reads_as_git_log_shows_it(tmp_path):
    repo = new_repo(tmp_path / "repo")
    messages = [
        "PAY-12 Take card payments\n\nCloses PAY-13.\n",
        "\n\n  Zoë's fix: C:\\temp and $HOME 🚀  \n\nBody\n\n\n",
        "",  # fast-import writes the name then; see Spec
    ]
    specs = [Spec(f"c{n}", (f"c{n - 1}",) if n else (), T + n, m) for n, m in enumerate(messages)]
    specs.append(Spec("c3", ("c2",), T + 3, "Authored elsewhere\n", "Zoë O'Brien <z@example.com>"))
    shas = fast_import(repo, specs)
    found = commits_between(repo, shas["c0"], shas["c3"])
    listed = run_git(repo, "log", "--format=%H%x00%an%x00%B%x01", f"{shas['c0']}..{shas['c3']}")
    expected = []
    for record in listed.split("\x01")[:-1]:
        sha, author, message = record.lstrip("\n").split("\x00")
        subject = next(line.strip() for line in message.splitlines() if line.strip())
        expected.append(Commit(sha, subject, author, message.rstrip()))
    assert found == CommitRange(expected, complete=True)
    assert [commit.subject for commit in found.commits] == [
        "Authored elsewhere",
        "c2",
        "Zoë's fix: C:\\temp and $HOME 🚀",
    ]


# -- random histories


@st.composite
def histories(draw, max_commits: int = 10) -> list[Spec]:
    """A small DAG: each commit's parents are earlier ones, its date anything near the others'."""
    count = draw(st.integers(2, max_commits))
    specs = []
    for number in range(count):
        earlier = st.integers(0, number - 1)
        parents = draw(st.lists(earlier, max_size=3, unique=True)) if number else []
        date = T + draw(st.integers(0, 6))  # few distinct dates: ties and skew both
        specs.append(Spec(f"c{number}", tuple(f"c{parent}" for parent in parents), date))
    return specs


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("random")


def fresh_repo(scratch: Path) -> Path:
    return new_repo(Path(tempfile.mkdtemp(dir=scratch)) / "repo")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_random_histories_agree_with_git(scratch, specs, data):
    repo = fresh_repo(scratch)
    shas = fast_import(repo, specs)
    if data.draw(st.booleans(), label="with a commit-graph"):  # which git would read
        run_git(repo, "commit-graph", "write", "--reachable")
    base, head = (data.draw(st.sampled_from(specs)).name for _ in range(2))
    found = commits_between(repo, shas[base], shas[head])
    assert [commit.sha for commit in found.commits] == git_log(repo, shas[base], shas[head])
    assert found.complete
    shutil.rmtree(repo.parent)


# -- shallow clones


def shallow_clone(source: Path, target: Path, depth: int) -> Path:
    run_git(
        target.parent, "clone", "-q", "--no-checkout", "--no-single-branch", f"--depth={depth}",
        f"file://{source}", target.name,
    )  # fmt: skip
    return target


def held(repo: Path, shas: dict[str, str]) -> list[str]:
    """The names of the commits a clone holds, per git."""
    listed = set(run_git(repo, "rev-list", "--all").split())
    return [name for name, sha in shas.items() if sha in listed]


def assert_faithful_in_shallow_clone(clone, source, shas, base, head) -> CommitRange:
    """What the clone's git log shows; and when called complete, what a full clone's shows."""
    found = commits_between(clone, shas[base], shas[head])
    listed = [commit.sha for commit in found.commits]
    assert listed == git_log(clone, shas[base], shas[head]), (base, head)
    if found.complete:
        assert listed == git_log(source, shas[base], shas[head]), (base, head)
    return found


@pytest.mark.parametrize("depth", [1, 2, 4, 7])
def test_shallow_clones_of_the_zoo_never_claim_a_wrong_complete_answer(zoo, tmp_path, depth):
    source, shas = zoo
    clone = shallow_clone(source, tmp_path / "clone", depth)
    assert (clone / ".git/shallow").is_file()
    names = held(clone, shas)
    for base, head in list(itertools.product(names, repeat=2))[:: 1 + len(names) // 8]:
        assert_faithful_in_shallow_clone(clone, source, shas, base, head)


@pytest.fixture(scope="module")
def linear(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    repo = new_repo(tmp_path_factory.mktemp("linear") / "repo")
    chain = [Spec(f"c{n}", (f"c{n - 1}",) if n else (), T + n) for n in range(30)]
    return repo, fast_import(repo, chain, {"main": "c29"})


@pytest.mark.parametrize("base", ["c25", "c21", "c20"])
def test_a_range_that_ends_at_the_cut_is_complete(linear, tmp_path, base):
    source, shas = linear
    clone = shallow_clone(source, tmp_path / "clone", 10)  # c20 is the shallow commit
    assert (clone / ".git/shallow").read_text().split() == [shas["c20"]]
    found = assert_faithful_in_shallow_clone(clone, source, shas, base, "c29")
    assert found.complete
    assert len(found.commits) == 29 - int(base[1:])


def test_a_commit_past_the_cut_is_not_held(linear, tmp_path):
    source, shas = linear
    clone = shallow_clone(source, tmp_path / "clone", 10)
    assert run_git(clone, "cat-file", "-p", shas["c20"]).count(shas["c19"]) == 1  # c20's parent
    assert not has_commit(clone, shas["c19"])
    with pytest.raises(CheckoutUnreadable, match="not in the repository"):
        commits_between(clone, shas["c19"], shas["c29"])


def test_a_worktree_of_a_shallow_clone_reads_the_clone_s_cut(linear, tmp_path):
    source, shas = linear
    clone = shallow_clone(source, tmp_path / "clone", 10)
    run_git(clone, "worktree", "add", "-q", "--detach", str(tmp_path / "worktree"), shas["c25"])
    found = assert_faithful_in_shallow_clone(tmp_path / "worktree", source, shas, "c20", "c25")
    assert found.complete and len(found.commits) == 5


def test_a_rollback_to_the_cut_is_empty_and_complete(linear, tmp_path):
    source, shas = linear
    clone = shallow_clone(source, tmp_path / "clone", 10)
    assert commits_between(clone, shas["c29"], shas["c20"]) == CommitRange([], complete=True)
    assert git_log(clone, shas["c29"], shas["c20"]) == []


def test_a_branch_forked_before_the_cut_is_incomplete(tmp_path):
    # main: r - m1 .. m8 - merge(f1); feature f1 forked from r, which a clone of depth 3 lacks
    specs = [Spec("r", (), T), Spec("f1", ("r",), T + 1)]
    specs += [Spec(f"m{n}", (f"m{n - 1}" if n > 1 else "r",), T + 10 + n) for n in range(1, 9)]
    specs.append(Spec("merge", ("m8", "f1"), T + 30))
    source = new_repo(tmp_path / "source")
    shas = fast_import(source, specs, {"main": "merge"})
    clone = shallow_clone(source, tmp_path / "clone", 3)
    found = assert_faithful_in_shallow_clone(clone, source, shas, "m8", "merge")
    assert not found.complete
    assert [commit.sha for commit in found.commits] != git_log(source, shas["m8"], shas["merge"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(max_commits=12), st.integers(1, 4), st.data())
def test_random_shallow_clones_never_claim_a_wrong_complete_answer(scratch, specs, depth, data):
    source = fresh_repo(scratch)
    shas = fast_import(source, specs)
    clone = shallow_clone(source, source.parent / "clone", depth)
    names = held(clone, shas)
    assume(len(names) > 1)
    base, head = (data.draw(st.sampled_from(names)) for _ in range(2))
    assert_faithful_in_shallow_clone(clone, source, shas, base, head)
    shutil.rmtree(source.parent)


# -- has_commit


def test_has_commit_says_what_git_cat_file_says(zoo, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    tree = run_git(repo, "rev-parse", f"{shas['late']}^{{tree}}").strip()
    blob = run_git(repo, "rev-parse", f"{shas['late']}:file.txt").strip()
    run_git(repo, "tag", "-a", "-m", "a tag", "v1", shas["late"])
    tag = run_git(repo, "rev-parse", "v1").strip()
    for name in [shas["r1"], shas["late"], tree, blob, tag]:
        is_commit = run_git(repo, "cat-file", "-t", name).strip() == "commit"
        assert has_commit(repo, name) is is_commit
        assert has_commit(repo, name.upper()) is is_commit


@pytest.mark.parametrize("sha", ["0" * 40, "abc1234", "not a sha", "0" * 64, ""])
def test_has_commit_is_false_for_what_the_clone_does_not_hold(zoo, sha):
    assert has_commit(zoo[0], sha) is False


def test_has_commit_raises_when_there_is_no_repository(tmp_path):
    with pytest.raises(CheckoutUnreadable, match="no git repository"):
        has_commit(tmp_path, "0" * 40)


# -- what cannot be read faithfully


def test_a_base_or_head_that_is_not_a_commit_raises(zoo):
    repo, shas = zoo
    tree = run_git(repo, "rev-parse", f"{shas['late']}^{{tree}}").strip()
    for base, head in [(tree, shas["late"]), (shas["r1"], tree), ("0" * 40, shas["late"])]:
        with pytest.raises(CheckoutUnreadable):
            commits_between(repo, base, head)
    with pytest.raises(CheckoutUnreadable, match="not a full commit sha"):
        commits_between(repo, shas["r1"][:12], shas["late"])


def test_replace_refs_raise(zoo, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    run_git(repo, "replace", shas["a3"], shas["c1"])
    with pytest.raises(CheckoutUnreadable, match="replace refs"):
        commits_between(repo, shas["r1"], shas["late"])
    run_git(repo, "pack-refs", "--all")
    assert not list((repo / ".git/refs/replace").rglob("*.*"))
    with pytest.raises(CheckoutUnreadable, match="replace refs"):
        has_commit(repo, shas["r1"])


def test_grafts_raise(zoo, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    (repo / ".git/info").mkdir(exist_ok=True)
    (repo / ".git/info/grafts").write_text(f"{shas['a3']}\n")
    with pytest.raises(CheckoutUnreadable, match="grafts"):
        commits_between(repo, shas["r1"], shas["late"])


def test_reftable_raises(zoo, tmp_path):
    # This git (2.39) cannot make a reftable repository; one says so in its config
    repo, shas = copy_of(zoo, tmp_path)
    with (repo / ".git/config").open("a") as config:
        config.write("[extensions]\n\trefStorage = reftable\n")
    with pytest.raises(CheckoutUnreadable, match="reftable refs are not supported"):
        commits_between(repo, shas["r1"], shas["late"])


def write_commit(repo: Path, text: str) -> str:
    return run_git(repo, "hash-object", "-t", "commit", "-w", "--literally", "--stdin",
                   stdin=text.encode()).strip()  # fmt: skip


@pytest.mark.parametrize(
    "committer",
    [
        "committer Ada <ada@example.com> 99999999999 +0000",  # past the commit-graph's 34 bits
        "committer Ada <a>da@example.com> 1700000000 +0000",  # git versions read it differently
        "committer Ada <ada@example.com> -5 +0000",
        "committer Ada <ada@example.com>",
    ],
)
def test_a_committer_line_git_reads_in_more_than_one_way_raises(zoo, tmp_path, committer):
    repo, shas = copy_of(zoo, tmp_path)
    tree = run_git(repo, "rev-parse", f"{shas['late']}^{{tree}}").strip()
    author = "author Ada <ada@example.com> 1700000000 +0000"
    odd = write_commit(repo, f"tree {tree}\nparent {shas['late']}\n{author}\n{committer}\n\nOdd\n")
    with pytest.raises(CheckoutUnreadable):
        commits_between(repo, shas["r1"], odd)


def test_a_missing_parent_raises(zoo, tmp_path):
    repo, shas = copy_of(zoo, tmp_path)
    tree = run_git(repo, "rev-parse", f"{shas['late']}^{{tree}}").strip()
    who = "Ada <ada@example.com> 1700000000 +0000"
    text = f"tree {tree}\nparent {'1' * 40}\nauthor {who}\ncommitter {who}\n\nx\n"
    orphan = write_commit(repo, text)
    with pytest.raises(CheckoutUnreadable, match="not in the repository"):
        commits_between(repo, shas["r1"], orphan)


@pytest.fixture(scope="module")
def corruptible(zoo, tmp_path_factory) -> tuple[Path, dict[str, str], list[str]]:
    source, shas = zoo
    repo = tmp_path_factory.mktemp("corruptible") / "repo"
    shutil.copytree(source, repo)
    run_git(repo, "repack", "-adfq", "--depth=50", "--window=250")
    for file in (repo / ".git/objects/pack").iterdir():
        file.chmod(0o644)
    return repo, shas, git_log(repo, shas["a1"], shas["late"])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["*.pack", "*.idx"]), st.integers(0), st.integers(1, 255))
def test_a_flipped_byte_in_a_pack_or_index_reads_right_or_raises(corruptible, pattern, at, flip):
    repo, shas, expected = corruptible
    (file,) = (repo / ".git/objects/pack").glob(pattern)
    original = file.read_bytes()
    at %= len(original)
    file.write_bytes(original[:at] + bytes([original[at] ^ flip]) + original[at + 1 :])
    try:
        found = commits_between(repo, shas["a1"], shas["late"])
        assert [commit.sha for commit in found.commits] == expected  # the flip missed
    except CheckoutUnreadable:
        pass  # the flip was noticed
    finally:
        file.write_bytes(original)
        os.utime(file)
