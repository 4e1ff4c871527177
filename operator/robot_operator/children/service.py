"""The Service `<robot>`: a stable address for the pod's control endpoint (the backup Job calls it)."""

from __future__ import annotations

from robot_operator import names
from robot_operator.children.common import Obj, metadata, selector_labels
from robot_operator.model import Robot


def build_service(robot: Robot) -> Obj:
    """ClusterIP Service on the control port, selecting the robot's pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(robot, names.service_name(robot.name), names.COMPONENT_CONTROL),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(robot, names.COMPONENT_ROBOT),
            "ports": [
                {
                    "name": names.CONTROL_PORT_NAME,
                    "port": names.CONTROL_PORT,
                    "targetPort": names.CONTROL_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }
