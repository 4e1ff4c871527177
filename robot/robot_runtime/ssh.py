"""SSH for git: a short-lived identity (key and known_hosts in private memory-backed files) and strict ssh options."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from robot_runtime.errors import RobotError
from robot_runtime.settings import redact_url, redact_urls_in

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 20
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?[^/:]+:(?!//)")
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")


@dataclass(frozen=True)
class SshIdentity:
    """What dulwich needs to run ssh: the key file to offer and the complete ssh command with its options."""

    key_file: Path
    known_hosts_file: Path
    ssh_command: str


def is_ssh_url(url: str) -> bool:
    """True for `ssh://...` and scp-like `git@host:path`; False for file://, http(s):// and local paths."""
    if url.startswith(_SSH_SCHEMES):
        return True
    if "://" in url or url.startswith(("/", ".", "~")):
        return False
    return bool(_SCP_LIKE.match(url))


def is_local_url(url: str) -> bool:
    """True for file:// URLs and plain paths: no network and no key needed."""
    return url.startswith("file://") or ("://" not in url and not is_ssh_url(url))


def memory_backed_dir() -> Path:
    """Where secrets may be written: /dev/shm, else $XDG_RUNTIME_DIR, else the temp dir."""
    # mkdtemp below makes a fresh 0700 directory there, so a shared parent is safe.
    shm = Path("/dev/shm")  # noqa: S108
    candidates = [shm, Path(os.environ.get("XDG_RUNTIME_DIR", "") or "/nonexistent")]
    for candidate in candidates:
        if candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return Path(tempfile.gettempdir())


@contextmanager
def private_dir(prefix: str = "robot-ssh-") -> Iterator[Path]:
    """A 0700 directory on memory-backed storage, removed with everything in it on exit (also on errors)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=memory_backed_dir()))
    try:
        directory.chmod(0o700)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_private_file(path: Path, content: bytes) -> None:
    """Create `path` with mode 0600 before any byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


@contextmanager
def ssh_identity(private_key: bytes, known_hosts: str | None, *, insecure: bool) -> Iterator[SshIdentity]:
    """Write the key and known_hosts to a private temp dir and give the strict ssh command that uses them.

    With no known_hosts, refuse unless `insecure` (GOPHER_INSECURE_SSH=true): then trust on first use and warn.
    """
    if not known_hosts and not insecure:
        raise RobotError(
            "no ssh host keys for the git server: set ROBOT_KNOWN_HOSTS (a known_hosts file) or GOPHER_HOST_KEYS,"
            " or GOPHER_INSECURE_SSH=true to trust the host key on first use"
        )
    with private_dir() as directory:
        key_file = directory / "identity"
        write_private_file(key_file, private_key if private_key.endswith(b"\n") else private_key + b"\n")
        known_hosts_file = directory / "known_hosts"
        write_private_file(known_hosts_file, (known_hosts or "").encode())
        if not known_hosts:
            log.warning("GOPHER_INSECURE_SSH=true: trusting the git server's host key on first use (not verified)")
        yield SshIdentity(
            key_file=key_file,
            known_hosts_file=known_hosts_file,
            ssh_command=ssh_command(key_file, known_hosts_file, strict=bool(known_hosts)),
        )


def ssh_command(key_file: Path, known_hosts_file: Path, *, strict: bool = True) -> str:
    """The ssh command line: no user config, only this key, batch mode, strict (or accept-new) host keys."""
    options = {
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes" if strict else "accept-new",
        "UserKnownHostsFile": str(known_hosts_file),
        "GlobalKnownHostsFile": "/dev/null",
        "ConnectTimeout": str(CONNECT_TIMEOUT_SECONDS),
        "LogLevel": "ERROR",
    }
    args = ["ssh", "-F", "/dev/null", "-i", str(key_file)]
    for name, value in options.items():
        args += ["-o", f"{name}={value}"]
    return shlex.join(args)


# (pattern in ssh/git stderr, what it means for the user); the first match wins.
_SSH_FAILURES: tuple[tuple[str, str], ...] = (
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "the git server's host key has CHANGED (possible attack or re-keyed)"),
    ("Host key verification failed", "the git server's host key is not in the known host keys"),
    ("No ED25519 host key is known", "the git server's host key is not in the known host keys"),
    ("Permission denied", "the git server refused the ssh key (permission denied)"),
    ("Connection refused", "the git server is unreachable (connection refused)"),
    ("Connection timed out", "the git server is unreachable (connection timed out)"),
    ("No route to host", "the git server is unreachable (no route to host)"),
    ("Could not resolve hostname", "the git server's host name does not resolve"),
    ("Network is unreachable", "the git server is unreachable (network is unreachable)"),
    ("invalid format", "the ssh key is malformed (ssh could not load it)"),
    ("read-only", "the ssh key is read-only on the git server (it may fetch but not push)"),
    ("does not appear to be a git repository", "the repository does not exist on the git server"),
    ("not a git repository", "the repository does not exist on the git server"),
)


def explain_failure(stderr: str) -> str | None:
    """A one-line explanation of a known ssh/git failure in `stderr`, or None when it is not recognised."""
    for pattern, meaning in _SSH_FAILURES:
        if pattern in stderr:
            return meaning
    return None


def remote_error(url: str, action: str, detail: str) -> RobotError:
    """`cannot <action> <redacted url>: <first line of detail>`; never a key, never a credential."""
    meaning = explain_failure(detail) or _last_line(detail) or "the remote closed the connection"
    return RobotError(f"cannot {action} {redact_url(url)}: {meaning}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return redact_urls_in(lines[-1])[:200] if lines else ""
