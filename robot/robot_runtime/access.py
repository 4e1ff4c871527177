"""Which key reaches which repository: the read-only deploy key for the configuration, the manage key for state.

Restore reads the state branch with the deploy key when state lives in the configuration repository (the deploy key
is a key of that repository), and with the manage key when GOPHER_STATE_REPOSITORY names another repository (a
deploy key is usually valid for one repository only). Backup always pushes with the manage key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from robot_runtime import crypto, keys
from robot_runtime.errors import RobotError
from robot_runtime.gitops import Remote
from robot_runtime.settings import DEFAULT_STATE_BRANCH, Settings
from robot_runtime.ssh import is_ssh_url, ssh_identity

# The manage key unlocked by unlocked_manage_key, with the fingerprint of the files it was unlocked from.
_UNLOCKED: dict[str, tuple[tuple[object, ...], bytes]] = {}


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
    private_key = unlocked_manage_key(settings)
    with ssh_identity(private_key, known_hosts(settings), insecure=settings.insecure_ssh) as identity:
        yield Remote(url, identity)


def unlocked_manage_key(settings: Settings) -> bytes:
    """The manage key, unlocked once per process and configuration: its passphrase KDF (bcrypt) takes ~0.3 s.

    The unlocked key is kept in this process's memory only (which already holds GOPHER_ENCRYPTION_KEY); it is
    unlocked again whenever robot.yaml, the key file or the encrypted runtime key changes.
    """
    fingerprint = _manage_key_fingerprint(settings)
    cached = _UNLOCKED.get("manage")
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    runtime_key = crypto.runtime_key(settings.custom_dir, settings.require_encryption_key(), settings.environment)
    private_key = keys.manage_key(settings.custom_dir, runtime_key)
    _UNLOCKED["manage"] = (fingerprint, private_key)
    return private_key


def _manage_key_fingerprint(settings: Settings) -> tuple[object, ...]:
    custom = settings.custom_dir
    watched = [custom / "conf" / "robot.yaml", crypto.binary_key_path(custom, settings.environment), custom / "ssh"]
    watched += sorted((custom / "ssh").iterdir()) if (custom / "ssh").is_dir() else []
    key_digest = hashlib.sha256(settings.require_encryption_key().encode()).digest()
    return (str(custom), settings.environment, key_digest, *(_stat_signature(path) for path in watched))


def _stat_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@contextmanager
def state_read_access(settings: Settings, location: StateLocation) -> Iterator[Remote]:
    """The deploy key for state in the configuration repository, the manage key for a separate state repository."""
    access = manage_access if location.separate else deploy_access
    with access(settings, location.url) as remote:
        yield remote
