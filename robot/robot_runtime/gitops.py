"""Git operations with dulwich: fetch one branch into a new work tree, check cleanliness, commit all, push safely."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import zlib
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from dulwich.client import GitClient, SSHGitClient, SubprocessSSHVendor, get_transport_and_path
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository, SendPackError
from dulwich.gc import maybe_auto_gc
from dulwich.graph import can_fast_forward
from dulwich.index import Index, blob_from_path_and_stat, index_entry_from_stat, validate_path
from dulwich.object_store import BaseObjectStore, DiskObjectStore, MissingObjectFinder, iter_tree_contents
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree, TreeEntry, hex_to_sha, parse_tree
from dulwich.pack import UnpackedObject, generate_unpacked_objects
from dulwich.refs import Ref
from dulwich.repo import Repo

from robot_runtime.errors import RobotError
from robot_runtime.indexfile import (
    IndexFile,
    UnsupportedIndex,
    entry_from_stat,
    index_tree_id,
    read_index,
    remember_tree_id,
    write_index,
)
from robot_runtime.settings import redact_url
from robot_runtime.ssh import SshIdentity, is_local_url, remote_error
from robot_runtime.worktree_status import WorkTreeChanges, file_signature, tree_memo_file, work_tree_changes

if TYPE_CHECKING:
    from dulwich.client import GeneratePackDataFunc

log = logging.getLogger(__name__)

ROBOT_IDENTITY = b"Gopherbot robot runtime <robot-runtime@localhost>"
HEAD = Ref(b"HEAD")
BRANCH_PREFIX = b"refs/heads/"
DEFAULT_NEW_BRANCH = "main"
ANOTHER_COPY = "another copy of this robot may have pushed; nothing was overwritten and local state is kept"
MAX_NEW_COMMITS = 64  # a push of more new commits than this (or of a new history) takes dulwich's general path
_TYPE_NUMBERS = {b"commit": Commit.type_num, b"tree": Tree.type_num, b"blob": Blob.type_num, b"tag": Tag.type_num}


@dataclass(frozen=True)
class Remote:
    """A repository URL and, for ssh URLs, the identity to reach it with."""

    url: str
    identity: SshIdentity | None = None

    @property
    def display(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True)
class FetchedBranch:
    """The branch a new work tree is on, and its commit (None when the remote has no such branch yet)."""

    name: str
    commit: str | None


class PushRejected(RobotError):
    """The remote branch moved since this copy last saw it: pushing would overwrite someone else's commits."""


def branch_ref(name: str) -> Ref:
    return Ref(BRANCH_PREFIX + name.encode())


def open_client(remote: Remote) -> tuple[GitClient, str]:
    """A dulwich client for the remote; ssh always through the local `ssh` with this identity's strict options."""
    identity = remote.identity
    if identity is None:
        return get_transport_and_path(remote.url)
    client, path = get_transport_and_path(
        remote.url, key_filename=str(identity.key_file), ssh_command=identity.ssh_command
    )
    if isinstance(client, SSHGitClient):
        client.ssh_vendor = SubprocessSSHVendor()
    return client, path


@contextmanager
def talking_to(remote: Remote, action: str) -> Iterator[None]:
    """Turn transport failures into one-line RobotErrors naming the (redacted) repository."""
    try:
        yield
    except RobotError:
        raise
    except HangupException as error:
        raise remote_error(remote.url, action, _stderr_text(error)) from None
    except (GitProtocolError, NotGitRepository, OSError) as error:
        raise remote_error(remote.url, action, str(error)) from None


def _stderr_text(error: HangupException) -> str:
    lines = error.stderr_lines or []
    return "\n".join(line.decode("utf-8", "replace") for line in lines)


def fetch_branch_into_new_repo(remote: Remote, branch: str | None, target: Path) -> FetchedBranch:
    """Create a repository at `target` on `branch` (None: the remote's default) and check it out if it exists.

    A branch the remote does not have gives an empty repository on that branch (commit None), ready for a first
    commit; the remote is recorded as `origin` either way.
    """
    repo = Repo.init(str(target), mkdir=True)
    try:
        fetched = _fetch_one_branch(repo, remote, branch)
        _set_up_branch(repo, remote, fetched)
        if fetched.commit is not None:
            try:
                checkout_new_work_tree(repo)
            except OSError as error:
                raise RobotError(
                    f"cannot write the files of {remote.display} into {target}: {error.strerror}"
                ) from None
        return fetched
    finally:
        repo.close()


def checkout_new_work_tree(repo: Repo) -> None:
    """Write HEAD's files into a new, empty work tree and an index whose stat cache matches them.

    The common case (plain files and symlinks, no .gitattributes filters, no submodules) streams each blob straight
    from the object store to its file; anything else is left to dulwich's general checkout.
    """
    head = repo[repo.head()]
    assert isinstance(head, Commit)
    entries = list(iter_tree_contents(repo.object_store, head.tree))
    if not _streamable(entries):
        repo.get_worktree().reset_index()
        return
    root = os.fsencode(repo.path)
    index = Index(repo.index_path(), read=False)
    made_dirs: set[bytes] = {b""}
    for entry in entries:
        assert entry.path is not None
        assert entry.mode is not None
        assert entry.sha is not None
        _make_parent_dirs(root, entry.path, made_dirs)
        full_path = root + b"/" + entry.path
        _, content = repo.object_store.get_raw(entry.sha)
        if stat.S_ISLNK(entry.mode):
            os.symlink(content, full_path)
        else:
            _write_new_file(full_path, content, executable=bool(entry.mode & 0o100))
        index[entry.path] = index_entry_from_stat(os.lstat(full_path), entry.sha, mode=entry.mode)
    index.write()


def _streamable(entries: list[TreeEntry]) -> bool:
    """Every entry plain and safe, and no path below a symlink of the same tree (nothing written outside)."""
    paths = [entry.path for entry in entries if entry.path is not None]
    symlinks = {entry.path for entry in entries if entry.path is not None and stat.S_ISLNK(entry.mode or 0)}
    if len(set(paths)) != len(entries):
        return False
    return all(_plain_entry(entry) for entry in entries) and not any(
        _parents(path) & symlinks for path in paths if symlinks
    )


def _parents(path: bytes) -> set[bytes]:
    parts = path.split(b"/")
    return {b"/".join(parts[:end]) for end in range(1, len(parts))}


def _plain_entry(entry: TreeEntry) -> bool:
    """A regular file or symlink at a safe path, with no .gitattributes that could ask for filters."""
    if entry.path is None or entry.mode is None:
        return False
    plain_mode = stat.S_ISREG(entry.mode) or stat.S_ISLNK(entry.mode)
    return plain_mode and validate_path(entry.path) and not entry.path.endswith(b".gitattributes")


def _make_parent_dirs(root: bytes, path: bytes, made_dirs: set[bytes]) -> None:
    parent = path.rpartition(b"/")[0]
    if parent not in made_dirs:
        os.makedirs(root + b"/" + parent, exist_ok=True)
        made_dirs.add(parent)


def _write_new_file(path: bytes, content: bytes, *, executable: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777 if executable else 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _fetch_one_branch(repo: Repo, remote: Remote, branch: str | None) -> FetchedBranch:
    if is_local_url(remote.url):
        copied = _copy_local_branch(repo, remote, branch)
        if copied is not None:
            return copied
    wanted = HEAD if branch is None else branch_ref(branch)

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        sha = refs.get(wanted)
        return [sha] if sha is not None and sha not in repo.object_store else []

    client, path = open_client(remote)
    with talking_to(remote, "fetch from"):
        result = client.fetch(path.encode(), repo, determine_wants=determine_wants, progress=None)
    name = branch if branch is not None else _default_branch_name(result.symrefs)
    commit = result.refs.get(wanted)
    return FetchedBranch(name=name, commit=commit.decode() if commit else None)


def _copy_local_branch(repo: Repo, remote: Remote, branch: str | None) -> FetchedBranch | None:
    """A repository on this machine: copy its object files as `git clone --local --no-hardlinks` does.

    dulwich's in-process fetch re-encodes every object (several times slower than git); copying the packs and
    loose objects is byte for byte. None when the shortcut does not apply (alternates, shallow, not a repository):
    the caller then fetches normally, which also produces the right error.
    """
    try:
        source = Repo(_local_path(remote.url))
    except (NotGitRepository, OSError):
        return None
    with source:
        objects = Path(source.object_store.path)
        if (objects / "info" / "alternates").exists() or source.get_shallow():
            return None
        wanted = HEAD if branch is None else branch_ref(branch)
        chain, sha = source.refs.follow(wanted)
        name = branch if branch is not None else _default_branch_name({HEAD: chain[-1]})
        if sha is None:
            return FetchedBranch(name=name, commit=None)
        with talking_to(remote, "copy from"):
            _copy_object_files(objects, Path(repo.object_store.path))
    if sha not in repo.object_store:
        return None
    return FetchedBranch(name=name, commit=sha.decode())


def _local_path(url: str) -> str:
    return unquote(urlparse(url).path) if url.startswith("file://") else url


def _copy_object_files(source: Path, target: Path) -> None:
    """Packs (with their indexes) and loose objects, each written under a temporary name and renamed when whole."""
    for pack in sorted((source / "pack").glob("pack-*.pack")):
        index = pack.with_suffix(".idx")
        if index.exists():
            _copy_whole(pack, target / "pack" / pack.name)
            _copy_whole(index, target / "pack" / index.name)
    for loose in source.glob("[0-9a-f][0-9a-f]/*"):
        (target / loose.parent.name).mkdir(exist_ok=True)
        _copy_whole(loose, target / loose.parent.name / loose.name)


def _copy_whole(source: Path, target: Path) -> None:
    partial = target.with_name(f".partial-{target.name}")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def _default_branch_name(symrefs: Mapping[Ref, Ref]) -> str:
    target = symrefs.get(HEAD)
    if target is not None and target.startswith(BRANCH_PREFIX):
        return target[len(BRANCH_PREFIX) :].decode()
    return DEFAULT_NEW_BRANCH


def _set_up_branch(repo: Repo, remote: Remote, fetched: FetchedBranch) -> None:
    config = repo.get_config()
    config.set((b"remote", b"origin"), b"url", remote.url.encode())
    config.set((b"remote", b"origin"), b"fetch", b"+refs/heads/*:refs/remotes/origin/*")
    config.set((b"branch", fetched.name.encode()), b"remote", b"origin")
    config.set((b"branch", fetched.name.encode()), b"merge", branch_ref(fetched.name))
    config.write_to_path()
    local = branch_ref(fetched.name)
    repo.refs.set_symbolic_ref(HEAD, local)
    if fetched.commit is not None:
        sha = ObjectID(fetched.commit.encode())
        repo.refs[local] = sha
        repo.refs[_tracking_ref(fetched.name)] = sha


def _tracking_ref(name: str) -> Ref:
    return Ref(b"refs/remotes/origin/" + name.encode())


def current_branch(repo_dir: Path) -> str:
    """The branch HEAD points at (it may have no commit yet)."""
    with Repo(str(repo_dir)) as repo:
        chain, _ = repo.refs.follow(HEAD)
        target = chain[-1]
        if not target.startswith(BRANCH_PREFIX):
            raise RobotError(f"{repo_dir}: HEAD is not on a branch")
        return target[len(BRANCH_PREFIX) :].decode()


def head_commit(repo_dir: Path) -> str | None:
    with Repo(str(repo_dir)) as repo:
        try:
            return repo.head().decode()
        except KeyError:
            return None


def check_work_tree(repo_dir: Path) -> None:
    """Raise RobotError unless `repo_dir` is a readable git work tree of its own (HEAD, objects, refs in place)."""
    problem = RobotError(f"{repo_dir} is not a readable git work tree (corrupt?): left untouched")
    try:
        with Repo(str(repo_dir)) as repo:
            control = Path(repo.controldir())
            if Path(repo.path).resolve() != repo_dir.resolve() or not (control / "objects").is_dir():
                raise problem
            chain, _ = repo.refs.follow(HEAD)
            if not chain:
                raise problem
    except RobotError:
        raise
    except Exception:  # dulwich raises many kinds of errors for a damaged repository
        raise problem from None


def is_pushed(repo_dir: Path) -> bool:
    """True when the current branch has no commit that origin has not got (as far as this copy last saw)."""
    with Repo(str(repo_dir)) as repo:
        chain, local = repo.refs.follow(HEAD)
        if local is None:
            return True
        name = chain[-1][len(BRANCH_PREFIX) :].decode()
        return repo.refs.get_peeled(_tracking_ref(name)) == local or _tracking_sha(repo, name) == local


def _tracking_sha(repo: Repo, branch: str) -> ObjectID | None:
    try:
        return repo.refs[_tracking_ref(branch)]
    except KeyError:
        return None


def is_clean(repo_dir: Path) -> bool:
    """The equivalent of `git status --porcelain` being empty (untracked files count, ignored ones do not)."""
    return work_tree_changes(repo_dir).clean


def commit_all(repo_dir: Path, message: str, changes: WorkTreeChanges | None = None) -> str:
    """Stage every change (new, modified, deleted; .gitignore honoured) and commit it as the robot, unsigned.

    `changes` (from work_tree_changes) saves a second look at the work tree when the caller already has it. The index
    is read and rewritten once, keeping every unchanged entry's bytes (indexfile.py); dulwich's Index is the fallback.
    """
    changes = changes if changes is not None else work_tree_changes(repo_dir)
    with Repo(str(repo_dir)) as repo:
        try:
            tree = _stage_with_index_file(repo, changes)
        except UnsupportedIndex:
            tree = _stage_with_dulwich(repo, changes.paths)
        sha = repo.get_worktree().commit(
            message=message.encode(),
            author=ROBOT_IDENTITY,
            committer=ROBOT_IDENTITY,
            tree=ObjectID(tree),
            no_verify=True,
            sign=False,
        )
        return sha.decode()


def _stage_with_index_file(repo: Repo, changes: WorkTreeChanges) -> bytes:
    if repo.object_format.name != "sha1":
        raise UnsupportedIndex("only SHA-1 repositories")
    index_path = Path(repo.index_path())
    index = _current_index(index_path, changes)
    root = os.fsencode(repo.path)
    for path in changes.paths:
        st = _plain_file_stat(root + b"/" + path)
        if st is None:
            index.entries.pop(path, None)
            continue
        blob = blob_from_path_and_stat(root + b"/" + path, st)
        repo.object_store.add_object(blob)
        index.entries[path] = entry_from_stat(path, st, bytes.fromhex(blob.id.decode()))
    write_index(index_path, index)
    tree = index_tree_id(index.entries, store=_tree_writer(repo))
    remember_tree_id(index, tree, tree_memo_file(repo))
    return tree


def _current_index(index_path: Path, changes: WorkTreeChanges) -> IndexFile:
    """The index the status was computed from when its file is unchanged since, else the file read afresh."""
    if not index_path.exists():
        return IndexFile(version=2, entries={})
    if changes.index is not None and changes.index_signature == file_signature(index_path):
        return changes.index
    return read_index(index_path)


def _plain_file_stat(path: bytes) -> os.stat_result | None:
    """The lstat of a regular file or symlink; None when it is gone or something else (a directory)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else None


def _tree_writer(repo: Repo) -> Callable[[bytes, bytes], None]:
    """Store a tree object unless the repository already has it."""

    def store(kind: bytes, content: bytes) -> None:
        assert kind == b"tree"
        tree = ShaFile.from_raw_string(Tree.type_num, content)
        if tree.id not in repo.object_store:
            repo.object_store.add_object(tree)

    return store


def _stage_with_dulwich(repo: Repo, paths: list[bytes]) -> bytes:
    index = repo.open_index()
    for path in paths:
        _stage_path(repo, index, path)
    index.write()
    return bytes(index.commit(repo.object_store))


def _stage_path(repo: Repo, index: Index, path: bytes) -> None:
    """Put the work tree's version of `path` in dulwich's index (a missing file leaves the index)."""
    full_path = os.fsencode(repo.path) + b"/" + path
    st = _plain_file_stat(full_path)
    if st is None:
        if path in index:
            del index[path]
        return
    blob = blob_from_path_and_stat(full_path, st)
    repo.object_store.add_object(blob)
    index[path] = index_entry_from_stat(st, blob.id)


def push_branch(repo_dir: Path, remote: Remote, branch: str) -> str:
    """Push local `branch` to the same branch of `remote` WITHOUT force; returns the pushed commit.

    Refused (PushRejected) when the remote branch holds commits this copy does not have; every ref's status is
    checked, since dulwich reports a rejected ref in `ref_status` rather than raising.
    """
    ref = branch_ref(branch)
    with Repo(str(repo_dir)) as repo:
        local = repo.refs[ref]
        diverged: list[bool] = []

        def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            theirs = refs.get(ref)
            if theirs is not None and theirs != local and not _is_ancestor(repo, theirs, local):
                diverged.append(True)
                return {}
            return {ref: local}

        client, path = open_client(remote)
        with talking_to(remote, "push to"):
            try:
                result = client.send_pack(path.encode(), update_refs, generate_pack_data=_pack_data_of(repo))
            except SendPackError as error:
                raise remote_error(remote.url, "push to", str(error)) from None
        if diverged:
            raise PushRejected(
                f"push to {remote.display} rejected: branch {branch} there has commits this robot does not have;"
                f" {ANOTHER_COPY}"
            )
        _check_ref_status(result.ref_status or {}, remote, branch)
        repo.refs[_tracking_ref(branch)] = local
        _tidy(repo)
        return local.decode()


def _tidy(repo: Repo) -> None:
    """git's automatic gc (gc.auto thresholds): hourly backups would otherwise pile up loose objects for ever."""
    try:
        maybe_auto_gc(repo)
    except Exception as error:  # housekeeping must never fail a backup that was pushed
        log.warning("git gc of %s failed (%s); the backup itself succeeded", repo.path, type(error).__name__)


def _pack_data_of(repo: Repo) -> GeneratePackDataFunc:
    def generate(
        have: AbstractSet[ObjectID],
        want: AbstractSet[ObjectID],
        *,
        ofs_delta: bool = False,
        progress: Callable[[bytes], None] | None = None,
    ) -> tuple[int, Iterator[UnpackedObject]]:
        # A backup sends a few new loose objects: looking for reusable deltas would scan every pack for nothing.
        store = repo.object_store
        new_objects = objects_to_send(store, have, want) if isinstance(store, DiskObjectStore) else None
        if new_objects is not None:
            assert isinstance(store, DiskObjectStore)
            return len(new_objects), (_full_object(store, sha) for sha in new_objects)
        finder = MissingObjectFinder(store, haves=have, wants=want)
        object_ids = list(finder)
        objects = generate_unpacked_objects(store, object_ids, reuse_deltas=False, ofs_delta=ofs_delta)
        return len(object_ids), objects

    return generate


def objects_to_send(
    store: BaseObjectStore, have: AbstractSet[ObjectID], want: AbstractSet[ObjectID]
) -> list[ObjectID] | None:
    """The objects a remote holding `have` lacks for `want`, when the new commits sit on `have` (a backup's case).

    Each new commit's tree is compared with its parents' trees, descending only into subtrees whose id changed: an
    entry whose name, mode and id a parent tree has is on the remote already (the parent is there, or is sent with
    the same rule). Unlike dulwich's MissingObjectFinder this never parses the whole history the remote has. None
    when the new commits reach a root commit or exceed MAX_NEW_COMMITS (a first push, an unrelated history): the
    caller then uses MissingObjectFinder.
    """
    new_commits: dict[ObjectID, Commit] = {}
    pending = [sha for sha in want if sha not in have]
    while pending:
        sha = pending.pop()
        if sha in have or sha in new_commits:
            continue
        commit = store[sha]
        if len(new_commits) >= MAX_NEW_COMMITS or not isinstance(commit, Commit) or not commit.parents:
            return None
        new_commits[sha] = commit
        pending.extend(commit.parents)
    sent: set[ObjectID] = set(new_commits)
    for commit in new_commits.values():
        parent_trees = [_commit_of(store, new_commits, parent).tree for parent in commit.parents]
        _add_new_tree(store, commit.tree, parent_trees, sent)
    return sorted(sent)


def _commit_of(store: BaseObjectStore, known: Mapping[ObjectID, Commit], sha: ObjectID) -> Commit:
    commit = known.get(sha) or store[sha]
    if not isinstance(commit, Commit):
        raise RobotError(f"object {sha.decode()} is not a commit")
    return commit


def _add_new_tree(store: BaseObjectStore, tree: ObjectID, old_trees: list[ObjectID], sent: set[ObjectID]) -> None:
    """Add `tree` and whatever below it none of `old_trees` has at the same name (gitlinks are not objects here)."""
    if tree in old_trees or tree in sent:
        return
    sent.add(tree)
    old_entries: set[tuple[bytes, int, bytes]] = set()
    old_subtrees: dict[bytes, list[ObjectID]] = {}
    for old in old_trees:
        for name, mode, sha in _tree_entries(store, old):
            old_entries.add((name, mode, sha))
            if stat.S_ISDIR(mode):
                old_subtrees.setdefault(name, []).append(ObjectID(sha))
    for entry in _tree_entries(store, tree):
        if entry in old_entries:
            continue
        name, mode, sha = entry
        if stat.S_ISDIR(mode):
            _add_new_tree(store, ObjectID(sha), old_subtrees.get(name, []), sent)
        elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            sent.add(ObjectID(sha))


def _tree_entries(store: BaseObjectStore, sha: ObjectID) -> list[tuple[bytes, int, bytes]]:
    type_num, content = _raw_object(store, sha)
    if type_num != Tree.type_num:
        raise RobotError(f"object {sha.decode()} is not a tree")
    return list(parse_tree(content, 20))


def _full_object(store: BaseObjectStore, sha: ObjectID) -> UnpackedObject:
    type_num, content = _raw_object(store, sha)
    return UnpackedObject(type_num, delta_base=None, crc32=None, decomp_chunks=[content], sha=hex_to_sha(sha))


def _raw_object(store: BaseObjectStore, sha: ObjectID) -> tuple[int, bytes]:
    """(type number, content) of an object: a loose one read from its file and checked against its id (dulwich's
    get_raw would parse it into a Python object first); anything else, or any doubt, through dulwich."""
    if isinstance(store, DiskObjectStore) and len(sha) == 40:
        path = os.path.join(store.path, sha[:2].decode(), sha[2:].decode())
        try:
            with open(path, "rb") as handle:
                data = zlib.decompress(handle.read())
        except (OSError, zlib.error):
            data = b""
        header, _, content = data.partition(b"\0")
        kind, _, size = header.partition(b" ")
        if (
            kind in _TYPE_NUMBERS
            and size == b"%d" % len(content)
            and hashlib.sha1(data, usedforsecurity=False).hexdigest().encode() == sha
        ):
            return _TYPE_NUMBERS[kind], content
    type_num, content = store.get_raw(sha)
    return type_num, content


def _is_ancestor(repo: Repo, ancestor: ObjectID, descendant: ObjectID) -> bool:
    if ancestor not in repo.object_store:
        return False
    return can_fast_forward(repo, ancestor, descendant)


def _check_ref_status(ref_status: Mapping[bytes, str | None], remote: Remote, branch: str) -> None:
    for ref, error in ref_status.items():
        if error is not None:
            raise PushRejected(
                f"push to {remote.display} rejected for {ref.decode(errors='replace')} ({error}); {ANOTHER_COPY}"
            )


def init_branch(repo_dir: Path, branch: str, url: str) -> None:
    """A new repository in `repo_dir` whose HEAD is the (still empty, orphan) `branch`, with `url` as origin."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    with Repo.init(str(repo_dir)) as repo:
        _set_up_branch(repo, Remote(url), FetchedBranch(name=branch, commit=None))
