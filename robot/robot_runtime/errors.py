"""The runtime's one error type: a one-line, value-free message for the person running the robot."""

from __future__ import annotations


class RobotError(Exception):
    """A failure the user can act on.

    The message is one line, names the variable, file or setting at fault, and never contains a secret value.
    The CLI prints it as ``robot-runtime: <message>`` and exits non-zero, without a traceback.
    """
