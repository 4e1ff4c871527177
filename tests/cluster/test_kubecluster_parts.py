"""The pure parts of tests/kubecluster.py: certificates, kubeconfigs, the demo `.env` (no control plane needed)."""

from __future__ import annotations

import base64
import ipaddress
import stat
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from robot_operator import dotenv, envcheck, names
from robot_operator.model import Robot
from tests.kubecluster import demo_dotenv, kubeconfig, write_kubeconfig, write_pki


def test_pki_server_certificate_is_signed_by_the_ca_for_loopback(tmp_path: Path) -> None:
    write_pki(tmp_path)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    server.verify_directly_issued_by(ca)
    alt_names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in alt_names.get_values_for_type(x509.IPAddress)
    assert "localhost" in alt_names.get_values_for_type(x509.DNSName)
    for private in ("ca.key", "apiserver.key", "sa.key"):
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600, private


def test_kubeconfig_is_private_and_points_at_the_server(tmp_path: Path) -> None:
    config = kubeconfig("https://127.0.0.1:6443", b"PEM", "someone", "tok-123")
    path = write_kubeconfig(tmp_path / "k.kubeconfig", config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = yaml.safe_load(path.read_text())
    assert loaded["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(loaded["clusters"][0]["cluster"]["certificate-authority-data"]) == b"PEM"
    assert loaded["users"][0]["user"]["token"] == "tok-123"


def test_demo_dotenv_passes_the_operators_checks() -> None:
    text = demo_dotenv("ssh://git@127.0.0.1:2222/demo/floyd.git")
    robot = Robot.from_resource(
        {"metadata": {"name": "floyd", "namespace": "robots"}, "spec": {"envFrom": {"secretName": "floyd-dotenv"}}}
    )
    resolved = envcheck.resolve_env(robot, {names.DEFAULT_ENV_KEY: text.encode()})
    assert resolved.repository == "ssh://git@127.0.0.1:2222/demo/floyd.git"
    variables = dotenv.parse(text)
    assert len(variables[names.GOPHER_ENCRYPTION_KEY]) >= names.ENCRYPTION_KEY_MIN_BYTES
    assert " " not in variables[names.GOPHER_DEPLOY_KEY]
    assert "\n" not in variables[names.GOPHER_DEPLOY_KEY]
    assert variables[names.GOPHER_DEPLOY_KEY].startswith("-----BEGIN_OPENSSH_PRIVATE_KEY-----:")
    assert demo_dotenv("x") != demo_dotenv("x")  # fresh throwaway values each time
