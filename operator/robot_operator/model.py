"""The Robot custom resource as a typed, immutable value, parsed (with the API's defaults) from its dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robot_operator import names


class ModelError(ValueError):
    """A Robot field has the wrong type or value; the message names the field (`spec.backup.schedule: ...`)."""

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(f"{path}: {rule}")
        self.path = path
        self.rule = rule


@dataclass(frozen=True)
class BackupSpec:
    """`spec.backup`: when and how the backup CronJob runs."""

    schedule: str = names.DEFAULT_BACKUP_SCHEDULE
    suspend: bool = False
    timeout_seconds: int = names.DEFAULT_BACKUP_TIMEOUT_SECONDS
    history_limit: int = names.DEFAULT_BACKUP_HISTORY_LIMIT


@dataclass(frozen=True)
class Robot:
    """A Robot resource: identity from `metadata`, desired state from `spec` (defaults applied).

    Mapping/list fields hold plain dicts/lists copied from the resource; treat them as read-only.
    `known_hosts` is the spec's known_hosts lines joined by newlines ("" when absent); the spec may give them as
    one string or a list of strings.
    """

    name: str
    namespace: str
    uid: str
    env_secret_name: str
    generation: int = 0
    creation_timestamp: str = ""
    env_secret_key: str = names.DEFAULT_ENV_KEY
    env: dict[str, str] = field(default_factory=dict)
    protocol: str | None = None
    image: str = names.DEFAULT_ROBOT_IMAGE
    image_pull_policy: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    affinity: dict[str, Any] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    suspend: bool = False
    known_hosts: str = ""
    backup: BackupSpec = field(default_factory=BackupSpec)

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): the Robot's identity within the cluster."""
        return (self.namespace, self.name)

    @property
    def backup_suspended(self) -> bool:
        """The CronJob is suspended when the robot or its backups are."""
        return self.suspend or self.backup.suspend

    @classmethod
    def from_resource(cls, body: Mapping[str, Any]) -> Robot:
        """Parse a Robot resource dict; raises ModelError naming the first wrong field."""
        metadata = _mapping(body.get("metadata"), "metadata")
        spec = _mapping(body.get("spec"), "spec")
        name = _required_str(metadata, "name", "metadata")
        if not names.is_valid_robot_name(name):
            raise ModelError("metadata.name", "must be a DNS-1035 label (lowercase letter first) of at most 63 chars")
        env_from = _mapping(spec.get("envFrom"), "spec.envFrom")
        return cls(
            name=name,
            namespace=_required_str(metadata, "namespace", "metadata"),
            uid=_optional_str(metadata, "uid", "metadata") or "",
            generation=_int(metadata, "generation", "metadata", 0),
            creation_timestamp=_optional_str(metadata, "creationTimestamp", "metadata") or "",
            env_secret_name=_required_str(env_from, "secretName", "spec.envFrom"),
            env_secret_key=_optional_str(env_from, "key", "spec.envFrom") or names.DEFAULT_ENV_KEY,
            env=_str_map(spec, "env"),
            protocol=_optional_str(spec, "protocol", "spec") or None,
            image=_optional_str(spec, "image", "spec") or names.DEFAULT_ROBOT_IMAGE,
            image_pull_policy=_optional_str(spec, "imagePullPolicy", "spec") or None,
            resources=dict(_mapping(spec.get("resources"), "spec.resources")),
            node_selector=_str_map(spec, "nodeSelector"),
            tolerations=_list_of_mappings(spec, "tolerations"),
            affinity=dict(_mapping(spec.get("affinity"), "spec.affinity")),
            pod_annotations=_str_map(spec, "podAnnotations"),
            pod_labels=_str_map(spec, "podLabels"),
            suspend=_bool(spec, "suspend", "spec"),
            known_hosts=_known_hosts(spec.get("knownHosts")),
            backup=_backup(_mapping(spec.get("backup"), "spec.backup")),
        )


def _backup(raw: Mapping[str, Any]) -> BackupSpec:
    path = "spec.backup"
    schedule = _optional_str(raw, "schedule", path) or names.DEFAULT_BACKUP_SCHEDULE
    if len(schedule.split()) != 5:
        raise ModelError(f"{path}.schedule", "must be a cron schedule of 5 fields")
    timeout = _int(raw, "timeoutSeconds", path, names.DEFAULT_BACKUP_TIMEOUT_SECONDS)
    if timeout < 1:
        raise ModelError(f"{path}.timeoutSeconds", "must be at least 1")
    history = _int(raw, "historyLimit", path, names.DEFAULT_BACKUP_HISTORY_LIMIT)
    if history < 0:
        raise ModelError(f"{path}.historyLimit", "must not be negative")
    return BackupSpec(
        schedule=schedule, suspend=_bool(raw, "suspend", path), timeout_seconds=timeout, history_limit=history
    )


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ModelError(path, "must be an object")
    return value


def _required_str(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = _optional_str(raw, key, path)
    if not value:
        raise ModelError(f"{path}.{key}", "is required")
    return value


def _optional_str(raw: Mapping[str, Any], key: str, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"{path}.{key}", "must be a string")
    return value


def _int(raw: Mapping[str, Any], key: str, path: str, default: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"{path}.{key}", "must be an integer")
    return value


def _bool(raw: Mapping[str, Any], key: str, path: str) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ModelError(f"{path}.{key}", "must be a boolean")
    return value


def _str_map(spec: Mapping[str, Any], key: str) -> dict[str, str]:
    path = f"spec.{key}"
    raw = _mapping(spec.get(key), path)
    result: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ModelError(f"{path}.{name}", "must be a string")
        result[name] = value
    return result


def _list_of_mappings(spec: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    path = f"spec.{key}"
    raw = spec.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ModelError(path, "must be a list")
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ModelError(f"{path}[{index}]", "must be an object")
    return [dict(item) for item in raw]


def _known_hosts(raw: object) -> str:
    path = "spec.knownHosts"
    if raw is None:
        return ""
    if isinstance(raw, str):
        lines = raw.splitlines()
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                raise ModelError(f"{path}[{index}]", "must be a string")
        lines = list(raw)
    else:
        raise ModelError(path, "must be a string or a list of strings")
    return "\n".join(line.strip() for line in lines if line.strip())
