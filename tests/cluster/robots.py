"""Helpers for the end-to-end scenarios: create Robots and their `.env` Secrets, read children, count writes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_operator import names
from tests.cluster.conftest import ROBOTS, Kubectl, wait_for
from tests.kubecluster import demo_dotenv

CHILD_KINDS: dict[str, Any] = {
    "secret": names.env_secret_name,
    "deployment": names.deployment_name,
    "service": names.service_name,
    "serviceaccount": names.service_account_name,
    "role": names.role_name,
    "rolebinding": names.role_binding_name,
    "cronjob": names.cronjob_name,
}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def robot_object(name: str, namespace: str, secret: str, **spec: Any) -> dict[str, Any]:
    """A Robot taking its variables from the `.env` key of Secret `secret`."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"envFrom": {"secretName": secret}, **spec},
    }


def dotenv_secret(name: str, namespace: str, dotenv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {names.DEFAULT_ENV_KEY: dotenv},
    }


def create_robot(
    kubectl: Kubectl, name: str, namespace: str, dotenv: str | None = None, repository: str | None = None, **spec: Any
) -> dict[str, Any]:
    """Create the `<name>-dotenv` Secret (demo values unless given) and the Robot; return the Robot as created."""
    text = dotenv if dotenv is not None else demo_dotenv(repository or f"ssh://git@127.0.0.1:2222/{namespace}/{name}")
    kubectl.apply(
        dotenv_secret(f"{name}-dotenv", namespace, text), robot_object(name, namespace, f"{name}-dotenv", **spec)
    )
    robot = kubectl.get(ROBOTS, name, namespace)
    assert robot is not None
    return robot


def robot(kubectl: Kubectl, name: str, namespace: str) -> dict[str, Any]:
    found = kubectl.get(ROBOTS, name, namespace)
    assert found is not None, f"Robot {namespace}/{name} is gone"
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == kind:
            return dict(cond)
    return None


def phase(kubectl: Kubectl, name: str, namespace: str) -> str | None:
    value = robot(kubectl, name, namespace).get("status", {}).get("phase")
    return str(value) if value else None


def wait_phase(kubectl: Kubectl, name: str, namespace: str, *phases: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until the Robot's status.phase is one of `phases`; return the Robot."""

    def reached() -> dict[str, Any] | None:
        current = robot(kubectl, name, namespace)
        return current if current.get("status", {}).get("phase") in phases else None

    found: dict[str, Any] = wait_for(reached, f"Robot {namespace}/{name} phase in {phases}", timeout_s)
    return found


def children(kubectl: Kubectl, name: str, namespace: str) -> dict[str, dict[str, Any] | None]:
    """Each child kind -> the live object (None when absent)."""
    return {kind: kubectl.get(kind, child(name), namespace) for kind, child in CHILD_KINDS.items()}


def wait_children(kubectl: Kubectl, name: str, namespace: str, timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    def all_present() -> dict[str, dict[str, Any]] | None:
        found = children(kubectl, name, namespace)
        return {k: v for k, v in found.items() if v is not None} if all(found.values()) else None

    present: dict[str, dict[str, Any]] = wait_for(all_present, f"every child of Robot {namespace}/{name}", timeout_s)
    return present


def replicas(kubectl: Kubectl, name: str, namespace: str) -> int | None:
    deployment = kubectl.get("deployment", names.deployment_name(name), namespace)
    return None if deployment is None else int(deployment["spec"].get("replicas", 1))


def pods_of(kubectl: Kubectl, name: str, namespace: str) -> list[dict[str, Any]]:
    """The robot's own pods (the Deployment's, not backup Jobs')."""
    selector = f"{names.LABEL_INSTANCE}={name},{names.LABEL_COMPONENT}={names.COMPONENT_ROBOT}"
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return items


@dataclass
class AuditWindow:
    """Counts the writes a user made through the API server between open() and count() (from the audit log)."""

    log: Path
    user: str
    offset: int = 0

    def open(self) -> AuditWindow:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        return self

    def writes(self) -> list[str]:
        """`verb resource namespace/name` of each write by the user since open()."""
        with self.log.open("rb") as audit:
            audit.seek(self.offset)
            lines = audit.read().decode(errors="replace").splitlines()
        found = []
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the window's start or still being written
            if event.get("user", {}).get("username") == self.user and event.get("verb") in WRITE_VERBS:
                ref = event.get("objectRef", {})
                found.append(f"{event['verb']} {ref.get('resource')} {ref.get('namespace')}/{ref.get('name')}")
        return found


def idle(seconds: float) -> None:
    """Let the system sit for a while (a measured idle period, not a wait for a condition)."""
    time.sleep(seconds)
