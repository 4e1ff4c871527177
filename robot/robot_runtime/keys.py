"""SSH keys of a robot: the `_`/`:` encoded deploy key and host keys, and the manage key unlocked through the chain."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from robot_runtime import crypto
from robot_runtime.errors import RobotError

ROBOT_YAML = "conf/robot.yaml"
MANAGE_NAMESPACE = "manage"
PHRASE_PARAMETER = "BOT_SSH_PHRASE"
KEYNAME_PARAMETER = "KEYNAME"
DEFAULT_KEYNAME = "manage_key"
_OPENSSH_HEADER = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_HOST_KEY_MARKERS = ("@cert-authority", "@revoked")
# `[host]:port` in a known_hosts line: colons inside the brackets and before the port are not encoded newlines.
_BRACKETED_HOST = re.compile(r"\[[^\]\s_]*\](?::\d+)?")
_TEMPLATE_ACTION = re.compile(r"\{\{-?(?P<body>.*?)-?\}\}", re.DOTALL)
_DECRYPT_CALL = re.compile(r'^\s*decrypt\s+(?:"(?P<quoted>[^"]*)"|`(?P<raw>[^`]*)`)\s*$')
_DECRYPT_PLACEHOLDER_FORMAT = "GOPHERBOTDECRYPT{}X"
_OTHER_ACTION_PLACEHOLDER = "GOPHERBOTTEMPLATEX"
_TOP_LEVEL_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:")


# --- deploy key and host keys ----------------------------------------------------------------------------------------


def decode_deploy_key(value: str) -> bytes:
    """GOPHER_DEPLOY_KEY (`_` for space, `:` for newline) -> an unencrypted OpenSSH private key, checked to load."""
    text = value.strip().replace("_", " ").replace(":", "\n")
    data = (text.strip() + "\n").encode()
    try:
        key = _load_private_key(data, None)
    except TypeError:
        raise RobotError("GOPHER_DEPLOY_KEY is passphrase-protected: it must be an unencrypted private key") from None
    except (ValueError, UnsupportedKeyError):
        raise RobotError(
            "GOPHER_DEPLOY_KEY is not a private key (expected the key file with spaces written as '_' and"
            " newlines as ':')"
        ) from None
    return _openssh_bytes(key)


def decode_host_keys(value: str) -> str:
    """GOPHER_HOST_KEYS (`_` for space, `:` for newline) -> known_hosts text; every line is checked for its shape.

    A value that already holds spaces or newlines is taken as plain known_hosts text.
    """
    text = value.strip()
    if not any(blank in text for blank in " \n\t"):
        protected = _BRACKETED_HOST.sub(lambda match: match.group(0).replace(":", "\0"), text)
        text = protected.replace("_", " ").replace(":", "\n").replace("\0", ":")
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith("#")]
    if not kept:
        raise RobotError("GOPHER_HOST_KEYS holds no known_hosts line")
    for number, line in enumerate(kept, start=1):
        _check_known_hosts_line(line, number)
    return "\n".join(kept) + "\n"


def _check_known_hosts_line(line: str, number: int) -> None:
    fields = line.split()
    if fields and fields[0] in _HOST_KEY_MARKERS:
        fields = fields[1:]
    if len(fields) < 3 or not _is_base64(fields[2]):
        raise RobotError(
            f"GOPHER_HOST_KEYS line {number} is not a known_hosts line (expected: host key-type base64-key)"
        )


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


# --- the manage key chain ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManageKeyConfig:
    """What custom/conf/robot.yaml says about the manage key: the key file's name and its (decrypted) passphrase."""

    keyname: str
    passphrase: str


def manage_key(custom_dir: Path, runtime_key: bytes) -> bytes:
    """Unlock custom/ssh/<KEYNAME> with the decrypted BOT_SSH_PHRASE; returns an UNENCRYPTED OpenSSH private key.

    The result is only for memory or a 0600 per-run file: it is the key that pushes the robot's state.
    """
    config = read_manage_key_config(custom_dir, runtime_key)
    key_label = f"custom/ssh/{config.keyname}"
    try:
        data = (custom_dir / "ssh" / config.keyname).read_bytes()
    except FileNotFoundError:
        raise RobotError(
            f"{key_label} is missing (named by KEYNAME of the manage namespace in {_yaml_label()})"
        ) from None
    except OSError as error:
        raise RobotError(f"{key_label} cannot be read ({error.strerror})") from None
    return _openssh_bytes(_unlock(data, config.passphrase, key_label))


def read_manage_key_config(custom_dir: Path, runtime_key: bytes) -> ManageKeyConfig:
    """Find the manage namespace's KEYNAME and BOT_SSH_PHRASE in custom/conf/robot.yaml (a Go template)."""
    parameters = manage_parameters(_read_robot_yaml(custom_dir))
    keyname = parameters.get(KEYNAME_PARAMETER, PlainValue(DEFAULT_KEYNAME)).plain(KEYNAME_PARAMETER)
    if not keyname or "/" in keyname or keyname in (".", ".."):
        raise RobotError(f"{_yaml_label()}: KEYNAME of the manage namespace must be a file name under custom/ssh/")
    phrase = parameters.get(PHRASE_PARAMETER)
    if phrase is None:
        raise RobotError(f"{_yaml_label()}: the manage namespace has no {PHRASE_PARAMETER} parameter")
    return ManageKeyConfig(keyname=keyname, passphrase=phrase.reveal(runtime_key))


class UnsupportedKeyError(Exception):
    """cryptography loaded a key type that SSH cannot use."""


@dataclass(frozen=True)
class PlainValue:
    """A parameter written as plain text in robot.yaml."""

    text: str

    def plain(self, name: str) -> str:
        return self.text

    def reveal(self, runtime_key: bytes) -> str:
        return self.text


@dataclass(frozen=True)
class EncryptedValue:
    """A parameter written as `{{ decrypt "<b64>" }}`: encrypted with the robot's runtime key."""

    b64: str = field(repr=False)

    def plain(self, name: str) -> str:
        raise RobotError(f"{_yaml_label()}: {name} of the manage namespace must be plain text, not encrypted")

    def reveal(self, runtime_key: bytes) -> str:
        try:
            return crypto.decrypt_value(runtime_key, self.b64)
        except crypto.DecryptionError:
            raise RobotError(
                f"{_yaml_label()}: {PHRASE_PARAMETER} of the manage namespace does not decrypt with the runtime key"
                " (encrypted for another robot, or damaged)"
            ) from None


ParameterValue = PlainValue | EncryptedValue


def manage_parameters(template: str) -> dict[str, ParameterValue]:
    """The manage namespace's parameters (Parameters, then AppendParameters overriding) from robot.yaml's text."""
    namespaces, decrypted = _namespaces_section(template)
    manage = namespaces.get(MANAGE_NAMESPACE)
    if not isinstance(manage, dict):
        raise RobotError(f"{_yaml_label()}: NameSpaces has no '{MANAGE_NAMESPACE}' namespace")
    merged: dict[str, ParameterValue] = {}
    for section in ("Parameters", "AppendParameters"):
        merged.update(_parameter_list(manage.get(section), section, decrypted))
    return merged


def _namespaces_section(template: str) -> tuple[dict[str, Any], list[str]]:
    """Parse only the top-level NameSpaces block, with template actions replaced by placeholders.

    Returns the parsed mapping and the base64 arguments of the `decrypt` calls, indexed by their placeholders.
    """
    block, first_line = _top_level_block(template, "NameSpaces")
    if block is None:
        raise RobotError(f"{_yaml_label()} has no NameSpaces section (the manage namespace is required)")
    try:
        text, decrypted = _neutralize_template(block)
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = error.problem_mark if isinstance(error, yaml.MarkedYAMLError) else None
        line = first_line + (mark.line if mark else 0)
        raise RobotError(f"{_yaml_label()} line {line}: the NameSpaces section is not valid YAML") from None
    namespaces = parsed.get("NameSpaces") if isinstance(parsed, dict) else None
    if not isinstance(namespaces, dict):
        raise RobotError(f"{_yaml_label()} line {first_line}: NameSpaces must be a mapping of namespace names")
    return namespaces, decrypted


def _top_level_block(template: str, key: str) -> tuple[str | None, int]:
    """The lines of one top-level key, up to the next top-level key; also its 1-based first line number."""
    lines = template.splitlines()
    start = next((i for i, line in enumerate(lines) if _top_level_key(line) == key), None)
    if start is None:
        return None, 0
    end = next((i for i in range(start + 1, len(lines)) if _top_level_key(lines[i])), len(lines))
    return "\n".join(lines[start:end]) + "\n", start + 1


def _top_level_key(line: str) -> str | None:
    match = _TOP_LEVEL_KEY.match(line)
    return match.group("key") if match else None


def _neutralize_template(block: str) -> tuple[str, list[str]]:
    """`{{ decrypt "X" }}` -> a numbered placeholder; action-only lines dropped; other actions -> a placeholder."""
    # Blank (not remove) action-only lines, so that YAML error positions stay file line numbers.
    kept = ["" if line.strip() and not _TEMPLATE_ACTION.sub("", line).strip() else line for line in block.splitlines()]
    text = "\n".join(kept)
    decrypted: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        call = _DECRYPT_CALL.match(match.group("body"))
        if call is None:
            return _OTHER_ACTION_PLACEHOLDER
        decrypted.append(call.group("quoted") if call.group("quoted") is not None else call.group("raw"))
        return _DECRYPT_PLACEHOLDER_FORMAT.format(len(decrypted) - 1)

    return _TEMPLATE_ACTION.sub(substitute, text), decrypted


_DECRYPT_PLACEHOLDER = re.compile(r"^GOPHERBOTDECRYPT(?P<index>\d+)X$")


def _parameter_list(items: object, section: str, decrypted: list[str]) -> dict[str, ParameterValue]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise RobotError(f"{_yaml_label()}: {section} of the manage namespace must be a list of Name/Value entries")
    found: dict[str, ParameterValue] = {}
    for item in items:
        if not isinstance(item, dict) or "Name" not in item:
            raise RobotError(f"{_yaml_label()}: every {section} entry of the manage namespace needs Name and Value")
        found[str(item["Name"])] = _value(item.get("Value"), decrypted)
    return found


def _value(raw: object, decrypted: list[str]) -> ParameterValue:
    text = "" if raw is None else str(raw).strip()
    placeholder = _DECRYPT_PLACEHOLDER.match(text)
    if placeholder:
        return EncryptedValue(decrypted[int(placeholder.group("index"))])
    if _OTHER_ACTION_PLACEHOLDER in text:
        raise RobotError(f"{_yaml_label()}: a manage namespace parameter uses a template the runtime cannot evaluate")
    return PlainValue(text)


def _read_robot_yaml(custom_dir: Path) -> str:
    try:
        return (custom_dir / ROBOT_YAML).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RobotError(f"{_yaml_label()} is missing from the robot's configuration") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RobotError(f"{_yaml_label()} cannot be read ({type(error).__name__})") from None


def _yaml_label() -> str:
    return f"custom/{ROBOT_YAML}"


# --- private keys ----------------------------------------------------------------------------------------------------


def _unlock(data: bytes, passphrase: str, label: str) -> PrivateKeyTypes:
    try:
        return _load_private_key(data, passphrase.encode())
    except TypeError:
        # Not encrypted after all: a key without a passphrase is still a usable key.
        return _load_private_key(data, None)
    except ValueError:
        raise RobotError(
            f"{label} does not open with {PHRASE_PARAMETER} from {_yaml_label()}"
            " (wrong passphrase or not a private key)"
        ) from None
    except UnsupportedKeyError:
        raise RobotError(f"{label} is a kind of key SSH cannot use") from None


def _load_private_key(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """Load an OpenSSH or PEM private key; TypeError when the passphrase does not fit its encryption state."""
    if data.lstrip().startswith(_OPENSSH_HEADER):
        key: PrivateKeyTypes = serialization.load_ssh_private_key(data, password=password)
    else:
        key = serialization.load_pem_private_key(data, password=password)
    try:
        _openssh_bytes(key)
    except ValueError:
        raise UnsupportedKeyError from None
    return key


def _openssh_bytes(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.OpenSSH,
        encryption_algorithm=serialization.NoEncryption(),
    )
