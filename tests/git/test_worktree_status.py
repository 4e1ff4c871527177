"""The fast work-tree status agrees with `git status --porcelain` (the git CLI is the reference)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from dulwich.index import Index, blob_from_path_and_stat, index_entry_from_stat
from dulwich.repo import Repo

from robot_runtime.gitops import commit_all
from robot_runtime.indexfile import index_tree_id, read_index
from robot_runtime.worktree_status import TREE_MEMO, work_tree_changes
from tests.git.conftest import git


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A committed work tree made by the git CLI: files at two depths, an ignore file, an executable."""
    root = tmp_path / "state"
    git("init", "-q", "-b", "robot-state", str(root))
    (root / "brain").mkdir()
    for number in range(30):
        (root / "brain" / f"ns:key{number}").write_text(f"memory {number}\n")
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "file").write_text("deep\n")
    (root / "tool.sh").write_text("#!/bin/sh\n")
    (root / "tool.sh").chmod(0o755)
    (root / ".gitignore").write_text("bot:histories*\n*:_*\nscratch/\n")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "start", cwd=root)
    return root


def porcelain_paths(root: Path) -> set[bytes]:
    """Paths named by `git status --porcelain -uall` (the path after any rename arrow)."""
    out = git("status", "--porcelain", "-uall", "--no-renames", cwd=root)
    return {line[3:].encode() for line in out.splitlines()}


def same_length_edit(path: Path) -> None:
    """Change content without changing size, and put the old mtime back: only ctime/hash can tell."""
    before = path.stat()
    text = path.read_text()
    path.write_text(text[:-2] + ("X" if text[-2] != "X" else "Y") + "\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def ignored_only(root: Path) -> None:
    write(root, "brain/bot:histories-1", "h\n")
    write(root, "brain/a:_b", "p\n")
    write(root, "scratch/x", "x\n")


def file_became_dir(root: Path) -> None:
    (root / "deep" / "er" / "file").unlink()
    write(root, "deep/er/file/inner", "i\n")


def staged_only(root: Path) -> None:
    write(root, "brain/ns:key6", "staged\n")
    git("add", "brain/ns:key6", cwd=root)


SCENARIOS: dict[str, Callable[[Path], None]] = {
    "clean": lambda root: None,
    "modified": lambda root: write(root, "brain/ns:key3", "changed memory\n"),
    "same length, old mtime": lambda root: same_length_edit(root / "brain" / "ns:key4"),
    "deleted": lambda root: (root / "brain" / "ns:key5").unlink(),
    "untracked": lambda root: write(root, "brain/ns:new", "new\n"),
    "untracked in new dir": lambda root: write(root, "newdir/sub/f", "x\n"),
    "ignored only": ignored_only,
    "empty new dir": lambda root: (root / "empty").mkdir(),
    "executable bit": lambda root: (root / "tool.sh").chmod(0o644),
    "symlink": lambda root: (root / "link").symlink_to("tool.sh"),
    "file became dir": file_became_dir,
    "staged only": staged_only,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_status_agrees_with_git(work: Path, name: str) -> None:
    SCENARIOS[name](work)
    expected = porcelain_paths(work)
    changes = work_tree_changes(work)
    assert changes.clean is (not expected)
    if name != "staged only":
        assert set(changes.paths) == expected
    else:
        assert changes.staged
        assert changes.paths == []


def test_index_tree_id_matches_git_write_tree(work: Path) -> None:
    (work / "brain" / "ns:key9").write_text("other\n")
    git("add", "-A", cwd=work)
    expected = git("write-tree", cwd=work).strip().encode()
    assert index_tree_id(read_index(work / ".git" / "index").entries) == expected


@pytest.mark.parametrize("name", ["modified", "deleted", "untracked in new dir", "symlink", "executable bit"])
def test_commit_all_leaves_git_with_nothing_to_report(work: Path, name: str) -> None:
    SCENARIOS[name](work)
    commit = commit_all(work, "Automated backup of robot state")
    assert git("status", "--porcelain", "-uall", cwd=work) == ""
    assert git("rev-parse", "HEAD", cwd=work).strip() == commit
    git("fsck", "--strict", cwd=work)
    assert work_tree_changes(work).clean


def test_rewritten_index_is_what_git_would_write(work: Path) -> None:
    (work / "brain" / "ns:key1").write_text("rewritten\n")
    (work / "brain" / "ns:key2").unlink()
    commit_all(work, "Automated backup of robot state")
    assert git("diff-index", "--cached", "HEAD", cwd=work) == ""
    ours = git("ls-files", "--stage", "--debug", cwd=work)
    git("update-index", "--really-refresh", cwd=work)
    assert git("ls-files", "--stage", "--debug", cwd=work) == ours


@pytest.mark.parametrize("version", ["3", "4"])
def test_other_index_versions_still_work(work: Path, version: str) -> None:
    git("update-index", "--index-version", version, cwd=work)
    SCENARIOS["modified"](work)
    SCENARIOS["untracked"](work)
    assert set(work_tree_changes(work).paths) == porcelain_paths(work)
    commit_all(work, "Automated backup of robot state")
    assert git("status", "--porcelain", "-uall", cwd=work) == ""


def test_remembered_tree_follows_the_index(work: Path) -> None:
    SCENARIOS["modified"](work)
    commit_all(work, "Automated backup of robot state")
    memo = work / ".git" / TREE_MEMO
    assert memo.read_text().split()[1] == git("rev-parse", "HEAD^{tree}", cwd=work).strip()
    assert work_tree_changes(work).clean
    staged_only(work)  # the git CLI changes the index: the remembered tree no longer applies
    assert work_tree_changes(work).staged
    memo.write_text("garbage")
    assert work_tree_changes(work).staged


def test_commit_rereads_an_index_rewritten_after_the_status(work: Path) -> None:
    SCENARIOS["modified"](work)
    changes = work_tree_changes(work)
    staged_only(work)  # the git CLI rewrites the index between the status and the commit
    commit_all(work, "Automated backup of robot state", changes)
    assert git("status", "--porcelain", "-uall", cwd=work) == ""
    committed = git("show", "--name-only", "--format=", "HEAD", cwd=work).split()
    assert sorted(committed) == ["brain/ns:key3", "brain/ns:key6"]


def test_reused_index_parse_follows_every_rewrite(work: Path) -> None:
    assert work_tree_changes(work).clean  # parsed and kept in memory
    git("rm", "-q", "--cached", "brain/ns:key7", cwd=work)  # the git CLI rewrites the index
    changes = work_tree_changes(work)
    assert changes.staged
    assert set(changes.paths) == {b"brain/ns:key7"} == porcelain_paths(work)
    commit_all(work, "Automated backup of robot state", changes)
    assert git("status", "--porcelain", "-uall", cwd=work) == ""
    assert work_tree_changes(work).clean
    git("update-index", "--index-version", "3", cwd=work)
    SCENARIOS["deleted"](work)
    assert set(work_tree_changes(work).paths) == porcelain_paths(work) == {b"brain/ns:key5"}


def test_index_without_checksum_is_never_taken_for_another(work: Path) -> None:
    """index.skipHash writes a zero trailer: it must not match a remembered parse or tree of other content."""

    def stage_without_checksum(name: str, text: str) -> None:
        write(work, name, text)
        with Repo(str(work)) as repo:
            index = Index(repo.index_path(), skip_hash=True)
            full = os.fsencode(work / name)
            blob = blob_from_path_and_stat(full, os.lstat(full))
            repo.object_store.add_object(blob)
            index[name.encode()] = index_entry_from_stat(os.lstat(full), blob.id)
            index.write()
        assert (work / ".git" / "index").read_bytes()[-20:] == bytes(20)

    stage_without_checksum("brain/ns:key1", "first\n")
    assert work_tree_changes(work).staged
    stage_without_checksum("brain/ns:key1", "memory 1\n")  # back to HEAD's content: nothing staged
    assert not work_tree_changes(work).staged
    stage_without_checksum("brain/ns:key2", "second\n")
    changes = work_tree_changes(work)
    assert changes.staged
    assert set(changes.paths) == set()
