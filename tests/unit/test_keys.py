"""Deploy-key and host-key decoding, robot.yaml parsing and the manage-key chain, on keys generated at test time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_runtime import crypto, keys
from robot_runtime.errors import RobotError
from tests.robotkit import (
    ParameterStyle,
    encode_env_key,
    make_robot_config,
    new_keypair,
    public_line_of,
    robot_yaml,
)

ENCRYPTION_KEY = "unit-test-encryption-key-0123456789abcdef"
PASSPHRASE = "tomato horse staple 42"


def assert_openssh_unencrypted(data: bytes) -> None:
    assert data.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    serialization.load_ssh_private_key(data, password=None)  # raises if encrypted or damaged


# --- deploy key ------------------------------------------------------------------------------------------------------


def test_deploy_key_decodes_from_env_form() -> None:
    pair = new_keypair()
    decoded = keys.decode_deploy_key(encode_env_key(pair.private_openssh))
    assert public_line_of(decoded) == public_line_of(pair.private_openssh)
    assert_openssh_unencrypted(decoded)


def test_deploy_key_in_pem_form_is_accepted() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    decoded = keys.decode_deploy_key(encode_env_key(pem))
    assert_openssh_unencrypted(decoded)


def test_deploy_key_with_real_newlines_is_accepted() -> None:
    pair = new_keypair()
    assert public_line_of(keys.decode_deploy_key(pair.private_openssh.decode())) == public_line_of(pair.private_openssh)


def test_malformed_deploy_key_names_variable_without_content() -> None:
    value = encode_env_key(new_keypair().private_openssh)[:-60]
    with pytest.raises(RobotError) as caught:
        keys.decode_deploy_key(value)
    message = str(caught.value)
    assert message.startswith("GOPHER_DEPLOY_KEY is not a private key")
    assert "\n" not in message
    body = value.split(":")[1]
    assert body[:12] not in message


def test_passphrase_protected_deploy_key_is_refused() -> None:
    value = encode_env_key(new_keypair("secret-phrase").private_openssh)
    with pytest.raises(RobotError, match=r"^GOPHER_DEPLOY_KEY is passphrase-protected"):
        keys.decode_deploy_key(value)


def test_garbage_deploy_key_is_refused() -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_DEPLOY_KEY is not a private key"):
        keys.decode_deploy_key("hunter2")


# --- host keys -------------------------------------------------------------------------------------------------------


def test_host_keys_decode_with_ports_and_markers() -> None:
    one = new_keypair().public_line.split()
    two = new_keypair().public_line.split()
    text = "\n".join(
        [
            f"[127.0.0.1]:2222 {one[0]} {one[1]}",
            f"[::1]:2222,[fe80::1] {one[0]} {one[1]}",
            f"git.example.org,10.0.0.1 {two[0]} {two[1]}",
            f"@cert-authority *.example.org {two[0]} {two[1]}",
        ]
    )
    decoded = keys.decode_host_keys(encode_env_key(text))
    assert decoded.splitlines() == text.splitlines()
    assert decoded.endswith("\n")


def test_host_keys_plain_text_passes_through() -> None:
    one = new_keypair().public_line.split()
    line = f"[::1]:22 {one[0]} {one[1]}"
    assert keys.decode_host_keys(line) == line + "\n"


@pytest.mark.parametrize("value", ["", "::", "just-a-host", "host_ssh-ed25519_***notbase64***"])
def test_bad_host_keys_name_the_variable(value: str) -> None:
    with pytest.raises(RobotError, match=r"^GOPHER_HOST_KEYS"):
        keys.decode_host_keys(value)


def test_bad_host_keys_line_number_is_given() -> None:
    one = new_keypair().public_line.split()
    value = encode_env_key(f"h1 {one[0]} {one[1]}\nbroken line")
    with pytest.raises(RobotError, match=r"^GOPHER_HOST_KEYS line 2 "):
        keys.decode_host_keys(value)


# --- robot.yaml and the manage key chain -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["AppendParameters", "Parameters", "flow"])
def test_manage_key_unlocks_through_the_chain(tmp_path: Path, style: ParameterStyle) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE, style=style)
    runtime = crypto.runtime_key(tmp_path, ENCRYPTION_KEY, "production")
    assert runtime == config.runtime_key
    unlocked = keys.manage_key(tmp_path, runtime)
    assert_openssh_unencrypted(unlocked)
    assert config.manage_public_key.startswith(public_line_of(unlocked) + " ")
    assert public_line_of(unlocked) == public_line_of(config.manage_private_key)


def test_manage_public_key_out_is_written(tmp_path: Path) -> None:
    out = tmp_path / "authorized"
    config = make_robot_config(tmp_path / "custom", ENCRYPTION_KEY, PASSPHRASE, manage_public_key_out=out)
    assert out.read_text().strip() == config.manage_public_key
    assert (tmp_path / "custom" / "ssh" / "manage_key").stat().st_mode & 0o777 == 0o600


def test_keyname_parameter_selects_the_key_file(tmp_path: Path) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE, keyname="robot_key")
    assert keys.read_manage_key_config(tmp_path, config.runtime_key).keyname == "robot_key"
    assert public_line_of(keys.manage_key(tmp_path, config.runtime_key)) == public_line_of(config.manage_private_key)


def test_keyname_defaults_to_manage_key(tmp_path: Path) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE)
    phrase = crypto.encrypt_value(config.runtime_key, PASSPHRASE)
    (tmp_path / "conf" / "robot.yaml").write_text(robot_yaml(phrase, keyname=None))
    found = keys.read_manage_key_config(tmp_path, config.runtime_key)
    assert found == keys.ManageKeyConfig(keyname="manage_key", passphrase=PASSPHRASE)


def test_append_parameters_override_parameters() -> None:
    template = """NameSpaces:
  manage:
    Parameters:
    - Name: KEYNAME
      Value: old_key
    - Name: OTHER
      Value: kept
    AppendParameters:
    - Name: KEYNAME
      Value: new_key
ScheduledJobs: []
"""
    found = keys.manage_parameters(template)
    assert found["KEYNAME"].plain("KEYNAME") == "new_key"
    assert found["OTHER"].plain("OTHER") == "kept"


def test_only_the_namespaces_block_is_parsed() -> None:
    template = """{{ if .Something }} WorkSpace: {{ .Dir }} {{ end }}
Weird: [unclosed
NameSpaces:
  "manage":
    Parameters:
    - Name: KEYNAME
      Value: k
{{ printf "environments/%s.yaml" $environment | .Include }}
"""
    assert keys.manage_parameters(template)["KEYNAME"].plain("KEYNAME") == "k"


def test_wrong_passphrase_names_key_file(tmp_path: Path) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE)
    wrong = "not the phrase at all"
    (tmp_path / "conf" / "robot.yaml").write_text(robot_yaml(crypto.encrypt_value(config.runtime_key, wrong)))
    with pytest.raises(RobotError) as caught:
        keys.manage_key(tmp_path, config.runtime_key)
    message = str(caught.value)
    assert message.startswith("custom/ssh/manage_key does not open with BOT_SSH_PHRASE")
    assert wrong not in message
    assert PASSPHRASE not in message


def test_phrase_for_another_robot_names_the_parameter(tmp_path: Path) -> None:
    make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE)
    other_runtime_key, _ = crypto.new_binary_encrypted_key(ENCRYPTION_KEY)
    with pytest.raises(RobotError, match=r"BOT_SSH_PHRASE of the manage namespace does not decrypt"):
        keys.manage_key(tmp_path, other_runtime_key)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE)
    (tmp_path / "ssh" / "manage_key").unlink()
    with pytest.raises(RobotError, match=r"^custom/ssh/manage_key is missing"):
        keys.manage_key(tmp_path, config.runtime_key)


def test_missing_robot_yaml_is_named(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match=r"^custom/conf/robot.yaml is missing"):
        keys.manage_key(tmp_path, bytes(32))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("BotInfo: {}\n", "has no NameSpaces section"),
        ("NameSpaces:\n  ssh:\n    Parameters: []\n", "has no 'manage' namespace"),
        ("NameSpaces:\n  manage:\n    Parameters:\n    - Name: KEYNAME\n      Value: k\n", "no BOT_SSH_PHRASE"),
        ("NameSpaces:\n  manage:\n    Parameters: nope\n", "must be a list of Name/Value"),
        ("NameSpaces:\n  manage: [\n", "is not valid YAML"),
        ("NameSpaces:\n  manage:\n    Parameters:\n    - Name: KEYNAME\n      Value: ../../etc/x\n", "KEYNAME"),
    ],
)
def test_robot_yaml_problems_are_named(tmp_path: Path, template: str, expected: str) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "robot.yaml").write_text(template)
    with pytest.raises(RobotError) as caught:
        keys.manage_key(tmp_path, bytes(32))
    assert str(caught.value).startswith("custom/conf/robot.yaml")
    assert expected in str(caught.value)


def test_yaml_error_gives_file_line(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "robot.yaml").write_text("A: 1\nB: 2\nNameSpaces:\n  manage:\n    - [\n")
    with pytest.raises(RobotError, match=r"^custom/conf/robot.yaml line \d+: "):
        keys.manage_key(tmp_path, bytes(32))


def test_unencrypted_manage_key_still_loads(tmp_path: Path) -> None:
    config = make_robot_config(tmp_path, ENCRYPTION_KEY, PASSPHRASE)
    plain = new_keypair()
    (tmp_path / "ssh" / "manage_key").write_bytes(plain.private_openssh)
    assert public_line_of(keys.manage_key(tmp_path, config.runtime_key)) == public_line_of(plain.private_openssh)


def test_decrypt_with_raw_string_and_trim_markers(tmp_path: Path) -> None:
    runtime_key, _ = crypto.new_binary_encrypted_key(ENCRYPTION_KEY)
    phrase = crypto.encrypt_value(runtime_key, PASSPHRASE)
    template = f"""NameSpaces:
  manage:
    AppendParameters:
    - Name: BOT_SSH_PHRASE
      Value: "{{{{- decrypt `{phrase}` -}}}}"
"""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "robot.yaml").write_text(template)
    assert keys.read_manage_key_config(tmp_path, runtime_key).passphrase == PASSPHRASE


def test_plain_text_phrase_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "robot.yaml").write_text(
        "NameSpaces:\n  manage:\n    Parameters:\n    - {Name: BOT_SSH_PHRASE, Value: plain phrase}\n"
    )
    assert keys.read_manage_key_config(tmp_path, bytes(32)).passphrase == "plain phrase"


def test_keyname_from_another_template_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "robot.yaml").write_text(
        'NameSpaces:\n  manage:\n    Parameters:\n    - Name: KEYNAME\n      Value: {{ env "KEY" }}\n'
    )
    with pytest.raises(RobotError, match="uses a template the runtime cannot evaluate"):
        keys.read_manage_key_config(tmp_path, bytes(32))


@settings(max_examples=60, deadline=None)
@given(
    hosts=st.lists(
        st.one_of(
            st.from_regex(r"\A[a-z][a-z0-9.-]{0,20}\Z"),
            st.builds(lambda h, p: f"[{h}]:{p}", st.from_regex(r"\A[a-z0-9.:]{1,15}\Z"), st.integers(1, 65535)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_host_keys_round_trip_property(hosts: list[str]) -> None:
    key_b64 = "AAAAC3NzaC1lZDI1NTE5AAAAIHkz0m8Pj3qQ0b1S1gq3c4dO3mZ3kq5qQ8r1v8zqkq5q"
    text = "\n".join(f"{host} ssh-ed25519 {key_b64}" for host in hosts)
    assert keys.decode_host_keys(encode_env_key(text)) == text + "\n"


def test_yaml_error_line_counts_template_lines(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    template = "A: 1\nNameSpaces:\n  {{ if true }}\n  {{ end }}\n  manage:\n    Parameters: [\n"
    (tmp_path / "conf" / "robot.yaml").write_text(template)
    with pytest.raises(RobotError, match=r"^custom/conf/robot.yaml line 6: "):
        keys.manage_key(tmp_path, bytes(32))


# --- keys made by the real ssh-keygen (openssh-client, installed by hack/setup.sh), as Gopherbot's ssh-admin does ---


def ssh_keygen(path: Path, kind: list[str], passphrase: str) -> str:
    """Make a key with ssh-keygen and return its public line (`type base64`)."""
    subprocess.run(["ssh-keygen", "-q", *kind, "-N", passphrase, "-C", "robot", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def public_line_by_ssh_keygen(private_key: bytes, directory: Path) -> str:
    """What OpenSSH itself reads from a private key: proof the unlocked key is usable by ssh."""
    path = directory / "unlocked"
    path.write_bytes(private_key)
    path.chmod(0o600)
    out = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], check=True, capture_output=True, text=True).stdout
    return " ".join(out.split()[:2])


@pytest.mark.parametrize(
    "kind",
    [["-t", "ed25519"], ["-t", "rsa", "-b", "2048"], ["-t", "rsa", "-b", "2048", "-m", "PEM"], ["-t", "ecdsa"]],
    ids=["ed25519", "rsa-openssh", "rsa-legacy-pem", "ecdsa"],
)
def test_manage_key_made_by_ssh_keygen_unlocks(tmp_path: Path, kind: list[str]) -> None:
    custom = tmp_path / "custom"
    config = make_robot_config(custom, ENCRYPTION_KEY, PASSPHRASE)
    key_path = custom / "ssh" / "manage_key"
    key_path.unlink()
    key_path.with_suffix(".pub").unlink()
    public = ssh_keygen(key_path, kind, PASSPHRASE)
    unlocked = keys.manage_key(custom, config.runtime_key)
    assert_openssh_unencrypted(unlocked)
    assert public_line_by_ssh_keygen(unlocked, tmp_path) == public


def test_deploy_key_made_by_ssh_keygen_decodes(tmp_path: Path) -> None:
    public = ssh_keygen(tmp_path / "deploy", ["-t", "ed25519"], "")
    decoded = keys.decode_deploy_key(encode_env_key((tmp_path / "deploy").read_text()))
    assert public_line_by_ssh_keygen(decoded, tmp_path) == public
