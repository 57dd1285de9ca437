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
"""

import codecs
import hashlib
import mmap
import os
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

HASH_LENGTHS = {"sha1": 20, "sha256": 32}  # other object formats would change more than this
SYMREF_DEPTH = 5  # git's own limit on symbolic refs pointing at symbolic refs
DELTA_DEPTH = 10_000  # git writes chains of at most 4095; a longer one loops in a corrupt pack
OBJECT_DIRS = 16  # plenty for alternates naming alternates, and no more if they name each other
PACK_TYPES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
OFS_DELTA, REF_DELTA = 6, 7
CHUNK = 4096  # a commit entry, header and all, usually fits in one read


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


class CheckoutUnreadable(Exception):
    """Why the checkout could not be read, in words fit for one DEBUG line."""


class _Repository(NamedTuple):
    git_dir: Path  # HEAD, and refs of a worktree's own
    common_dir: Path  # refs shared by worktrees, packed-refs, config; the git_dir unless a worktree
    object_format: str
    object_dirs: list[Path]  # the repository's own, then its alternates


class _PackEntry(NamedTuple):
    pack: Path
    offset: int


def read_checkout(directory: str | os.PathLike, commit: str | None = None) -> Checkout:
    """A commit of the git clone at or above `directory`: `commit` (a full sha), else HEAD's.

    `branch` is the branch HEAD names, when HEAD is that commit. Bitbucket's pull-request
    builds check out a merge of their own, so the commit deployed need not be HEAD.
    Raises CheckoutUnreadable, and nothing else, for whatever keeps it from being read.
    """
    try:
        repo = _open_repository(_find_git_dir(Path(directory).resolve()))
        branch, sha = _resolve_head(repo) if commit is None else _head_if(repo, commit)
        kind, body = _read_object(repo, bytes.fromhex(sha))
        if kind != b"commit":
            raise CheckoutUnreadable(f"{sha} is a {kind.decode(errors='replace')}, not a commit")
        return _parse_commit(sha, branch, body)
    except CheckoutUnreadable:
        raise
    except Exception as error:  # a broken clone fails in more ways than we can list; keep the why
        kind = type(error).__name__
        if type(error).__module__ != "builtins":  # "zlib.error" says more than "error"
            kind = f"{type(error).__module__}.{kind}"
        raise CheckoutUnreadable(f"{kind}: {error}") from error


def _find_git_dir(start: Path) -> Path:
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                raise CheckoutUnreadable(f"{dot_git} is not a gitdir: file")
            return directory / text.removeprefix("gitdir:").strip()
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
    location, deltas = _locate(repo, name), []
    while True:
        if isinstance(location, Path):
            kind, data = _read_loose(location)
            break
        kind, data, base = _read_pack_entry(location, len(name))
        if base is None:
            break
        deltas.append(data)
        if len(deltas) > DELTA_DEPTH:
            raise CheckoutUnreadable(f"object {name.hex()} has a delta chain that never ends")
        location = base if isinstance(base, _PackEntry) else _locate(repo, base)
    for delta in reversed(deltas):
        data = _apply_delta(data, delta)
    stored = b"%s %d\0%s" % (kind, len(data), data)
    if hashlib.new(repo.object_format, stored, usedforsecurity=False).digest() != name:
        raise CheckoutUnreadable(f"object {name.hex()} is corrupt: its content has another hash")
    return kind, data


def _locate(repo: _Repository, name: bytes) -> Path | _PackEntry:
    """Where an object is kept: a loose file, or an entry of a pack."""
    for objects in repo.object_dirs:
        loose = objects / name[:1].hex() / name[1:].hex()
        if loose.is_file():
            return loose
        try:
            indexes = [file for file in os.listdir(objects / "pack") if file.endswith(".idx")]
        except FileNotFoundError:
            indexes = []
        for index in indexes:
            offset = _find_in_index(objects / "pack" / index, name)
            if offset is not None:
                pack = objects / "pack" / f"{index.removesuffix('.idx')}.pack"
                return _PackEntry(pack, offset)
    raise CheckoutUnreadable(f"object {name.hex()} is not in the repository")


def _find_in_index(index: Path, name: bytes) -> int | None:
    """The offset of an object in the pack beside this version 2 .idx, or None if not in it.

    Bounds go unchecked: a corrupt index sends us to the wrong bytes, which fail the object's
    hash check, or some other check, once read.
    """
    with index.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as idx:
        if idx[:8] != b"\377tOc\0\0\0\2":
            raise CheckoutUnreadable(f"{index} is not a version 2 pack index")
        # Names are sorted, and the fanout table's entry b counts those whose first byte is <= b
        low = int.from_bytes(idx[4 + 4 * name[0] : 8 + 4 * name[0]]) if name[0] else 0
        high = int.from_bytes(idx[8 + 4 * name[0] : 12 + 4 * name[0]])
        count, names = int.from_bytes(idx[1028:1032]), 1032
        offsets = names + count * (len(name) + 4)  # past the names, and a crc32 for each
        while low < high:
            middle = (low + high) // 2
            probe = idx[names + middle * len(name) : names + (middle + 1) * len(name)]
            if probe == name:
                offset = int.from_bytes(idx[offsets + 4 * middle : offsets + 4 * middle + 4])
                if offset & 0x80000000:  # packs over 2 GiB point into a table of 8-byte offsets
                    large = offsets + 4 * count + 8 * (offset & 0x7FFFFFFF)
                    offset = int.from_bytes(idx[large : large + 8])
                return offset
            low, high = (middle + 1, high) if probe < name else (low, middle)
    return None


_DeltaBase = _PackEntry | bytes | None  # an earlier entry of the same pack, or an object name


def _read_pack_entry(entry: _PackEntry, hash_length: int) -> tuple[bytes, bytes, _DeltaBase]:
    """The type, inflated data and delta base of one entry of a pack."""
    with entry.pack.open("rb") as pack:
        pack.seek(entry.offset)
        chunk = pack.read(CHUNK)
        try:
            kind, size, base, at = _parse_entry_header(chunk, entry, hash_length)
        except IndexError:
            raise CheckoutUnreadable(f"{entry.pack} is cut short") from None
        return kind, _inflate(pack, chunk[at:], size), base


def _parse_entry_header(
    chunk: bytes, entry: _PackEntry, hash_length: int
) -> tuple[bytes, int, _DeltaBase, int]:
    """Type, size, delta base, and where in `chunk` (read at the entry) the zlib data starts."""
    kind, size, at = (chunk[0] >> 4) & 7, chunk[0] & 15, 1
    while chunk[at - 1] & 0x80:
        size |= (chunk[at] & 0x7F) << (4 + 7 * (at - 1))
        at += 1
    if kind == OFS_DELTA:
        distance, at = chunk[at] & 0x7F, at + 1
        while chunk[at - 1] & 0x80:
            distance, at = ((distance + 1) << 7) | (chunk[at] & 0x7F), at + 1
        if not 0 < distance < entry.offset:  # also keeps a corrupt chain from going round
            raise CheckoutUnreadable(f"{entry.pack} has a delta based outside the pack")
        return b"", size, _PackEntry(entry.pack, entry.offset - distance), at
    if kind == REF_DELTA:
        if len(chunk) < at + hash_length:
            raise CheckoutUnreadable(f"{entry.pack} is cut short")
        return b"", size, chunk[at : at + hash_length], at + hash_length
    if kind not in PACK_TYPES:
        raise CheckoutUnreadable(f"{entry.pack} has an entry of unknown type {kind}")
    return PACK_TYPES[kind], size, None, at


def _inflate(pack: BinaryIO, start: bytes, size: int) -> bytes:
    """One entry's zlib stream, reading on only as far as the stream goes."""
    inflater = zlib.decompressobj()
    data = inflater.decompress(start)
    while not inflater.eof and len(data) <= size:
        more = pack.read(CHUNK)
        if not more:
            raise CheckoutUnreadable(f"{pack.name} is cut short")
        data += inflater.decompress(more)
    if len(data) != size:
        raise CheckoutUnreadable(f"{pack.name} has an entry that does not inflate to its size")
    return data


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
    return Checkout(
        sha=sha,
        branch=branch,
        author_name=name.rstrip().decode(encoding, "replace"),
        author_email=email.decode(encoding, "replace"),
        message=message.decode(encoding, "replace").rstrip(),
    )


def _codec(name: bytes) -> str:
    try:
        return codecs.lookup(name.decode("ascii")).name
    except (LookupError, UnicodeDecodeError):  # git too shows such a commit's bytes as they are
        return "utf-8"
