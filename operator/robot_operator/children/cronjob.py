"""The backup CronJob `<robot>-backup`: asks the running robot (through its Service) to back up, on schedule.

Its Job runs the robot image as `robot-runtime backup --remote http://<svc>.<ns>.svc:8080 --result-file
/dev/termination-log`: exit 0 on Pushed/NoChanges, non-zero on failure, the JSON result as the container's
termination message (the operator copies it into `status.lastBackup`). It gets ONLY ROBOT_CONTROL_TOKEN from the env
Secret (secretKeyRef), no service account token (it needs no API access), and the robot's restricted security
context. A manual backup: `kubectl create job --from=cronjob/<robot>-backup <name>`.
"""

from __future__ import annotations

from typing import Final

from robot_operator import names
from robot_operator.children.common import (
    Obj,
    container_security_context,
    image_fields,
    labels,
    metadata,
    pod_security_context,
    scheduling,
    tmp_mount,
    tmp_volume,
)
from robot_operator.model import Robot

STARTING_DEADLINE_SECONDS: Final = 300
BACKOFF_LIMIT: Final = 1
TIME_ZONE: Final = "Etc/UTC"
BACKUP_RESOURCES: Final = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def build_backup_cronjob(robot: Robot, *, suspend: bool = False) -> Obj:
    """The CronJob; suspended when the Robot or its backups are (`spec.suspend`, `spec.backup.suspend`) or `suspend`.

    Pass `suspend=True` when the robot may not run (in conflict or invalid): there is no pod to back up, and a Job
    failing every hour would only add noise.
    """
    backup = robot.backup
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(robot, names.cronjob_name(robot.name), names.COMPONENT_BACKUP),
        "spec": {
            "schedule": backup.schedule,
            "timeZone": TIME_ZONE,
            "suspend": robot.backup_suspended or suspend,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": backup.history_limit,
            "failedJobsHistoryLimit": backup.history_limit,
            "jobTemplate": {
                "metadata": {"labels": labels(robot, names.COMPONENT_BACKUP)},
                "spec": {
                    "activeDeadlineSeconds": backup.timeout_seconds,
                    "backoffLimit": BACKOFF_LIMIT,
                    "template": {
                        "metadata": {"labels": labels(robot, names.COMPONENT_BACKUP)},
                        "spec": _pod_spec(robot),
                    },
                },
            },
        },
    }


def backup_command(robot: Robot) -> list[str]:
    """The Job's command: back up the running robot through its control endpoint."""
    return [
        "robot-runtime",
        "backup",
        "--remote",
        names.control_url(robot.name, robot.namespace),
        "--result-file",
        names.TERMINATION_MESSAGE_PATH,
    ]


def _pod_spec(robot: Robot) -> Obj:
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": names.BACKUP_CONTAINER_NAME,
                **image_fields(robot),
                "command": backup_command(robot),
                "env": [
                    {
                        "name": names.ROBOT_CONTROL_TOKEN,
                        "valueFrom": {
                            "secretKeyRef": {
                                "name": names.env_secret_name(robot.name),
                                "key": names.ROBOT_CONTROL_TOKEN,
                            }
                        },
                    }
                ],
                "resources": BACKUP_RESOURCES,
                "securityContext": container_security_context(),
                "terminationMessagePath": names.TERMINATION_MESSAGE_PATH,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [tmp_mount()],
            }
        ],
        "volumes": [tmp_volume()],
        **scheduling(robot, with_affinity=False),
    }
