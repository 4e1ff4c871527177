"""A real OpenSSH server on 127.0.0.1 for tests: own host key, own authorized_keys, git-only forced commands.

The server runs as the current user (root in CI, so `PermitRootLogin prohibit-password`); every key is added with a
forced command, so a key can run git and nothing else, and a read-only key can only fetch (`git-upload-pack`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
READY_TIMEOUT_SECONDS = 10.0

# The forced command: SSH_ORIGINAL_COMMAND must be a git command the key may run; git-shell then runs it safely.
_GIT_ONLY_SCRIPT = """#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
  "git-upload-pack "*|"git-upload-archive "*) ;;
  "git-receive-pack "*)
    if [ "$1" = "read-only" ]; then
      echo "ERROR: this key is read-only: it may fetch but not push" >&2
      exit 1
    fi ;;
  *) echo "ERROR: only git commands are allowed with this key" >&2; exit 1 ;;
esac
exec git-shell -c "$SSH_ORIGINAL_COMMAND"
"""


def generate_private_key() -> bytes:
    """A fresh, unencrypted ed25519 private key in OpenSSH format."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


def public_key_line(private_key: bytes, password: bytes | None = None) -> str:
    """The `ssh-ed25519 AAAA...` line of a private key."""
    key = serialization.load_ssh_private_key(private_key, password=password)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SshServer:
    """One running sshd; `url(path)` gives an ssh:// URL for a repository path on this machine."""

    directory: Path
    port: int
    user: str
    host_public_key: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def authorized_keys(self) -> Path:
        return self.directory / "authorized_keys"

    @property
    def log_file(self) -> Path:
        return self.directory / "sshd.log"

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"

    def known_hosts_line(self) -> str:
        """The line a client's known_hosts needs for this server (non-default port: `[host]:port`)."""
        return f"[127.0.0.1]:{self.port} {self.host_public_key}"

    def authorize(self, private_key: bytes, *, read_only: bool) -> None:
        """Let `private_key` log in to run git only; a read-only key may fetch but never push."""
        mode = "read-only" if read_only else "read-write"
        script = self.directory / "git-only.sh"
        line = f'command="{script} {mode}",restrict {public_key_line(private_key)}\n'
        with self.authorized_keys.open("a") as handle:
            handle.write(line)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def start_sshd(directory: Path) -> SshServer:
    """Start sshd in the foreground (as a child process) on a free loopback port; wait until it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f", str(host_key)],
        check=True,
        capture_output=True,
    )
    script = directory / "git-only.sh"
    script.write_text(_GIT_ONLY_SCRIPT)
    script.chmod(0o755)
    (directory / "authorized_keys").touch(mode=0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    server = SshServer(
        directory=directory,
        port=free_port(),
        user=getpass.getuser(),
        host_public_key=" ".join((directory / "ssh_host_ed25519_key.pub").read_text().split()[:2]),
    )
    config = directory / "sshd_config"
    config.write_text(_sshd_config(server, host_key))
    log = server.log_file.open("ab")
    server.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    log.close()
    _wait_until_listening(server)
    return server


def _sshd_config(server: SshServer, host_key: Path) -> str:
    return "\n".join(
        [
            f"Port {server.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {server.directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {server.authorized_keys}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "AcceptEnv GIT_PROTOCOL",
            "LogLevel VERBOSE",
            "",
        ]
    )


def _wait_until_listening(server: SshServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"sshd exited with {server.process.returncode}: {server.log_file.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sshd did not accept connections within {READY_TIMEOUT_SECONDS}s")
