"""End-to-end scenarios of issue 4 (1-10): the operator, as its own ServiceAccount, against the real control plane."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from robot_operator import names
from tests.cluster import robots as r
from tests.cluster.conftest import (
    OPERATOR_BIN,
    ROBOTS,
    Kubectl,
    OperatorProcess,
    operator_service_account,
    wait_for,
)
from tests.kubecluster import ROOT, ControlPlane, demo_dotenv

pytestmark = pytest.mark.usefixtures("operator")
WAITING_PHASES = (names.PHASE_PENDING, names.PHASE_RUNNING, names.PHASE_DEGRADED)


@pytest.fixture(scope="module")
def operator_user(installed: list[dict[str, Any]]) -> str:
    namespace, name = operator_service_account(installed)
    return f"system:serviceaccount:{namespace}:{name}"


def _owned_by(obj: dict[str, Any], robot: dict[str, Any]) -> bool:
    refs = obj["metadata"].get("ownerReferences", [])
    return any(ref["uid"] == robot["metadata"]["uid"] and ref.get("controller") for ref in refs)


def _assert_no_secret_values(text: str, dotenv: str) -> None:
    for line in dotenv.splitlines():
        if "=" in line and not line.startswith("#"):
            value = line.split("=", 1)[1]
            if len(value) >= 8:
                assert value not in text, f"a secret value of {line.split('=', 1)[0]} leaked"


# 1. Install with kubectl apply -k; the operator runs as its own ServiceAccount; restricted Pod Security.
def test_install_and_run_as_own_service_account(
    kubectl: Kubectl, namespace: str, control_plane: ControlPlane, operator: OperatorProcess, operator_user: str
) -> None:
    audit = r.AuditWindow(control_plane.audit_log, operator_user).open()
    r.create_robot(kubectl, "first", namespace)
    r.wait_children(kubectl, "first", namespace)
    assert operator.running(), "the operator exited"
    writes = audit.writes()
    assert any(f"deployments {namespace}/first" in w for w in writes), writes
    assert "forbidden" not in operator.log_text().lower()
    # The Deployment's pod template passes Pod Security `restricted`: the ReplicaSet controller creates its pod.
    pod = wait_for(lambda: r.pods_of(kubectl, "first", namespace), "the robot's pod under restricted Pod Security")[0]
    security = pod["spec"]["containers"][0]["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security.get("readOnlyRootFilesystem") is True


# 2. Create a Robot -> every child, owned by the Robot; status with conditions.
def test_robot_creates_its_children(kubectl: Kubectl, namespace: str, measure: Callable[[str], None]) -> None:
    started = time.monotonic()
    repository = "https://deploy:hunter2-not-for-status@127.0.0.1:8443/org/floyd.git"
    robot = r.create_robot(kubectl, "floyd", namespace, repository=repository)
    present = r.wait_children(kubectl, "floyd", namespace)
    elapsed = time.monotonic() - started
    measure(f"Robot created -> all {len(present)} children present in {elapsed:.2f} s")
    for kind, obj in present.items():
        assert _owned_by(obj, robot), f"{kind} is not owned by the Robot"
        assert obj["metadata"]["labels"][names.LABEL_INSTANCE] == "floyd"
        assert obj["metadata"]["labels"][names.LABEL_MANAGED_BY] == names.MANAGER
    deployment = present["deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert present["cronjob"]["spec"]["concurrencyPolicy"] == "Forbid"
    assert present["secret"]["data"][names.ROBOT_CONTROL_TOKEN]
    status = r.wait_phase(kubectl, "floyd", namespace, *WAITING_PHASES)["status"]
    types = {c["type"] for c in status["conditions"]}
    assert {names.CONDITION_READY, names.CONDITION_ENV_VALID} <= types
    assert status["observedGeneration"] == robot["metadata"]["generation"]
    assert status["repository"].endswith("127.0.0.1:8443/org/floyd.git")
    assert "hunter2" not in json.dumps(r.robot(kubectl, "floyd", namespace))


# 3. Invalid .env -> Invalid with a line number and no pod; fixing the Secret heals it. Schema violations refused.
@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("", names.GOPHER_DEPLOY_KEY),  # the key is dropped below
        ("GOPHER_ENCRYPTION_KEY=tooshort", names.GOPHER_ENCRYPTION_KEY),
        ("this line has no equals sign", "line 6"),
    ],
)
def test_invalid_env_then_healed(kubectl: Kubectl, namespace: str, bad_line: str, expected: str) -> None:
    good = demo_dotenv(f"ssh://git@127.0.0.1:2222/{namespace}/bad")
    if bad_line:
        lines = [ln for ln in good.splitlines() if not (bad_line.startswith("GOPHER_ENC") and "ENCRYPTION" in ln)]
        bad = "\n".join([*lines, bad_line]) + "\n"
    else:
        bad = "\n".join(ln for ln in good.splitlines() if not ln.startswith(names.GOPHER_DEPLOY_KEY)) + "\n"
    r.create_robot(kubectl, "bad", namespace, dotenv=bad)
    invalid = r.wait_phase(kubectl, "bad", namespace, names.PHASE_INVALID)
    env_valid = r.condition(invalid, names.CONDITION_ENV_VALID)
    assert env_valid is not None
    assert env_valid["status"] == "False"
    assert expected in env_valid["message"], env_valid["message"]
    _assert_no_secret_values(json.dumps(invalid), bad)
    events = kubectl.run("get", "events", "-n", namespace, "-o", "json").stdout
    _assert_no_secret_values(events, bad)
    assert r.replicas(kubectl, "bad", namespace) in (None, 0)
    assert not r.pods_of(kubectl, "bad", namespace)
    kubectl.apply(r.dotenv_secret("bad-dotenv", namespace, good))
    r.wait_phase(kubectl, "bad", namespace, *WAITING_PHASES)
    wait_for(lambda: r.replicas(kubectl, "bad", namespace) == 1, "the healed robot's Deployment at 1 replica")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"backup": {"schedule": "every hour"}}, "spec.backup.schedule"),
        ({"envFrom": {}}, "spec.envFrom.secretName"),
        ({"suspend": "yes"}, "spec.suspend"),
    ],
)
def test_schema_violation_is_refused(kubectl: Kubectl, namespace: str, spec: dict[str, Any], field: str) -> None:
    robot = r.robot_object("schema", namespace, "schema-dotenv")
    robot["spec"].update(spec)
    refused = kubectl.apply(robot, check=False)
    assert refused.returncode != 0
    assert field in refused.stderr, refused.stderr
    assert kubectl.get(ROBOTS, "schema", namespace) is None


# 4. .env change rolls the pod; drift reverted; an idle minute makes no write.
def test_env_change_rolls_and_drift_is_reverted(kubectl: Kubectl, namespace: str) -> None:
    r.create_robot(kubectl, "drift", namespace)
    deployment = r.wait_children(kubectl, "drift", namespace)["deployment"]
    checksum = deployment["spec"]["template"]["metadata"]["annotations"][names.ENV_CHECKSUM_ANNOTATION]
    kubectl.apply(r.dotenv_secret("drift-dotenv", namespace, demo_dotenv(f"ssh://git@127.0.0.1:2222/{namespace}/d2")))

    def new_checksum() -> str | None:
        live = kubectl.get("deployment", "drift", namespace)
        value = live["spec"]["template"]["metadata"]["annotations"][names.ENV_CHECKSUM_ANNOTATION] if live else None
        return value if value != checksum else None

    wait_for(new_checksum, "a new env checksum on the pod template")
    wait_for(lambda: len(kubectl.json("get", "replicasets", "-n", namespace)["items"]) == 2, "a second ReplicaSet")

    kubectl.run("scale", "deployment/drift", "--replicas=2", "-n", namespace)
    wait_for(lambda: r.replicas(kubectl, "drift", namespace) == 1, "replicas back to 1")
    for kind, child in (("service", "drift"), ("cronjob", names.cronjob_name("drift"))):
        _delete_and_expect_recreated(kubectl, kind, child, namespace)


def _delete_and_expect_recreated(kubectl: Kubectl, kind: str, name: str, namespace: str) -> None:
    uid = kubectl.json("get", kind, name, "-n", namespace)["metadata"]["uid"]
    kubectl.run("delete", kind, name, "-n", namespace)

    def recreated() -> bool:
        live = kubectl.get(kind, name, namespace)
        return live is not None and live["metadata"]["uid"] != uid

    wait_for(recreated, f"the deleted {kind} {name} to be recreated")


def test_idle_minute_makes_no_write(
    kubectl: Kubectl, namespace: str, control_plane: ControlPlane, operator_user: str, measure: Callable[[str], None]
) -> None:
    r.create_robot(kubectl, "quiet", namespace)
    r.wait_children(kubectl, "quiet", namespace)
    r.wait_phase(kubectl, "quiet", namespace, *WAITING_PHASES)
    r.idle(5)  # let the creation's own follow-up reconciles settle
    audit = r.AuditWindow(control_plane.audit_log, operator_user).open()
    r.idle(60)
    writes = audit.writes()
    measure(f"writes by the operator in an idle minute: {len(writes)}")
    assert writes == []


# 5. Suspend -> replicas 0 and CronJob suspended; resume -> back.
def test_suspend_and_resume(kubectl: Kubectl, namespace: str) -> None:
    r.create_robot(kubectl, "sleepy", namespace)
    r.wait_children(kubectl, "sleepy", namespace)
    cronjob = names.cronjob_name("sleepy")

    def cron_suspended() -> bool:
        return bool(kubectl.json("get", "cronjob", cronjob, "-n", namespace)["spec"].get("suspend"))

    kubectl.run("patch", ROBOTS, "sleepy", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    r.wait_phase(kubectl, "sleepy", namespace, names.PHASE_SUSPENDED)
    wait_for(lambda: r.replicas(kubectl, "sleepy", namespace) == 0, "replicas 0 when suspended")
    wait_for(cron_suspended, "the backup CronJob suspended")
    kubectl.run("patch", ROBOTS, "sleepy", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    wait_for(lambda: r.replicas(kubectl, "sleepy", namespace) == 1, "replicas 1 after resume")
    wait_for(lambda: not cron_suspended(), "the backup CronJob resumed")
    r.wait_phase(kubectl, "sleepy", namespace, *WAITING_PHASES)


# 6. Same repository in two namespaces -> the newer one in Conflict with no pod; deleting the older lets it run.
def test_conflict_between_two_robots(kubectl: Kubectl, new_namespace: Callable[[], str]) -> None:
    first_ns, second_ns = new_namespace(), new_namespace()
    repository = f"ssh://git@127.0.0.1:2222/shared/{first_ns}.git"
    r.create_robot(kubectl, "twin", first_ns, repository=repository)
    r.wait_children(kubectl, "twin", first_ns)
    time.sleep(1.1)  # creationTimestamp has a resolution of one second: make "newer" unambiguous
    r.create_robot(kubectl, "twin", second_ns, repository=repository + "/")
    conflicted = r.wait_phase(kubectl, "twin", second_ns, names.PHASE_CONFLICT)
    cond = r.condition(conflicted, names.CONDITION_CONFLICT)
    assert cond is not None
    assert cond["status"] == "True"
    assert first_ns in cond["message"]
    assert r.replicas(kubectl, "twin", second_ns) in (None, 0)
    assert not r.pods_of(kubectl, "twin", second_ns)
    assert r.phase(kubectl, "twin", first_ns) != names.PHASE_CONFLICT
    kubectl.run("delete", ROBOTS, "twin", "-n", first_ns, "--wait=true", "--timeout=60s")
    r.wait_phase(kubectl, "twin", second_ns, *WAITING_PHASES)
    wait_for(lambda: r.replicas(kubectl, "twin", second_ns) == 1, "the remaining twin at 1 replica")


# 7. Backup Job -> termination message (set through the pod status subresource, as a kubelet would) -> lastBackup.
def _finish_backup_pod(kubectl: Kubectl, namespace: str, job: str, result: dict[str, Any]) -> None:
    pod = wait_for(
        lambda: kubectl.json("get", "pods", "-n", namespace, "-l", f"job-name={job}")["items"], f"the pod of Job {job}"
    )[0]
    container = pod["spec"]["containers"][0]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    succeeded = result["result"] != "Failed"
    status = {
        "status": {
            "phase": "Succeeded" if succeeded else "Failed",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {
                        "terminated": {
                            "exitCode": 0 if succeeded else 1,
                            "reason": "Completed" if succeeded else "Error",
                            "message": json.dumps(result),
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            ],
        }
    }
    kubectl.run(
        "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps(status),
    )  # fmt: skip


def test_backup_job_result_reaches_status(kubectl: Kubectl, namespace: str) -> None:
    r.create_robot(kubectl, "keeper", namespace)
    r.wait_children(kubectl, "keeper", namespace)
    kubectl.run("create", "job", f"--from=cronjob/{names.cronjob_name('keeper')}", "manual-1", "-n", namespace)
    commit = "0123456789abcdef0123456789abcdef01234567"
    _finish_backup_pod(kubectl, namespace, "manual-1", {"result": "Pushed", "commit": commit, "message": "pushed"})

    def last_backup() -> dict[str, Any] | None:
        found = r.robot(kubectl, "keeper", namespace).get("status", {}).get("lastBackup")
        return dict(found) if found and found.get("commit") == commit else None

    backup = wait_for(last_backup, "status.lastBackup from the Job's termination message", 90)
    assert backup["result"] == "Pushed"
    keeper = r.robot(kubectl, "keeper", namespace)
    cond = r.condition(keeper, names.CONDITION_LAST_BACKUP_SUCCEEDED)
    assert cond is not None
    assert cond["status"] == "True"
    assert keeper["status"].get("lastSuccessfulBackupTime")


def test_plugin_backup_wait(kubectl: Kubectl, namespace: str, control_plane: ControlPlane) -> None:
    r.create_robot(kubectl, "waiter", namespace)
    r.wait_children(kubectl, "waiter", namespace)
    before = {j["metadata"]["name"] for j in kubectl.json("get", "jobs", "-n", namespace)["items"]}
    plugin = subprocess.Popen(
        [str(OPERATOR_BIN.with_name("kubectl-robot")), "backup", "waiter", "--wait", "-n", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"KUBECONFIG": str(control_plane.admin_kubeconfig), "PATH": f"{control_plane.bin_dir}:/usr/bin:/bin"},
        cwd=ROOT,
    )
    try:

        def plugin_job() -> set[str]:
            if plugin.poll() is not None:
                pytest.fail(f"kubectl robot backup exited early ({plugin.returncode}): {plugin.communicate()[1]}")
            return {j["metadata"]["name"] for j in kubectl.json("get", "jobs", "-n", namespace)["items"]} - before

        new_jobs = wait_for(plugin_job, "the plugin's backup Job")
        result = {"result": "NoChanges", "commit": "feedfacefeedfacefeedfacefeedfacefeedface", "message": "clean"}
        finisher = threading.Thread(target=_finish_backup_pod, args=(kubectl, namespace, new_jobs.pop(), result))
        finisher.start()
        out, err = plugin.communicate(timeout=120)
        finisher.join(timeout=60)
    finally:
        plugin.kill()
    assert plugin.returncode == 0, err
    assert "NoChanges" in out


# 8. Deleting the Robot -> every child garbage-collected; no finalizer left behind.
def test_delete_collects_children(kubectl: Kubectl, namespace: str) -> None:
    r.create_robot(kubectl, "gone", namespace)
    r.wait_children(kubectl, "gone", namespace)
    kubectl.run("delete", ROBOTS, "gone", "-n", namespace, "--wait=true", "--timeout=30s")
    assert kubectl.get(ROBOTS, "gone", namespace) is None
    wait_for(lambda: not any(r.children(kubectl, "gone", namespace).values()), "every child garbage-collected")


# 9. Kill the operator while it reconciles 20 Robots; restart it -> all converge, no duplicates.
def test_operator_killed_mid_reconcile_converges(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, measure: Callable[[str], None]
) -> None:
    count = 20
    objects: list[dict[str, Any]] = []
    for i in range(count):
        dotenv = demo_dotenv(f"ssh://git@127.0.0.1:2222/{namespace}/many-{i}")
        objects += [r.dotenv_secret(f"many-{i}-dotenv", namespace, dotenv)]
        objects += [r.robot_object(f"many-{i}", namespace, f"many-{i}-dotenv")]
    kubectl.apply(*objects)
    wait_for(
        lambda: any(kubectl.get("deployment", f"many-{i}", namespace) for i in range(3)),
        "the operator to start reconciling",
        60,
        0.1,
    )
    operator.kill()
    deployments_at_kill = len(kubectl.json("get", "deployments", "-n", namespace)["items"])
    measure(f"operator killed with {deployments_at_kill}/{count} Deployments created; restarted")
    operator.start()
    for i in range(count):
        r.wait_children(kubectl, f"many-{i}", namespace, timeout_s=120)
    for kind in r.CHILD_KINDS:
        if kind in ("secret", "serviceaccount"):
            continue  # namespaces hold extra ones of their own (the .env Secrets, default)
        items = kubectl.json("get", kind, "-n", namespace, "-l", f"{names.LABEL_MANAGED_BY}={names.MANAGER}")["items"]
        assert len(items) == count, f"{len(items)} {kind}s for {count} Robots"
    env_secrets = [
        s for s in kubectl.json("get", "secrets", "-n", namespace)["items"] if s["metadata"]["name"].endswith("-env")
    ]
    assert len(env_secrets) == count


# 10. The robot's ServiceAccount can get/update its own Lease and nothing else.
def test_robot_service_account_only_reaches_its_lease(kubectl: Kubectl, namespace: str) -> None:
    r.create_robot(kubectl, "leaser", namespace)
    r.wait_children(kubectl, "leaser", namespace)
    user = f"system:serviceaccount:{namespace}:{names.service_account_name('leaser')}"
    own = f"leases.coordination.k8s.io/{names.lease_name('leaser')}"
    assert kubectl.can_i("get", own, namespace, user)
    assert kubectl.can_i("update", own, namespace, user)
    assert not kubectl.can_i("get", "leases.coordination.k8s.io/someone-else", namespace, user)
    assert not kubectl.can_i("update", "leases.coordination.k8s.io/someone-else", namespace, user)
    assert not kubectl.can_i("delete", own, namespace, user)
    for verb, resource in (("get", "secrets"), ("list", "pods"), ("create", "pods"), ("get", ROBOTS)):
        assert not kubectl.can_i(verb, resource, namespace, user), f"{verb} {resource}"
    assert not kubectl.can_i("get", own, "default", user)
