"""Issue 4, scenario 11: Lease fencing of `robot-runtime run` against the real API server.

Two copies of one robot share a Lease: only one starts its child; the holder cut off from the API server (through a
TCP proxy on 127.0.0.1 that the test stops) stops its child before the other takes over; a holder killed with
SIGKILL (no release) is replaced only after the Lease expired; a clean exit releases the Lease. Each copy runs as a
ServiceAccount allowed only get/update of its own Lease (and create), as the operator's Role grants.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bots.harness import Runtime, wait_for
from tests.cluster.conftest import Kubectl
from tests.git.conftest import RobotRepo, make_robot_repo
from tests.kubecluster import ControlPlane, service_account_kubeconfig

LEASE = "floyd"
DURATION = 4
SERVICE_ACCOUNT = "floyd-robot"
EXIT_FENCED = 3


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the API server until stopped; stopping cuts every connection at once."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sockets, self._sockets = self._sockets, []
        self.listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def lease_role(namespace: str) -> list[dict[str, Any]]:
    """The robot's own RBAC: get/update its Lease by name, create Leases (create cannot be limited by name)."""
    meta = {"namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": SERVICE_ACCOUNT, **meta},
            "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "resourceNames": [LEASE],
                    "verbs": ["get", "update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": SERVICE_ACCOUNT, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}],
        },
    ]


def through_proxy(kubeconfig: Path, proxy: TcpProxy, target: Path) -> Path:
    """A copy of `kubeconfig` whose server is the proxy (same CA and token; the certificate is for 127.0.0.1)."""
    document = yaml.safe_load(kubeconfig.read_text())
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    target.write_text(yaml.safe_dump(document))
    return target


def api_address(plane: ControlPlane) -> tuple[str, int]:
    host_port = plane.server.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    return host, int(port)


@pytest.fixture
def robot_repo(tmp_path: Path) -> RobotRepo:
    return make_robot_repo(tmp_path / "remote")


@pytest.fixture
def copies() -> Iterator[list[Runtime]]:
    started: list[Runtime] = []
    yield started
    for runtime in started:
        runtime.stop()


def kubeconfig_token(path: Path) -> str:
    token: str = yaml.safe_load(path.read_text())["users"][0]["user"]["token"]
    return token


def lease_spec(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    lease = kubectl.get("lease", LEASE, namespace)
    assert lease is not None, "the Lease was never created"
    spec: dict[str, Any] = lease["spec"]
    return spec


def ready(runtime: Runtime) -> bool:
    try:
        return runtime.get("/readyz")[0] == 200
    except OSError:
        return False


def test_one_lease_one_running_copy(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    robot_repo: RobotRepo,
    tmp_path: Path,
    copies: list[Runtime],
) -> None:
    kubectl.apply(*lease_role(namespace))
    kubeconfig = service_account_kubeconfig(control_plane, namespace, SERVICE_ACCOUNT)
    proxies = [TcpProxy(api_address(control_plane)) for _ in range(2)]

    def copy(name: str, config: Path) -> Runtime:
        runtime = lease_copy(tmp_path, robot_repo, name, config, namespace)
        copies.append(runtime)
        return runtime.start()

    # Two copies start together: exactly one gets the Lease and starts its child.
    first_pair = [
        copy(name, through_proxy(kubeconfig, proxy, tmp_path / f"{name}.kubeconfig"))
        for name, proxy in zip(("copy-a", "copy-b"), proxies, strict=True)
    ]
    holder = wait_for(lambda: next((r for r in first_pair if ready(r)), None), "one copy to become ready")
    waiting = next(r for r in first_pair if r is not holder)
    holder_proxy = proxies[first_pair.index(holder)]
    time.sleep(2 * DURATION)
    assert holder.bot_started()
    assert not waiting.bot_started(), "the second copy started its child while the first held the Lease"
    assert waiting.get("/readyz")[0] == 503
    assert waiting.get("/healthz")[0] == 200
    assert waiting.post_backup(waiting.token)[0] == 503
    spec = lease_spec(kubectl, namespace)
    assert spec["holderIdentity"].startswith(f"{holder.home.name}-")
    assert spec["leaseDurationSeconds"] == DURATION
    assert "waiting for Lease" in waiting.log_text()

    # The holder is cut off from the API server: it fences itself (stops its child, no push) before a takeover.
    remote_before = robot_repo.remote_commit("robot-state")
    holder_proxy.stop()
    assert holder.wait(timeout=6 * DURATION) == EXIT_FENCED, holder.log_text()
    fenced_log = holder.log_text()
    assert "fenced" in fenced_log
    assert "final backup:" not in fenced_log
    assert robot_repo.remote_commit("robot-state") == remote_before, "a fenced copy pushed its state"
    holder_stopped = (holder.home / "state" / "brain" / "memory_bot:last-words").stat().st_mtime
    wait_for(lambda: ready(waiting) and waiting.bot_started(), "the second copy to take over", 6 * DURATION)
    taken_over = (waiting.home / "bot-started.json").stat().st_mtime
    assert taken_over > holder_stopped, "the second copy started before the fenced one had stopped its child"
    print(f"\nfenced child stopped {taken_over - holder_stopped:.1f}s before the second copy started its own")
    spec = lease_spec(kubectl, namespace)
    assert spec["holderIdentity"].startswith(f"{waiting.home.name}-")
    assert spec["leaseTransitions"] >= 1

    # The new holder is killed outright (no release): a third copy waits for the Lease to expire, then takes over.
    third = copy("copy-c", kubeconfig)
    time.sleep(DURATION / 2)
    assert not third.bot_started()
    last_renewal = parse_time(lease_spec(kubectl, namespace)["renewTime"])
    waiting.kill_all()
    killed_at = time.time()
    wait_for(
        lambda: ready(third) and third.bot_started(), "the third copy to take over from the killed one", 6 * DURATION
    )
    third_started = (third.home / "bot-started.json").stat().st_mtime
    assert third_started > last_renewal + DURATION, "the Lease was taken over before it expired"
    print(f"\ntakeover {third_started - killed_at:.1f}s after kill -9 (lease duration {DURATION}s)")
    assert lease_spec(kubectl, namespace)["holderIdentity"].startswith("copy-c-")

    # A clean stop releases the Lease at once.
    third.signal(signal.SIGTERM)
    assert third.wait() == 0, third.log_text()
    assert "holderIdentity" not in lease_spec(kubectl, namespace)
    token = kubeconfig_token(kubeconfig)
    for runtime in copies:
        assert token not in runtime.log_text(), f"the ServiceAccount token leaked into {runtime.log}"


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def lease_copy(tmp_path: Path, repo: RobotRepo, name: str, kubeconfig: Path, namespace: str) -> Runtime:
    return Runtime(
        home=tmp_path / name,
        repo=repo,
        log=tmp_path / f"{name}.log",
        extra_env={
            "KUBECONFIG": str(kubeconfig),
            "HOSTNAME": name,
            "ROBOT_LEASE_NAME": LEASE,
            "ROBOT_LEASE_NAMESPACE": namespace,
            "ROBOT_LEASE_DURATION": str(DURATION),
        },
    )


def test_waiting_copy_stops_at_once_and_a_copy_without_rbac_fails_clearly(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    robot_repo: RobotRepo,
    tmp_path: Path,
    copies: list[Runtime],
) -> None:
    kubectl.apply(*lease_role(namespace))
    kubeconfig = service_account_kubeconfig(control_plane, namespace, SERVICE_ACCOUNT)
    holder = lease_copy(tmp_path, robot_repo, "holder", kubeconfig, namespace)
    copies.append(holder.start())
    wait_for(lambda: ready(holder) and holder.bot_started(), "the holder to start its child", 60)

    waiting = lease_copy(tmp_path, robot_repo, "waiting", kubeconfig, namespace)
    copies.append(waiting.start())
    wait_for(lambda: "waiting for Lease" in waiting.log_text(), "the second copy to wait for the Lease")
    waiting.signal(signal.SIGTERM)
    assert waiting.wait(timeout=20) == 0, waiting.log_text()
    assert not waiting.bot_started()
    assert "the robot never started" in waiting.log_text()

    # The namespace's default ServiceAccount has no Role: refusing is immediate and says why, on one line.
    unauthorised = lease_copy(
        tmp_path, robot_repo, "no-rbac", service_account_kubeconfig(control_plane, namespace, "default"), namespace
    )
    copies.append(unauthorised.start())
    assert unauthorised.wait(timeout=60) == 1, unauthorised.log_text()
    log = unauthorised.log_text()
    assert f"not allowed to read Lease {namespace}/{LEASE}" in log
    assert "Traceback" not in log
    assert not unauthorised.bot_started()

    holder.signal(signal.SIGTERM)
    assert holder.wait() == 0, holder.log_text()
    assert "holderIdentity" not in lease_spec(kubectl, namespace)
