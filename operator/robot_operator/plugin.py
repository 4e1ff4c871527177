"""`kubectl-robot`: the kubectl plugin (`kubectl robot create|backup|status|list`) for Robots.

It talks to the cluster of the current kubeconfig context (or --kubeconfig/--context), like kubectl. It never
prints a value of the `.env`: `create` checks the file with the operator's own rules and reports line numbers and
variable names only. The pure parts (argument parsing, object bodies, rendering) are separate functions so they are
unit-tested without a cluster.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from robot_operator import backups, envcheck, kube, names
from robot_operator.model import ModelError, Robot

PROG: Final = "kubectl-robot"
Obj = dict[str, Any]
POLL_SECONDS: Final = 2.0
MANUAL_JOB_ANNOTATION: Final = "cronjob.kubernetes.io/instantiate"


class PluginError(Exception):
    """A one-line error for the user (printed as `kubectl-robot: <message>`, exit code 1)."""


# --- arguments -------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl robot",
        description="Manage Gopherbot Robots (gopherbot.io/v1alpha1) in the cluster of your kubeconfig.",
    )
    add_connection_options(parser, None)
    # As with kubectl, the connection flags may also come after the command (`kubectl robot status floyd -n bots`).
    after_command = argparse.ArgumentParser(add_help=False)
    add_connection_options(after_command, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, parents=[after_command])
        return sub

    create = command("create", "create or update a Robot and its .env Secret from a .env file")
    create.add_argument("name", help="the Robot's name")
    create.add_argument("--env-file", required=True, type=Path, help="the robot's .env file (stored as a Secret)")
    create.add_argument("--protocol", help="chat protocol (spec.protocol), e.g. slack, rocket, terminal")
    create.add_argument("--secret-name", help="name of the .env Secret (default: NAME-dotenv)")
    create.add_argument("--image", help="robot image (spec.image)")

    backup = command("backup", "run a backup Job now (like kubectl create job --from=cronjob/...)")
    backup.add_argument("name", help="the Robot's name")
    backup.add_argument("--wait", action="store_true", help="wait for the Job and print its JSON result")
    backup.add_argument("--timeout", type=positive_seconds, default=600.0, help="seconds to wait (default 600)")

    show = command("status", "phase, conditions, last backup and pod of a Robot")
    show.add_argument("name", help="the Robot's name")

    listing = command("list", "list Robots")
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="list Robots of every namespace")
    return parser


def add_connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--kubeconfig", default=default, help="path of the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's namespace, else 'default')"
    )


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


# --- pure bodies -----------------------------------------------------------------------------------------------------
def dotenv_secret(name: str, namespace: str, content: bytes) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {names.LABEL_PART_OF: names.PART_OF}},
        "type": "Opaque",
        "data": {names.DEFAULT_ENV_KEY: base64.b64encode(content).decode("ascii")},
    }


def robot_body(name: str, namespace: str, secret_name: str, protocol: str | None, image: str | None) -> Obj:
    spec: Obj = {"envFrom": {"secretName": secret_name, "key": names.DEFAULT_ENV_KEY}}
    if protocol:
        spec["protocol"] = protocol
    if image:
        spec["image"] = image
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def check_env_file(body: Obj, content: bytes) -> envcheck.ResolvedEnv:
    """The operator's own checks on the file, before anything is written; PluginError names line/variable only."""
    try:
        robot = Robot.from_resource(body)
        return envcheck.resolve_env(robot, {names.DEFAULT_ENV_KEY: content})
    except ModelError as error:
        raise PluginError(str(error)) from None
    except envcheck.EnvInvalid as error:
        raise PluginError(f"{error.message} ({error.reason})") from None


def manual_job_name(cronjob_name: str, now: float) -> str:
    return names.fit_name(cronjob_name, f"-m{int(now):x}", 63)


def job_from_cronjob(cronjob: Mapping[str, Any], job_name: str) -> Obj:
    """The Job `kubectl create job --from=cronjob/<name>` makes: the template, owned by the CronJob."""
    metadata = cronjob["metadata"]
    template = cronjob["spec"]["jobTemplate"]
    template_meta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": metadata["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": {**(template_meta.get("annotations") or {}), MANUAL_JOB_ANNOTATION: "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def condition_lines(robot: Mapping[str, Any]) -> list[str]:
    lines = []
    for condition in (robot.get("status") or {}).get("conditions") or []:
        lines.append(
            f"  {condition.get('type', ''):<20} {condition.get('status', ''):<8} {condition.get('reason', ''):<24} "
            f"{condition.get('message', '')}".rstrip()
        )
    return lines


def render_status(robot: Mapping[str, Any], pods: list[Obj]) -> str:
    metadata = robot.get("metadata") or {}
    status = robot.get("status") or {}
    last = status.get("lastBackup") or {}
    backup_line = (
        f"{last.get('result')} at {last.get('time')} {last.get('commit') or ''} {last.get('message') or ''}"
        if last
        else "none yet"
    )
    lines = [
        f"Robot:       {metadata.get('namespace')}/{metadata.get('name')}",
        f"Phase:       {status.get('phase', 'Pending')}",
        f"Repository:  {status.get('repository', '')}",
        "Conditions:",
        *condition_lines(robot),
        f"Last backup: {backup_line}".rstrip(),
        f"Last successful backup: {status.get('lastSuccessfulBackupTime', 'none yet')}",
        "Pods:",
    ]
    lines += [f"  {pod_line(pod)}" for pod in pods] or ["  none"]
    return "\n".join(lines) + "\n"


def pod_line(pod: Mapping[str, Any]) -> str:
    pod_status = pod.get("status") or {}
    ready = next((c.get("status") for c in pod_status.get("conditions") or [] if c.get("type") == "Ready"), "False")
    restarts = sum(int(c.get("restartCount", 0)) for c in pod_status.get("containerStatuses") or [])
    return f"{pod['metadata']['name']}  phase={pod_status.get('phase', '')}  ready={ready}  restarts={restarts}"


def render_list(robots: list[Obj], all_namespaces: bool) -> str:
    header = ["NAME", "PHASE", "READY", "REPOSITORY", "LAST BACKUP"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for robot in robots:
        status = robot.get("status") or {}
        ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "")
        row = [
            robot["metadata"]["name"],
            status.get("phase", ""),
            ready,
            status.get("repository", ""),
            (status.get("lastBackup") or {}).get("time", ""),
        ]
        if all_namespaces:
            row.insert(0, robot["metadata"].get("namespace", ""))
        rows.append([str(cell) for cell in row])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n" for row in rows)


# --- commands (cluster) ----------------------------------------------------------------------------------------------
def create_or_patch(client: kube.Kube, body: Obj, patch: Obj) -> str:
    try:
        client.create(body)
        return "created"
    except kube.AlreadyExists:
        metadata = body["metadata"]
        client.patch(kube.kind_of(body), metadata["namespace"], metadata["name"], patch)
        return "configured"


def command_create(client: kube.Kube, args: argparse.Namespace, namespace: str, out: TextIO) -> int:
    try:
        content = Path(args.env_file).read_bytes()
    except OSError as error:
        raise PluginError(f"--env-file {args.env_file}: {error.strerror or 'cannot be read'}") from None
    secret_name = args.secret_name or f"{args.name}-dotenv"
    robot = robot_body(args.name, namespace, secret_name, args.protocol, args.image)
    resolved = check_env_file(robot, content)
    secret = dotenv_secret(secret_name, namespace, content)
    done = create_or_patch(client, secret, {"data": secret["data"]})
    out.write(f"secret/{secret_name} {done} (key {names.DEFAULT_ENV_KEY}; values not shown)\n")
    done = create_or_patch(client, robot, {"spec": robot["spec"]})
    out.write(f"robot.{names.GROUP}/{args.name} {done} (repository {resolved.repository})\n")
    return 0


def command_backup(
    client: kube.Kube,
    args: argparse.Namespace,
    namespace: str,
    out: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    cronjob_name = names.cronjob_name(args.name)
    cronjob = client.get(kube.CRONJOB, namespace, cronjob_name)
    if cronjob is None:
        raise PluginError(f"CronJob {namespace}/{cronjob_name} not found: is Robot {args.name} reconciled?")
    job = client.create(job_from_cronjob(cronjob, manual_job_name(cronjob_name, time.time())))
    job_name = job["metadata"]["name"]
    if not args.wait:
        out.write(f"job.batch/{job_name} created\n")
        return 0
    deadline = clock() + float(args.timeout)
    while True:
        live = client.get(kube.JOB, namespace, job_name) or job
        outcome = backups.outcome_of(live, backups.job_pods(client, live))
        if outcome is not None:
            result = {"job": job_name, "result": outcome.result, "commit": outcome.commit, "message": outcome.message}
            out.write(json.dumps(result, sort_keys=True) + "\n")
            return 0 if outcome.ok else 1
        if clock() >= deadline:
            raise PluginError(f"job {job_name} did not finish within {args.timeout:g}s (it keeps running)")
        sleep(POLL_SECONDS)


def command_status(client: kube.Kube, args: argparse.Namespace, namespace: str, out: TextIO) -> int:
    robot = client.get(kube.ROBOT, namespace, args.name)
    if robot is None:
        raise PluginError(f"Robot {namespace}/{args.name} not found")
    selector = f"{names.LABEL_INSTANCE}={args.name},{names.LABEL_COMPONENT}={names.COMPONENT_ROBOT}"
    out.write(render_status(robot, client.list(kube.POD, namespace, selector)))
    return 0


def command_list(client: kube.Kube, args: argparse.Namespace, namespace: str, out: TextIO) -> int:
    robots = client.list(kube.ROBOT, None if args.all_namespaces else namespace)
    out.write(render_list(robots, args.all_namespaces) if robots else "No Robots found.\n")
    return 0


COMMANDS: Final = {"create": command_create, "backup": command_backup, "status": command_status, "list": command_list}


def current_namespace(kubeconfig: str | None, context: str | None) -> str:
    from kubernetes import config as k8s_config

    try:
        _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        if context:
            contexts, _ = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            active = next((c for c in contexts if c.get("name") == context), active)
        return str((active or {}).get("context", {}).get("namespace") or "default")
    except (k8s_config.ConfigException, OSError, TypeError, ValueError):
        return "default"


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    try:
        namespace = args.namespace or current_namespace(args.kubeconfig, args.context)
        api = kube.load_api_client(args.kubeconfig, args.context, in_cluster_first=False)
        client = kube.Kube(api, field_manager=PROG)
        return COMMANDS[args.command](client, args, namespace, out)
    except (PluginError, kube.KubeError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
