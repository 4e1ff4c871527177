"""Never two robots at once: two Robots on one repository created back to back (two namespaces) are watched from
before their creation, and at no observed moment do both Deployments ask for a replica.

Against the real control plane and the operator running as its own ServiceAccount (tests/cluster/conftest.py).
The Deployments are watched cluster-wide from a resourceVersion taken before the Robots exist: a watch delivers
every change in etcd's order, so each event is a real state of the pair, not a poll that could miss a blip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from robot_operator import names
from tests.cluster import robots as r
from tests.cluster.conftest import Kubectl, OperatorProcess, wait_for
from tests.kubecluster import ControlPlane, demo_dotenv

WAITING_PHASES = (names.PHASE_PENDING, names.PHASE_RUNNING, names.PHASE_DEGRADED)
SETTLE_S = 4.0
WATCH_LIMIT_S = 180
WATCH_ROUND_S = 2


@dataclass
class DeploymentWatch:
    """Follows the Deployments of Robot `name` in every namespace; records each observed replicas map."""

    api: k8s_client.AppsV1Api
    name: str
    replicas: dict[str, int] = field(default_factory=dict)
    overlaps: list[dict[str, int]] = field(default_factory=list)
    events: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the watch in a daemon thread and wait until it has listed (its resourceVersion is where it starts)."""
        self.thread = threading.Thread(target=self.run, name="deployment-watch", daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "the Deployment watch did not start"

    def stop(self) -> None:
        """Stop the watch, check that it ended and that it saw no failure."""
        self.stopping.set()
        assert self.thread is not None, "the Deployment watch was never started"
        self.thread.join(timeout=WATCH_ROUND_S + 30)
        assert not self.thread.is_alive(), "the Deployment watch did not stop"
        assert self.error is None, f"the Deployment watch failed: {self.error!r}"

    @property
    def selector(self) -> str:
        return f"{names.LABEL_INSTANCE}={self.name},{names.LABEL_MANAGED_BY}={names.MANAGER}"

    def run(self) -> None:
        """Watch in short server-side rounds (each ends cleanly), each resuming at the last version seen, until
        stopped or WATCH_LIMIT_S; any failure is kept for the test to report."""
        try:
            listed = self.api.list_deployment_for_all_namespaces(label_selector=self.selector)
            version = listed.metadata.resource_version if listed.metadata else None
            self.ready.set()
            deadline = time.monotonic() + WATCH_LIMIT_S
            while not self.stopping.is_set() and time.monotonic() < deadline:
                stream = k8s_watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self.api.list_deployment_for_all_namespaces,
                    label_selector=self.selector,
                    resource_version=version,
                    timeout_seconds=WATCH_ROUND_S,
                    allow_watch_bookmarks=True,
                )
                for event in stream:
                    version = event["object"].metadata.resource_version
                    if event["type"] != "BOOKMARK":
                        self.observe(str(event["type"]), event["object"])
        except BaseException as error:  # reported by the test thread
            self.error = error
            self.ready.set()

    def observe(self, event_type: str, deployment: Any) -> None:
        self.events += 1
        namespace = str(deployment.metadata.namespace)
        if event_type == "DELETED":
            self.replicas.pop(namespace, None)
        else:
            self.replicas[namespace] = int(deployment.spec.replicas if deployment.spec.replicas is not None else 1)
        if sum(1 for count in self.replicas.values() if count >= 1) > 1:
            self.overlaps.append(dict(self.replicas))


@pytest.fixture
def apps_api(control_plane: ControlPlane) -> Iterator[k8s_client.AppsV1Api]:
    config_file = str(control_plane.admin_kubeconfig)
    api_client = k8s_config.new_client_from_config(config_file=config_file)  # type: ignore[no-untyped-call]
    try:
        yield k8s_client.AppsV1Api(api_client)
    finally:
        api_client.close()


def _created(kubectl: Kubectl, name: str, namespace: str) -> datetime:
    stamp = str(r.robot(kubectl, name, namespace)["metadata"]["creationTimestamp"])
    return datetime.fromisoformat(stamp)


def _create_pair(kubectl: Kubectl, name: str, first: str, second: str, repository: str, together: bool) -> list[str]:
    """Create the Robots (each with its `.env` Secret) in `first` then `second`; return the `.env` texts."""
    texts = [demo_dotenv(repository), demo_dotenv(repository + ".git")]
    objects = [
        part
        for namespace, text in zip((first, second), texts, strict=True)
        for part in (
            r.dotenv_secret(f"{name}-dotenv", namespace, text),
            r.robot_object(name, namespace, f"{name}-dotenv"),
        )
    ]
    if together:
        kubectl.apply(*objects)  # one request after the other, in this order, from one kubectl
    else:
        kubectl.apply(*objects[:2])
        kubectl.apply(*objects[2:])
    return texts


@pytest.mark.usefixtures("operator")
@pytest.mark.parametrize(("swap", "together"), [(False, True), (True, True), (False, False)], ids=["ab", "ba", "a-b"])
def test_robots_created_together_never_run_at_once(
    kubectl: Kubectl,
    new_namespace: Callable[[], str],
    apps_api: k8s_client.AppsV1Api,
    operator: OperatorProcess,
    measure: Callable[[str], None],
    swap: bool,
    together: bool,
) -> None:
    """Each round: two namespaces, one repository (spelt two ways), both Robots created back to back.

    The winner is the older Robot; within the same second (creationTimestamp's resolution) the rule lets the one
    whose Deployment ran first keep the repository, so then either may win, but exactly one does, and the other is
    in Conflict naming it.
    """
    first, second = sorted([new_namespace(), new_namespace()], reverse=swap)
    name = f"race-{first[-4:]}{second[-4:]}"
    repository = f"ssh://git@127.0.0.1:2222/race/{first}-{second}"
    follower = DeploymentWatch(apps_api, name)
    follower.start()
    texts = _create_pair(kubectl, name, first, second, repository, together)

    def settled() -> dict[str, str] | None:
        phases = {ns: r.phase(kubectl, name, ns) or "" for ns in (first, second)}
        running = [ns for ns, phase in phases.items() if phase in WAITING_PHASES]
        conflicted = [ns for ns, phase in phases.items() if phase == names.PHASE_CONFLICT]
        return phases if len(running) == 1 and len(conflicted) == 1 else None

    phases = wait_for(settled, f"one of Robots {first}/{name}, {second}/{name} running and the other in Conflict")
    wait_for(lambda: sorted(follower.replicas.values()) == [0, 1], "the watch to see the Deployments at 1 and 0", 60)
    time.sleep(SETTLE_S)  # keep watching a little: a late flip would show as an overlap
    follower.stop()

    assert follower.overlaps == [], f"both Deployments had a replica at once: {follower.overlaps}"
    winner = next(ns for ns, phase in phases.items() if phase in WAITING_PHASES)
    loser = second if winner == first else first
    created = {ns: _created(kubectl, name, ns) for ns in (first, second)}
    if created[first] != created[second]:
        assert winner == min(created, key=lambda ns: created[ns]), f"the newer Robot won: {created}"
    assert r.replicas(kubectl, name, winner) == 1
    assert r.replicas(kubectl, name, loser) == 0
    assert not r.pods_of(kubectl, name, loser)
    cond = r.condition(r.robot(kubectl, name, loser), names.CONDITION_CONFLICT)
    assert cond is not None
    assert cond["status"] == "True"
    assert f"{winner}/{name}" in cond["message"]

    log = operator.log_text()
    for text in texts:
        for line in text.splitlines():
            variable, _, value = line.partition("=")
            if variable in (names.GOPHER_ENCRYPTION_KEY, names.GOPHER_DEPLOY_KEY):
                assert value not in log, f"a value of {variable} reached the operator log"
    same = created[first] == created[second]
    measure(
        f"race {'ab' if not swap else 'ba'}{'' if together else ' (two applies)'}: {follower.events} Deployment "
        f"events, same second: {same}, winner: {'first' if winner == first else 'second'} created"
    )
