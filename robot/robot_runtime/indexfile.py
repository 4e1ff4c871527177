"""The git index file (versions 2 and 3) read and rewritten in one pass, and the trees it describes.

For a work tree of thousands of files dulwich's Index builds and serialises a Python object per entry on every
read and write; a backup changes a handful of entries, so this module keeps every other entry as the exact bytes
it was read as. Anything it does not handle (version 4, merge conflicts, SHA-256 repositories) raises
UnsupportedIndex and the caller uses dulwich instead. Extensions (such as the cache-tree) are dropped on rewrite,
which git accepts: they are optional caches.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

_HEADER = struct.Struct(">4sLL")
_ENTRY = struct.Struct(">LLLLLLLLLL20sH")  # ctime s/ns, mtime s/ns, dev, ino, mode, uid, gid, size, sha, flags
_EXTENDED_FLAG = 0x4000
_NAME_MASK = 0x0FFF
_STAGE_MASK = 0x3000
_UINT32 = 0xFFFFFFFF
_TREE = 0o040000
_SYMLINK = 0o120000
_NANOSECONDS = 10**9
_NO_CHECKSUM = bytes(20)
_PARSED_LIMIT = 8  # indexes whose last parse is kept (a robot has one: state/.git/index)

# A function that stores one object given its type name and raw content (used for trees).
StoreObject = Callable[[bytes, bytes], None]


class UnsupportedIndex(Exception):
    """An index this module does not parse (version 4, conflicts, ...): use dulwich instead."""


class IndexEntry(NamedTuple):
    """What the clean check needs of one index entry, and the entry's exact bytes for rewriting.

    A NamedTuple rather than a dataclass: a status check builds one per file, and a tuple is several times cheaper.
    """

    sha: bytes
    mode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    raw: bytes


@dataclass
class IndexFile:
    """A parsed index: its version and its entries by path (in any order; they are sorted on write)."""

    version: int
    entries: dict[bytes, IndexEntry]
    checksum: bytes = b""  # the SHA-1 trailer: it identifies the whole content


# The last parse of each index file by path (see read_index_reusing); never handed out, only copies of it.
_PARSED: dict[str, IndexFile] = {}


def read_index(path: Path) -> IndexFile:
    """Parse a version 2 or 3 git index; raises UnsupportedIndex for anything else."""
    data = path.read_bytes()
    try:
        signature, version, count = _HEADER.unpack_from(data, 0)
    except struct.error:
        raise UnsupportedIndex("truncated header") from None
    if signature != b"DIRC" or version not in (2, 3):
        raise UnsupportedIndex(f"index version {version}")
    try:
        entries = _read_entries(data, count)
    except (struct.error, ValueError):
        raise UnsupportedIndex("truncated or malformed entry") from None
    checksum = data[-20:]
    # index.skipHash writes zeros instead of the SHA-1: such a trailer identifies nothing
    return IndexFile(version=version, entries=entries, checksum=b"" if checksum == _NO_CHECKSUM else checksum)


def read_index_reusing(path: Path, size: int) -> IndexFile:
    """read_index, reusing this process's last parse of `path` when the file's SHA-1 trailer is unchanged.

    The trailer is the SHA-1 of the whole content, so an equal trailer means equal content: a long-running supervisor
    (and any repeated backup) then reads 20 bytes instead of parsing thousands of entries. `size` is the file's size
    from the caller's stat. The caller gets its own entries dict (commit_all changes it).
    """
    key = os.fspath(path)
    cached = _PARSED.get(key)
    if cached is not None and size >= _HEADER.size + 20 and _trailer(key, size) == cached.checksum:
        return _copy(cached)
    index = read_index(path)
    _remember_parse(key, index)
    return index


def _trailer(path: str, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, 20, size - 20)
    finally:
        os.close(fd)


def _remember_parse(path: str, index: IndexFile) -> None:
    if not index.checksum:
        _PARSED.pop(path, None)
        return
    if len(_PARSED) >= _PARSED_LIMIT and path not in _PARSED:
        _PARSED.clear()
    _PARSED[path] = _copy(index)


def _copy(index: IndexFile) -> IndexFile:
    return IndexFile(version=index.version, entries=dict(index.entries), checksum=index.checksum)


def _read_entries(data: bytes, count: int) -> dict[bytes, IndexEntry]:
    """All `count` entries after the header, in one loop (this runs once per file of the work tree)."""
    entries: dict[bytes, IndexEntry] = {}
    offset = _HEADER.size
    unpack_from = _ENTRY.unpack_from
    find_nul = data.index
    entry_size = _ENTRY.size
    for _ in range(count):
        ctime_s, ctime_ns, mtime_s, mtime_ns, _dev, inode, mode, _uid, _gid, size, sha, flags = unpack_from(
            data, offset
        )
        if flags & _STAGE_MASK:
            raise UnsupportedIndex("merge conflict entries")
        name_start = offset + entry_size + (2 if flags & _EXTENDED_FLAG else 0)
        name_end = find_nul(b"\0", name_start)
        name_length = flags & _NAME_MASK
        if name_length != _NAME_MASK and name_end - name_start != name_length:
            raise UnsupportedIndex("entry name length mismatch")
        end = offset + ((name_end - offset + 8) & ~7)
        entries[data[name_start:name_end]] = IndexEntry(
            sha,
            mode,
            size,
            mtime_s * _NANOSECONDS + mtime_ns,
            ctime_s * _NANOSECONDS + ctime_ns,
            inode,
            data[offset:end],
        )
        offset = end
    return entries


def entry_from_stat(name: bytes, st: os.stat_result, sha: bytes) -> IndexEntry:
    """A new entry for a regular file or symlink with blob id `sha` (20 raw bytes), as git would record it."""
    mode = _SYMLINK if stat.S_ISLNK(st.st_mode) else (0o100755 if st.st_mode & 0o100 else 0o100644)
    ctime_s, ctime_ns = divmod(st.st_ctime_ns, _NANOSECONDS)
    mtime_s, mtime_ns = divmod(st.st_mtime_ns, _NANOSECONDS)
    fields = (ctime_s, ctime_ns, mtime_s, mtime_ns, st.st_dev, st.st_ino, mode, st.st_uid, st.st_gid, st.st_size)
    packed = _ENTRY.pack(*(value & _UINT32 for value in fields), sha, min(len(name), _NAME_MASK))
    raw = packed + name + b"\0" * (8 - (len(packed) + len(name)) % 8)
    return IndexEntry(
        sha=sha,
        mode=mode,
        size=st.st_size & _UINT32,
        mtime_ns=(mtime_s & _UINT32) * _NANOSECONDS + mtime_ns,
        ctime_ns=(ctime_s & _UINT32) * _NANOSECONDS + ctime_ns,
        inode=st.st_ino & _UINT32,
        raw=raw,
    )


def write_index(path: Path, index: IndexFile) -> None:
    """Write the index atomically (index.lock, then rename), entries sorted by path, with its SHA-1 trailer."""
    body = b"".join(index.entries[name].raw for name in sorted(index.entries))
    content = _HEADER.pack(b"DIRC", index.version, len(index.entries)) + body
    index.checksum = hashlib.sha1(content, usedforsecurity=False).digest()
    content += index.checksum
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(lock, path)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    _remember_parse(os.fspath(path), index)


def remembered_tree_id(index: IndexFile, memo_file: Path) -> bytes:
    """index_tree_id, remembered in `memo_file` against the index's checksum (the tree is a function of it)."""
    try:
        checksum, tree = memo_file.read_text().split()
        if bytes.fromhex(checksum) == index.checksum and index.checksum:
            return tree.encode()
    except (OSError, ValueError):
        pass
    tree_id = index_tree_id(index.entries)
    remember_tree_id(index, tree_id, memo_file)
    return tree_id


def remember_tree_id(index: IndexFile, tree_id: bytes, memo_file: Path) -> None:
    """Record the tree of this index content (best effort: a memo that cannot be written is only recomputed)."""
    temporary = memo_file.with_name(memo_file.name + ".tmp")
    try:
        temporary.write_text(f"{index.checksum.hex()} {tree_id.decode()}\n")
        os.replace(temporary, memo_file)
    except OSError:
        temporary.unlink(missing_ok=True)


def index_tree_id(entries: dict[bytes, IndexEntry], store: StoreObject | None = None) -> bytes:
    """The id (hex) of the tree `git write-tree` makes of these entries; `store` receives every tree object."""
    children: dict[bytes, dict[bytes, tuple[int, bytes]]] = {b"": {}}
    for name, entry in entries.items():
        directory, _, base = name.rpartition(b"/")
        _ensure_directory(children, directory)
        children[directory][base] = (entry.mode, entry.sha)
    return _tree_sha(children, b"", store).hex().encode()


def _ensure_directory(children: dict[bytes, dict[bytes, tuple[int, bytes]]], directory: bytes) -> None:
    if directory in children:
        return
    children[directory] = {}
    parent, _, base = directory.rpartition(b"/")
    _ensure_directory(children, parent)
    children[parent][base] = (_TREE, b"")


def _tree_sha(
    children: dict[bytes, dict[bytes, tuple[int, bytes]]], directory: bytes, store: StoreObject | None
) -> bytes:
    body = []
    items = children[directory]
    # git orders a tree's entries by name, a subtree's name compared as if it ended with "/"
    for base in sorted(items, key=lambda name: name + b"/" if items[name][0] == _TREE else name):
        mode, sha = items[base]
        if mode == _TREE:
            sha = _tree_sha(children, directory + b"/" + base if directory else base, store)
        body.append(b"%o %s\0%s" % (mode, base, sha))
    content = b"".join(body)
    if store is not None:
        store(b"tree", content)
    return hashlib.sha1(b"tree %d\0" % len(content) + content, usedforsecurity=False).digest()
