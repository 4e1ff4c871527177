"""Lease fencing: hold a coordination.k8s.io/v1 Lease so that at most one copy of a robot runs.

The pure part (expiry maths, request bodies) is separate from `LeaseKeeper`, which talks to the API server.
Expiry follows the Lease's own fields: a Lease is free when it has no holder or when
`renewTime + leaseDurationSeconds < now`. Taking one over is a PUT carrying the resourceVersion that was read, so
two copies racing for it cannot both win (the loser gets 409 Conflict).

The holder fences itself BEFORE others may take over: it stops its child when no renewal has succeeded for two
thirds of the duration (`fence_after`), so the child is gone by the time the Lease expires for everybody else.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from robot_runtime.errors import RobotError
from robot_runtime.kubeapi import JsonObject, KubeApiError

LOG = logging.getLogger("robot_runtime.lease")
WAIT_LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class LeaseRecord:
    """The parts of a Lease that decide who holds it."""

    holder: str | None
    renew_time: datetime | None
    duration_seconds: int | None
    transitions: int
    resource_version: str | None


def parse_lease(obj: JsonObject) -> LeaseRecord:
    spec: dict[str, Any] = obj.get("spec") or {}
    metadata: dict[str, Any] = obj.get("metadata") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        renew_time=parse_micro_time(spec.get("renewTime") or spec.get("acquireTime")),
        duration_seconds=int(duration) if isinstance(duration, int) else None,
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=metadata.get("resourceVersion"),
    )


def parse_micro_time(value: object) -> datetime | None:
    """Kubernetes MicroTime/Time (RFC 3339, `Z` or an offset) -> aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_micro_time(moment: datetime) -> str:
    """An aware datetime -> MicroTime text, e.g. `2026-12-03T16:30:00.123456Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_free(record: LeaseRecord, now: datetime) -> bool:
    """True when nobody holds the Lease or its holder let it expire (`renewTime + leaseDurationSeconds < now`)."""
    if record.holder is None or record.renew_time is None or record.duration_seconds is None:
        return True
    return record.renew_time + timedelta(seconds=record.duration_seconds) < now


def new_identity(pod_name: str) -> str:
    """holderIdentity: the pod (or host) name plus a random suffix, unique per process."""
    return f"{pod_name or 'robot'}-{secrets.token_hex(4)}"


def lease_path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def new_lease_body(name: str, namespace: str, identity: str, duration: int, now: datetime) -> JsonObject:
    stamp = format_micro_time(now)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        },
    }


def takeover_body(current: JsonObject, identity: str, duration: int, now: datetime) -> JsonObject:
    """The read Lease (with its resourceVersion) taken over by `identity`."""
    record = parse_lease(current)
    stamp = format_micro_time(now)
    body = _copy_with_spec(current)
    body["spec"].update(
        holderIdentity=identity,
        leaseDurationSeconds=duration,
        acquireTime=stamp,
        renewTime=stamp,
        leaseTransitions=record.transitions + (1 if record.holder != identity else 0),
    )
    return body


def renew_body(current: JsonObject, now: datetime) -> JsonObject:
    body = _copy_with_spec(current)
    body["spec"]["renewTime"] = format_micro_time(now)
    return body


def release_body(current: JsonObject) -> JsonObject:
    """Clear the holder, so the next copy need not wait for the Lease to expire."""
    body = _copy_with_spec(current)
    for key in ("holderIdentity", "acquireTime", "renewTime"):
        body["spec"].pop(key, None)
    return body


def _copy_with_spec(current: JsonObject) -> JsonObject:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": dict(current.get("metadata") or {}),
        "spec": dict(current.get("spec") or {}),
    }


class LeaseApi(Protocol):
    """What LeaseKeeper needs from a Kubernetes client (kubeapi.KubeClient provides it)."""

    def get(self, path: str, timeout: float) -> JsonObject: ...

    def create(self, path: str, body: JsonObject, timeout: float) -> JsonObject: ...

    def replace(self, path: str, body: JsonObject, timeout: float) -> JsonObject: ...


class LeaseLostError(Exception):
    """The Lease is held by someone else now, or could not be renewed in time."""


class LeaseKeeper:
    """Acquires, renews and releases one Lease for one holder identity."""

    def __init__(self, api: LeaseApi, namespace: str, name: str, identity: str, duration: float) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = max(1, round(duration))
        self.renew_interval = self.duration / 3
        self.fence_after = self.duration * 2 / 3
        self.request_timeout = max(1.0, self.duration / 3)
        self._current: JsonObject | None = None
        self._last_renewed = 0.0

    @property
    def path(self) -> str:
        return lease_path(self.namespace, self.name)

    def try_acquire(self) -> str | None:
        """One attempt; None when acquired, else who or what is in the way (one line).

        Raises RobotError when RBAC refuses (401/403): waiting would never help, the Role must be fixed.
        """
        try:
            current = self.api.get(self.path, self.request_timeout)
        except KubeApiError as error:
            if error.status in (401, 403):
                raise RobotError(f"not allowed to read Lease {self.namespace}/{self.name}: {error}") from None
            if error.status != 404:
                return str(error)
            return self._create()
        record = parse_lease(current)
        if record.holder not in (None, self.identity) and not is_free(record, _now()):
            return f"held by {record.holder}"
        return self._put(takeover_body(current, self.identity, self.duration, _now()))

    def acquire(self, stop: threading.Event, retry_interval: float | None = None) -> bool:
        """Wait until the Lease is ours (True) or `stop` is set (False); logs who holds it once a minute."""
        interval = retry_interval if retry_interval is not None else min(2.0, self.renew_interval)
        last_log = -WAIT_LOG_INTERVAL
        while not stop.is_set():
            started = time.monotonic()
            obstacle = self.try_acquire()
            if obstacle is None:
                LOG.info("acquired Lease %s/%s as %s", self.namespace, self.name, self.identity)
                return True
            if started - last_log >= WAIT_LOG_INTERVAL:
                LOG.info("waiting for Lease %s/%s (%s); the robot does not start", self.namespace, self.name, obstacle)
                last_log = started
            stop.wait(interval)
        return False

    def renew(self) -> None:
        """One renewal; raises LeaseLostError when another holder has it, KubeApiError when the API fails."""
        started = time.monotonic()
        current = self.api.get(self.path, self.request_timeout)
        holder = parse_lease(current).holder
        if holder != self.identity:
            raise LeaseLostError(f"Lease {self.namespace}/{self.name} is now held by {holder or 'nobody'}")
        try:
            self._current = self.api.replace(self.path, renew_body(current, _now()), self.request_timeout)
        except KubeApiError as error:
            if error.status == 409:
                raise LeaseLostError(f"Lease {self.namespace}/{self.name} changed under us (409 Conflict)") from None
            raise
        self._last_renewed = started

    def keep_renewed(self, stop: threading.Event, on_lost: Callable[[str], None]) -> None:
        """Renew every duration/3 until `stop`; call `on_lost` once when lost or not renewed for `fence_after`."""
        retry = min(1.0, self.renew_interval)
        wait = self.renew_interval
        while not stop.wait(max(0.0, min(wait, self._fence_deadline() - time.monotonic()))):
            try:
                self.renew()
                wait = self.renew_interval
                continue
            except LeaseLostError as error:
                on_lost(str(error))
                return
            except KubeApiError as error:
                LOG.warning("cannot renew Lease %s/%s: %s", self.namespace, self.name, error)
                wait = retry
            if time.monotonic() >= self._fence_deadline():
                on_lost(f"Lease {self.namespace}/{self.name} not renewed for {self.fence_after:.1f}s")
                return

    def release(self) -> None:
        """Clear the holder if it is still us; failures are logged, never raised (the Lease will expire)."""
        try:
            current = self.api.get(self.path, self.request_timeout)
            if parse_lease(current).holder != self.identity:
                return
            self.api.replace(self.path, release_body(current), self.request_timeout)
            LOG.info("released Lease %s/%s", self.namespace, self.name)
        except KubeApiError as error:
            LOG.warning("could not release Lease %s/%s (it will expire): %s", self.namespace, self.name, error)

    def _fence_deadline(self) -> float:
        return self._last_renewed + self.fence_after

    def _create(self) -> str | None:
        started = time.monotonic()
        try:
            body = new_lease_body(self.name, self.namespace, self.identity, self.duration, _now())
            self._current = self.api.create(lease_path(self.namespace), body, self.request_timeout)
        except KubeApiError as error:
            if error.status in (401, 403):
                raise RobotError(f"not allowed to create Lease {self.namespace}/{self.name}: {error}") from None
            return "lost the race to create it" if error.status == 409 else str(error)
        self._last_renewed = started
        return None

    def _put(self, body: JsonObject) -> str | None:
        started = time.monotonic()
        try:
            self._current = self.api.replace(self.path, body, self.request_timeout)
        except KubeApiError as error:
            if error.status in (401, 403):
                raise RobotError(f"not allowed to update Lease {self.namespace}/{self.name}: {error}") from None
            return "lost the race to take it over" if error.status == 409 else str(error)
        self._last_renewed = started
        return None


def _now() -> datetime:
    return datetime.now(UTC)
