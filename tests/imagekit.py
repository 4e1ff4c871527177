"""Test helper: build the project's images with hack/images.sh and run containers with podman, bounded in time.

Containers use the host's network namespace (`--network host`) so that they reach the test sshd on 127.0.0.1:
loopback only. Every podman call gets CONTAINERS_CONF=hack/podman/containers.conf (runc, capped ulimits).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = ROOT / "hack" / "podman" / "containers.conf"
IMAGES_SCRIPT = ROOT / "hack" / "images.sh"
IMAGES_ENV = ROOT / "hack" / "images.env"
BUILD_TIMEOUT_S = 1500.0
IMAGE_TEST_TIMEOUT_S = 1800.0
PODMAN_TIMEOUT_S = 120.0
ROBOT_UID = 10001
T = TypeVar("T")


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = True, timeout: float = PODMAN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS` and return its output; a failure names the command and shows podman's stderr."""
    executable = shutil.which("podman")
    if executable is None:
        raise RuntimeError("podman is not installed: run hack/setup.sh --system-only")
    result = subprocess.run(
        [executable, *args], capture_output=True, text=True, env=podman_env(), timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} ... exited {result.returncode}: {result.stderr.strip()}")
    return result


def images_env() -> dict[str, str]:
    """hack/images.env as a mapping (the one place image names and tags are written)."""
    values: dict[str, str] = {}
    for line in IMAGES_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class BuiltImages:
    """What `hack/images.sh` printed last (the two references) and how long it took."""

    robot: str
    operator: str
    seconds: float
    log: str


def build_images(log_file: Path) -> BuiltImages:
    """Run hack/images.sh (base made with debootstrap if needed, --pull=never); its last two lines are the refs."""
    env = podman_env()
    env["CONTAINER_ENGINE"] = "podman"
    started = time.monotonic()
    result = subprocess.run(
        [str(IMAGES_SCRIPT)], capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S, check=False, cwd=ROOT
    )
    seconds = time.monotonic() - started
    log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"hack/images.sh exited {result.returncode}: {result.stderr.strip()[-3000:]}")
    lines = result.stdout.strip().splitlines()
    return BuiltImages(robot=lines[-2], operator=lines[-1], seconds=seconds, log=result.stderr)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_env_file(path: Path, variables: Mapping[str, str]) -> Path:
    """A `.env` for `--env-file`: one KEY=value per line, values UNQUOTED (podman and docker keep quotes literally)."""
    lines = []
    for name, value in variables.items():
        if "\n" in value:
            raise ValueError(f"{name}: an --env-file value cannot hold a newline")
        lines.append(f"{name}={value}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float, interval_s: float = 0.2) -> T:
    """Poll `check` until it returns a true value (bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def http_status(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of GET `url`, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


@dataclass
class Container:
    """One container started detached by `run_container`; `remove()` is idempotent."""

    name: str
    image: str
    removed: bool = field(default=False, repr=False)

    def state(self) -> dict[str, object]:
        out = podman("inspect", "--format", "{{json .State}}", self.name).stdout
        state: dict[str, object] = json.loads(out)
        return state

    def running(self) -> bool:
        return bool(self.state().get("Running"))

    def exit_code(self) -> int:
        return int(str(self.state().get("ExitCode", -1)))

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=check)

    def wait_exit(self, timeout_s: float) -> int:
        wait_for(lambda: not self.running(), f"container {self.name} to exit", timeout_s)
        return self.exit_code()

    def stop(self, timeout_s: int) -> int:
        """`podman stop -t`: SIGTERM, then SIGKILL after `timeout_s`; returns the exit code."""
        podman("stop", "-t", str(timeout_s), self.name, timeout=timeout_s + 60)
        return self.exit_code()

    def remove(self) -> None:
        if not self.removed:
            podman("rm", "-f", "-t", "5", self.name, check=False)
            self.removed = True


def run_container(
    image: str,
    name: str,
    *,
    env_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str = f"{ROBOT_UID}:{ROBOT_UID}",
    read_only: bool = True,
    tmpfs: Iterable[str] = ("/home/robot:rw,exec,U",),
    volumes: Iterable[str] = (),
    entrypoint: str | None = None,
    extra: Iterable[str] = (),
    command: Iterable[str] = (),
    healthcheck: bool = False,
) -> Container:
    """`podman run -d` with host networking (loopback only), as `user`, read-only root, a tmpfs home."""
    args = ["run", "-d", "--name", name, "--network", "host", "--user", user]
    if not healthcheck:
        args.append("--no-healthcheck")
    if read_only:
        args.append("--read-only")
    for mount in tmpfs:
        args += ["--tmpfs", mount]
    for volume in volumes:
        args += ["-v", volume]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint]
    args += [*extra, image, *command]
    podman(*args)
    return Container(name=name, image=image)


def run_once(
    image: str, options: Iterable[str] = (), command: Iterable[str] = (), timeout: float = PODMAN_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm` to completion (read-only root, host network), returning its output and status."""
    args = ["run", "--rm", "--network", "host", "--read-only", "--no-healthcheck", *options, image, *command]
    return podman(*args, check=False, timeout=timeout)


STANDIN_CONTAINERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY memory_bot.py gopherbot /opt/gopherbot/
"""
STANDIN_LAUNCHER = """\
#!/bin/sh
# A stand-in for the Gopherbot binary: the memory test bot.
exec python3 /opt/gopherbot/memory_bot.py "$@"
"""


def build_robot_with_gopherbot(directory: Path, bot_script: Path, tag: str) -> str:
    """The robot image built with GOPHERBOT_IMAGE = an image whose /opt/gopherbot/gopherbot is the memory bot.

    Exercises the Containerfile's optional Gopherbot stage, so a pod template's default args (the Gopherbot
    binary) run unchanged. Returns the robot image reference.
    """
    base = images_env()["BASE_IMAGE"]
    context = directory / "gopherbot-standin"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Containerfile").write_text(STANDIN_CONTAINERFILE)
    shutil.copyfile(bot_script, context / "memory_bot.py")
    launcher = context / "gopherbot"
    launcher.write_text(STANDIN_LAUNCHER)
    launcher.chmod(0o755)
    standin = f"{tag}-gopherbot-standin"
    podman("build", "--pull=never", "--build-arg", f"BASE_IMAGE={base}", "-t", standin, str(context), timeout=300)
    env = podman_env()
    env.update(CONTAINER_ENGINE="podman", IMAGES_ONLY="robot", ROBOT_IMAGE=tag, GOPHERBOT_IMAGE=standin)
    result = subprocess.run(
        [str(IMAGES_SCRIPT)], capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S, check=False, cwd=ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(f"hack/images.sh (robot with {standin}) exited {result.returncode}: {result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]
