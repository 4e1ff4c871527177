"""Bootstrap, restore and backup against real bare repositories (file:// remotes), checked with the git CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from robot_runtime.backup import COMMIT_MESSAGE, IGNORED_PATTERNS, backup
from robot_runtime.bootstrap import bootstrap
from robot_runtime.errors import RobotError
from robot_runtime.gitops import Remote, fetch_branch_into_new_repo
from robot_runtime.restore import restore
from tests.git.conftest import ENCRYPTION_KEY, RobotRepo, git
from tests.robotkit import read_memory, write_memory


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` except .git, by relative path."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(directory).parts
    }


def test_bootstrap_clones_configuration_and_starts_a_new_robot(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    assert (settings.custom_dir / "conf" / "robot.yaml").read_text() == (
        robot_repo.config.path / "conf" / "robot.yaml"
    ).read_text()
    assert (settings.custom_dir / "conf" / "plugins" / "hello.yaml").exists()
    assert git("-C", str(settings.custom_dir), "rev-parse", "HEAD").strip() == robot_repo.remote_commit("main")
    assert git("-C", str(settings.custom_dir), "status", "--porcelain") == ""
    assert git("-C", str(settings.state_dir), "symbolic-ref", "HEAD").strip() == "refs/heads/robot-state"
    assert settings.brain_dir.is_dir()
    assert [p.name for p in settings.home.iterdir() if p.name.startswith(".")] == []  # no staging dir left


def test_bootstrap_clones_a_named_branch(robot_repo: RobotRepo, tmp_path: Path) -> None:
    seed = robot_repo.config.path
    git("checkout", "-q", "-b", "staging", cwd=seed)
    (seed / "conf" / "staging.txt").write_text("staging only\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "staging", cwd=seed)
    git("push", "-q", str(robot_repo.bare), "staging", cwd=seed)
    settings = robot_repo.settings(tmp_path / "home", branch="staging")
    bootstrap(settings)
    assert (settings.custom_dir / "conf" / "staging.txt").read_text() == "staging only\n"


def test_bootstrap_from_a_plain_local_path(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home", repository=str(robot_repo.bare), deploy_key=None)
    bootstrap(settings)
    assert git("-C", str(settings.custom_dir), "rev-parse", "HEAD").strip() == robot_repo.remote_commit("main")
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "a:b", "{}")
    assert backup(settings).result == "Pushed"
    assert robot_repo.remote_commit("robot-state") is not None


def test_bootstrap_keeps_an_existing_configuration(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    (settings.custom_dir / "conf" / "local-edit.yaml").write_text("kept\n")
    bootstrap(dataclasses.replace(settings, repository=str(tmp_path / "no-such-repo")))
    assert (settings.custom_dir / "conf" / "local-edit.yaml").read_text() == "kept\n"


def test_bootstrap_missing_branch_is_a_clear_error(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home", branch="no-such-branch")
    with pytest.raises(RobotError, match=r"has no branch no-such-branch: check GOPHER_CUSTOM_BRANCH"):
        bootstrap(settings)
    assert not settings.custom_dir.exists()


def test_bootstrap_of_a_missing_repository_names_it(tmp_path: Path, robot_repo: RobotRepo) -> None:
    missing = tmp_path / "missing.git"
    settings = robot_repo.settings(tmp_path / "home", repository=f"file://{missing}")
    with pytest.raises(RobotError) as caught:
        bootstrap(settings)
    assert str(missing) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not settings.custom_dir.exists()


def test_first_backup_creates_the_orphan_state_branch(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "hello:greeting", '{"said": "hi"}')
    result = backup(settings)
    assert result.result == "Pushed", result.message
    assert result.commit == robot_repo.remote_commit("robot-state")
    bare = str(robot_repo.bare)
    assert git("-C", bare, "log", "-1", "--format=%s", "robot-state").strip() == COMMIT_MESSAGE
    assert git("-C", bare, "rev-list", "--parents", "-n1", "robot-state").split() == [result.commit]  # orphan
    files = git("-C", bare, "ls-tree", "-r", "--name-only", "robot-state").split()
    assert sorted(files) == [".gitignore", "brain/README.txt", "brain/hello:greeting"]
    gitignore = git("-C", bare, "show", "robot-state:.gitignore").splitlines()
    assert all(pattern in gitignore for pattern in IGNORED_PATTERNS)
    assert robot_repo.remote_commit("main") is not None


def test_clean_state_gives_no_changes_with_the_current_commit(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    first = backup(settings)
    assert first.result == "Pushed"
    again = backup(settings)
    assert again.result == "NoChanges"
    assert again.commit == first.commit == robot_repo.remote_commit("robot-state")


def test_dirty_state_is_pushed_and_ignored_files_stay_local(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    assert backup(settings).result == "Pushed"
    key = robot_repo.config.runtime_key
    write_memory(settings.brain_dir, key, "bot:histories-general", "{}")
    write_memory(settings.brain_dir, key, "ns:_private", "{}")
    assert backup(settings).result == "NoChanges"
    write_memory(settings.brain_dir, key, "links:urls", '{"a": 1}')
    result = backup(settings)
    assert result.result == "Pushed"
    assert result.commit == robot_repo.remote_commit("robot-state")
    files = git("-C", str(robot_repo.bare), "ls-tree", "-r", "--name-only", "robot-state").split()
    assert "brain/links:urls" in files
    assert "brain/bot:histories-general" not in files
    assert "brain/ns:_private" not in files
    assert git("-C", str(settings.state_dir), "status", "--porcelain") == ""


def test_deleted_memory_is_deleted_in_the_backup(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    memory = write_memory(settings.brain_dir, robot_repo.config.runtime_key, "a:b", "{}")
    assert backup(settings).result == "Pushed"
    memory.unlink()
    assert backup(settings).result == "Pushed"
    files = git("-C", str(robot_repo.bare), "ls-tree", "-r", "--name-only", "robot-state").split()
    assert "brain/a:b" not in files


def test_restore_after_backup_gives_identical_brain_files(robot_repo: RobotRepo, tmp_path: Path) -> None:
    first = robot_repo.settings(tmp_path / "first")
    bootstrap(first)
    key = robot_repo.config.runtime_key
    for number in range(20):
        write_memory(first.brain_dir, key, f"memories:item{number}", f'{{"n": {number}}}')
    assert backup(first).result == "Pushed"
    second = robot_repo.settings(tmp_path / "second")
    bootstrap(second)
    assert tree_bytes(second.state_dir) == tree_bytes(first.state_dir)
    assert read_memory(second.brain_dir / "memories:item7", key) == '{"n": 7}'
    assert git("-C", str(second.state_dir), "rev-parse", "HEAD").strip() == robot_repo.remote_commit("robot-state")


def test_rejected_push_is_failed_and_keeps_local_state(robot_repo: RobotRepo, tmp_path: Path) -> None:
    one = robot_repo.settings(tmp_path / "one")
    two = robot_repo.settings(tmp_path / "two")
    bootstrap(one)
    assert backup(one).result == "Pushed"
    bootstrap(two)
    key = robot_repo.config.runtime_key
    write_memory(one.brain_dir, key, "who:one", '"one"')
    pushed_by_one = backup(one)
    assert pushed_by_one.result == "Pushed"
    memory = write_memory(two.brain_dir, key, "who:two", '"two"')
    result = backup(two)
    assert result.result == "Failed"
    assert "another copy of this robot may have pushed" in result.message
    assert "\n" not in result.message
    assert robot_repo.remote_commit("robot-state") == pushed_by_one.commit
    assert read_memory(memory, key) == '"two"'
    again = backup(two)  # the local commit is still there and still refused, never dropped
    assert again.result == "Failed"
    assert git("-C", str(two.state_dir), "log", "-1", "--format=%s").strip() == COMMIT_MESSAGE
    assert "brain/who:two" in git("-C", str(two.state_dir), "ls-tree", "-r", "--name-only", "HEAD").split()


def test_first_backup_without_restore_does_not_overwrite_remote_state(robot_repo: RobotRepo, tmp_path: Path) -> None:
    one = robot_repo.settings(tmp_path / "one")
    bootstrap(one)
    assert backup(one).result == "Pushed"
    stale = robot_repo.settings(tmp_path / "stale")
    write_memory(stale.brain_dir, robot_repo.config.runtime_key, "x:y", "{}")
    result = backup(stale)
    assert result.result == "Failed"
    assert robot_repo.remote_commit("robot-state") == backup(one).commit


def test_restore_refuses_an_existing_state_without_force(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    with pytest.raises(RobotError, match=r"state/\.git exists.*--force"):
        restore(settings, force=False)


def test_restore_with_force_replaces_a_backed_up_state(robot_repo: RobotRepo, tmp_path: Path) -> None:
    one = robot_repo.settings(tmp_path / "one")
    two = robot_repo.settings(tmp_path / "two")
    bootstrap(one)
    bootstrap(two)
    write_memory(one.brain_dir, robot_repo.config.runtime_key, "k:v", '"from one"')
    assert backup(one).result == "Pushed"
    summary = restore(two, force=True)
    assert "restored branch robot-state" in summary
    assert tree_bytes(two.state_dir) == tree_bytes(one.state_dir)


def test_restore_with_force_refuses_changes_not_backed_up(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    assert backup(settings).result == "Pushed"
    memory = write_memory(settings.brain_dir, robot_repo.config.runtime_key, "un:saved", '"precious"')
    before = tree_bytes(settings.state_dir)
    with pytest.raises(RobotError, match="not backed up: refusing to discard them even with --force"):
        restore(settings, force=True)
    assert tree_bytes(settings.state_dir) == before
    assert memory.exists()


def test_restore_refuses_corrupt_state_and_leaves_it_untouched(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "a:b", "{}")
    shutil.rmtree(settings.state_dir / ".git")
    (settings.state_dir / ".git").write_text("gitdir: /nowhere\n")
    before = tree_bytes(settings.state_dir)
    with pytest.raises(RobotError, match="not a readable git work tree"):
        restore(settings, force=True)
    assert tree_bytes(settings.state_dir) == before
    assert (settings.state_dir / ".git").read_text() == "gitdir: /nowhere\n"
    result = backup(settings)
    assert result.result == "Failed"
    assert "not a readable git work tree" in result.message
    assert tree_bytes(settings.state_dir) == before


def test_restore_refuses_a_non_git_state_with_files(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "old:brain", "{}")
    before = tree_bytes(settings.state_dir)
    with pytest.raises(RobotError, match="not a git work tree: left untouched"):
        restore(settings, force=True)
    assert tree_bytes(settings.state_dir) == before


def test_failed_restore_leaves_the_previous_state(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "a:b", "{}")
    assert backup(settings).result == "Pushed"
    before = tree_bytes(settings.state_dir)
    broken = dataclasses.replace(settings, repository=f"file://{tmp_path / 'gone.git'}")
    with pytest.raises(RobotError):
        restore(broken, force=True)
    assert tree_bytes(settings.state_dir) == before
    assert [p.name for p in settings.home.iterdir() if p.name.startswith(".")] == []


def test_separate_state_repository_uses_its_default_branch(robot_repo: RobotRepo, tmp_path: Path) -> None:
    state_bare = tmp_path / "state.git"
    git("init", "-q", "--bare", str(state_bare))
    settings = robot_repo.settings(tmp_path / "home", state_repository=f"file://{state_bare}")
    bootstrap(settings)
    write_memory(settings.brain_dir, robot_repo.config.runtime_key, "a:b", "{}")
    result = backup(settings)
    assert result.result == "Pushed", result.message
    assert git("-C", str(state_bare), "rev-parse", "main").strip() == result.commit
    assert robot_repo.remote_commit("robot-state") is None
    other = robot_repo.settings(tmp_path / "other", state_repository=f"file://{state_bare}")
    bootstrap(other)
    assert tree_bytes(other.state_dir) == tree_bytes(settings.state_dir)


def test_backup_of_a_non_file_brain_does_nothing(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home", brain="dynamo")
    result = backup(settings)
    assert result.result == "NoChanges"
    assert "GOPHER_BRAIN" in result.message
    assert not settings.state_dir.exists()


def test_backup_messages_hold_no_secret(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home", repository=f"file://{tmp_path / 'gone.git'}")
    result = backup(settings)
    assert result.result == "Failed"
    assert ENCRYPTION_KEY not in result.to_json()
    assert settings.deploy_key is not None
    assert settings.deploy_key[40:80] not in result.to_json()


@pytest.mark.parametrize("attributes", [False, True], ids=["streamed", "gitattributes-fallback"])
def test_clone_writes_files_like_git(robot_repo: RobotRepo, tmp_path: Path, attributes: bool) -> None:
    seed = robot_repo.config.path
    (seed / "bin").mkdir()
    (seed / "bin" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (seed / "bin" / "tool.sh").chmod(0o755)
    (seed / "conf" / "link.yaml").symlink_to("robot.yaml")
    if attributes:
        (seed / ".gitattributes").write_text("*.sh text\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "more", cwd=seed)
    git("push", "-q", str(robot_repo.bare), "HEAD:refs/heads/main", cwd=seed)
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    custom = settings.custom_dir
    assert (custom / "bin" / "tool.sh").stat().st_mode & 0o100
    assert (custom / "conf" / "link.yaml").is_symlink()
    assert (custom / "conf" / "link.yaml").read_text() == (custom / "conf" / "robot.yaml").read_text()
    assert git("-C", str(custom), "status", "--porcelain", "-uall") == ""
    assert tree_bytes(custom) == tree_bytes(seed)


def test_a_crafted_tree_cannot_write_through_a_symlink(tmp_path: Path) -> None:
    """A tree holding `a` both as a symlink to outside and as a directory must not write outside the work tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    bare = tmp_path / "crafted.git"
    git("init", "-q", "--bare", str(bare))

    def plumbing(*args: str, stdin: str) -> str:
        done = subprocess.run(["git", *args], cwd=bare, input=stdin, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    link = plumbing("hash-object", "-w", "--stdin", stdin=str(outside))
    blob = plumbing("hash-object", "-w", "--stdin", stdin="pwned\n")
    subtree = plumbing("mktree", stdin=f"100644 blob {blob}\tevil\n")
    tree = plumbing("mktree", stdin=f"120000 blob {link}\ta\n040000 tree {subtree}\ta\n")
    commit = plumbing("commit-tree", tree, "-m", "crafted", stdin="")
    git("-C", str(bare), "update-ref", "refs/heads/main", commit)
    with contextlib.suppress(RobotError, ValueError, OSError):  # refusing is fine; writing outside is not
        fetch_branch_into_new_repo(Remote(f"file://{bare}"), "main", tmp_path / "clone")
    assert not (outside / "evil").exists()


def test_failed_local_clone_restores_nothing_and_a_retry_finishes(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home", branch="missing")
    with pytest.raises(RobotError, match="GOPHER_CUSTOM_BRANCH"):
        bootstrap(settings)
    assert not settings.custom_dir.exists()
    assert not settings.state_dir.exists()
    bootstrap(dataclasses.replace(settings, branch="main"))
    assert (settings.custom_dir / "conf" / "robot.yaml").exists()
    assert (settings.state_dir / ".git").is_dir()


def test_local_repository_with_alternates_is_fetched_normally(robot_repo: RobotRepo, tmp_path: Path) -> None:
    shared = tmp_path / "shared.git"
    git("clone", "-q", "--bare", "--shared", str(robot_repo.bare), str(shared))
    assert (shared / "objects" / "info" / "alternates").exists()
    settings = robot_repo.settings(tmp_path / "home", repository=f"file://{shared}")
    bootstrap(settings)
    assert git("-C", str(settings.custom_dir), "rev-parse", "HEAD").strip() == robot_repo.remote_commit("main")
    assert git("-C", str(settings.custom_dir), "fsck", "--strict") == ""
    assert not (settings.custom_dir / ".git" / "objects" / "info" / "alternates").exists()


def test_backups_pack_loose_objects_past_gc_auto(robot_repo: RobotRepo, tmp_path: Path) -> None:
    settings = robot_repo.settings(tmp_path / "home")
    bootstrap(settings)
    git("-C", str(settings.state_dir), "config", "gc.auto", "5")
    for number in range(4):
        write_memory(settings.brain_dir, robot_repo.config.runtime_key, f"n:{number}", "{}")
        assert backup(settings).result == "Pushed"
    counts = dict(line.split(": ") for line in git("-C", str(settings.state_dir), "count-objects", "-v").splitlines())
    assert int(counts["count"]) <= 5
    assert int(counts["in-pack"]) > 0
    assert git("-C", str(settings.state_dir), "status", "--porcelain") == ""
    git("-C", str(settings.state_dir), "fsck", "--strict")
