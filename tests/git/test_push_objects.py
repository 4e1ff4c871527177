"""A push sends every object the remote lacks: checked by the git CLI on the remote (fsck, a fresh clone)."""

from __future__ import annotations

from pathlib import Path

from dulwich.objects import ObjectID
from dulwich.repo import Repo

from robot_runtime.gitops import Remote, commit_all, objects_to_send, push_branch
from tests.git.conftest import git


def make_pushed_work_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote and a work tree on branch robot-state whose first commit (made by the git CLI) is pushed."""
    bare = tmp_path / "remote.git"
    work = tmp_path / "work"
    git("init", "-q", "--bare", "-b", "robot-state", str(bare))
    git("init", "-q", "-b", "robot-state", str(work))
    for number in range(20):
        (work / "brain" / f"ns{number % 3}").mkdir(parents=True, exist_ok=True)
        (work / "brain" / f"ns{number % 3}" / f"key{number}").write_text(f"memory {number}\n")
    (work / "same").mkdir()
    (work / "same" / "a").write_text("memory 1\n")  # the same blob as brain/ns1/key1, elsewhere
    (work / "tool.sh").write_text("#!/bin/sh\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "start", cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    git("push", "-q", "origin", "robot-state", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    return bare, work


def remote_matches_work_tree(bare: Path, work: Path, tmp_path: Path) -> None:
    git("fsck", "--strict", "--no-dangling", cwd=bare)
    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "robot-state", str(bare), str(clone))
    assert git("rev-parse", "HEAD", cwd=clone) == git("rev-parse", "HEAD", cwd=work)
    assert git("ls-files", "-s", cwd=clone) == git("ls-files", "-s", cwd=work)


def test_several_new_commits_are_pushed_whole(tmp_path: Path) -> None:
    bare, work = make_pushed_work_tree(tmp_path)
    (work / "brain" / "ns0" / "key0").write_text("changed\n")
    (work / "brain" / "ns4" / "deep").mkdir(parents=True)
    (work / "brain" / "ns4" / "deep" / "new").write_text("new dir\n")
    commit_all(work, "Automated backup of robot state")
    (work / "brain" / "ns1" / "key4").unlink()
    (work / "tool.sh").chmod(0o755)  # same blob, new mode
    (work / "link").symlink_to("tool.sh")
    (work / "brain" / "ns2" / "key2").write_text("memory 1\n")  # a blob the remote has under another name
    commit_all(work, "Automated backup of robot state")
    push_branch(work, Remote(str(bare)), "robot-state")
    remote_matches_work_tree(bare, work, tmp_path)


def test_only_the_new_objects_are_chosen(tmp_path: Path) -> None:
    _, work = make_pushed_work_tree(tmp_path)
    (work / "brain" / "ns0" / "key3").write_text("changed\n")
    commit = ObjectID(commit_all(work, "Automated backup of robot state").encode())
    pushed = ObjectID(git("rev-parse", "origin/robot-state", cwd=work).strip().encode())
    with Repo(str(work)) as repo:
        chosen = objects_to_send(repo.object_store, {pushed}, {commit})
    expected = {
        git("rev-parse", f"HEAD{suffix}", cwd=work).strip().encode()
        for suffix in ("", "^{tree}", ":brain", ":brain/ns0", ":brain/ns0/key3")
    }
    assert chosen is not None
    assert set(chosen) == expected


def test_a_new_history_is_left_to_the_general_path(tmp_path: Path) -> None:
    _, work = make_pushed_work_tree(tmp_path)
    head = ObjectID(git("rev-parse", "HEAD", cwd=work).strip().encode())
    with Repo(str(work)) as repo:
        assert objects_to_send(repo.object_store, set(), {head}) is None
