"""A small synchronous client for the handful of kinds the operator and the plugin touch, on plain dicts.

Built on the official `kubernetes` client's ApiClient (its configuration, auth and TLS), but requests are made by
path and bodies stay JSON dicts: no generated models (which drop fields and rename keys), patches are always JSON
merge patches, and errors become `KubeError` whose message carries the API server's short status message, never a
request body (so never a Secret value). 404 on read is `None`; 409 on create is `AlreadyExists`.

This module is synchronous: the kopf handlers call it from kopf's thread executor (sync handlers), never from
`async def` code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from robot_operator import names

Obj = dict[str, Any]
MERGE_PATCH: Final = "application/merge-patch+json"
REQUEST_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: `prefix` (/api/v1 or /apis/<group>/<version>), `plural`, `namespaced`."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"


ROBOT: Final = Kind(names.KIND, names.API_VERSION, names.PLURAL)
SECRET: Final = Kind("Secret", "v1", "secrets")
SERVICE: Final = Kind("Service", "v1", "services")
SERVICE_ACCOUNT: Final = Kind("ServiceAccount", "v1", "serviceaccounts")
POD: Final = Kind("Pod", "v1", "pods")
EVENT: Final = Kind("Event", "v1", "events")
NAMESPACE: Final = Kind("Namespace", "v1", "namespaces", namespaced=False)
DEPLOYMENT: Final = Kind("Deployment", "apps/v1", "deployments")
CRONJOB: Final = Kind("CronJob", "batch/v1", "cronjobs")
JOB: Final = Kind("Job", "batch/v1", "jobs")
ROLE: Final = Kind("Role", "rbac.authorization.k8s.io/v1", "roles")
ROLE_BINDING: Final = Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings")
KINDS: Final = {
    k.kind: k
    for k in (
        ROBOT,
        SECRET,
        SERVICE,
        SERVICE_ACCOUNT,
        POD,
        EVENT,
        NAMESPACE,
        DEPLOYMENT,
        CRONJOB,
        JOB,
        ROLE,
        ROLE_BINDING,
    )
}


class KubeError(Exception):
    """An API request failed; `status` is the HTTP status (0 when the server could not be reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AlreadyExists(KubeError):
    """409 on create: the object exists already (re-read it and compare)."""


class Conflict(KubeError):
    """409 on update/patch with a resourceVersion precondition: re-read and retry."""


class NamespaceTerminating(KubeError):
    """403 on create because the namespace is being deleted: the Robot is going too, nothing to keep in place."""


def kind_of(obj: Mapping[str, Any]) -> Kind:
    kind = KINDS.get(str(obj.get("kind", "")))
    if kind is None:
        raise KubeError(0, f"unsupported kind {obj.get('kind')!r}")
    return kind


def object_path(kind: Kind, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
    path = kind.prefix
    if kind.namespaced and namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{kind.plural}"
    if name:
        path += f"/{quote(name, safe='')}"
    if subresource:
        path += f"/{subresource}"
    return path


def short_status_message(error: ApiException) -> str:
    """The API server's one-line Status.message, or the HTTP reason: never the request body."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message or error.reason or "request failed")
    return " ".join(text.split())


def load_api_client(
    kubeconfig: str | None = None, context: str | None = None, *, in_cluster_first: bool = True
) -> k8s_client.ApiClient:
    """An ApiClient: in a pod its ServiceAccount (unless a kubeconfig is named), else KUBECONFIG / ~/.kube/config."""
    configuration = k8s_client.Configuration()
    if in_cluster_first and kubeconfig is None and context is None:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s_client.ApiClient(configuration)
        except k8s_config.ConfigException:
            pass
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (k8s_config.ConfigException, OSError, TypeError) as error:
        if not in_cluster_first and kubeconfig is None and context is None:
            return load_api_client(None, None, in_cluster_first=True)
        raise KubeError(0, f"no cluster configuration: {str(error).splitlines()[0]}") from None
    return k8s_client.ApiClient(configuration)


class Kube:
    """Dict-in, dict-out access to the API server; every call is one HTTP request with a timeout."""

    def __init__(self, api_client: k8s_client.ApiClient, field_manager: str = names.MANAGER) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self._per_thread = threading.local()

    @property
    def writes(self) -> int:
        """Successful write requests (POST, PATCH, PUT, DELETE) made so far by the CALLING thread."""
        return int(getattr(self._per_thread, "writes", 0))

    def request(self, method: str, path: str, body: object = None, content_type: str = "application/json") -> Obj:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api_client.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            response = self.api_client.call_api(method, url, headers, body, _request_timeout=REQUEST_TIMEOUT_SECONDS)
            data = response.read()  # type: ignore[no-untyped-call]
        except ApiException as error:
            raise self.error_for(method, error) from None
        except OSError as error:
            raise KubeError(0, f"{method} {path}: {type(error).__name__}") from None
        except Exception as error:  # urllib3 errors (connection refused, TLS) are not OSErrors
            raise KubeError(0, f"{method} {path}: {type(error).__name__}") from None
        if not 200 <= response.status <= 299:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else None
            raise self.error_for(method, ApiException(status=response.status, reason=response.reason, body=text))
        if method != "GET":
            self._per_thread.writes = self.writes + 1
        parsed = json.loads(data) if data else {}
        return parsed if isinstance(parsed, dict) else {}

    @staticmethod
    def error_for(method: str, error: ApiException) -> KubeError:
        status = int(error.status or 0)
        message = short_status_message(error)
        if status == 409 and method == "POST":
            return AlreadyExists(status, message)
        if status == 403 and method == "POST" and "being terminated" in message:
            return NamespaceTerminating(status, message)
        if status == 409:
            return Conflict(status, message)
        return KubeError(status, message)

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when it does not exist (404)."""
        try:
            return self.request("GET", object_path(kind, namespace, name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def list(self, kind: Kind, namespace: str | None = None, label_selector: str | None = None) -> list[Obj]:
        path = object_path(kind, namespace)
        if label_selector:
            path += "?" + urlencode({"labelSelector": label_selector})
        items = self.request("GET", path).get("items", [])
        kind_fields = {"apiVersion": kind.api_version, "kind": kind.kind}
        return [{**kind_fields, **item} for item in items if isinstance(item, dict)]

    def create(self, body: Obj) -> Obj:
        """Create `body` (its kind and metadata.namespace say where); AlreadyExists on 409."""
        kind = kind_of(body)
        namespace = body.get("metadata", {}).get("namespace")
        path = object_path(kind, namespace) + "?" + urlencode({"fieldManager": self.field_manager})
        return self.request("POST", path, body)

    def patch(self, kind: Kind, namespace: str | None, name: str, patch: Obj, subresource: str | None = None) -> Obj:
        """A JSON merge patch (null deletes a key; a list replaces the whole list)."""
        path = object_path(kind, namespace, name, subresource) + "?" + urlencode({"fieldManager": self.field_manager})
        return self.request("PATCH", path, patch, MERGE_PATCH)

    def delete(self, kind: Kind, namespace: str | None, name: str, propagation: str = "Background") -> bool:
        """Delete; False when it was already gone (404 tolerated)."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        try:
            self.request("DELETE", object_path(kind, namespace, name), body)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True
