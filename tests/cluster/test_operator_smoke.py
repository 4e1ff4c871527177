"""Smoke tests of the operator runtime against the real control plane: children, no-op reconcile, plugin."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot_operator import kube, names
from robot_operator.reconcile import Reconciler
from tests.cluster import robots as r
from tests.cluster.conftest import OPERATOR_BIN, ROBOTS, Kubectl, OperatorProcess, wait_for
from tests.kubecluster import ControlPlane, demo_dotenv

PLUGIN_BIN = OPERATOR_BIN.with_name("kubectl-robot")


def admin_client(control_plane: ControlPlane) -> kube.Kube:
    return kube.Kube(kube.load_api_client(str(control_plane.admin_kubeconfig), in_cluster_first=False))


def test_robot_gets_owned_children_and_a_status(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> None:
    robot = r.create_robot(kubectl, "smoke", namespace)
    uid = robot["metadata"]["uid"]
    for kind, name_of in r.CHILD_KINDS.items():
        child_name = str(name_of("smoke"))
        child = wait_for(lambda k=kind, n=child_name: kubectl.get(k, n, namespace), f"{kind} {child_name}")  # type: ignore[misc]
        owners = child["metadata"]["ownerReferences"]
        assert [(o["kind"], o["uid"], o.get("controller")) for o in owners] == [("Robot", uid, True)], kind
        assert child["metadata"]["labels"][names.LABEL_MANAGED_BY] == names.MANAGER
    status = wait_for(lambda: (kubectl.get(ROBOTS, "smoke", namespace) or {}).get("status"), "the Robot's status")
    assert status["repository"] == f"ssh://git@127.0.0.1:2222/{namespace}/smoke"
    assert {c["type"] for c in status["conditions"]} >= set(names.CONDITION_TYPES)
    live = kubectl.get(ROBOTS, "smoke", namespace)
    assert live is not None
    assert not live["metadata"].get("finalizers"), "a Robot must never carry a (blocking) finalizer"
    annotations = live["metadata"].get("annotations", {})
    assert not any(key.startswith("kopf.zalando.org") for key in annotations)
    assert any(key.startswith(names.KOPF_ANNOTATION_PREFIX) for key in annotations)  # kopf's diff-base: the spec
    secret = kubectl.get("secret", "smoke-dotenv", namespace)
    assert secret is not None
    dotenv = base64.b64decode(secret["data"][names.DEFAULT_ENV_KEY]).decode()
    values = [line.split("=", 1)[1] for line in dotenv.splitlines() if "=" in line and not line.startswith("#")]
    events = kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout
    assert '"reason": "Created"' in events
    for value in values:
        if len(value) >= 8 and "://" not in value:
            assert value not in json.dumps(live), "a .env value reached the Robot (spec, status or annotations)"
            assert value not in events, "a .env value reached an event"
            assert value not in operator.log_text(), "a .env value reached the operator's log"
    assert "forbidden" not in operator.log_text().lower()


def test_converged_reconcile_writes_nothing_and_drift_is_put_back(
    kubectl: Kubectl, namespace: str, control_plane: ControlPlane
) -> None:
    """The reconciler in-process (as admin): once converged, a reconcile sends no write; a scaled Deployment is
    scaled back by the next one. (The session's operator may reconcile the same Robot meanwhile: the assertions
    hold either way.)"""
    events: list[tuple[str, str, str]] = []
    client = admin_client(control_plane)
    reconciler = Reconciler(client, lambda body, kind, reason, message: events.append((kind, reason, message)))
    r.create_robot(kubectl, "quiet", namespace)

    def converged() -> bool:
        body = client.get(kube.ROBOT, namespace, "quiet")
        return body is not None and reconciler.reconcile(body).writes == 0

    wait_for(converged, "a reconcile with no write")
    kubectl.run("scale", "deployment/quiet", "--replicas=2", "-n", namespace)
    body = client.get(kube.ROBOT, namespace, "quiet")
    assert body is not None
    reconciler.reconcile(body)
    replicas = (kubectl.get("deployment", "quiet", namespace) or {}).get("spec", {}).get("replicas")
    assert replicas == 1
    env_secret = kubectl.get("secret", names.env_secret_name("quiet"), namespace)
    assert env_secret is not None
    token = base64.b64decode(env_secret["data"][names.ROBOT_CONTROL_TOKEN]).decode()
    assert len(token) >= 40
    assert all(token not in message for _, _, message in events)


def test_plugin_creates_lists_and_shows_a_robot(
    kubectl: Kubectl, namespace: str, control_plane: ControlPlane, operator: OperatorProcess, tmp_path: Path
) -> None:
    dotenv = demo_dotenv(f"https://deploy:s3cr3t-pass@git.example.org/{namespace}/plugged.git")
    env_file = tmp_path / "plugged.env"
    env_file.write_text(dotenv)
    environment = {**os.environ, "KUBECONFIG": str(control_plane.admin_kubeconfig)}

    def plugin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLUGIN_BIN), "-n", namespace, *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )

    created = plugin("create", "plugged", "--env-file", str(env_file), "--protocol", "terminal")
    assert created.returncode == 0, created.stderr
    assert "secret/plugged-dotenv created" in created.stdout
    assert f"robot.gopherbot.io/plugged created (repository https://git.example.org/{namespace}/plugged.git)" in (
        created.stdout
    )
    again = plugin("create", "plugged", "--env-file", str(env_file))
    assert again.returncode == 0, again.stderr
    assert "configured" in again.stdout
    wait_for(lambda: r.phase(kubectl, "plugged", namespace), "a phase on the plugin's Robot")
    listing = plugin("list")
    shown = plugin("status", "plugged")
    assert listing.returncode == 0
    assert shown.returncode == 0
    assert "plugged" in listing.stdout
    assert "Conditions:" in shown.stdout
    assert "EnvValid" in shown.stdout
    output = created.stdout + again.stdout + listing.stdout + shown.stdout + created.stderr + shown.stderr
    for line in dotenv.splitlines():
        if "=" in line and not line.startswith("#"):
            assert line.split("=", 1)[1] not in output
    assert "s3cr3t-pass" not in output
    missing = plugin("status", "nobody")
    assert missing.returncode == 1
    assert missing.stderr == f"kubectl-robot: Robot {namespace}/nobody not found\n"


def test_invalid_env_is_reported_and_healed_by_fixing_the_secret(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    short_key = "GOPHER_ENCRYPTION_KEY=too-short-key\n"
    good = demo_dotenv(f"ssh://git@127.0.0.1:2222/{namespace}/healer")
    bad = "".join(line + "\n" for line in good.splitlines() if not line.startswith("GOPHER_ENCRYPTION_KEY")) + short_key
    r.create_robot(kubectl, "healer", namespace, dotenv=bad)
    invalid = r.wait_phase(kubectl, "healer", namespace, names.PHASE_INVALID)
    condition: dict[str, Any] | None = r.condition(invalid, names.CONDITION_ENV_VALID)
    assert condition is not None
    assert condition["status"] == "False"
    assert "line 5" in condition["message"]
    assert "too-short-key" not in str(invalid)
    events = kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout
    assert '"reason": "EncryptionKeyTooShort"' in events
    assert "too-short-key" not in events
    assert "too-short-key" not in operator.log_text()
    kubectl.apply(r.dotenv_secret("healer-dotenv", namespace, good))
    r.wait_phase(kubectl, "healer", namespace, names.PHASE_PENDING, names.PHASE_RUNNING, names.PHASE_DEGRADED)


def operator_setting(operator: OperatorProcess, variable: str) -> str:
    """A setting of the running operator, from its process environment."""
    assert operator.proc is not None
    environ = Path(f"/proc/{operator.proc.pid}/environ").read_bytes().split(b"\0")
    values = [item.split(b"=", 1)[1].decode() for item in environ if item.startswith(variable.encode() + b"=")]
    assert values, f"{variable} is not set for the operator"
    return values[0]


def test_metrics_and_liveness_endpoints(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> None:
    r.create_robot(kubectl, "counted", namespace)
    wait_for(lambda: r.phase(kubectl, "counted", namespace), "a phase on Robot counted")
    metrics_url = f"http://{operator_setting(operator, 'ROBOT_OPERATOR_METRICS_ADDR')}/metrics"

    def scraped() -> str | None:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
        return text if 'robot_operator_writes_total{kind="Deployment",verb="create"}' in text else None

    text = wait_for(scraped, "the operator's metrics to count a Deployment create")
    assert "robot_operator_reconciles_total{" in text
    assert "robot_operator_reconcile_duration_seconds_bucket{" in text
    liveness = operator_setting(operator, "ROBOT_OPERATOR_LIVENESS")
    with urllib.request.urlopen(liveness, timeout=5) as response:
        assert response.status == 200


def test_robots_created_together_on_one_repository_settle_on_one_winner(
    kubectl: Kubectl, new_namespace: Callable[[], str], operator: OperatorProcess
) -> None:
    """Two Robots applied in one request: the newer (or, in the same second, the later namespace/name) gets
    Conflict promptly, well before the periodic resync (300 s)."""
    first, second = sorted([new_namespace(), new_namespace()])
    repository = f"ssh://git@127.0.0.1:2222/shared/{first}-together.git"
    objects: list[dict[str, Any]] = []
    for namespace in (first, second):
        objects += [
            r.dotenv_secret("twin-dotenv", namespace, demo_dotenv(repository)),
            r.robot_object("twin", namespace, "twin-dotenv"),
        ]
    kubectl.apply(*objects)

    def settled() -> tuple[str | None, str | None] | None:
        phases = (r.phase(kubectl, "twin", first), r.phase(kubectl, "twin", second))
        return phases if phases.count(names.PHASE_CONFLICT) == 1 and None not in phases else None

    phases = wait_for(settled, "exactly one of the two Robots in Conflict", timeout_s=25)
    created = [r.robot(kubectl, "twin", ns)["metadata"]["creationTimestamp"] for ns in (first, second)]
    loser = 1 if created[0] <= created[1] else 0
    assert phases[loser] == names.PHASE_CONFLICT
    assert r.replicas(kubectl, "twin", (first, second)[loser]) in (None, 0)
