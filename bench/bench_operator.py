"""Operator benchmark on the local control plane: Robot -> children latency vs `kubectl apply`, idle writes, RSS."""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kubecluster import (  # noqa: E402
    ControlPlane,
    build_binaries,
    demo_dotenv,
    install_deploy,
    kubectl_run,
    operator_environment,
    service_account_kubeconfig,
)

from robot_operator import names  # noqa: E402

CHILD_KINDS = ("secrets", "deployments", "services", "serviceaccounts", "roles", "rolebindings", "cronjobs")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STRIP_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


def child_names(robot: str) -> dict[str, str]:
    return {
        "secrets": names.env_secret_name(robot),
        "deployments": names.deployment_name(robot),
        "services": names.service_name(robot),
        "serviceaccounts": names.service_account_name(robot),
        "roles": names.role_name(robot),
        "rolebindings": names.role_binding_name(robot),
        "cronjobs": names.cronjob_name(robot),
    }


@dataclass
class ChildWatcher:
    """Records when each (kind, name) first appears in a namespace, from `kubectl get -w` streams (one per kind)."""

    plane: ControlPlane
    namespace: str
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ChildWatcher:
        for kind in CHILD_KINDS:
            proc = subprocess.Popen(
                [str(self.plane.kubectl), f"--kubeconfig={self.plane.admin_kubeconfig}", "get", kind, "-n",
                 self.namespace, "-w", "--output-watch-events", "-o", "jsonpath={.object.metadata.name}{\"\\n\"}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(kind, proc), daemon=True).start()
        time.sleep(1.0)  # let every watch establish before anything is created
        return self

    def _read(self, kind: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.monotonic()
            with self.lock:
                self.seen.setdefault((kind, line.strip()), now)

    def all_present_at(self, robot: str) -> float | None:
        with self.lock:
            times = [self.seen.get((kind, name)) for kind, name in child_names(robot).items()]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    def wait_all(self, robots: Iterable[str], timeout_s: float) -> dict[str, float]:
        pending, done = set(robots), {}
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for robot in list(pending):
                at = self.all_present_at(robot)
                if at is not None:
                    done[robot] = at
                    pending.discard(robot)
            time.sleep(0.01)
        if pending:
            raise SystemExit(f"bench: {len(pending)} robots without all children after {timeout_s:.0f} s")
        return done

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)


def robot_manifests(name: str, namespace: str) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-dotenv", "namespace": namespace},
        "stringData": {".env": demo_dotenv(f"ssh://git@127.0.0.1:2222/bench/{namespace}/{name}")},
    }
    robot = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"envFrom": {"secretName": f"{name}-dotenv"}},
    }
    return [secret, robot]


def apply(plane: ControlPlane, objects: list[dict[str, Any]]) -> float:
    """`kubectl apply -f -` of the objects; returns the monotonic time just before kubectl started."""
    started = time.monotonic()
    kubectl_run(plane, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    return started


def restricted_namespace(plane: ControlPlane, name: str) -> str:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    apply(plane, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])
    return name


def template_children(plane: ControlPlane, robot: str, namespace: str) -> list[dict[str, Any]]:
    """The operator's children of one Robot, stripped to what `kubectl apply` of them directly would send."""
    objects = []
    for kind, name in child_names(robot).items():
        obj = json.loads(kubectl_run(plane, "get", kind, name, "-n", namespace, "-o", "json"))
        obj.pop("status", None)
        for key in STRIP_METADATA:
            obj["metadata"].pop(key, None)
        obj["metadata"].get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if kind == "serviceaccounts":
            obj.pop("secrets", None)
        if kind == "services":
            for key in ("clusterIP", "clusterIPs"):
                obj["spec"].pop(key, None)
        objects.append(obj)
    return objects


def renamed(children: list[dict[str, Any]], source: str, target: str, namespace: str) -> list[dict[str, Any]]:
    text = json.dumps(children).replace(f'"{source}', f'"{target}').replace(f"/{source}", f"/{target}")
    objects: list[dict[str, Any]] = json.loads(text)
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    return objects


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def report(label: str, operator: list[float], floor: list[float]) -> None:
    op50, op95 = percentiles(operator)
    fl50, fl95 = percentiles(floor)
    print(
        f"{label:<22} operator p50 {op50 * 1000:7.0f} ms  p95 {op95 * 1000:7.0f} ms | "
        f"kubectl apply p50 {fl50 * 1000:7.0f} ms  p95 {fl95 * 1000:7.0f} ms | "
        f"ratio p50 {op50 / fl50:5.2f}  p95 {op95 / fl95:5.2f}  (target p50 <= 1.5)"
    )


def sequential(plane: ControlPlane, watcher: ChildWatcher, namespace: str, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        name = f"seq-{i}"
        started = apply(plane, robot_manifests(name, namespace))
        latencies.append(watcher.wait_all([name], 60)[name] - started)
    return latencies


def sequential_floor(
    plane: ControlPlane, watcher: ChildWatcher, namespace: str, template: list[dict[str, Any]], count: int
) -> list[float]:
    latencies = []
    for i in range(count):
        name = f"floor-{i}"
        started = apply(plane, renamed(template, "seq-0", name, namespace))
        latencies.append(watcher.wait_all([name], 60)[name] - started)
    return latencies


def burst(plane: ControlPlane, watcher: ChildWatcher, namespace: str, count: int) -> list[float]:
    robots = [f"burst-{i}" for i in range(count)]
    started = apply(plane, [obj for name in robots for obj in robot_manifests(name, namespace)])
    done = watcher.wait_all(robots, 600)
    return [done[name] - started for name in robots]


def burst_floor(
    plane: ControlPlane, watcher: ChildWatcher, namespace: str, template: list[dict[str, Any]], count: int
) -> list[float]:
    robots = [f"burstfloor-{i}" for i in range(count)]
    objects = [obj for name in robots for obj in renamed(template, "seq-0", name, namespace)]
    started = apply(plane, objects)
    done = watcher.wait_all(robots, 600)
    return [done[name] - started for name in robots]


def read_writes(audit_log: Path, user: str, offset: int) -> tuple[list[str], int]:
    """The user's writes in the complete lines of the audit log after offset, and the offset after them."""
    with audit_log.open("rb") as log:
        log.seek(offset)
        data = log.read()
    complete = data[: data.rfind(b"\n") + 1]
    writes = []
    for line in complete.decode(errors="replace").splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") == user and event.get("verb") in WRITE_VERBS:
            ref = event.get("objectRef", {})
            writes.append(f"{event['verb']} {ref.get('resource')} {ref.get('namespace')}/{ref.get('name')}")
    return writes, offset + len(complete)


def settle(audit_log: Path, user: str, quiet_s: float, limit_s: float) -> tuple[float, int]:
    """Wait until the operator has made no write for quiet_s (its backlog of status updates is done); bounded.

    Returns the seconds until its last write and the audit log offset (at a line boundary) where settling ended.
    """
    started = time.monotonic()
    _, offset = read_writes(audit_log, user, 0)
    quiet_since = started
    while time.monotonic() - started < limit_s:
        time.sleep(1)
        writes, offset = read_writes(audit_log, user, offset)
        if writes:
            quiet_since = time.monotonic()
        if time.monotonic() - quiet_since >= quiet_s:
            break
    return quiet_since - started, offset


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Operator:
    """The operator as a subprocess, as its own ServiceAccount."""

    proc: subprocess.Popen[bytes]
    user: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_operator(plane: ControlPlane) -> Operator:
    sa_namespace, sa_name = install_deploy(plane)
    kubeconfig = service_account_kubeconfig(plane, sa_namespace, sa_name)
    log = (plane.run_dir / "logs" / "operator.log").open("ab")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "robot-operator"), "run"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=operator_environment(kubeconfig), cwd=ROOT,
    )  # fmt: skip
    return Operator(proc, f"system:serviceaccount:{sa_namespace}:{sa_name}")


@dataclass
class Options:
    sequential: int
    burst: int
    idle_seconds: float
    run_dir: Path


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequential", type=int, default=50, help="Robots created one at a time (default 50)")
    parser.add_argument("--burst", type=int, default=200, help="Robots created at once (default 200)")
    parser.add_argument("--idle-seconds", type=float, default=300, help="idle period to count writes (default 300)")
    parser.add_argument("--run-dir", type=Path, default=None, help="control plane directory (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.sequential < 1 or args.burst < 1 or args.idle_seconds < 0:
        parser.error("--sequential and --burst must be >= 1 and --idle-seconds >= 0")
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="bench-operator-"))
    return Options(args.sequential, args.burst, args.idle_seconds, run_dir)


@dataclass
class Session:
    plane: ControlPlane
    operator: Operator


@contextlib.contextmanager
def session(options: Options) -> Iterator[Session]:
    plane = ControlPlane(bin_dir=build_binaries(), run_dir=options.run_dir)
    started = time.monotonic()
    plane.start()
    print(f"control plane ready in {time.monotonic() - started:.1f} s (run dir {options.run_dir})")
    try:
        operator = start_operator(plane)
        try:
            yield Session(plane, operator)
        finally:
            operator.stop()
    finally:
        plane.stop()


def run(options: Options) -> int:
    with session(options) as current:
        plane, operator = current.plane, current.operator
        ops, floors = restricted_namespace(plane, "bench-op"), restricted_namespace(plane, "bench-floor")
        op_watch, floor_watch = ChildWatcher(plane, ops).start(), ChildWatcher(plane, floors).start()
        try:
            seq = sequential(plane, op_watch, ops, options.sequential)
            template = template_children(plane, "seq-0", ops)
            seq_floor = sequential_floor(plane, floor_watch, floors, template, options.sequential)
            report(f"{options.sequential} one at a time", seq, seq_floor)
            bursts = burst(plane, op_watch, ops, options.burst)
            burst_floors = burst_floor(plane, floor_watch, floors, template, options.burst)
            report(f"burst of {options.burst}", bursts, burst_floors)
        finally:
            op_watch.stop()
            floor_watch.stop()
        settled, offset = settle(plane.audit_log, operator.user, quiet_s=15, limit_s=180)
        print(f"operator settled (15 s without a write) {settled:.0f} s after the burst's children were present")
        time.sleep(options.idle_seconds)
        writes, _ = read_writes(plane.audit_log, operator.user, offset)
        robots = options.sequential + options.burst
        print(
            f"writes by the operator in {options.idle_seconds:.0f} idle s with {robots} Robots: "
            f"{len(writes)} (target 0)"
        )
        for write in writes[:10]:
            print(f"  {write}")
        print(f"operator peak RSS: {peak_rss_mb(operator.proc.pid):.0f} MB (target < 150 MB)")
        if operator.proc.poll() is not None:
            print(f"bench: the operator exited with {operator.proc.returncode}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
