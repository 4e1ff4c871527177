"""Which key reaches which repository: the read-only deploy key for the configuration, the manage key for state.

Restore reads the state branch with the deploy key when state lives in the configuration repository (the deploy key
is a key of that repository), and with the manage key when GOPHER_STATE_REPOSITORY names another repository (a
deploy key is usually valid for one repository only). Backup always pushes with the manage key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from robot_runtime import crypto, keys
from robot_runtime.errors import RobotError
from robot_runtime.gitops import Remote
from robot_runtime.settings import DEFAULT_STATE_BRANCH, Settings
from robot_runtime.ssh import is_ssh_url, ssh_identity


@dataclass(frozen=True)
class StateLocation:
    """Where the robot's state lives: a URL, a branch (None: that repository's default branch), and whether it is a
    repository of its own (GOPHER_STATE_REPOSITORY) rather than the configuration repository."""

    url: str
    branch: str | None
    separate: bool = False


def state_location(settings: Settings) -> StateLocation:
    """GOPHER_STATE_BRANCH of the configuration repository, or of GOPHER_STATE_REPOSITORY.

    As Gopherbot's own restore does, a separate state repository uses its default branch unless GOPHER_STATE_BRANCH
    names another one than `robot-state`.
    """
    if settings.state_repository:
        branch = None if settings.state_branch in (DEFAULT_STATE_BRANCH, ".") else settings.state_branch
        return StateLocation(url=settings.state_repository, branch=branch, separate=True)
    return StateLocation(url=settings.require_repository(), branch=settings.state_branch)


def known_hosts(settings: Settings) -> str | None:
    """Host keys from ROBOT_KNOWN_HOSTS (a file), else GOPHER_HOST_KEYS; None when neither is set."""
    if settings.known_hosts_file is not None:
        try:
            return settings.known_hosts_file.read_text()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not text"
            raise RobotError(f"ROBOT_KNOWN_HOSTS file {settings.known_hosts_file} cannot be read ({reason})") from None
    if settings.host_keys:
        return keys.decode_host_keys(settings.host_keys)
    return None


@contextmanager
def deploy_access(settings: Settings, url: str) -> Iterator[Remote]:
    """Read access with the deploy key (not needed, and not required, for file:// and local paths)."""
    if not is_ssh_url(url):
        yield Remote(url)
        return
    private_key = keys.decode_deploy_key(settings.require_deploy_key())
    with ssh_identity(private_key, known_hosts(settings), insecure=settings.insecure_ssh) as identity:
        yield Remote(url, identity)


@contextmanager
def manage_access(settings: Settings, url: str) -> Iterator[Remote]:
    """Write access with the manage key, unlocked through GOPHER_ENCRYPTION_KEY -> runtime key -> BOT_SSH_PHRASE."""
    if not is_ssh_url(url):
        yield Remote(url)
        return
    runtime_key = crypto.runtime_key(settings.custom_dir, settings.require_encryption_key(), settings.environment)
    private_key = keys.manage_key(settings.custom_dir, runtime_key)
    with ssh_identity(private_key, known_hosts(settings), insecure=settings.insecure_ssh) as identity:
        yield Remote(url, identity)


@contextmanager
def state_read_access(settings: Settings, location: StateLocation) -> Iterator[Remote]:
    """The deploy key for state in the configuration repository, the manage key for a separate state repository."""
    access = manage_access if location.separate else deploy_access
    with access(settings, location.url) as remote:
        yield remote
