"""A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on 127.0.0.1."""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
CONTROLPLANE_SH = ROOT / "hack" / "controlplane.sh"
LOOPBACK = "127.0.0.1"
ADMIN_USER = "robot-admin"
CONTROLLERS = (
    "deployment",
    "replicaset",
    "cronjob",
    "job",
    "garbagecollector",
    "serviceaccount",
    "serviceaccount-token",
    "namespace",
    "root-ca-cert-publisher",
    "clusterrole-aggregation",
)
# Every write (not read) by any ServiceAccount is logged: the tests count the operator's writes with it.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {
            "level": "Metadata",
            "userGroups": ["system:serviceaccounts"],
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
        },
        {"level": "None"},
    ],
}
START_TIMEOUT_S = 90.0


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached (one line, names the component and its log)."""


def cache_root() -> Path:
    """The per-user cache shared by every clone: ${XDG_CACHE_HOME:-~/.cache}/robot-operator."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robot-operator"


def build_binaries() -> Path:
    """Build the pinned binaries once (cached outside the clone) and return their directory."""
    build = subprocess.run([str(CONTROLPLANE_SH), "build"], check=False, capture_output=True, text=True)
    if build.returncode != 0:
        tail = (build.stdout + build.stderr).strip().splitlines()[-20:]
        raise ControlPlaneError("hack/controlplane.sh build failed:\n" + "\n".join(tail))
    return binary_dir()


def binary_dir() -> Path:
    """The cache directory of the binaries for the pinned versions (built or not)."""
    out = subprocess.run([str(CONTROLPLANE_SH), "bin-dir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def free_port() -> int:
    """A currently free TCP port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (keys and tokens)."""
    path.write_bytes(b"")
    path.chmod(0o600)
    path.write_bytes(data)


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    """A one-year certificate: a CA when issuer is None, otherwise a 127.0.0.1/localhost serving certificate."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        import ipaddress

        alt_names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(pki: Path) -> None:
    """Generate the CA, the API server's serving certificate and the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("robot-operator-test-ca", ca_key, None)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("kube-apiserver", server_key, (ca_cert.subject, ca_key))
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (pki / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(pki / "ca.key", _pem_key(ca_key))
    (pki / "apiserver.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(pki / "apiserver.key", _pem_key(server_key))
    _write_private(pki / "sa.key", _pem_key(sa_key))
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (pki / "sa.pub").write_bytes(sa_pub)


def kubeconfig(server: str, ca_pem: bytes, user: str, token: str) -> dict[str, object]:
    """A kubeconfig for one token-authenticated user of this control plane."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "robot-test",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "robot-test", "context": {"cluster": "robot-test", "user": user}}],
        "current-context": "robot-test",
    }


def write_kubeconfig(path: Path, config: dict[str, object]) -> Path:
    """Write a kubeconfig readable only by its owner (it holds a token)."""
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path


@dataclass
class ControlPlane:
    """One control plane: its binaries, run directory (certs, kubeconfigs, data, logs) and processes."""

    bin_dir: Path
    run_dir: Path
    apiserver_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.run_dir / "admin.kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def audit_log(self) -> Path:
        return self.run_dir / "logs" / "audit.log"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    def log_path(self, component: str) -> Path:
        return self.run_dir / "logs" / f"{component}.log"

    def start(self, detach: bool = False) -> None:
        """Start etcd, the API server and the controller manager; return once the API server is ready."""
        for sub in ("pki", "logs", "etcd"):
            (self.run_dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        pki = self.run_dir / "pki"
        write_pki(pki)
        admin_token, kcm_token = secrets.token_hex(24), secrets.token_hex(24)
        _write_private(
            pki / "tokens.csv",
            (
                f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
                f"{kcm_token},system:kube-controller-manager,system:kube-controller-manager\n"
            ).encode(),
        )
        (self.run_dir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
        etcd_port, peer_port = free_port(), free_port()
        self.apiserver_port = free_port()
        ca_pem = (pki / "ca.crt").read_bytes()
        write_kubeconfig(self.admin_kubeconfig, kubeconfig(self.server, ca_pem, ADMIN_USER, admin_token))
        kcm_config = write_kubeconfig(
            self.run_dir / "controller-manager.kubeconfig",
            kubeconfig(self.server, ca_pem, "system:kube-controller-manager", kcm_token),
        )
        self._spawn("etcd", self._etcd_args(etcd_port, peer_port), detach)
        self._wait_http(f"http://{LOOPBACK}:{etcd_port}/health", "etcd", None)
        self._spawn("kube-apiserver", self._apiserver_args(etcd_port, pki), detach)
        self._wait_http(f"{self.server}/readyz", "kube-apiserver", ssl.create_default_context(cafile=pki / "ca.crt"))
        self._spawn("kube-controller-manager", self._controller_manager_args(kcm_config, pki), detach)
        self._save_state()

    def _etcd_args(self, port: int, peer_port: int) -> list[str]:
        client, peer = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{peer_port}"
        return [
            str(self.bin_dir / "etcd"),
            "--name=default",
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync",  # a throwaway test store: speed over durability
            "--log-level=warn",
        ]

    def _apiserver_args(self, etcd_port: int, pki: Path) -> list[str]:
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.apiserver_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=false",
            "--profiling=false",
            f"--audit-policy-file={self.run_dir / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ]

    def _controller_manager_args(self, kcm_config: Path, pki: Path) -> list[str]:
        return [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kcm_config}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--leader-elect=false",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--profiling=false",
        ]

    def _spawn(self, component: str, args: Sequence[str], detach: bool) -> None:
        with self.log_path(component).open("ab") as log:
            self.processes[component] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
            )

    def _wait_http(self, url: str, component: str, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            proc = self.processes[component]
            if proc.poll() is not None:
                self.stop()
                raise ControlPlaneError(f"{component} exited with {proc.returncode}; see {self.log_path(component)}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2, context=context) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise ControlPlaneError(f"{component} not ready in {START_TIMEOUT_S:.0f} s; see {self.log_path(component)}")

    def _save_state(self) -> None:
        state = {
            "pids": {name: proc.pid for name, proc in self.processes.items()},
            "apiserver_port": self.apiserver_port,
            "bin_dir": str(self.bin_dir),
        }
        self.state_file.write_text(json.dumps(state))

    def stop(self) -> None:
        """Stop the components in reverse order (TERM, then KILL after a grace period)."""
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every component's log, for a failure report."""
        parts = []
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            if log.name == "audit.log":
                continue
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"==> {log} <==\n" + "\n".join(text))
        return "\n".join(parts)


def kubectl_run(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    """Run the control plane's kubectl as the admin; raise ControlPlaneError with its stderr on failure."""
    cmd = [str(plane.kubectl), f"--kubeconfig={plane.admin_kubeconfig}", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"kubectl {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def install_deploy(plane: ControlPlane, deploy: Path = ROOT / "deploy") -> tuple[str, str]:
    """`kubectl apply -k deploy/`, wait for the CRD; return (namespace, name) of the operator's ServiceAccount."""
    kubectl_run(plane, "apply", "-k", str(deploy))
    kubectl_run(plane, "wait", "--for=condition=Established", "crd/robots.gopherbot.io", "--timeout=60s")
    objects = list(yaml.safe_load_all(kubectl_run(plane, "kustomize", str(deploy))))
    account = next(o for o in objects if o and o.get("kind") == "ServiceAccount")["metadata"]
    return str(account.get("namespace", "default")), str(account["name"])


def service_account_kubeconfig(plane: ControlPlane, namespace: str, name: str, duration: str = "24h") -> Path:
    """A kubeconfig authenticated by a fresh token (`kubectl create token`) of a ServiceAccount."""
    token = kubectl_run(plane, "create", "token", name, "-n", namespace, f"--duration={duration}").strip()
    ca_pem = (plane.run_dir / "pki" / "ca.crt").read_bytes()
    config = kubeconfig(plane.server, ca_pem, f"system:serviceaccount:{namespace}:{name}", token)
    return write_kubeconfig(plane.run_dir / f"sa-{namespace}-{name}.kubeconfig", config)


def operator_environment(kubeconfig_path: Path) -> dict[str, str]:
    """The environment for a local `robot-operator run`: this kubeconfig, loopback-only endpoints on free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "ROBOT_OPERATOR_"))}
    env.update(
        KUBECONFIG=str(kubeconfig_path),
        PYTHONUNBUFFERED="1",
        ROBOT_OPERATOR_LIVENESS=f"http://{LOOPBACK}:{free_port()}/healthz",
        ROBOT_OPERATOR_METRICS_ADDR=f"{LOOPBACK}:{free_port()}",
    )
    return env


def stop_detached(run_dir: Path) -> bool:
    """Stop a control plane started with `up` (pids from its state file); False if none was running."""
    state_file = run_dir / "state.json"
    if not state_file.exists():
        return False
    pids: dict[str, int] = json.loads(state_file.read_text())["pids"]
    for pid in reversed(list(pids.values())):  # controller manager, API server, then etcd: one at a time
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, 20.0)
    state_file.unlink()
    return True


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def default_run_dir() -> Path:
    """Where `make cluster-up` keeps its certificates, kubeconfigs, data and logs."""
    return cache_root() / "run" / "default"


@contextlib.contextmanager
def running(run_dir: Path) -> Iterator[ControlPlane]:
    """Build if needed, start a control plane in run_dir, and stop it on exit."""
    plane = ControlPlane(bin_dir=build_binaries(), run_dir=run_dir)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def cluster_reachable(kubectl: str, kubeconfig_path: str | None = None, timeout_s: int = 5) -> bool:
    """True when the kubeconfig (or the default one) reaches an API server within timeout_s."""
    env = dict(os.environ)
    if kubeconfig_path:
        env["KUBECONFIG"] = kubeconfig_path
    try:
        probe = subprocess.run(
            [kubectl, f"--request-timeout={timeout_s}s", "get", "--raw", "/readyz"],
            capture_output=True,
            env=env,
            timeout=timeout_s + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def deploy_key_value() -> str:
    """A throwaway ed25519 private key in GOPHER_DEPLOY_KEY form (spaces as `_`, newlines as `:`)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    return pem.replace(" ", "_").replace("\n", ":")


def demo_dotenv(repository: str, protocol: str = "terminal") -> str:
    """A valid robot `.env` with throwaway demo values (no real robot can use them: the host is not reachable)."""
    return (
        "# Demo robot for a local control plane: throwaway values.\n"
        f"GOPHER_CUSTOM_REPOSITORY={repository}\n"
        f"GOPHER_DEPLOY_KEY={deploy_key_value()}\n"
        f"GOPHER_ENCRYPTION_KEY={secrets.token_hex(16)}\n"
        f"GOPHER_PROTOCOL={protocol}\n"
    )


def example_robots(examples: Path) -> list[dict[str, Any]]:
    """The Robot objects among deploy/examples/*.yaml."""
    robots = []
    for path in sorted(examples.glob("*.yaml")):
        robots += [doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == "Robot"]
    return robots


def create_example(kubectl: str, namespace: str, examples: Path) -> list[str]:
    """Create the namespace (Pod Security restricted), each example Robot's `.env` Secret and the Robot."""
    env = dict(os.environ)
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        }
    ]
    names = []
    for robot in example_robots(examples):
        robot["metadata"]["namespace"] = namespace
        env_from = robot["spec"]["envFrom"]
        dotenv = demo_dotenv(f"ssh://git@127.0.0.1:2222/demo/{robot['metadata']['name']}.git")
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": env_from["secretName"], "namespace": namespace},
                "stringData": {env_from.get("key", ".env"): dotenv},
            }
        )
        manifests.append(robot)
        names.append(robot["metadata"]["name"])
    subprocess.run([kubectl, "apply", "-f", "-"], input=yaml.safe_dump_all(manifests), text=True, env=env, check=True)
    return names


def _cmd_up(run_dir: Path) -> int:
    if (run_dir / "state.json").exists():
        stop_detached(run_dir)
    if (run_dir / "etcd").exists():
        shutil.rmtree(run_dir / "etcd")  # new keys each start: old tokens and secrets would not verify
    plane = ControlPlane(bin_dir=build_binaries(), run_dir=run_dir)
    started = time.monotonic()
    plane.start(detach=True)
    print(f"control plane ready in {time.monotonic() - started:.1f} s: {plane.server}; logs in {run_dir / 'logs'}")
    print(f"kubectl: {plane.kubectl}")
    print(f"export KUBECONFIG={plane.admin_kubeconfig}")
    return 0


def _cmd_down(run_dir: Path) -> int:
    if stop_detached(run_dir):
        print(f"control plane in {run_dir} stopped")
    else:
        print(f"no control plane running in {run_dir}")
    return 0


def _cmd_example(kubectl: str, namespace: str, examples: Path) -> int:
    names = create_example(kubectl, namespace, examples)
    if not names:
        raise ControlPlaneError(f"no Robot found in {examples}/*.yaml")
    print(f"created Robot(s) {', '.join(names)} in namespace {namespace} with demo .env Secrets")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "example"])
    parser.add_argument("--run-dir", type=Path, default=default_run_dir(), help="certs, kubeconfigs, data and logs")
    parser.add_argument("--kubectl", default="kubectl", help="example: the kubectl to use (KUBECONFIG from the env)")
    parser.add_argument("--namespace", default="robots", help="example: the namespace of the example robot")
    parser.add_argument("--examples", type=Path, default=ROOT / "deploy" / "examples", help="example: Robot YAMLs")
    args = parser.parse_args(argv)
    try:
        if args.command == "example":
            return _cmd_example(args.kubectl, args.namespace, args.examples)
        return _cmd_up(args.run_dir) if args.command == "up" else _cmd_down(args.run_dir)
    except ControlPlaneError as err:
        print(f"controlplane: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
