"""Backup: commit the robot's state/ work tree and push it, without force, with the manage key.

It never raises for an expected failure and never discards local state: every outcome is a BackupResult whose
message is one line without secrets.
"""

from __future__ import annotations

import logging
from pathlib import Path

from robot_runtime.access import StateLocation, manage_access, state_location
from robot_runtime.errors import RobotError
from robot_runtime.gitops import (
    DEFAULT_NEW_BRANCH,
    check_work_tree,
    commit_all,
    current_branch,
    head_commit,
    init_branch,
    is_pushed,
    push_branch,
)
from robot_runtime.results import BackupResult
from robot_runtime.settings import Settings, redact_url
from robot_runtime.worktree_status import work_tree_changes

log = logging.getLogger(__name__)

COMMIT_MESSAGE = "Automated backup of robot state"
BRAIN_README = (
    "This directory holds the robot's file brain: one file per memory, named <namespace>:<key>,\n"
    "encrypted with the robot's runtime key. It is backed up to the robot's state branch.\n"
)
IGNORED_PATTERNS = ("bot:histories*", "*:repostats*", "*:_*")


def backup(settings: Settings) -> BackupResult:
    """Back up state/ when the brain is the file brain; Pushed, NoChanges or Failed (never raises RobotError)."""
    if settings.brain != "file":
        return BackupResult("NoChanges", None, f"GOPHER_BRAIN is {settings.brain}: only the file brain is backed up")
    state_dir = settings.state_dir
    try:
        return _backup(settings, state_dir)
    except RobotError as error:
        return BackupResult("Failed", _safe_head(state_dir), str(error))
    except Exception as error:  # a library failure must still give a result, not a traceback
        log.debug("backup failed", exc_info=True)
        return BackupResult("Failed", _safe_head(state_dir), f"backup of {state_dir} failed: {type(error).__name__}")


def _backup(settings: Settings, state_dir: Path) -> BackupResult:
    location = state_location(settings)
    if not (state_dir / ".git").exists():
        init_branch(state_dir, location.branch or DEFAULT_NEW_BRANCH, location.url)
    check_work_tree(state_dir)
    ensure_state_files(state_dir)
    branch = current_branch(state_dir)
    changes = work_tree_changes(state_dir)
    if changes.clean and is_pushed(state_dir):
        return BackupResult("NoChanges", head_commit(state_dir), f"state/ is unchanged on branch {branch}")
    if not changes.clean:
        commit_all(state_dir, COMMIT_MESSAGE, changes)
    commit = _push(settings, location, state_dir, branch)
    return BackupResult("Pushed", commit, f"pushed branch {branch} to {_display(location)}")


def _push(settings: Settings, location: StateLocation, state_dir: Path, branch: str) -> str:
    with manage_access(settings, location.url) as remote:
        return push_branch(state_dir, remote, branch)


def _display(location: StateLocation) -> str:
    return redact_url(location.url)


def ensure_state_files(state_dir: Path) -> None:
    """state/brain/README.txt exists and state/.gitignore holds Gopherbot's ignore lines (others are kept)."""
    brain = state_dir / "brain"
    brain.mkdir(parents=True, exist_ok=True)
    readme = brain / "README.txt"
    if not readme.exists():
        readme.write_text(BRAIN_README)
    gitignore = state_dir / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    missing = [pattern for pattern in IGNORED_PATTERNS if pattern not in lines]
    if missing:
        gitignore.write_text("\n".join([*lines, *missing]) + "\n")


def _safe_head(state_dir: Path) -> str | None:
    try:
        return head_commit(state_dir)
    except Exception:
        return None
