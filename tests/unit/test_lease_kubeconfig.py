"""How the Lease client finds the API server: in-cluster service account files or a KUBECONFIG file."""

from __future__ import annotations

import base64
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from robot_runtime.errors import RobotError
from robot_runtime.kubeapi import KubeConfig, in_cluster_namespace, load_config, load_kubeconfig

TOKEN = "kube-token-value-not-for-logs"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_kubeconfig(path: Path, user: Mapping[str, object], cluster: Mapping[str, object] | None = None) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "robot",
        "contexts": [
            {"name": "other", "context": {"cluster": "nowhere", "user": "nobody"}},
            {"name": "robot", "context": {"cluster": "local", "user": "robot"}},
        ],
        "clusters": [
            {
                "name": "local",
                "cluster": cluster or {"server": "https://127.0.0.1:6443/", "certificate-authority": "ca.crt"},
            }
        ],
        "users": [{"name": "robot", "user": user}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_token_kubeconfig_with_a_relative_ca_file(tmp_path: Path) -> None:
    config = load_kubeconfig(write_kubeconfig(tmp_path / "config", {"token": TOKEN}))
    assert config.server == "https://127.0.0.1:6443"
    assert config.bearer_token() == TOKEN
    assert config.ca_file == tmp_path / "ca.crt"
    assert config.client_cert_file is None
    assert TOKEN not in repr(config)


def test_inline_ca_and_client_certificate_data(tmp_path: Path) -> None:
    user = {"client-certificate-data": b64("CERT PEM"), "client-key-data": b64("KEY PEM")}
    cluster = {"server": "https://[::1]:6443", "certificate-authority-data": b64(CA_PEM)}
    config = load_kubeconfig(write_kubeconfig(tmp_path / "config", user, cluster))
    assert config.ca_data == CA_PEM
    assert config.client_cert_file is not None
    assert config.client_key_file is not None
    assert config.client_cert_file.read_text() == "CERT PEM"
    assert config.client_key_file.read_text() == "KEY PEM"
    assert stat.S_IMODE(config.client_key_file.stat().st_mode) == 0o600
    assert config.bearer_token() is None


def test_token_file_is_read_at_each_request(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    config = load_kubeconfig(write_kubeconfig(tmp_path / "config", {"tokenFile": "token"}))
    assert config.bearer_token() == "first"
    token_file.write_text("rotated\n")
    assert config.bearer_token() == "rotated"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{{ not yaml", "not valid YAML"),
        ("- a list\n", "not a kubeconfig"),
        ("current-context: missing\ncontexts: []\n", "no context named 'missing'"),
    ],
)
def test_bad_kubeconfig_files_are_one_line_errors_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(RobotError, match=message) as caught:
        load_kubeconfig(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_kubeconfig_without_a_server_is_refused(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", {"token": TOKEN}, {"certificate-authority": "ca.crt"})
    with pytest.raises(RobotError, match="no http\\(s\\) server") as caught:
        load_kubeconfig(path)
    assert TOKEN not in str(caught.value)


def test_missing_kubeconfig_file(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match="cannot read KUBECONFIG file"):
        load_config({"KUBECONFIG": str(tmp_path / "absent")}, service_account_dir=tmp_path)


def service_account(directory: Path) -> Path:
    directory.mkdir()
    (directory / "token").write_text(TOKEN)
    (directory / "ca.crt").write_text(CA_PEM)
    (directory / "namespace").write_text("bots\n")
    return directory


def test_in_cluster_config_wins_over_kubeconfig(tmp_path: Path) -> None:
    account = service_account(tmp_path / "sa")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": "/nonexistent"}
    config = load_config(env, service_account_dir=account)
    assert config == KubeConfig(
        server="https://10.96.0.1:443", token_file=account / "token", ca_file=account / "ca.crt"
    )
    assert config.bearer_token() == TOKEN
    assert in_cluster_namespace(account) == "bots"


def test_in_cluster_ipv6_service_host_is_bracketed(tmp_path: Path) -> None:
    config = load_config({"KUBERNETES_SERVICE_HOST": "fd00::1"}, service_account_dir=service_account(tmp_path / "sa"))
    assert config.server == "https://[fd00::1]:443"


def test_no_cluster_at_all_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RobotError, match="KUBECONFIG"):
        load_config({}, service_account_dir=tmp_path)
    assert in_cluster_namespace(tmp_path) is None
