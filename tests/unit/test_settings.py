"""Settings: env and flag loading, defaults, and value-free validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_runtime.errors import RobotError
from robot_runtime.settings import Settings, load_settings, redact_url, redact_urls_in

SECRET_KEY = "Th1s-is-a-very-secret-encryption-key-XYZ"
DEPLOY_KEY = "-----BEGIN_OPENSSH_PRIVATE_KEY-----:b3BlbnNzaC1rZXktdjEAAAAA:-----END_OPENSSH_PRIVATE_KEY-----"


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, home=tmp_path)
    assert settings == Settings(home=tmp_path)
    assert settings.branch == "."
    assert settings.environment == "production"
    assert settings.state_branch == "robot-state"
    assert settings.brain == "file"
    assert settings.repository == ""
    assert settings.state_repository is None
    assert settings.insecure_ssh is False
    assert settings.custom_dir == tmp_path / "custom"
    assert settings.state_dir == tmp_path / "state"
    assert settings.brain_dir == tmp_path / "state" / "brain"


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "ROBOT_HOME": str(tmp_path),
        "ROBOT_KNOWN_HOSTS": "/etc/robot/known_hosts",
        "GOPHER_CUSTOM_REPOSITORY": "git@127.0.0.1:floyd.git",
        "GOPHER_CUSTOM_BRANCH": "main",
        "GOPHER_DEPLOY_KEY": DEPLOY_KEY,
        "GOPHER_ENCRYPTION_KEY": SECRET_KEY,
        "GOPHER_HOST_KEYS": "h_ssh-ed25519_AAAA",
        "GOPHER_INSECURE_SSH": "true",
        "GOPHER_ENVIRONMENT": "staging",
        "GOPHER_STATE_BRANCH": "state",
        "GOPHER_STATE_REPOSITORY": "file:///srv/state.git",
        "GOPHER_BRAIN": "mem",
        "GOPHER_PROTOCOL": "slack",
    }
    settings = load_settings(env)
    assert settings == Settings(
        home=tmp_path,
        repository="git@127.0.0.1:floyd.git",
        branch="main",
        deploy_key=DEPLOY_KEY,
        encryption_key=SECRET_KEY,
        host_keys="h_ssh-ed25519_AAAA",
        known_hosts_file=Path("/etc/robot/known_hosts"),
        insecure_ssh=True,
        environment="staging",
        state_branch="state",
        state_repository="file:///srv/state.git",
        brain="mem",
        protocol="slack",
    )


def test_flags_override_env(tmp_path: Path) -> None:
    env = {"ROBOT_HOME": "/nowhere", "ROBOT_KNOWN_HOSTS": "/env/known_hosts"}
    settings = load_settings(env, home=tmp_path / "flag", known_hosts_file=tmp_path / "kh")
    assert settings.home == tmp_path / "flag"
    assert settings.known_hosts_file == tmp_path / "kh"


def test_home_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == tmp_path


def test_relative_home_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({"ROBOT_HOME": "robot"}).home == tmp_path / "robot"


def test_empty_values_mean_unset(tmp_path: Path) -> None:
    env = {
        "GOPHER_CUSTOM_BRANCH": "",
        "GOPHER_ENVIRONMENT": " ",
        "GOPHER_STATE_REPOSITORY": "",
        "GOPHER_DEPLOY_KEY": "",
    }
    settings = load_settings(env, home=tmp_path)
    assert (settings.branch, settings.environment, settings.state_repository, settings.deploy_key) == (
        ".",
        "production",
        None,
        None,
    )


def test_crlf_line_ending_is_dropped_from_secrets(tmp_path: Path) -> None:
    settings = load_settings({"GOPHER_ENCRYPTION_KEY": SECRET_KEY + "\r"}, home=tmp_path)
    assert settings.encryption_key == SECRET_KEY


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    env = {
        "GOPHER_ENCRYPTION_KEY": SECRET_KEY,
        "GOPHER_DEPLOY_KEY": DEPLOY_KEY,
        "GOPHER_CUSTOM_REPOSITORY": "https://robot:tok3n-value@127.0.0.1/floyd.git",
    }
    text = repr(load_settings(env, home=tmp_path))
    for secret in (SECRET_KEY, DEPLOY_KEY, "tok3n-value"):
        assert secret not in text


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://robot:tok3n@127.0.0.1/floyd.git", "https://127.0.0.1/floyd.git"),
        ("ssh://git@127.0.0.1:2222/floyd.git", "ssh://127.0.0.1:2222/floyd.git"),
        ("git@127.0.0.1:floyd.git", "git@127.0.0.1:floyd.git"),
        ("/srv/git/floyd.git", "/srv/git/floyd.git"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "1", "on"])
def test_insecure_ssh_true_words(tmp_path: Path, word: str) -> None:
    assert load_settings({"GOPHER_INSECURE_SSH": word}, home=tmp_path).insecure_ssh is True


@pytest.mark.parametrize("word", ["false", "no", "0", "off", ""])
def test_insecure_ssh_false_words(tmp_path: Path, word: str) -> None:
    assert load_settings({"GOPHER_INSECURE_SSH": word}, home=tmp_path).insecure_ssh is False


def test_insecure_ssh_nonsense_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_INSECURE_SSH must be true or false$"):
        load_settings({"GOPHER_INSECURE_SSH": "maybe"}, home=tmp_path)


def test_bad_environment_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_ENVIRONMENT must be a simple name"):
        load_settings({"GOPHER_ENVIRONMENT": "../x"}, home=tmp_path)


@pytest.mark.parametrize("name", ["GOPHER_ENCRYPTION_KEY", "GOPHER_DEPLOY_KEY", "GOPHER_CUSTOM_REPOSITORY"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_quoted_values_are_refused_without_the_value(tmp_path: Path, name: str, quote: str) -> None:
    value = f"{quote}{SECRET_KEY}{quote}"
    with pytest.raises(RobotError) as caught:
        load_settings({name: value}, home=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{name} is wrapped in quotes")
    assert SECRET_KEY not in message
    assert "\n" not in message


def test_require_repository(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_CUSTOM_REPOSITORY is not set"):
        load_settings({}, home=tmp_path).require_repository()
    assert load_settings({"GOPHER_CUSTOM_REPOSITORY": "/srv/r.git"}, home=tmp_path).require_repository() == "/srv/r.git"


def test_require_encryption_key(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_ENCRYPTION_KEY is not set"):
        load_settings({}, home=tmp_path).require_encryption_key()
    assert load_settings({"GOPHER_ENCRYPTION_KEY": SECRET_KEY}, home=tmp_path).require_encryption_key() == SECRET_KEY


def test_short_encryption_key_is_refused_without_the_value(tmp_path: Path) -> None:
    short = "short-secret-value-31-bytes-lon"
    assert len(short) == 31
    with pytest.raises(RobotError) as caught:
        load_settings({"GOPHER_ENCRYPTION_KEY": short}, home=tmp_path).require_encryption_key()
    assert str(caught.value) == "GOPHER_ENCRYPTION_KEY is shorter than 32 bytes"


def test_encryption_key_length_counts_bytes(tmp_path: Path) -> None:
    eleven_chars_33_bytes = "✓" * 11
    settings = load_settings({"GOPHER_ENCRYPTION_KEY": eleven_chars_33_bytes}, home=tmp_path)
    assert settings.require_encryption_key() == eleven_chars_33_bytes


def test_require_deploy_key(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_DEPLOY_KEY is not set"):
        load_settings({}, home=tmp_path).require_deploy_key()
    assert load_settings({"GOPHER_DEPLOY_KEY": DEPLOY_KEY}, home=tmp_path).require_deploy_key() == DEPLOY_KEY


def test_redact_urls_in_free_text() -> None:
    text = "fetch https://robot:tok3n@127.0.0.1/a.git failed; ssh://git@127.0.0.1:2222/b.git ok; git@host:c.git"
    assert redact_urls_in(text) == (
        "fetch https://127.0.0.1/a.git failed; ssh://127.0.0.1:2222/b.git ok; git@host:c.git"
    )
