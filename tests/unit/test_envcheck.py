"""Resolving a Robot's variables: sources and overrides, value-free refusals, checksum and repository forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_operator.envcheck import (
    EnvInvalid,
    ResolvedEnv,
    checksum,
    redact_repository,
    repository_key,
    resolve_env,
    secret_not_found,
)
from robot_operator.model import Robot

MARKER = "SECRETMARKER"
ENCRYPTION_KEY = MARKER + "x" * 40


def _one_line_deploy_key() -> str:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return pem.decode().strip().replace(" ", "_").replace("\n", ":")


DEPLOY_KEY = _one_line_deploy_key()
REPO = "git@github.com:acme/floyd.git"


def _robot(**spec: Any) -> Robot:
    body = {
        "metadata": {"name": "floyd", "namespace": "bots", "uid": "u-1"},
        "spec": {"envFrom": {"secretName": "floyd-dotenv"}, **spec},
    }
    return Robot.from_resource(body)


def _dotenv(**overrides: str | None) -> dict[str, bytes]:
    values: dict[str, str | None] = {
        "GOPHER_CUSTOM_REPOSITORY": REPO,
        "GOPHER_DEPLOY_KEY": DEPLOY_KEY,
        "GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "GOPHER_PROTOCOL": "slack",
        **overrides,
    }
    text = "# robot floyd\n" + "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)
    return {".env": text.encode()}


def _invalid(robot: Robot, data: Mapping[str, bytes]) -> EnvInvalid:
    with pytest.raises(EnvInvalid) as caught:
        resolve_env(robot, data)
    error = caught.value
    assert MARKER not in str(error)
    assert MARKER not in error.message
    assert "\n" not in error.message
    assert error.reason.isalnum()
    assert error.reason[0].isupper()
    return error


def test_dotenv_key_is_parsed() -> None:
    resolved = resolve_env(_robot(), _dotenv(SLACK_TOKEN="'xoxb-1 # not a comment'"))
    assert resolved.variables == {
        "GOPHER_CUSTOM_REPOSITORY": REPO,
        "GOPHER_DEPLOY_KEY": DEPLOY_KEY,
        "GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "GOPHER_PROTOCOL": "slack",
        "SLACK_TOKEN": "xoxb-1 # not a comment",
    }
    assert resolved.repository == REPO
    assert resolved.repository_key == "github.com/acme/floyd"


def test_without_the_dotenv_key_every_secret_key_is_a_variable() -> None:
    data = {
        "GOPHER_CUSTOM_REPOSITORY": REPO.encode(),
        "GOPHER_DEPLOY_KEY": DEPLOY_KEY.encode(),
        "GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY.encode(),
        "GOPHER_PROTOCOL": b"terminal",
    }
    resolved = resolve_env(_robot(), data)
    assert resolved.variables == {name: value.decode() for name, value in data.items()}


def test_a_custom_key_is_used() -> None:
    data = {"robot.env": _dotenv()[".env"], ".env": b"NOT PARSED"}
    resolved = resolve_env(_robot(envFrom={"secretName": "floyd-dotenv", "key": "robot.env"}), data)
    assert resolved.variables["GOPHER_PROTOCOL"] == "slack"


def test_spec_env_overrides_dotenv_and_protocol_overrides_both() -> None:
    robot = _robot(env={"GOPHER_PROTOCOL": "terminal", "GOPHER_LOGLEVEL": "debug"}, protocol="rocket")
    variables = resolve_env(robot, _dotenv()).variables
    assert variables["GOPHER_PROTOCOL"] == "rocket"
    assert variables["GOPHER_LOGLEVEL"] == "debug"
    assert (
        resolve_env(_robot(env={"GOPHER_PROTOCOL": "terminal"}), _dotenv()).variables["GOPHER_PROTOCOL"] == "terminal"
    )


def test_known_hosts_are_appended_to_gopher_host_keys() -> None:
    robot = _robot(knownHosts=["github.com ssh-ed25519 AAAAkey1", "  ", "gitlab.com ssh-ed25519 AAAAkey2"])
    assert resolve_env(robot, _dotenv()).variables["GOPHER_HOST_KEYS"] == (
        "github.com ssh-ed25519 AAAAkey1\ngitlab.com ssh-ed25519 AAAAkey2"
    )
    with_dotenv_keys = resolve_env(robot, _dotenv(GOPHER_HOST_KEYS='"git.example ssh-rsa AAAAkey0"'))
    assert with_dotenv_keys.variables["GOPHER_HOST_KEYS"] == (
        "git.example ssh-rsa AAAAkey0\ngithub.com ssh-ed25519 AAAAkey1\ngitlab.com ssh-ed25519 AAAAkey2"
    )
    assert "GOPHER_HOST_KEYS" not in resolve_env(_robot(), _dotenv()).variables


@pytest.mark.parametrize("missing", ["GOPHER_CUSTOM_REPOSITORY", "GOPHER_DEPLOY_KEY", "GOPHER_ENCRYPTION_KEY"])
def test_missing_required_variable_is_named(missing: str) -> None:
    error = _invalid(_robot(), _dotenv(**{missing: None}))
    assert error.reason == "MissingVariable"
    assert error.message == f"{missing} is missing or empty in Secret floyd-dotenv key .env"


def test_empty_required_variable_is_refused() -> None:
    assert _invalid(_robot(), _dotenv(GOPHER_DEPLOY_KEY="")).reason == "MissingVariable"


def test_missing_protocol_says_where_to_set_it() -> None:
    error = _invalid(_robot(), _dotenv(GOPHER_PROTOCOL=None))
    assert error.reason == "MissingProtocol"
    assert "spec.protocol" in error.message
    assert "GOPHER_PROTOCOL" in error.message


def test_short_encryption_key_names_its_line_not_its_value() -> None:
    error = _invalid(_robot(), _dotenv(GOPHER_ENCRYPTION_KEY=MARKER + "short"))
    assert error.reason == "EncryptionKeyTooShort"
    assert error.message == ("GOPHER_ENCRYPTION_KEY (line 4 of Secret floyd-dotenv key .env) is shorter than 32 bytes")


def test_encryption_key_of_exactly_32_bytes_is_accepted() -> None:
    resolve_env(_robot(), _dotenv(GOPHER_ENCRYPTION_KEY="k" * 32))


def test_short_encryption_key_from_spec_env_names_the_field() -> None:
    error = _invalid(_robot(env={"GOPHER_ENCRYPTION_KEY": MARKER}), _dotenv())
    assert "spec.env.GOPHER_ENCRYPTION_KEY" in error.message


def test_unparseable_line_names_secret_key_and_line() -> None:
    data = {".env": f"A=1\n# comment\n{MARKER}\nB=2\n".encode()}
    error = _invalid(_robot(), data)
    assert error.reason == "UnparseableLine"
    assert error.message.startswith("Secret floyd-dotenv key .env: line 3: ")


def test_unterminated_quote_names_its_first_line() -> None:
    data = {".env": _dotenv()[".env"] + f'SLACK_TOKEN="{MARKER}\nmore\n'.encode()}
    error = _invalid(_robot(), data)
    assert error.message.startswith("Secret floyd-dotenv key .env: line 6: ")


def test_empty_secret_is_a_missing_key() -> None:
    error = _invalid(_robot(), {})
    assert error.reason == "MissingKey"
    assert "floyd-dotenv" in error.message
    assert ".env" in error.message


def test_missing_key_falls_back_and_says_so() -> None:
    error = _invalid(_robot(), {"OTHER": MARKER.encode()})
    assert error.reason == "MissingVariable"
    assert "no key .env" in error.message


def test_non_utf8_is_refused() -> None:
    error = _invalid(_robot(), {".env": b"A=\xff\xfe" + MARKER.encode()})
    assert error.reason == "NotUTF8"
    assert error.message == "Secret floyd-dotenv key .env is not UTF-8 text"
    assert _invalid(_robot(), {"TOKEN": b"\xff" + MARKER.encode()}).message == (
        "Secret floyd-dotenv key TOKEN is not UTF-8 text"
    )


def test_deploy_key_must_look_like_a_key() -> None:
    error = _invalid(_robot(), _dotenv(GOPHER_DEPLOY_KEY=MARKER))
    assert error.reason == "DeployKeyMalformed"
    assert "line 3" in error.message


def test_nul_in_a_value_is_refused() -> None:
    error = _invalid(_robot(), _dotenv(EXTRA=f'"{MARKER}\\0"'.replace("\\0", "\x00")))
    assert error.reason == "InvalidValue"
    assert "EXTRA (line 6 of" in error.message


def test_bad_spec_env_name_is_refused() -> None:
    assert _invalid(_robot(env={"BAD NAME": "1"}), _dotenv()).reason == "InvalidVariableName"


def test_repository_that_is_no_url_is_refused() -> None:
    error = _invalid(_robot(), _dotenv(GOPHER_CUSTOM_REPOSITORY=MARKER))
    assert error.reason == "InvalidRepository"
    assert "GOPHER_CUSTOM_REPOSITORY (line 2 of Secret floyd-dotenv key .env)" in error.message


def test_missing_secret_message() -> None:
    error = secret_not_found(_robot())
    assert (error.reason, error.message) == (
        "SecretNotFound",
        "Secret floyd-dotenv (spec.envFrom.secretName) does not exist",
    )


def test_repr_of_resolved_env_holds_no_value() -> None:
    assert MARKER not in repr(resolve_env(_robot(), _dotenv()))


def test_checksum_is_stable_and_sensitive() -> None:
    first = checksum({"A": "1", "B": "2"})
    assert first == checksum({"B": "2", "A": "1"})
    assert first != checksum({"A": "1", "B": "3"})
    assert first != checksum({"A": "1", "B": "2", "C": ""})
    assert len(first) == 64
    assert resolve_env(_robot(), _dotenv()).checksum == resolve_env(_robot(), _dotenv()).checksum
    assert resolve_env(_robot(), _dotenv()).checksum != resolve_env(_robot(protocol="terminal"), _dotenv()).checksum


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:tok3n@github.com/acme/floyd.git", "https://github.com/acme/floyd.git"),
        ("https://tok3n@github.com/acme/floyd.git", "https://github.com/acme/floyd.git"),
        ("ssh://git:pw@git.example:2222/floyd.git", "ssh://git@git.example:2222/floyd.git"),
        ("ssh://git@git.example/floyd.git", "ssh://git@git.example/floyd.git"),
        ("git@github.com:acme/floyd.git", "git@github.com:acme/floyd.git"),
        ("https://github.com/acme/floyd", "https://github.com/acme/floyd"),
    ],
)
def test_redact_repository(url: str, redacted: str) -> None:
    assert redact_repository(url) == redacted


def test_status_repository_has_no_credentials() -> None:
    resolved = resolve_env(_robot(), _dotenv(GOPHER_CUSTOM_REPOSITORY=f"https://x:{MARKER}@github.com/acme/floyd"))
    assert resolved.repository == "https://github.com/acme/floyd"
    assert MARKER not in resolved.repository_key


SAME_REPO = [
    "git@github.com:acme/floyd.git",
    "git@github.com:acme/floyd",
    "ssh://git@github.com/acme/floyd.git",
    "ssh://git@github.com:22/acme/floyd",
    "https://github.com/acme/floyd.git",
    "https://github.com/acme/floyd/",
    "https://user:token@GitHub.com/Acme/Floyd.git",
    "http://github.com/acme/floyd",
    "git+ssh://git@github.com/acme/floyd.git",
    "git@github.com:/acme/floyd.git",
]


@pytest.mark.parametrize("url", SAME_REPO)
def test_repository_key_normalises_the_same_repository(url: str) -> None:
    assert repository_key(url) == "github.com/acme/floyd"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("ssh://git@127.0.0.1:2222/srv/git/floyd.git", "127.0.0.1:2222/srv/git/floyd"),
        ("https://git.example:8443/floyd", "git.example:8443/floyd"),
        ("/srv/git/floyd.git", "file:/srv/git/floyd"),
        ("file:///srv/git/floyd.git", "file:/srv/git/floyd"),
        ("git@github.com:acme/floyd-two.git", "github.com/acme/floyd-two"),
    ],
)
def test_repository_key_keeps_what_distinguishes(url: str, key: str) -> None:
    assert repository_key(url) == key


@pytest.mark.parametrize("url", ["", "floyd", "ftp://host/x", "https://github.com/", "ssh://host:99999/x", "git@host:"])
def test_repository_key_refuses_non_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"git URL|scheme|port"):
        repository_key(url)


def test_ipv6_hosts_keep_their_brackets() -> None:
    assert repository_key("ssh://git@[::1]:2222/srv/floyd.git") == "[::1]:2222/srv/floyd"
    assert repository_key("ssh://git@[::1]/srv/floyd.git") == "[::1]/srv/floyd"


def test_a_broken_url_is_invalid_not_a_crash() -> None:
    error = _invalid(_robot(), _dotenv(GOPHER_CUSTOM_REPOSITORY=f"https://[{MARKER}"))
    assert error.reason == "InvalidRepository"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_repository_key_raises_only_value_error(url: str) -> None:
    try:
        key = repository_key(url)
    except ValueError:
        return
    assert key
    assert key == repository_key(url)


_LINE = st.one_of(
    st.sampled_from(["A=1", "# c", "", "export B='x'", "BROKEN", 'Q="open', "GOPHER_PROTOCOL=slack"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12).map(lambda v: f"X_{len(v)}={MARKER}{v}"),
    st.sampled_from(list(_dotenv()[".env"].decode().splitlines())),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12).map(lambda v: f"GOPHER_ENCRYPTION_KEY={MARKER}{v}"),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12).map(lambda v: f"GOPHER_CUSTOM_REPOSITORY={MARKER}{v}"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=10).map("\n".join))
def test_any_dotenv_resolves_or_gives_a_value_free_error(text: str) -> None:
    outcome = _resolve_or_error(text)
    if isinstance(outcome, EnvInvalid):
        assert MARKER not in outcome.message
        assert outcome.reason
    else:
        assert outcome.variables["GOPHER_PROTOCOL"] == "slack"


def _resolve_or_error(text: str) -> ResolvedEnv | EnvInvalid:
    """The resolved env, or the EnvInvalid it raised (any other exception fails the test)."""
    try:
        return resolve_env(_robot(), {".env": text.encode()})
    except EnvInvalid as error:
        return error
