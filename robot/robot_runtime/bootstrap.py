"""Bootstrap: clone the robot's configuration into custom/ (unless it is there) and restore its state."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from robot_runtime import crypto, keys
from robot_runtime.access import deploy_access, state_location
from robot_runtime.errors import RobotError
from robot_runtime.gitops import fetch_branch_into_new_repo
from robot_runtime.restore import restore
from robot_runtime.settings import DEFAULT_BRANCH, Settings
from robot_runtime.ssh import is_ssh_url

log = logging.getLogger(__name__)


def bootstrap(settings: Settings) -> None:
    """Clone GOPHER_CUSTOM_REPOSITORY into custom/ unless custom/conf exists; restore unless state/ is a clone.

    When both are needed over ssh and state is read with the deploy key (it lives in the configuration
    repository), the two fetches run side by side; each still swaps its directory in only when complete, so a
    failure of either leaves nothing half-written, and the first error is raised once both have finished.
    """
    need_clone = not (settings.custom_dir / "conf").is_dir()
    need_restore = not (settings.state_dir / ".git").exists()
    if not need_clone:
        log.info("custom/conf exists: using the configuration already in %s", settings.custom_dir)
    if not need_restore:
        log.info("state/.git exists: the robot's state is already restored")
    if need_clone and need_restore and _fetches_can_overlap(settings):
        _clone_and_restore_together(settings)
        return
    if need_clone:
        clone_configuration(settings)
    if need_restore:
        log.info("%s", restore(settings, force=False))


def _fetches_can_overlap(settings: Settings) -> bool:
    """Side by side pays when both fetches wait on a network (ssh) and use the same (deploy) key; a local fetch is
    CPU-bound Python, where two threads only contend for the interpreter."""
    location = state_location(settings)
    return not location.separate and is_ssh_url(location.url)


def _clone_and_restore_together(settings: Settings) -> None:
    settings.require_repository()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bootstrap") as pool:  # exits when both are done
        clone = pool.submit(clone_configuration, settings)
        state = pool.submit(restore, settings, False)
    clone.result()
    log.info("%s", state.result())
    check_manage_key(settings)


def check_manage_key(settings: Settings) -> None:
    """Unlock the manage key once now, so that a wrong GOPHER_ENCRYPTION_KEY fails at start, not at the first backup."""
    if is_ssh_url(settings.require_repository()):
        runtime_key = crypto.runtime_key(settings.custom_dir, settings.require_encryption_key(), settings.environment)
        keys.manage_key(settings.custom_dir, runtime_key)


def clone_configuration(settings: Settings) -> None:
    """Clone into a temp dir beside custom/ and rename it into place only once it is complete."""
    url = settings.require_repository()
    branch = None if settings.branch == DEFAULT_BRANCH else settings.branch
    _refuse_foreign_custom_dir(settings.custom_dir)
    settings.home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".custom-clone-", dir=settings.home))
    try:
        with deploy_access(settings, url) as remote:
            clone = staging / "custom"
            fetched = fetch_branch_into_new_repo(remote, branch, clone)
        which = f"branch {fetched.name}" if branch is not None else f"the default branch ({fetched.name})"
        if fetched.commit is None:
            raise RobotError(f"GOPHER_CUSTOM_REPOSITORY {remote.display} has no {which}: check GOPHER_CUSTOM_BRANCH")
        if not (clone / "conf").is_dir():
            raise RobotError(
                f"GOPHER_CUSTOM_REPOSITORY {remote.display} ({which}) has no conf/ directory: not a robot configuration"
            )
        if settings.custom_dir.is_dir():
            settings.custom_dir.rmdir()
        os.rename(clone, settings.custom_dir)
        log.info("cloned %s (%s, commit %s) into custom/", remote.display, which, fetched.commit[:12])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_foreign_custom_dir(custom_dir: Path) -> None:
    """An empty custom/ may be replaced; one with files but no conf/ is somebody's data, never overwritten."""
    if custom_dir.is_dir() and any(custom_dir.iterdir()):
        raise RobotError(f"{custom_dir} exists and is not empty but has no conf/: move it away to clone the robot")
    if custom_dir.exists() and not custom_dir.is_dir():
        raise RobotError(f"{custom_dir} exists and is not a directory: move it away to clone the robot")
