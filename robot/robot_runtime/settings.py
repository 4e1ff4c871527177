"""The runtime's settings: Gopherbot's environment variables plus flags, validated up front with value-free messages."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from robot_runtime.errors import RobotError

MIN_ENCRYPTION_KEY_BYTES = 32
DEFAULT_BRANCH = "."
DEFAULT_ENVIRONMENT = "production"
DEFAULT_STATE_BRANCH = "robot-state"
DEFAULT_BRAIN = "file"

_TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "0", "off", ""})
_QUOTES = ("'", '"')
_URL_CREDENTIALS = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")
_URL_CREDENTIALS_ANYWHERE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Settings:
    """Everything the runtime needs to know about one robot; secret fields are kept out of repr()."""

    home: Path
    repository: str = field(default="", repr=False)  # may carry credentials: use redacted_repository in logs
    branch: str = DEFAULT_BRANCH
    deploy_key: str | None = field(default=None, repr=False)
    encryption_key: str | None = field(default=None, repr=False)
    host_keys: str | None = field(default=None, repr=False)
    known_hosts_file: Path | None = None
    insecure_ssh: bool = False
    environment: str = DEFAULT_ENVIRONMENT
    state_branch: str = DEFAULT_STATE_BRANCH
    state_repository: str | None = field(default=None, repr=False)
    brain: str = DEFAULT_BRAIN
    protocol: str | None = None

    @property
    def custom_dir(self) -> Path:
        return self.home / "custom"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def brain_dir(self) -> Path:
        return self.state_dir / "brain"

    @property
    def redacted_repository(self) -> str:
        """The configuration repository with any credentials in its URL removed, safe for logs and status."""
        return redact_url(self.repository)

    def require_repository(self) -> str:
        if not self.repository:
            raise RobotError("GOPHER_CUSTOM_REPOSITORY is not set: the robot's configuration repository is required")
        return self.repository

    def require_encryption_key(self) -> str:
        """The raw GOPHER_ENCRYPTION_KEY; only its first 32 bytes are the AES key."""
        if not self.encryption_key:
            raise RobotError("GOPHER_ENCRYPTION_KEY is not set: it is needed to unlock custom/binary-encrypted-key")
        if len(self.encryption_key.encode()) < MIN_ENCRYPTION_KEY_BYTES:
            raise RobotError("GOPHER_ENCRYPTION_KEY is shorter than 32 bytes")
        return self.encryption_key

    def require_deploy_key(self) -> str:
        """The raw GOPHER_DEPLOY_KEY (still `_`/`:` encoded; see keys.decode_deploy_key)."""
        if not self.deploy_key:
            raise RobotError("GOPHER_DEPLOY_KEY is not set: it is needed to clone the configuration repository")
        return self.deploy_key


def redact_url(url: str) -> str:
    """`scheme://user:secret@host/path` -> `scheme://host/path`; scp-style `git@host:path` has no secret and stays."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>", url)


def redact_urls_in(text: str) -> str:
    """Remove the user-info part of every URL in a free text (a log line, a library's error message)."""
    return _URL_CREDENTIALS_ANYWHERE.sub(r"\g<scheme>", text)


def load_settings(
    env: Mapping[str, str], *, home: Path | None = None, known_hosts_file: Path | None = None
) -> Settings:
    """Read the settings from `env` (usually os.environ); flags given as arguments override their env mirrors."""
    reader = _EnvReader(env)
    return Settings(
        home=_home(home, reader.optional("ROBOT_HOME")),
        repository=reader.optional("GOPHER_CUSTOM_REPOSITORY") or "",
        branch=reader.optional("GOPHER_CUSTOM_BRANCH") or DEFAULT_BRANCH,
        deploy_key=reader.secret("GOPHER_DEPLOY_KEY"),
        encryption_key=reader.secret("GOPHER_ENCRYPTION_KEY"),
        host_keys=reader.secret("GOPHER_HOST_KEYS"),
        known_hosts_file=known_hosts_file or _optional_path(reader.optional("ROBOT_KNOWN_HOSTS")),
        insecure_ssh=reader.boolean("GOPHER_INSECURE_SSH"),
        environment=_environment(reader.optional("GOPHER_ENVIRONMENT")),
        state_branch=reader.optional("GOPHER_STATE_BRANCH") or DEFAULT_STATE_BRANCH,
        state_repository=reader.optional("GOPHER_STATE_REPOSITORY"),
        brain=reader.optional("GOPHER_BRAIN") or DEFAULT_BRAIN,
        protocol=reader.optional("GOPHER_PROTOCOL"),
    )


class _EnvReader:
    """Reads variables, treating empty as unset and refusing values that kept their .env quotes."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        _refuse_quoted(name, value)
        return value or None

    def secret(self, name: str) -> str | None:
        """Secrets are used byte for byte; only a line ending left by a CRLF .env file is removed."""
        value = self._env.get(name, "").rstrip("\r\n")
        _refuse_quoted(name, value.strip())
        return value or None

    def boolean(self, name: str) -> bool:
        word = (self.optional(name) or "").lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise RobotError(f"{name} must be true or false")


def _refuse_quoted(name: str, value: str) -> None:
    if len(value) >= 2 and value[0] in _QUOTES and value[0] == value[-1]:
        raise RobotError(
            f"{name} is wrapped in quotes, which `--env-file` keeps literally: remove the quotes around its value"
        )


def _home(flag: Path | None, env_value: str | None) -> Path:
    chosen = flag if flag is not None else Path(env_value) if env_value else Path(os.getcwd())
    return chosen.absolute()


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _environment(value: str | None) -> str:
    environment = value or DEFAULT_ENVIRONMENT
    if not _ENVIRONMENT_NAME.match(environment):
        raise RobotError("GOPHER_ENVIRONMENT must be a simple name (letters, digits, '.', '_', '-')")
    return environment
