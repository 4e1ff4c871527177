"""Resolve a Robot's variables from its `.env` Secret and spec, and refuse bad input with value-free messages.

Order (a later source wins): the Secret (its `.env` key parsed with godotenv semantics, or, when the Secret has
no such key, every key of the Secret as one variable, as `kubectl create secret --from-env-file` makes), then
`spec.env`, then `spec.protocol` as GOPHER_PROTOCOL.

Known hosts: `spec.knownHosts` lines are appended to GOPHER_HOST_KEYS (Gopherbot's own variable for the git
hosts' keys, which the robot runtime reads), so the env Secret is the pod's single source of configuration and a
change of known hosts changes the checksum and rolls the pod.

Every message names the Secret, key, line number, variable or field and the rule broken, never a value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from robot_operator import names
from robot_operator.dotenv import DotenvError, parse_with_lines
from robot_operator.model import Robot

_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_SCP_LIKE = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.+)")
_DEPLOY_KEY_START = "-----BEGIN"


class EnvInvalid(ValueError):
    """The robot's variables are unusable: `reason` is a CamelCase condition reason, `message` a value-free line."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ResolvedEnv:
    """The variables the robot pod gets (without ROBOT_CONTROL_TOKEN) and what the operator derives from them.

    `variables` is left out of repr() so that logging this object can never print a secret.
    """

    variables: dict[str, str] = field(repr=False)
    checksum: str
    repository: str
    repository_key: str


def resolve_env(robot: Robot, secret_data: Mapping[str, bytes]) -> ResolvedEnv:
    """The variables for `robot` from its `.env` Secret's data (bytes, already base64-decoded)."""
    variables, lines = _from_secret(robot, secret_data)
    where = _Where(robot, lines, from_dotenv=robot.env_secret_key in secret_data)
    variables.update(_checked_spec_env(robot.env))
    if robot.protocol:
        variables[names.GOPHER_PROTOCOL] = robot.protocol
    if robot.known_hosts:
        variables[names.GOPHER_HOST_KEYS] = _join_lines(variables.get(names.GOPHER_HOST_KEYS, ""), robot.known_hosts)
    _check_required(variables, where)
    _check_values(variables, where)
    repository = variables[names.GOPHER_CUSTOM_REPOSITORY]
    key = _repository_key_or_invalid(repository, where)
    return ResolvedEnv(
        variables=variables,
        checksum=checksum(variables),
        repository=redact_repository(repository),
        repository_key=key,
    )


def secret_not_found(robot: Robot) -> EnvInvalid:
    """The error for a Robot whose `.env` Secret does not exist (the reconciler raises or records it)."""
    return EnvInvalid("SecretNotFound", f"Secret {robot.env_secret_name} (spec.envFrom.secretName) does not exist")


def checksum(variables: Mapping[str, str]) -> str:
    """sha256 (hex) over the variables sorted by name: stable across dict order, changes with any value."""
    canonical = json.dumps(sorted(variables.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def redact_repository(url: str) -> str:
    """The repository URL without credentials: user and password are dropped from http(s) URLs, passwords from others.

    ssh users (``git@``) are kept: they name an account, not a secret.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a valid URL)"
    if parts.password is None and (parts.username is None or parts.scheme not in ("http", "https")):
        return url
    host = parts.netloc.rpartition("@")[2]
    keep_user = parts.scheme not in ("http", "https") and parts.username
    netloc = f"{parts.username}@{host}" if keep_user else host
    return parts._replace(netloc=netloc).geturl()


def repository_key(url: str) -> str:
    """A normal form of a git URL for the one-robot-per-repository rule; raises ValueError when it is not a git URL.

    ``git@host:org/repo.git``, ``ssh://git@host/org/repo``, ``https://user:token@Host/org/repo.git/`` all give
    ``host/org/repo``: scheme, user, default ports, a trailing ``.git`` and slashes are dropped, and the result is
    lowercased (hosts are case-insensitive and so are the common git hosts' paths; a false conflict is visible and
    fixable, a missed one lets two robots corrupt one state). A non-default port is kept (``host:2222/org/repo``).
    Local paths and file:// URLs give ``file:/abs/path``.
    """
    url = url.strip()
    if "://" in url:
        host, path = _split_url(url)  # urlsplit's own ValueError (e.g. a bad IPv6 literal) passes through
    elif url.startswith("/"):
        host, path = "file:", url
    else:
        match = _SCP_LIKE.fullmatch(url)
        if not match:
            raise ValueError("not a git URL")
        host, path = match["host"], match["path"]
    path = path.strip("/").removeprefix("~/").rstrip("/").removesuffix(".git").rstrip("/")
    if not host or not path:
        raise ValueError("not a git URL")
    if host == "file:":
        return f"file:/{path}"
    return f"{host}/{path}".lower()


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "file:", parts.path
    if parts.scheme not in ("ssh", "git+ssh", "ssh+git", "http", "https", "git"):
        raise ValueError("unsupported scheme")
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError("bad port") from error
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_ports = {"ssh": 22, "git+ssh": 22, "ssh+git": 22, "http": 80, "https": 443, "git": 9418}
    if port is not None and port != default_ports[parts.scheme]:
        host = f"{host}:{port}"
    return host, parts.path


@dataclass(frozen=True)
class _Where:
    """Describes where a variable came from, for messages: the Secret, its key and the line."""

    robot: Robot
    lines: Mapping[str, int]
    from_dotenv: bool

    def of(self, variable: str) -> str:
        secret, key = self.robot.env_secret_name, self.robot.env_secret_key
        if variable == names.GOPHER_PROTOCOL and self.robot.protocol:
            return "spec.protocol"
        if variable in self.robot.env:
            return f"spec.env.{variable}"
        if variable in self.lines:
            return f"line {self.lines[variable]} of Secret {secret} key {key}"
        return f"Secret {secret} key {variable}"

    def source(self) -> str:
        secret, key = self.robot.env_secret_name, self.robot.env_secret_key
        if self.from_dotenv:
            return f"Secret {secret} key {key}"
        return f"Secret {secret} (no key {key}: one variable per key)"


def _from_secret(robot: Robot, data: Mapping[str, bytes]) -> tuple[dict[str, str], dict[str, int]]:
    secret, key = robot.env_secret_name, robot.env_secret_key
    if key in data:
        text = _decode(data[key], f"Secret {secret} key {key}")
        try:
            variables, lines = parse_with_lines(text)
        except DotenvError as error:
            raise EnvInvalid("UnparseableLine", f"Secret {secret} key {key}: {error}") from None
        return variables, lines
    if not data:
        raise EnvInvalid("MissingKey", f"Secret {secret} has no key {key} (spec.envFrom.key) and no other keys")
    return {name: _decode(value, f"Secret {secret} key {name}") for name, value in data.items()}, {}


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvInvalid("NotUTF8", f"{where} is not UTF-8 text") from None


def _checked_spec_env(env: Mapping[str, str]) -> dict[str, str]:
    for name in env:
        if not _SECRET_KEY.fullmatch(name):
            raise EnvInvalid("InvalidVariableName", "a spec.env name may hold only letters, digits, '-', '_' and '.'")
    return dict(env)


def _check_required(variables: Mapping[str, str], where: _Where) -> None:
    for name in names.REQUIRED_VARIABLES:
        if not variables.get(name):
            raise EnvInvalid("MissingVariable", f"{name} is missing or empty in {where.source()}")
    if not variables.get(names.GOPHER_PROTOCOL):
        raise EnvInvalid(
            "MissingProtocol",
            f"{names.GOPHER_PROTOCOL} is not set: set spec.protocol, spec.env or {names.GOPHER_PROTOCOL} in "
            f"{where.source()}",
        )


def _check_values(variables: Mapping[str, str], where: _Where) -> None:
    key_name = names.GOPHER_ENCRYPTION_KEY
    if len(variables[key_name].encode()) < names.ENCRYPTION_KEY_MIN_BYTES:
        raise EnvInvalid(
            "EncryptionKeyTooShort",
            f"{key_name} ({where.of(key_name)}) is shorter than {names.ENCRYPTION_KEY_MIN_BYTES} bytes",
        )
    deploy = names.GOPHER_DEPLOY_KEY
    if not variables[deploy].strip().startswith(_DEPLOY_KEY_START):
        raise EnvInvalid(
            "DeployKeyMalformed",
            f"{deploy} ({where.of(deploy)}) does not start with -----BEGIN: expected a private key, in Gopherbot's "
            "one-line form spaces are written as '_' and newlines as ':'",
        )
    for name, value in variables.items():
        if "\x00" in value:
            raise EnvInvalid("InvalidValue", f"{name} ({where.of(name)}) contains a NUL character")


def _repository_key_or_invalid(url: str, where: _Where) -> str:
    name = names.GOPHER_CUSTOM_REPOSITORY
    try:
        return repository_key(url)
    except ValueError:
        raise EnvInvalid(
            "InvalidRepository",
            f"{name} ({where.of(name)}) is not a git URL (ssh://, https://, user@host:path or an absolute path)",
        ) from None


def _join_lines(first: str, second: str) -> str:
    return "\n".join(part.strip("\n") for part in (first, second) if part.strip())
