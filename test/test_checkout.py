"""read_checkout against real repositories built by the git CLI, checked against what git says."""

import hashlib
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout import Checkout, CheckoutUnreadable, read_checkout

OFS_DELTA, REF_DELTA = 6, 7


@pytest.fixture(scope="module", autouse=True)
def git_identity(tmp_path_factory):
    """Fixed identities, and no user or system config to change what git writes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for role in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{role}_NAME", "Ada Lovelace")
            patch.setenv(f"GIT_{role}_EMAIL", "ada@example.com")
        yield


def git_bytes(repo: Path, *args: str, stdin: bytes | None = None, env=None) -> bytes:
    done = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, env=env, check=True, capture_output=True
    )
    return done.stdout


def git(repo: Path, *args: str, stdin: bytes | None = None, env=None) -> str:
    return git_bytes(repo, *args, stdin=stdin, env=env).decode("utf-8")


def new_repo(path: Path, *args: str) -> Path:
    git(path.parent, "-c", "init.defaultBranch=main", "init", "-q", *args, str(path))
    return path


def commit(repo: Path, message: str, *args: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-F", "-", *args, stdin=message.encode())
    return git(repo, "rev-parse", "HEAD").strip()


def repo_with_commits(path: Path, count: int = 3) -> Path:
    repo = new_repo(path)
    for number in range(1, count + 1):
        (repo / "file.txt").write_text(f"version {number}\n")
        git(repo, "add", "file.txt")
        commit(repo, f"Change {number}\n\nWhy change {number} was made.\n")
    return repo


def checkout_per_git(repo: Path) -> Checkout:
    sha, name, email = git(repo, "log", "-1", "--format=%H%x00%an%x00%ae").strip().split("\0")
    return Checkout(
        sha=sha,
        branch=git(repo, "branch", "--show-current").strip() or None,
        author_name=name,
        author_email=email,
        message=git(repo, "log", "-1", "--format=%B").rstrip(),
    )


def assert_reads_as_git_does(repo: Path, directory: Path | None = None) -> Checkout:
    checkout = read_checkout(directory or repo)
    assert checkout == checkout_per_git(repo)
    return checkout


class PackEntry(NamedTuple):
    pack: Path
    offset: int
    delta_base: str | None


def pack_entries(repo: Path) -> dict[str, PackEntry]:
    """What `git verify-pack -v` says of each object in the repository's packs, by sha."""
    entries = {}
    for index in (repo / ".git/objects/pack").glob("*.idx"):
        for line in git(repo, "verify-pack", "-v", str(index)).splitlines():
            fields = line.split()  # sha type size packed-size offset [depth base-sha]
            if len(fields) >= 5 and fields[1] in ("commit", "tree", "blob", "tag"):
                base = fields[6] if len(fields) == 7 else None
                entries[fields[0]] = PackEntry(index.with_suffix(".pack"), int(fields[4]), base)
    return entries


def entry_type(entry: PackEntry) -> int:
    with entry.pack.open("rb") as file:
        file.seek(entry.offset)
        return (file.read(1)[0] >> 4) & 7


def loose_object(repo: Path, sha: str) -> Path:
    return repo / ".git/objects" / sha[:2] / sha[2:]


# -- where objects are stored


def test_reads_loose_objects(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    assert loose_object(repo, git(repo, "rev-parse", "HEAD").strip()).is_file()
    assert_reads_as_git_does(repo)


def test_reads_packed_objects_after_gc(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "gc", "-q")
    assert not loose_object(repo, git(repo, "rev-parse", "HEAD").strip()).exists()
    assert_reads_as_git_does(repo)


def deltified_head(path: Path, *repack_options: str) -> tuple[Path, PackEntry]:
    """A repository whose HEAD commit is packed as a delta against a longer earlier one."""
    repo = new_repo(path)
    body = "\n".join(
        f"Line {n} of a long and rather repetitive commit message body" for n in range(40)
    )
    for number in range(3):  # git deltifies smaller objects against the larger ones before them
        commit(repo, f"Earlier change {number}\n\n{body}\n\nA paragraph HEAD will not have.\n")
    head = commit(repo, f"The change at HEAD\n\n{body}\n")
    git(repo, *repack_options, "repack", "-adfq", "--window=250", "--depth=50")
    entry = pack_entries(repo)[head]
    assert entry.delta_base, "HEAD was packed whole, so a test using this would prove nothing"
    return repo, entry


def test_reads_a_commit_stored_as_an_offset_delta(tmp_path):
    repo, head = deltified_head(tmp_path / "repo")
    assert entry_type(head) == OFS_DELTA
    assert_reads_as_git_does(repo)


def test_reads_a_commit_stored_as_a_ref_delta(tmp_path):
    repo, head = deltified_head(tmp_path / "repo", "-c", "repack.useDeltaBaseOffset=false")
    assert entry_type(head) == REF_DELTA
    assert_reads_as_git_does(repo)


def size_varint(size: int) -> bytes:
    encoded = bytearray()
    while True:
        encoded.append(size & 0x7F | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            return bytes(encoded)


def pack_as_ref_delta(repo: Path, sha: str, base_sha: str) -> None:
    """Move a loose commit into a pack of its own, as a delta against a commit outside it.

    git writes such "thin" packs only to send them, and completes them on receipt, so we write
    the pack and its version 2 index by hand; `git index-pack --fix-thin` completing a copy
    proves the pack valid.
    """
    base = git_bytes(repo, "cat-file", "commit", base_sha)
    target = git_bytes(repo, "cat-file", "commit", sha)
    assert base[:46] == target[:46]  # the same "tree <sha>\n" line, copied from the base
    delta = size_varint(len(base)) + size_varint(len(target)) + bytes([0x90, 46])
    for start in range(46, len(target), 0x7F):  # the rest inserted, 127 bytes at most at a time
        delta += bytes([len(target[start : start + 0x7F])]) + target[start : start + 0x7F]
    header = bytes([0x80 | REF_DELTA << 4 | len(delta) & 0x0F]) + size_varint(len(delta) >> 4)
    entry = header + bytes.fromhex(base_sha) + zlib.compress(delta)
    pack = b"PACK" + struct.pack(">II", 2, 1) + entry
    pack += hashlib.sha1(pack).digest()  # noqa: S324 (git's checksum, not a security matter)
    name = bytes.fromhex(sha)
    fanout = b"".join(struct.pack(">I", int(byte >= name[0])) for byte in range(256))
    index = b"\377tOc" + struct.pack(">I", 2) + fanout + name
    index += struct.pack(">II", zlib.crc32(entry), 12) + pack[-20:]
    index += hashlib.sha1(index).digest()  # noqa: S324
    pack_dir = repo / ".git/objects/pack"
    completed = git(repo, "index-pack", "--stdin", "--fix-thin", stdin=pack).split()[-1]
    for file in pack_dir.glob(f"pack-{completed}.*"):  # the copy with its base added in
        file.unlink()
    (pack_dir / f"pack-{pack[-20:].hex()}.pack").write_bytes(pack)
    (pack_dir / f"pack-{pack[-20:].hex()}.idx").write_bytes(index)
    loose_object(repo, sha).unlink()


@pytest.mark.parametrize("base_in", ["a loose object", "another pack"])
def test_reads_a_ref_delta_whose_base_is_outside_its_pack(tmp_path, base_in):
    repo = new_repo(tmp_path / "repo")
    base = commit(repo, "The base\n\nA body that the next commit shares.\n")
    head = commit(repo, "The base, changed\n\nA body that the next commit shares.\n")
    expected = checkout_per_git(repo)  # git itself reads REF_DELTA bases only from the same pack
    pack_as_ref_delta(repo, head, base)
    if base_in == "another pack":
        git(repo, "pack-objects", "-q", ".git/objects/pack/pack", stdin=base.encode())
        loose_object(repo, base).unlink()
    assert read_checkout(repo) == expected


def test_reads_offsets_from_the_large_offset_table(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "gc", "-q")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")  # HEAD's commit is then not the first entry
    (pack,) = (repo / ".git/objects/pack").glob("*.pack")
    # Offsets past 12 (all but the first entry's) go to the table meant for packs over 2 GiB
    git(repo, "index-pack", "--index-version=2,12", "-o", str(tmp_path / "large.idx"), str(pack))
    shutil.copyfile(tmp_path / "large.idx", pack.with_suffix(".idx"))
    entries = pack_entries(repo)
    sha_crc_and_offset, large_offset, checksums = 20 + 4 + 4, 8, 2 * 20
    expected_size = 8 + 1024 + len(entries) * sha_crc_and_offset
    expected_size += (len(entries) - 1) * large_offset + checksums
    assert pack.with_suffix(".idx").stat().st_size == expected_size
    assert entries[git(repo, "rev-parse", "HEAD").strip()].offset > 12
    assert_reads_as_git_does(repo)


@pytest.mark.parametrize("alternates_path", ["absolute", "relative"])
def test_reads_objects_through_alternates(tmp_path, alternates_path):
    source = repo_with_commits(tmp_path / "source")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--shared", str(source), str(clone))
    alternates = clone / ".git/objects/info/alternates"
    if alternates_path == "relative":
        alternates.write_text(os.path.relpath(source / ".git/objects", clone / ".git/objects"))
    assert not list((clone / ".git/objects").glob("??/*"))
    assert_reads_as_git_does(clone)


def test_reads_a_shallow_clone(tmp_path):
    source = repo_with_commits(tmp_path / "source", count=5)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{source}", str(clone))
    assert (clone / ".git/shallow").is_file()
    assert_reads_as_git_does(clone)


@pytest.mark.parametrize("packed", [False, True])
def test_reads_a_sha256_repository(tmp_path, packed):
    repo = new_repo(tmp_path / "repo", "--object-format=sha256")
    commit(repo, "A commit named by its SHA-256\n")
    if packed:
        git(repo, "gc", "-q")
    assert len(assert_reads_as_git_does(repo).sha) == 64


# -- how HEAD is found


def test_reads_refs_that_are_only_in_packed_refs(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert assert_reads_as_git_does(repo).branch == "main"


def test_detached_head_has_no_branch(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert assert_reads_as_git_does(repo).branch is None


def test_reads_a_branch_name_with_a_slash(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "feature/x")
    commit(repo, "On the feature branch\n")
    assert assert_reads_as_git_does(repo).branch == "feature/x"


def test_reads_a_worktree(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "-q", "-b", "other", str(worktree))
    commit(worktree, "Only in the worktree\n")
    assert (worktree / ".git").is_file()
    assert assert_reads_as_git_does(worktree).message == "Only in the worktree"


def test_reads_a_submodule_whose_gitdir_is_relative(tmp_path):
    source = repo_with_commits(tmp_path / "source")
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(source), "sub")
    assert (repo / "sub/.git").read_text().startswith("gitdir: ../")
    assert_reads_as_git_does(repo / "sub")


def test_reads_from_a_subdirectory(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    (repo / "a/b").mkdir(parents=True)
    assert_reads_as_git_does(repo, directory=repo / "a/b")


# -- what the commit says


def test_reads_unicode_and_shell_characters(tmp_path):
    repo = new_repo(tmp_path / "repo")
    message = 'Zoë\'s "fix" for C:\\temp and $HOME 🚀\n\nLine two\nLine three\n\n\n'
    commit(repo, message, "--author", "Zoë O'Brien-Łukasz 漢字 <zoë@exämple.com>")
    checkout = assert_reads_as_git_does(repo)
    assert checkout.message == message.rstrip()
    assert checkout.author == "Zoë O'Brien-Łukasz 漢字 <zoë@exämple.com>"


def test_skips_a_gpgsig_header(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    raw = git(repo, "cat-file", "commit", "HEAD")
    headers, _, _ = raw.partition("\n\n")
    signature = "-----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----"
    signed = f"{headers}\ngpgsig {signature}\n\nSigned subject\n\nauthor Not The Author <x@y>\n"
    sha = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", stdin=signed.encode()).strip()
    git(repo, "update-ref", "refs/heads/main", sha)
    checkout = assert_reads_as_git_does(repo)
    assert checkout.message == "Signed subject\n\nauthor Not The Author <x@y>"
    assert checkout.author == "Ada Lovelace <ada@example.com>"


def test_decodes_an_iso_8859_1_commit(tmp_path):
    repo = new_repo(tmp_path / "repo")
    message_file = tmp_path / "message"
    message_file.write_bytes("Café déjà vu\n\nÜber naïve façades\n".encode("latin-1"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "Zoë".encode("latin-1")}
    in_latin_1 = ("-c", "i18n.commitEncoding=ISO-8859-1")
    git(repo, *in_latin_1, "commit", "-q", "--allow-empty", "-F", str(message_file), env=env)
    raw = git_bytes(repo, "cat-file", "commit", "HEAD")
    assert b"\nencoding ISO-8859-1\n" in raw and b"Zo\xeb <" in raw
    checkout = assert_reads_as_git_does(repo)
    assert (checkout.author_name, checkout.message) == ("Zoë", "Café déjà vu\n\nÜber naïve façades")


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory, git_identity):
    return new_repo(tmp_path_factory.mktemp("scratch") / "repo")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1))
def test_any_unicode_message_reads_back_as_written(scratch_repo, message):
    commit(scratch_repo, message, "--cleanup=verbatim", "--allow-empty-message")
    assert read_checkout(scratch_repo).message == message.rstrip()


# -- what cannot be read


def test_reads_the_commit_asked_for_rather_than_head(tmp_path):
    # Bitbucket's pull-request builds check out a merge: the deployed commit is HEAD's parent.
    repo = repo_with_commits(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD~2").strip()
    checkout = read_checkout(repo, first)
    assert checkout.sha == first
    assert checkout.message == git(repo, "log", "-1", "--format=%B", first).rstrip()
    assert checkout.branch is None  # HEAD is not that commit


def test_the_commit_asked_for_keeps_the_branch_when_it_is_head(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert read_checkout(repo, head.upper()) == checkout_per_git(repo)


@pytest.mark.parametrize("commit", ["abc1234", "0" * 40, "not a sha"])
def test_a_commit_that_is_not_in_the_clone_raises(tmp_path, commit):
    repo = repo_with_commits(tmp_path / "repo")
    with pytest.raises(CheckoutUnreadable):
        read_checkout(repo, commit)


def test_no_repository_raises(tmp_path):
    with pytest.raises(CheckoutUnreadable, match="no git repository at or above"):
        read_checkout(tmp_path)


def test_an_empty_repository_raises(tmp_path):
    repo = new_repo(tmp_path / "repo")
    with pytest.raises(CheckoutUnreadable, match="refs/heads/main, which does not exist"):
        read_checkout(repo)


def test_head_at_something_other_than_a_commit_raises(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    (repo / ".git/refs/heads/main").write_text(git(repo, "rev-parse", "HEAD^{tree}"))
    with pytest.raises(CheckoutUnreadable, match="is a tree, not a commit"):
        read_checkout(repo)


def test_symbolic_refs_that_loop_raise(tmp_path):
    repo = repo_with_commits(tmp_path / "repo")
    (repo / ".git/refs/heads/main").write_text("ref: refs/heads/main\n")
    with pytest.raises(CheckoutUnreadable, match="symbolic refs"):
        read_checkout(repo)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("refStorage", "reftable", "reftable refs are not supported"),
        ("objectFormat", "sha512", "object format sha512 is not supported"),
    ],
)
def test_an_unsupported_repository_format_raises(tmp_path, key, value, reason):
    repo = repo_with_commits(tmp_path / "repo")
    with (repo / ".git/config").open("a") as config:
        config.write(f"[extensions]\n\t{key} = {value}\n")
    with pytest.raises(CheckoutUnreadable, match=reason):
        read_checkout(repo)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: b"not zlib at all", id="not-zlib"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(
            lambda data: zlib.compress(zlib.decompress(data).replace(b"Change", b"Chance")),
            id="content-changed",
        ),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_a_corrupt_loose_object_raises(tmp_path, corrupt):
    repo = repo_with_commits(tmp_path / "repo")
    path = loose_object(repo, git(repo, "rev-parse", "HEAD").strip())
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(corrupt(data))
    with pytest.raises(CheckoutUnreadable):
        read_checkout(repo)


@pytest.mark.parametrize("keep", [0, 1, 6], ids=["at-the-entry", "in-its-header", "in-its-data"])
def test_a_truncated_pack_raises(tmp_path, keep):
    repo = repo_with_commits(tmp_path / "repo")
    git(repo, "gc", "-q")
    head = pack_entries(repo)[git(repo, "rev-parse", "HEAD").strip()]
    os.truncate(head.pack, head.offset + keep)
    with pytest.raises(CheckoutUnreadable, match="cut short"):
        read_checkout(repo)


@pytest.fixture(scope="module")
def deltified_repo(tmp_path_factory, git_identity):
    repo, _ = deltified_head(tmp_path_factory.mktemp("packed") / "repo")
    for file in (repo / ".git/objects/pack").iterdir():
        file.chmod(0o644)
    return repo, checkout_per_git(repo)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["*.pack", "*.idx"]), st.integers(0), st.integers(1, 255))
def test_a_flipped_byte_in_a_pack_or_index_reads_right_or_raises(deltified_repo, pattern, at, flip):
    repo, expected = deltified_repo
    (file,) = (repo / ".git/objects/pack").glob(pattern)
    original = file.read_bytes()
    at %= len(original)
    file.write_bytes(original[:at] + bytes([original[at] ^ flip]) + original[at + 1 :])
    try:
        assert read_checkout(repo) == expected  # the flip missed the bytes HEAD needs
    except CheckoutUnreadable:
        pass  # the flip was noticed
    finally:
        file.write_bytes(original)
