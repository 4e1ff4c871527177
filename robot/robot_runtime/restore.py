"""Restore: fetch the robot's state branch into a new directory and swap it in as state/ only once it is complete.

Rules: an existing state/.git is kept unless `force`; a state/ with changes not yet backed up is never replaced,
even with `force` (back it up or move it away first); a state/ that is not a readable git work tree is left as it is.
A repository without the state branch means a new robot: state/ becomes an empty work tree on that branch.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from robot_runtime.access import state_location, state_read_access
from robot_runtime.errors import RobotError
from robot_runtime.gitops import FetchedBranch, check_work_tree, fetch_branch_into_new_repo, is_clean, is_pushed
from robot_runtime.settings import Settings

log = logging.getLogger(__name__)

BRAIN_DIR = "brain"


def restore(settings: Settings, force: bool) -> str:
    """Replace state/ with the remote state branch; returns a one-line summary. Raises RobotError."""
    state_dir = settings.state_dir
    check_replaceable(state_dir, force=force)
    location = state_location(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".state-restore-", dir=settings.home))
    try:
        with state_read_access(settings, location) as remote:
            fetched = fetch_branch_into_new_repo(remote, location.branch, staging / "state")
        (staging / "state" / BRAIN_DIR).mkdir(exist_ok=True)
        swap_in(staging / "state", state_dir, staging / "previous")
        return _summary(remote.display, fetched, state_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_replaceable(state_dir: Path, *, force: bool) -> None:
    """Refuse to replace a state/ that holds anything that would be lost; never touches it."""
    if not state_dir.exists():
        return
    if not state_dir.is_dir():
        raise RobotError(f"{state_dir} is not a directory: left untouched; move it away to restore")
    if not (state_dir / ".git").exists():
        if _has_files(state_dir):
            raise RobotError(
                f"{state_dir} holds files but is not a git work tree: left untouched; move it away to restore"
            )
        return
    if not force:
        raise RobotError(f"{state_dir}/.git exists: state is already restored; use restore --force to replace it")
    check_work_tree(state_dir)
    if not (is_clean(state_dir) and is_pushed(state_dir)):
        raise RobotError(
            f"{state_dir} has changes that were not backed up: refusing to discard them even with --force;"
            " run backup first or move state/ away"
        )


def _has_files(directory: Path) -> bool:
    return any(path.is_file() or path.is_symlink() for path in directory.rglob("*"))


def swap_in(new_dir: Path, state_dir: Path, previous: Path) -> None:
    """Move state/ aside, the new tree in, and only then drop the old one; put the old one back on failure."""
    had_previous = state_dir.exists()
    if had_previous:
        os.rename(state_dir, previous)
    try:
        os.rename(new_dir, state_dir)
    except OSError:
        if had_previous:
            os.rename(previous, state_dir)
        raise RobotError(f"cannot move the restored state into {state_dir}: previous state/ kept") from None


def _summary(display: str, fetched: FetchedBranch, state_dir: Path) -> str:
    if fetched.commit is None:
        return f"no branch {fetched.name} in {display} yet: new robot, empty state on branch {fetched.name}"
    brain = state_dir / BRAIN_DIR
    memories = sum(1 for path in brain.iterdir() if path.is_file()) if brain.is_dir() else 0
    return f"restored branch {fetched.name} of {display} at {fetched.commit[:12]} ({memories} brain files)"
