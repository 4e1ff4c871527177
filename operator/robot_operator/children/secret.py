"""The env Secret `<robot>-env`: the resolved variables plus ROBOT_CONTROL_TOKEN, read by the pod via envFrom."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

from robot_operator import names
from robot_operator.children.common import Obj, metadata
from robot_operator.model import Robot


def build_env_secret(robot: Robot, variables: Mapping[str, str], control_token: str) -> Obj:
    """The Secret holding every variable (base64 `data`, as the API server returns it, so it compares exactly).

    `control_token` is generated (randomly) and kept by the reconciler; it overrides any ROBOT_CONTROL_TOKEN in
    `variables`. The annotation names the user's `.env` Secret it was built from (a name, never a value).
    """
    data = {name: _b64(value) for name, value in sorted(variables.items())}
    data[names.ROBOT_CONTROL_TOKEN] = _b64(control_token)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(
            robot,
            names.env_secret_name(robot.name),
            names.COMPONENT_ENV,
            {names.ENV_SECRET_ANNOTATION: robot.env_secret_name},
        ),
        "type": "Opaque",
        "data": data,
    }


def _b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def env_secret_checksum(env_secret: Mapping[str, object]) -> str:
    """sha256 (hex) over the built env Secret's data, ROBOT_CONTROL_TOKEN included.

    Give this to `build_deployment` as its `env_checksum`: the pod reads the Secret only when it starts, so a new
    token (e.g. after the env Secret was deleted and re-created) must roll the pod as a changed variable does.
    `ResolvedEnv.checksum` (no token) is the one to show in `status.envChecksum`.
    """
    data = env_secret.get("data")
    items = sorted(data.items()) if isinstance(data, Mapping) else []
    return hashlib.sha256(json.dumps(items, separators=(",", ":")).encode()).hexdigest()
