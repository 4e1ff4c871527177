"""Fixtures for the control-plane tier: one real control plane per session, kubectl, namespaces, the operator."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubecluster import ROOT, ControlPlane, build_binaries, operator_environment, service_account_kubeconfig

DEPLOY_DIR = ROOT / "deploy"
OPERATOR_BIN = ROOT / ".venv" / "bin" / "robot-operator"
WAIT_S = 120.0
ROBOTS = "robots.gopherbot.io"


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S, interval_s: float = 0.25) -> Any:
    """Poll check() until it returns a truthy value (returned) or fail after timeout_s naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


class Kubectl:
    """Runs the control plane's own kubectl with a given kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl; on failure (with check) fail the test with its stderr."""
        cmd = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        result = self.run("get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found", check=False)
        if result.returncode != 0:
            pytest.fail(f"kubectl get {kind} {name} failed: {result.stderr.strip()}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def apply(self, *objects: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Server-side validated `kubectl apply -f -` of the given objects."""
        return self.run("apply", "-f", "-", stdin=yaml.safe_dump_all(objects), check=check)

    def token(self, service_account: str, namespace: str, duration: str = "2h") -> str:
        return self.run("create", "token", service_account, "-n", namespace, f"--duration={duration}").stdout.strip()

    def can_i(self, verb: str, resource: str, namespace: str, as_user: str) -> bool:
        result = self.run("auth", "can-i", verb, resource, "-n", namespace, f"--as={as_user}", check=False)
        return result.stdout.strip() == "yes"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver + kube-controller-manager on 127.0.0.1 for the whole session."""
    plane = ControlPlane(bin_dir=build_binaries(), run_dir=tmp_path_factory.mktemp("controlplane"))
    started = time.monotonic()
    plane.start()
    _MEASUREMENTS.append(f"control plane ready in {time.monotonic() - started:.1f} s (run dir {plane.run_dir})")
    _CONTROL_PLANES.append(plane)
    try:
        yield plane
    finally:
        plane.stop()
        _CONTROL_PLANES.remove(plane)


_CONTROL_PLANES: list[ControlPlane] = []
_MEASUREMENTS: list[str] = []


@pytest.fixture
def measure() -> Callable[[str], None]:
    """Record a measurement line (timings, counts): printed in the terminal summary of the run."""
    return _MEASUREMENTS.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the cluster tier's measurements (control plane start-up, Robot -> children times, idle writes)."""
    if _MEASUREMENTS:
        terminalreporter.section("cluster measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


_OPERATORS: list[OperatorProcess] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failing cluster test, attach the tails of the control plane's and the operator's logs to the report."""
    report = yield
    if report.failed:
        for plane in _CONTROL_PLANES:
            report.sections.append(("control plane logs", plane.log_tails()))
        for operator in _OPERATORS:
            report.sections.append(("operator log", operator.log_tail()))
    return report


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """kubectl as the cluster admin (system:masters)."""
    return Kubectl(control_plane.kubectl, control_plane.admin_kubeconfig)


def _crd_installed(kubectl: Kubectl) -> bool:
    return kubectl.run("get", "crd", ROBOTS, "--ignore-not-found", "-o", "name", check=False).stdout.strip() != ""


def restricted_namespace(name: str) -> dict[str, Any]:
    """A Namespace enforcing Pod Security `restricted` (latest)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


@pytest.fixture
def new_namespace(kubectl: Kubectl) -> Iterator[Callable[[], str]]:
    """A factory of fresh restricted namespaces; at teardown their Robots go first, then the namespaces."""
    created: list[str] = []

    def create() -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        kubectl.apply(restricted_namespace(name))
        created.append(name)
        wait_for(lambda: kubectl.get("serviceaccount", "default", name), f"the default ServiceAccount in {name}")
        return name

    yield create
    crd = _crd_installed(kubectl)
    for name in created:
        if crd:
            kubectl.run("delete", ROBOTS, "--all", "-n", name, "--wait=true", "--timeout=60s", check=False)
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(new_namespace: Callable[[], str]) -> str:
    """A fresh namespace enforcing Pod Security `restricted`; its Robots are deleted before the namespace."""
    return new_namespace()


def rendered_deploy(kubectl: Kubectl) -> list[dict[str, Any]]:
    """The objects of `kubectl kustomize deploy/`."""
    return [doc for doc in yaml.safe_load_all(kubectl.run("kustomize", str(DEPLOY_DIR)).stdout) if doc]


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl) -> list[dict[str, Any]]:
    """deploy/ installed with `kubectl apply -k` (CRD, RBAC, the operator's ServiceAccount and Deployment)."""
    kubectl.run("apply", "-k", str(DEPLOY_DIR))
    kubectl.run("wait", "--for=condition=Established", f"crd/{ROBOTS}", "--timeout=60s")
    return rendered_deploy(kubectl)


def operator_service_account(objects: list[dict[str, Any]]) -> tuple[str, str]:
    """(namespace, name) of the operator's ServiceAccount in deploy/."""
    accounts = [o for o in objects if o.get("kind") == "ServiceAccount"]
    if len(accounts) != 1:
        pytest.fail(f"deploy/ should hold exactly one ServiceAccount, found {len(accounts)}")
    meta = accounts[0]["metadata"]
    return str(meta.get("namespace", "default")), str(meta["name"])


class OperatorProcess:
    """`robot-operator run` as a subprocess, authenticated as its own ServiceAccount; log in the run dir."""

    def __init__(self, kubeconfig: Path, log: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = operator_environment(self.kubeconfig)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(OPERATOR_BIN), "run", *self.extra_args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crashed or evicted operator."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.fixture(scope="session")
def operator_kubeconfig(control_plane: ControlPlane, kubectl: Kubectl, installed: list[dict[str, Any]]) -> Path:
    """A kubeconfig holding a token of the operator's OWN ServiceAccount (so missing RBAC fails the tests)."""
    sa_namespace, sa_name = operator_service_account(installed)
    return service_account_kubeconfig(control_plane, sa_namespace, sa_name, "6h")


@pytest.fixture(scope="session")
def operator(control_plane: ControlPlane, operator_kubeconfig: Path) -> Iterator[OperatorProcess]:
    """The operator running for the session as its ServiceAccount, watching all namespaces."""
    process = OperatorProcess(operator_kubeconfig, control_plane.run_dir / "logs" / "operator.log")
    process.start()
    _OPERATORS.append(process)
    try:
        yield process
    finally:
        process.stop()
        _OPERATORS.remove(process)
