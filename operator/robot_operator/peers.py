"""Fresh claims on repositories, read from the API: what the reconciler checks before it scales a Robot up from 0.

The kopf index of claims (handlers.robots_by_repository) is built from each Robot's `status.repository`, so a Robot
not reconciled yet is missing from it. `fresh_claims` makes one consistent cluster-wide LIST of Robots (a LIST
without resourceVersion is served from etcd, not from a cache) and, for each Robot whose status names no repository
(never reconciled, or invalid so far), resolves the repository key from its `.env` Secret with envcheck, read-only.
A Robot whose Secret is missing or invalid claims nothing (its own reconcile marks it Invalid). No value read
here is logged, stored or returned: only the normalised repository key leaves this module.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from robot_operator import envcheck, handover, kube, names
from robot_operator.conflict import RepoClaim
from robot_operator.envcheck import EnvInvalid
from robot_operator.model import ModelError, Robot


def decoded_secret_data(secret_obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's `data` base64-decoded (values stay bytes and are never logged)."""
    data = secret_obj.get("data") or {}
    return {str(key): base64.b64decode(str(value)) for key, value in data.items()}


def replicas_of(deployment: Mapping[str, Any] | None) -> int:
    """The Deployment's spec.replicas (an absent Deployment counts 0; an unset field is the API's default, 1)."""
    if deployment is None:
        return 0
    value = (deployment.get("spec") or {}).get("replicas", 1)
    return int(value) if isinstance(value, int) else 1


def status_claim(body: Mapping[str, Any]) -> RepoClaim | None:
    """The claim a Robot's status names (as the kopf index has it); None when it names none or the Robot is Invalid."""
    metadata = body.get("metadata") or {}
    robot_status = body.get("status") or {}
    repository = robot_status.get("repository")
    if not repository or robot_status.get("phase") == names.PHASE_INVALID:
        return None
    try:
        key = envcheck.repository_key(str(repository))
    except ValueError:
        return None
    return RepoClaim(
        str(metadata.get("namespace")), str(metadata.get("name")), str(metadata.get("creationTimestamp")), key
    )


def secret_claim(client: kube.Kube, body: Mapping[str, Any]) -> RepoClaim | None:
    """The claim resolved from the Robot's `.env` Secret; None when its spec, Secret or variables are invalid."""
    try:
        robot = Robot.from_resource(body)
    except ModelError:
        return None
    secret_obj = client.get(kube.SECRET, robot.namespace, robot.env_secret_name)
    if secret_obj is None:
        return None
    try:
        resolved = envcheck.resolve_env(robot, decoded_secret_data(secret_obj))
    except (EnvInvalid, ValueError):
        return None
    return RepoClaim(robot.namespace, robot.name, robot.creation_timestamp, resolved.repository_key)


def fresh_claims(client: kube.Kube, exclude: tuple[str, str]) -> list[RepoClaim]:
    """Every other live Robot's claim, from one LIST of Robots (and the Secrets of those whose status names none)."""
    claims = []
    for body in client.list(kube.ROBOT):
        metadata = body.get("metadata") or {}
        if (metadata.get("namespace"), metadata.get("name")) == exclude or metadata.get("deletionTimestamp"):
            continue
        claim = status_claim(body) or secret_claim(client, body)
        if claim is not None:
            claims.append(claim)
    return claims


def deployment_runs(client: kube.Kube, claim: RepoClaim) -> bool:
    """Whether the claimant's Deployment is at spec.replicas >= 1 now."""
    live = client.get(kube.DEPLOYMENT, claim.namespace, names.deployment_name(claim.name))
    return replicas_of(live) >= 1


def with_running(client: kube.Kube, claims: Iterable[RepoClaim], look_up: Iterable[RepoClaim]) -> list[RepoClaim]:
    """`claims` with `running` read from the API for those in `look_up` (the same-second ties)."""
    wanted = {claim.key for claim in look_up}
    return [
        replace(claim, running=deployment_runs(client, claim)) if claim.key in wanted else claim for claim in claims
    ]


def pods_of(client: kube.Kube, claim: RepoClaim) -> list[dict[str, Any]]:
    """The claimant's pods managed by the operator (its robot's and its backup Jobs'), terminating ones included."""
    selector = f"{names.LABEL_INSTANCE}={claim.name},{names.LABEL_MANAGED_BY}={names.MANAGER}"
    return client.list(kube.POD, claim.namespace, label_selector=selector)


def still_runs(client: kube.Kube, claim: RepoClaim) -> bool:
    """Whether the claimant's Deployment asks for a replica or one of its pods has not finished (pods are listed
    only when the Deployment is at 0)."""
    live = client.get(kube.DEPLOYMENT, claim.namespace, names.deployment_name(claim.name))
    replicas = replicas_of(live)
    return handover.still_runs(replicas, [] if replicas > 0 else pods_of(client, claim))
