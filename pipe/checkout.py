"""Read the checked-out commit of a git clone with the standard library alone.

The pipe reports the message and author of the commit it deploys, and finds them in the clone
that the step runs in. It reads the git object store itself because we measured the
alternatives and neither fits:

- dulwich costs ~40 ms of import time and 7 MB installed, while the whole pipe run must stay
  within 1.15x the time of `python -c "import bitbucket_pipes_toolkit"` (~120 ms);
- a git binary adds more than 10 MB to an Alpine image, and refuses a clone owned by another
  uid ("dubious ownership"), which is what a pipe's container is handed.

Only what leads from HEAD to one commit is read: refs, a loose object, or one entry of a pack
found through its .idx fanout and a binary search, so a call takes well under a millisecond
however large the pack. Whatever goes wrong raises CheckoutUnreadable, worded for one log line.

It also reads history, for the list of commits a deployment took live: commits_between() shows
what `git log base..head` shows, in its order, by walking parents step for step as git's own
revision walk does (_Walk says how), with pack indexes mapped once and delta bases kept for the
walk. It reads loose objects and packs (offset and ref deltas, chains of any depth), several
packs (each keeps its .idx, so a multi-pack-index is not needed), alternates, worktrees,
submodules, partial clones (they hold every commit), shallow clones (.git/shallow) and SHA-256.
It does not read the commit-graph: each commit shown must be read for its message anyway, and
git's answer does not depend on the graph. It refuses, with CheckoutUnreadable, what would make
its answer differ from git's: grafts and replace refs (git log follows them), reftable refs
(which could hold replace refs), and commits whose headers are not laid out as git writes them.
"""

import codecs
import contextlib
import hashlib
import heapq
import mmap
import os
import re  # already imported by the toolkit, and by pipe.py
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

HASH_LENGTHS = {"sha1": 20, "sha256": 32}  # other object formats would change more than this
SYMREF_DEPTH = 5  # git's own limit on symbolic refs pointing at symbolic refs
DELTA_DEPTH = 10_000  # git writes chains of at most 4095; a longer one loops in a corrupt pack
OBJECT_DIRS = 16  # plenty for alternates naming alternates, and no more if they name each other
PACK_TYPES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
OFS_DELTA, REF_DELTA = 6, 7
CHUNK = 4096  # a commit entry, header and all, usually fits in one read
DELTA_CACHE = 32 << 20  # bytes of rebuilt objects kept as delta bases (git's own default: 96 MiB)
SLOP = 5  # git's revision walk looks this many uninteresting commits past the last one it shows
GRAPH_DATE_LIMIT = 1 << 34  # git's commit-graph keeps 34 bits of a date; later ones it truncates


# NamedTuples, as each frozen dataclass costs ~0.4 ms of start-up on every run.


class Checkout(NamedTuple):
    """The commit checked out, and the branch it was checked out from."""

    sha: str  # hex sha of HEAD's commit
    branch: str | None  # short name of the branch HEAD points at; None when HEAD is detached
    author_name: str
    author_email: str
    message: str  # subject and body, without trailing whitespace

    @property
    def author(self) -> str:
        return f"{self.author_name} <{self.author_email}>"


class Commit(NamedTuple):
    """One commit of a range, as the pipe lists it."""

    sha: str  # full hex
    subject: str  # the message's first line that is not blank
    author_name: str
    message: str  # subject and body, without trailing whitespace


class CommitRange(NamedTuple):
    """The commits `git log base..head` shows, newest first, in git log's own order."""

    commits: list[Commit]
    # False when the clone is shallow and its history ends before the range can be told apart:
    # `commits` is then what `git log base..head` shows in this clone, which may lack commits
    # that it shows in a full clone, or (rarely) hold some that the full history shows base has
    complete: bool


class CheckoutUnreadable(Exception):
    """Why the checkout could not be read, in words fit for one DEBUG line."""


class _Repository(NamedTuple):
    git_dir: Path  # HEAD, and refs of a worktree's own
    common_dir: Path  # refs shared by worktrees, packed-refs, config; the git_dir unless a worktree
    object_format: str
    object_dirs: list[Path]  # the repository's own, then its alternates


def read_checkout(directory: str | os.PathLike, commit: str | None = None) -> Checkout:
    """A commit of the git clone at or above `directory`: `commit` (a full sha), else HEAD's.

    `branch` is the branch HEAD names, when HEAD is that commit. Bitbucket's pull-request
    builds check out a merge of their own, so the commit deployed need not be HEAD.
    Raises CheckoutUnreadable, and nothing else, for whatever keeps it from being read.
    """
    with _reading():
        repo = _open_repository(_find_git_dir(Path(directory).resolve()))
        branch, sha = _resolve_head(repo) if commit is None else _head_if(repo, commit)
        kind, body = _read_object(repo, bytes.fromhex(sha))
        if kind != b"commit":
            raise CheckoutUnreadable(f"{sha} is a {kind.decode(errors='replace')}, not a commit")
        return _parse_commit(sha, branch, body)


def has_commit(directory: str | os.PathLike, sha: str) -> bool:
    """Whether the clone at or above `directory` holds the commit named by the full hex `sha`.

    False for a blob, tree or tag, for an object it does not hold, and for a name that is not a
    full sha of this repository. Raises CheckoutUnreadable, and nothing else, when the
    repository or the object itself cannot be read.
    """
    with _reading():
        repo, _ = _open_history(directory)
        name = _object_name(repo, sha)
        if name is None:
            return False
        with _Store(repo) as store:
            return store.has(name) and store.read(name)[0] == b"commit"


def cut_at(directory: str | os.PathLike, sha: str) -> bool:
    """Whether the clone's history is cut at this commit (.git/shallow lists it): none of its
    parents are in the clone, as in a clone of depth 1. Raises CheckoutUnreadable only."""
    with _reading():
        repo, shallow = _open_history(directory)
        name = _object_name(repo, sha)
        return name is not None and name in shallow


def commits_between(directory: str | os.PathLike, base: str, head: str) -> CommitRange:
    """The commits `git log base..head` shows, in its order, read from the clone at `directory`.

    `base` and `head` are full hex shas of commits the clone holds. The answer agrees with git's
    own, clock skew and equal timestamps included, or is not given: CheckoutUnreadable, and
    nothing else, is raised for whatever cannot be read faithfully, such as replace refs.
    In a shallow clone the answer is git's in that clone, and `complete` says whether it is
    also what git log says in a full clone (see _Walk.decided_despite_the_cut).
    """
    with _reading():
        repo, shallow = _open_history(directory)
        names = []
        for role, sha in (("base", base), ("head", head)):
            name = _object_name(repo, sha)
            if name is None:
                raise CheckoutUnreadable(f"{role} {sha!r} is not a full commit sha of this clone")
            names.append(name)
        with _Store(repo) as store:
            return _Walk(store, shallow).range(names[0], names[1])


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Turns whatever else a broken clone raises into CheckoutUnreadable, keeping the why."""
    try:
        yield
    except CheckoutUnreadable:
        raise
    except Exception as error:  # a broken clone fails in more ways than we can list
        kind = type(error).__name__
        if type(error).__module__ != "builtins":  # "zlib.error" says more than "error"
            kind = f"{type(error).__module__}.{kind}"
        raise CheckoutUnreadable(f"{kind}: {error}") from error


def _find_git_dir(start: Path, bare: bool = False) -> Path:
    """The git directory of the clone at or above `start`; or, with `bare`, of a bare repository
    (one with HEAD, objects and refs of its own, as git tells them), at each level after .git."""
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                raise CheckoutUnreadable(f"{dot_git} is not a gitdir: file")
            return directory / text.removeprefix("gitdir:").strip()
        if bare and all((directory / part).exists() for part in ("HEAD", "objects", "refs")):
            return directory
    raise CheckoutUnreadable(f"no git repository at or above {start}")


def _open_repository(git_dir: Path) -> _Repository:
    try:  # a worktree keeps its HEAD here and everything else in the repository it came from
        common_dir = git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        common_dir = git_dir
    extensions = _read_extensions(common_dir / "config")
    refs = extensions.get("refstorage", "files")
    if refs != "files":
        raise CheckoutUnreadable(f"{refs} refs are not supported")
    object_format = extensions.get("objectformat", "sha1")
    if object_format not in HASH_LENGTHS:
        raise CheckoutUnreadable(f"object format {object_format} is not supported")
    return _Repository(git_dir, common_dir, object_format, _object_dirs(common_dir / "objects"))


def _read_extensions(config: Path) -> dict[str, str]:
    """The [extensions] of a git config: enough of its syntax to tell which formats are in use."""
    section, found = "", {}
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return found
    for line in map(str.strip, lines):
        if line.startswith("["):
            section = line[1:].partition("]")[0].strip().lower()
        elif section == "extensions" and "=" in line:
            key, _, value = line.partition("=")
            value = value.split("#")[0].split(";")[0]  # without a trailing comment
            found[key.strip().lower()] = value.strip(' "').lower()
    return found


def _object_dirs(objects: Path) -> list[Path]:
    """The repository's object directory, and those its objects/info/alternates name."""
    found = [objects]
    for directory in found:  # grows as we go, so alternates' own alternates are searched too
        try:
            lines = (directory / "info" / "alternates").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            continue
        for path in map(str.strip, lines):
            alternate = (directory / path).resolve()  # a relative path is from this objects dir
            if path and not path.startswith("#") and alternate not in found:
                found.append(alternate)
        if len(found) >= OBJECT_DIRS:
            break
    return found


def _resolve_head(repo: _Repository) -> tuple[str | None, str]:
    """The branch HEAD names (None when detached) and the sha of the commit it leads to."""
    target = (repo.git_dir / "HEAD").read_text(encoding="utf-8").strip()
    branch = None
    if target.startswith("ref: refs/heads/"):
        branch = target.removeprefix("ref: refs/heads/")
    for _ in range(SYMREF_DEPTH):
        if not target.startswith("ref:"):
            is_hex = all(character in "0123456789abcdef" for character in target)
            if not is_hex or len(target) != 2 * HASH_LENGTHS[repo.object_format]:
                raise CheckoutUnreadable(f"HEAD leads to {target!r}, which is not an object name")
            return branch, target
        target = _read_ref(repo, target.removeprefix("ref:").strip())
    raise CheckoutUnreadable(f"HEAD leads through more than {SYMREF_DEPTH} symbolic refs")


def _head_if(repo: _Repository, commit: str) -> tuple[str | None, str]:
    """The commit asked for, with HEAD's branch if HEAD is that commit."""
    sha = commit.strip().lower()
    is_hex = all(character in "0123456789abcdef" for character in sha)
    if not is_hex or len(sha) != 2 * HASH_LENGTHS[repo.object_format]:
        raise CheckoutUnreadable(f"{commit!r} is not a full commit sha of this repository")
    try:
        branch, head = _resolve_head(repo)
    except CheckoutUnreadable:
        return None, sha
    return (branch if head == sha else None), sha


def _read_ref(repo: _Repository, name: str) -> str:
    if not name.startswith("refs/") or ".." in name.split("/"):  # stay inside the repository
        raise CheckoutUnreadable(f"HEAD leads to {name!r}, which is not a ref")
    for directory in (repo.git_dir, repo.common_dir):
        try:
            return (directory / name).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
    try:
        packed = (repo.common_dir / "packed-refs").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        packed = []
    for line in packed:
        sha, _, ref = line.partition(" ")
        if ref == name and not line.startswith(("#", "^")):  # "^" lines peel the tag above
            return sha
    raise CheckoutUnreadable(f"HEAD leads to {name}, which does not exist (no commits yet?)")


def _read_object(repo: _Repository, name: bytes) -> tuple[bytes, bytes]:
    """The type and content of an object, wherever it is stored, its deltas applied."""
    with _Store(repo) as store:
        return store.read(name)


class _Pack:
    """A pack and its version 2 .idx, mapped into memory while the store that found it is open."""

    def __init__(self, index: Path, hash_length: int) -> None:
        with index.open("rb") as file:
            self.index = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        if self.index[:8] != b"\377tOc\0\0\0\2":
            self.index.close()
            raise CheckoutUnreadable(f"{index} is not a version 2 pack index")
        self.path, self.hash_length = index.with_suffix(".pack"), hash_length
        self.count, self._data = int.from_bytes(self.index[1028:1032]), None

    def close(self) -> None:
        self.index.close()
        if self._data is not None:
            self._data.close()

    def find(self, name: bytes) -> int | None:
        """The offset of an object in this pack, or None if it is not in it.

        Names are sorted, and the fanout table's entry b counts those whose first byte is <= b.
        (Guessing where a name lies by its value takes fewer probes, but more time in Python.)
        Bounds go unchecked: a corrupt index sends us to the wrong bytes, which fail the
        object's hash check, or some other check, once read.
        """
        idx, first, size = self.index, name[0], len(name)
        low = int.from_bytes(idx[4 + 4 * first : 8 + 4 * first]) if first else 0
        high = int.from_bytes(idx[8 + 4 * first : 12 + 4 * first])
        while low < high:
            middle = (low + high) // 2
            probe = idx[1032 + middle * size : 1032 + (middle + 1) * size]
            if probe == name:
                return self._offset(middle)
            low, high = (middle + 1, high) if probe < name else (low, middle)
        return None

    def _offset(self, position: int) -> int:
        offsets = 1032 + self.count * (self.hash_length + 4)  # past the names and their crc32s
        offset = int.from_bytes(self.index[offsets + 4 * position : offsets + 4 * position + 4])
        if offset & 0x80000000:  # packs over 2 GiB point into a table of 8-byte offsets
            large = offsets + 4 * self.count + 8 * (offset & 0x7FFFFFFF)
            offset = int.from_bytes(self.index[large : large + 8])
        return offset

    def entry(self, offset: int) -> tuple[bytes, bytes, int | bytes | None]:
        """The type, inflated data and delta base (an offset here, or a name) of one entry."""
        if self._data is None:
            with self.path.open("rb") as file:
                self._data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            kind, size, base, at = self._header(offset, self._data[offset : offset + 64])
        except IndexError:
            raise CheckoutUnreadable(f"{self.path} is cut short") from None
        return kind, self._inflate(offset + at, size), base

    def _header(self, offset: int, chunk: bytes) -> tuple[bytes, int, int | bytes | None, int]:
        """Type, size, delta base, and where in `chunk` (read at the entry) the zlib data starts."""
        kind, size, at = (chunk[0] >> 4) & 7, chunk[0] & 15, 1
        while chunk[at - 1] & 0x80:
            size |= (chunk[at] & 0x7F) << (4 + 7 * (at - 1))
            at += 1
        if kind == OFS_DELTA:
            distance, at = chunk[at] & 0x7F, at + 1
            while chunk[at - 1] & 0x80:
                distance, at = ((distance + 1) << 7) | (chunk[at] & 0x7F), at + 1
            if not 0 < distance < offset:  # also keeps a corrupt chain from going round
                raise CheckoutUnreadable(f"{self.path} has a delta based outside the pack")
            return b"", size, offset - distance, at
        if kind == REF_DELTA:
            if len(chunk) < at + self.hash_length:
                raise CheckoutUnreadable(f"{self.path} is cut short")
            return b"", size, chunk[at : at + self.hash_length], at + self.hash_length
        if kind not in PACK_TYPES:
            raise CheckoutUnreadable(f"{self.path} has an entry of unknown type {kind}")
        return PACK_TYPES[kind], size, None, at

    def _inflate(self, start: int, size: int) -> bytes:
        """One entry's zlib stream, reading on only as far as the stream goes."""
        inflater, data, step = zlib.decompressobj(), b"", size + 64
        while not inflater.eof and len(data) <= size:
            more = self._data[start : start + step]
            if not more:
                raise CheckoutUnreadable(f"{self.path} is cut short")
            data += inflater.decompress(more)
            start, step = start + len(more), max(step, CHUNK)
        if len(data) != size:
            raise CheckoutUnreadable(f"{self.path} has an entry that does not inflate to its size")
        return data


_Location = tuple[_Pack, int] | Path  # an entry of a pack, or a loose object's file


class _Store:
    """The object store of a repository and its alternates, open for as many reads as needed.

    Pack indexes are mapped once, not once an object, and objects rebuilt from deltas are kept
    (up to DELTA_CACHE bytes) as the bases of the next: a walk of history reads commits that
    are deltas of one another, in chains git makes up to 4095 long.
    """

    def __init__(self, repo: _Repository) -> None:
        self.repo, self.hash = repo, getattr(hashlib, repo.object_format)
        self._packs: list[_Pack] | None = None
        self._last: _Pack | None = None  # where the last object was: the next is often there too
        self._rebuilt: dict[tuple[_Pack, int], tuple[bytes, bytes]] = {}
        self._rebuilt_size = 0

    def __enter__(self) -> "_Store":
        return self

    def __exit__(self, *_: object) -> None:
        for pack in self._packs or ():
            pack.close()

    def has(self, name: bytes) -> bool:
        return self._locate(name) is not None

    def read(self, name: bytes) -> tuple[bytes, bytes]:
        """The type and content of an object, its deltas applied and its hash checked."""
        location = self._locate(name)
        if location is None:
            raise CheckoutUnreadable(f"object {name.hex()} is not in the repository")
        kind, data = self._rebuild(name, location)
        stored = b"%s %d\0%s" % (kind, len(data), data)
        if self.hash(stored, usedforsecurity=False).digest() != name:
            why = "is corrupt: its content has another hash"
            raise CheckoutUnreadable(f"object {name.hex()} {why}")
        return kind, data

    def _rebuild(self, name: bytes, location: _Location) -> tuple[bytes, bytes]:
        deltas: list[tuple[_Pack, int, bytes]] = []
        while True:
            if isinstance(location, Path):
                kind, data = _read_loose(location)
                break
            pack, offset = location
            if (pack, offset) in self._rebuilt:
                kind, data = self._rebuilt[pack, offset]
                break
            kind, data, base = pack.entry(offset)
            if base is None:
                if deltas:  # a base, perhaps of many: git often deltifies several against one
                    self._keep(pack, offset, kind, data)
                break
            deltas.append((pack, offset, data))
            if len(deltas) > DELTA_DEPTH:
                raise CheckoutUnreadable(f"object {name.hex()} has a delta chain that never ends")
            location = (pack, base) if isinstance(base, int) else self._locate(base)
            if location is None:
                raise CheckoutUnreadable(f"object {base.hex()} is not in the repository")
        for pack, offset, delta in reversed(deltas):
            data = _apply_delta(data, delta)
            self._keep(pack, offset, kind, data)
        return kind, data

    def _keep(self, pack: _Pack, offset: int, kind: bytes, data: bytes) -> None:
        if self._rebuilt_size + len(data) > DELTA_CACHE:
            self._rebuilt.clear()
            self._rebuilt_size = 0
        self._rebuilt[pack, offset] = (kind, data)
        self._rebuilt_size += len(data)

    def _locate(self, name: bytes) -> _Location | None:
        """Where an object is kept: an entry of a pack, else a loose file; None if nowhere."""
        if self._last is not None and (offset := self._last.find(name)) is not None:
            return self._last, offset
        for pack in self._open_packs():
            if (offset := pack.find(name)) is not None:
                self._last = pack
                return pack, offset
        for objects in self.repo.object_dirs:
            loose = objects / name[:1].hex() / name[1:].hex()
            if loose.is_file():
                return loose
        return None

    def _open_packs(self) -> list[_Pack]:
        if self._packs is None:
            self._packs = []
            for objects in self.repo.object_dirs:
                try:
                    files = sorted(os.listdir(objects / "pack"))
                except FileNotFoundError:
                    continue
                for file in files:
                    if file.endswith(".idx"):
                        pack = _Pack(objects / "pack" / file, HASH_LENGTHS[self.repo.object_format])
                        self._packs.append(pack)
        return self._packs


def _read_loose(path: Path) -> tuple[bytes, bytes]:
    header, _, data = zlib.decompress(path.read_bytes()).partition(b"\0")
    kind, _, size = header.partition(b" ")
    if int(size) != len(data):
        raise CheckoutUnreadable(f"{path} is cut short")
    return kind, data


def _apply_delta(base: bytes, delta: bytes) -> bytes:
    """Rebuild an object from its base and a git delta of copy and insert instructions."""
    base_size, at = _read_size(delta, 0)
    target_size, at = _read_size(delta, at)
    if base_size != len(base):
        raise CheckoutUnreadable("a delta does not fit its base")
    target = bytearray()
    while at < len(delta):
        opcode, at = delta[at], at + 1
        # Copy from the base: bits 0-3 of the opcode say which bytes of the offset follow, and
        # bits 4-6 which bytes of the size; the bytes left out are zero
        if opcode & 0x80:
            offset = size = 0
            for byte in range(4):
                if opcode & (0x01 << byte):
                    offset, at = offset | delta[at] << (8 * byte), at + 1
            for byte in range(3):
                if opcode & (0x10 << byte):
                    size, at = size | delta[at] << (8 * byte), at + 1
            target += base[offset : offset + (size or 0x10000)]
        elif opcode:  # insert the next `opcode` bytes as they are
            target += delta[at : at + opcode]
            at += opcode
        else:
            raise CheckoutUnreadable("a delta has the reserved instruction 0")
    if len(target) != target_size:
        raise CheckoutUnreadable("a delta rebuilt an object of the wrong size")
    return bytes(target)


def _read_size(delta: bytes, at: int) -> tuple[int, int]:
    size, shift = 0, 0
    while True:
        byte, at = delta[at], at + 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return size, at


def _parse_commit(sha: str, branch: str | None, body: bytes) -> Checkout:
    author_name, author_email, message = _read_text(sha, body)
    return Checkout(sha, branch, author_name, author_email, message)


def _read_text(sha: str, body: bytes) -> tuple[str, str, str]:
    """A commit's author name and email, and its message, decoded as its encoding header says."""
    headers, _, message = body.partition(b"\n\n")
    fields: dict[bytes, bytes] = {}
    for line in headers.split(b"\n"):
        if not line.startswith(b" "):  # a leading space continues a gpgsig or mergetag value
            key, _, value = line.partition(b" ")
            fields.setdefault(key, value)
    name, bracket, rest = fields.get(b"author", b"").partition(b"<")
    email, closing, _ = rest.partition(b">")
    if not (bracket and closing):
        raise CheckoutUnreadable(f"commit {sha} has no readable author")
    encoding = _codec(fields.get(b"encoding", b"utf-8"))
    return (
        name.rstrip().decode(encoding, "replace"),
        email.decode(encoding, "replace"),
        message.decode(encoding, "replace").rstrip(),
    )


def _codec(name: bytes) -> str:
    try:
        return codecs.lookup(name.decode("ascii")).name
    except (LookupError, UnicodeDecodeError):  # git too shows such a commit's bytes as they are
        return "utf-8"


# -- history


def _open_history(directory: str | os.PathLike) -> tuple[_Repository, frozenset[bytes]]:
    """The repository, and its shallow commits: those whose parents the clone was cut from."""
    repo = _open_repository(_find_git_dir(Path(directory).resolve(), bare=True))
    common = repo.common_dir
    if (common / "info" / "grafts").exists():
        raise CheckoutUnreadable("the repository has grafts (info/grafts), which git log follows")
    try:
        packed = (common / "packed-refs").read_bytes()
    except FileNotFoundError:
        packed = b""
    if b" refs/replace/" in packed or any(files for *_, files in os.walk(common / "refs/replace")):
        raise CheckoutUnreadable("the repository has replace refs, which git log follows")
    try:
        lines = (common / "shallow").read_text(encoding="ascii").split()
    except FileNotFoundError:
        lines = []
    return repo, frozenset(map(bytes.fromhex, lines))


def _object_name(repo: _Repository, sha: str) -> bytes | None:
    """The binary name of a full hex sha of this repository's format; None for anything else."""
    text = sha.strip().lower()
    if len(text) != 2 * HASH_LENGTHS[repo.object_format] or text.strip("0123456789abcdef"):
        return None
    return bytes.fromhex(text)


def _commit_layout(hash_length: int) -> re.Pattern[bytes]:
    """A commit's tree, parent, author and committer lines, laid out as git writes them.

    git takes the date from a committer line right after the author line right after the
    parents, and its versions read malformed lines differently (git 2.39 reads the date after
    the first ">", later ones after the last); rather than guess, a commit git did not write
    this way is refused.
    """
    name = b"[0-9a-f]{%d}" % (2 * hash_length)
    return re.compile(  # re keeps what it compiled: one walk after another compiles it once
        b"tree %s\n((?:parent %s\n)*)author [^\n]*\ncommitter [^\n>]*> ([0-9]+) [^\n>]*\n"
        % (name, name)
    )


def _links(name: bytes, body: bytes, layout: re.Pattern[bytes]) -> tuple[tuple[bytes, ...], int]:
    """A commit's parents and committer date; refused past 2^34 s (the year 2514), which git's
    commit-graph cuts to 34 bits."""
    found = layout.match(body)
    if not found or int(found[2]) >= GRAPH_DATE_LIMIT:
        why = "has no tree, parent, author and committer lines laid out as git writes them"
        raise CheckoutUnreadable(f"commit {name.hex()} {why}")
    parents = found[1].split(b"\n")[:-1]  # "parent <hex>" lines
    return tuple(bytes.fromhex(line[7:].decode()) for line in parents), int(found[2])


class _Walk:
    """git's revision walk for `git log base..head`, step for step (revision.c, limit_list).

    git pops commits newest first by committer date (first in, first out among equal dates),
    marks what is reachable from base uninteresting as it finds it, and stops once everything
    left to walk is uninteresting and older than the last commit it kept, after SLOP more. So
    with clock skew git can show a commit that base does reach; we show it too, as git log does.
    Flags, parsing and the order of marking follow git's own, as each can change the result.
    """

    def __init__(self, store: _Store, shallow: frozenset[bytes]) -> None:
        self.store, self.shallow = store, shallow
        self.layout = _commit_layout(HASH_LENGTHS[store.repo.object_format])
        self.parents: dict[bytes, tuple[bytes, ...]] = {}  # of the commits parsed so far
        self.dates: dict[bytes, int] = {}
        self.bodies: dict[bytes, bytes] = {}  # of those parsed and not yet walked past
        self.kept_bodies: dict[bytes, bytes] = {}  # of those the walk kept, to be shown
        self.uninteresting: set[bytes] = set()
        self.seen: set[bytes] = set()
        self.queue: list[tuple[int, int, bytes]] = []  # (-date, order put in, name): a heap
        self.put = 0
        self.interesting_cache: bytes | None = None
        self.cut = False  # whether the walk parsed a commit whose parents the clone lacks

    def range(self, base: bytes, head: bytes) -> CommitRange:
        self.parse(base)
        self.parse(head)
        if base == head:
            return CommitRange([], complete=True)
        self.uninteresting.add(base)
        self.mark_parents_uninteresting(base)
        for commit in sorted((base, head), key=lambda name: -self.dates[name]):  # stable
            self.seen.add(commit)
            self.enqueue(commit)
        walked = self.limit()
        shown = [commit for commit in walked if commit not in self.uninteresting]
        complete = not self.cut or self.decided_despite_the_cut(base, walked, shown)
        return CommitRange([self.commit(name) for name in shown], complete)

    def limit(self) -> list[bytes]:
        """The commits git's limit_list() keeps, some of which may be found uninteresting after."""
        date, slop, kept = float("inf"), SLOP, []
        while self.queue:
            commit = heapq.heappop(self.queue)[2]
            if commit == self.interesting_cache:
                self.interesting_cache = None
            self.process_parents(commit)
            body = self.bodies.pop(commit)
            if commit in self.uninteresting:
                self.mark_parents_uninteresting(commit)
                slop = self.still_interesting(date, slop)
                if slop:
                    continue
                break
            date = self.dates[commit]
            kept.append(commit)
            self.kept_bodies[commit] = body
        self.bodies.clear()
        return kept

    def process_parents(self, commit: bytes) -> None:
        if commit in self.uninteresting:
            for parent in self.parents[commit]:
                self.uninteresting.add(parent)
                if self.parse(parent):
                    self.mark_parents_uninteresting(parent)
                if parent not in self.seen:
                    self.seen.add(parent)
                    self.enqueue(parent)
            return
        for parent in self.parents[commit]:
            self.parse(parent)
            if parent not in self.seen:
                self.seen.add(parent)
                self.enqueue(parent)

    def mark_parents_uninteresting(self, commit: bytes) -> None:
        """Through the commits parsed so far, stopping at those already uninteresting."""
        stack = list(self.parents[commit])
        while stack:
            commit = stack.pop()
            if commit not in self.uninteresting:
                self.uninteresting.add(commit)
                stack.extend(self.parents.get(commit, ()))

    def still_interesting(self, date: float, slop: int) -> int:
        if not self.queue:
            return 0
        if date <= -self.queue[0][0]:
            return SLOP
        if self.interesting_cache is not None and self.interesting_cache not in self.uninteresting:
            return SLOP
        for *_, commit in self.queue:
            if commit not in self.uninteresting:
                self.interesting_cache = commit
                return SLOP
        return slop - 1

    def enqueue(self, commit: bytes) -> None:
        heapq.heappush(self.queue, (-self.dates[commit], self.put, commit))
        self.put += 1

    def parse(self, name: bytes) -> tuple[bytes, ...]:
        """A commit's parents, read once; none for a shallow commit, as git has it."""
        if name not in self.parents:
            kind, body = self.store.read(name)
            if kind != b"commit":
                what = kind.decode(errors="replace")
                raise CheckoutUnreadable(f"{name.hex()} is a {what}, not a commit")
            parents, self.dates[name] = _links(name, body, self.layout)
            if name in self.shallow:
                parents, self.cut = (), True
            self.parents[name], self.bodies[name] = parents, body
        return self.parents[name]

    def decided_despite_the_cut(self, base: bytes, walked: list[bytes], shown: list[bytes]) -> bool:
        """Whether git log in a full clone shows what git log in this shallow one shows.

        The walk parsed a shallow commit, so in a full clone git's walk could go on past it,
        into history this clone lacks, which may lead from base to a commit shown here, or on
        from a commit shown to more. Whatever that history holds, the answers are the same if:
        - no commit the walk kept is shallow: else a full clone's walk goes on to its parents;
        - no commit it kept is base's in this clone: else a walk that goes further (as a full
          clone's may, renewed by the commits this one lacks) could find that out;
        - every commit shown reaches every shallow commit that base reaches: base reaches a
          commit X through missing history only through such a shallow commit S, and S
          reaching X while X reaches S would be a cycle.
        A full clone's walk then only finds more of base's history, none of it leading to a
        commit shown, and keeps those it shows in the same order. The tests check this against
        git in full clones of random histories.
        """
        if any(commit in self.shallow for commit in walked):
            return False
        ancestors = self.ancestors(base)
        if any(commit in ancestors for commit in walked):
            return False
        cut = [commit for commit in ancestors if commit in self.shallow]
        bits = {commit: 1 << number for number, commit in enumerate(cut)}
        reached: dict[bytes, int] = {}
        every = (1 << len(cut)) - 1
        return all(self.cut_reached(commit, bits, reached) == every for commit in shown)

    def ancestors(self, commit: bytes) -> set[bytes]:
        found, stack = {commit}, [commit]
        while stack:
            for parent in self.parse(stack.pop()):
                if parent not in found:
                    found.add(parent)
                    stack.append(parent)
        return found

    def cut_reached(self, start: bytes, bits: dict[bytes, int], reached: dict[bytes, int]) -> int:
        """The shallow commits (as bits) a commit reaches in this clone, memoised in `reached`."""
        stack = [start]
        while stack:
            commit = stack[-1]
            if commit in reached:
                stack.pop()
                continue
            parents = self.parse(commit)
            unknown = [parent for parent in parents if parent not in reached]
            if unknown:
                stack.extend(unknown)
                continue
            stack.pop()
            mask = bits.get(commit, 0)
            for parent in parents:
                mask |= reached[parent]
            reached[commit] = mask
        return reached[start]

    def commit(self, name: bytes) -> Commit:
        sha = name.hex()
        author_name, _, message = _read_text(sha, self.kept_bodies[name])
        subject = next((line.strip() for line in message.split("\n") if line.strip()), "")
        return Commit(sha, subject, author_name, message)
