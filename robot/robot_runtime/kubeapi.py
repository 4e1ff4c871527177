"""A minimal Kubernetes REST client (urllib + ssl): in-cluster or KUBECONFIG, JSON in and out, a timeout per call.

The robot image stays lean: this replaces the `kubernetes` package for the few calls the runtime makes (its Lease).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import json
import os
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_runtime.errors import RobotError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
JsonObject = dict[str, Any]


class KubeApiError(Exception):
    """The API server answered with an error status; `status` is the HTTP code (0: the server was not reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate to it; secrets are kept out of repr()."""

    server: str
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    ca_file: Path | None = None
    ca_data: str | None = field(default=None, repr=False)
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    insecure: bool = False

    def bearer_token(self) -> str | None:
        """The token, re-read from its file on every call (projected service-account tokens rotate)."""
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip()
            except OSError as error:
                raise KubeApiError(0, f"cannot read the token file {self.token_file}: {error.strerror}") from None
        return self.token


def load_config(env: Mapping[str, str], service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> KubeConfig:
    """In-cluster config when KUBERNETES_SERVICE_HOST is set and a token is mounted, else the KUBECONFIG file."""
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    if host and (service_account_dir / "token").is_file():
        return _in_cluster_config(host, env.get("KUBERNETES_SERVICE_PORT", "443"), service_account_dir)
    kubeconfig = env.get("KUBECONFIG", "").split(os.pathsep)[0]
    if kubeconfig:
        return load_kubeconfig(Path(kubeconfig))
    raise RobotError("no Kubernetes API: neither in a pod with a service-account token nor KUBECONFIG set")


def in_cluster_namespace(service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> str | None:
    """The pod's namespace from the mounted service account, or None outside a cluster."""
    try:
        return (service_account_dir / "namespace").read_text().strip() or None
    except OSError:
        return None


def _in_cluster_config(host: str, port: str, service_account_dir: Path) -> KubeConfig:
    server_host = f"[{host}]" if ":" in host else host
    ca_file = service_account_dir / "ca.crt"
    return KubeConfig(
        server=f"https://{server_host}:{port}",
        token_file=service_account_dir / "token",
        ca_file=ca_file if ca_file.is_file() else None,
    )


def load_kubeconfig(path: Path) -> KubeConfig:
    """Read the current context of a kubeconfig file: server, CA, and a token or a client certificate."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RobotError(f"cannot read KUBECONFIG file {path}: {error.strerror}") from None
    except yaml.YAMLError:
        raise RobotError(f"KUBECONFIG file {path} is not valid YAML") from None
    if not isinstance(document, dict):
        raise RobotError(f"KUBECONFIG file {path} is not a kubeconfig (expected a mapping)")
    context = _named(document, "contexts", "context", document.get("current-context"), path)
    cluster = _named(document, "clusters", "cluster", context.get("cluster"), path)
    user = _named(document, "users", "user", context.get("user"), path) if context.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise RobotError(f"KUBECONFIG file {path}: the current context's cluster has no http(s) server")
    base = path.parent
    return KubeConfig(
        server=server.rstrip("/"),
        token=user.get("token") or None,
        token_file=_relative(base, user.get("tokenFile")),
        ca_file=_relative(base, cluster.get("certificate-authority")),
        ca_data=_decoded(cluster.get("certificate-authority-data"), "certificate-authority-data", path),
        client_cert_file=_file_or_data(base, user, "client-certificate", path),
        client_key_file=_file_or_data(base, user, "client-key", path),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def _named(document: JsonObject, section: str, inner: str, name: object, path: Path) -> JsonObject:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(inner), dict):
            found: JsonObject = entry[inner]
            return found
    raise RobotError(f"KUBECONFIG file {path}: no {inner} named {name!r} in {section}")


def _relative(base: Path, value: object) -> Path | None:
    if not isinstance(value, str) or not value:
        return None
    candidate = Path(value)
    return candidate if candidate.is_absolute() else base / candidate


def _decoded(value: object, name: str, path: Path) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise RobotError(f"KUBECONFIG file {path}: {name} is not base64 PEM") from None


def _file_or_data(base: Path, user: JsonObject, name: str, path: Path) -> Path | None:
    """`client-certificate` / `client-key` as a path, or `*-data` written to a private 0600 file removed at exit."""
    data = _decoded(user.get(f"{name}-data"), f"{name}-data", path)
    if data is None:
        return _relative(base, user.get(name))
    directory = Path(tempfile.mkdtemp(prefix="robot-kube-"))
    atexit.register(shutil.rmtree, directory, True)
    target = directory / name
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(data)
    return target


class KubeClient:
    """JSON requests to the API server; every call has a timeout and raises KubeApiError on failure."""

    def __init__(self, config: KubeConfig) -> None:
        self.config = config
        try:
            self._context = _ssl_context(config) if config.server.startswith("https://") else None
        except (OSError, ssl.SSLError) as error:
            files = ", ".join(str(f) for f in (config.ca_file, config.client_cert_file, config.client_key_file) if f)
            raise RobotError(
                f"cannot load the Kubernetes CA or client certificate ({files or 'inline data'}): "
                f"{getattr(error, 'strerror', None) or type(error).__name__}"
            ) from None

    def get(self, path: str, timeout: float) -> JsonObject:
        return self.request("GET", path, None, timeout)

    def create(self, path: str, body: JsonObject, timeout: float) -> JsonObject:
        return self.request("POST", path, body, timeout)

    def replace(self, path: str, body: JsonObject, timeout: float) -> JsonObject:
        return self.request("PUT", path, body, timeout)

    def request(self, method: str, path: str, body: JsonObject | None, timeout: float) -> JsonObject:
        headers = {"Accept": "application/json"}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the server URL is checked to be http(s)
            self.config.server + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:  # noqa: S310
                return _json_object(response.read())
        except urllib.error.HTTPError as error:
            raise KubeApiError(error.code, _status_message(method, path, error)) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise KubeApiError(0, f"{method} {path}: API server not reachable: {_one_line(str(reason))}") from None


def _ssl_context(config: KubeConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(config.ca_file) if config.ca_file else None, cadata=config.ca_data or None
    )
    if config.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.client_cert_file is not None:
        context.load_cert_chain(str(config.client_cert_file), str(config.client_key_file or config.client_cert_file))
    return context


def _json_object(payload: bytes) -> JsonObject:
    try:
        value = json.loads(payload or b"{}")
    except json.JSONDecodeError:
        raise KubeApiError(0, "API server answered with something that is not JSON") from None
    if not isinstance(value, dict):
        raise KubeApiError(0, "API server answered with JSON that is not an object")
    return value


def _status_message(method: str, path: str, error: urllib.error.HTTPError) -> str:
    """`METHOD path: HTTP 409 Conflict: <the Status object's message>`, on one line."""
    detail = ""
    try:
        status = json.loads(error.read() or b"{}")
        if isinstance(status, dict):
            detail = str(status.get("message", ""))
    except (json.JSONDecodeError, OSError):
        detail = ""
    text = f"{method} {path}: HTTP {error.code} {error.reason}"
    return _one_line(f"{text}: {detail}" if detail else text)


def _one_line(text: str) -> str:
    return " ".join(text.split())
