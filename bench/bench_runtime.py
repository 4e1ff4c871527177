"""Benchmark the runtime's git side against the git CLI on a generated robot, side by side in one run.

Robot: 500 configuration files and 5,000 encrypted brain files (about 20 MB). Measured, median of --rounds:
  bootstrap+restore  vs  `git clone --single-branch` of the configuration branch and of the state branch
  no-change backup   vs  `git status --porcelain`
  one-file backup    vs  `git add -A && git commit && git push`
over file:// and, when sshd is installed, over a real OpenSSH server on 127.0.0.1. Prints times and ratios
(runtime / git; target <= 1.5 each). Usage: bench/bench_runtime.py [--rounds N] [--quick-rounds N] [--transport ...]

Both sides run under the same conditions: one untimed warm-up round each, then alternated timed rounds (median).
The runtime is called in-process (Python started and modules imported once, as in the supervisor that runs backups);
every git CLI measure includes starting its git processes. Before the no-change measure both fresh clones are left
until their index is older than their files by a whole second, so that neither side pays git's "racily clean"
re-hashing (a git index written in the same second as its files makes every `git status` hash every file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "robot"), str(ROOT)]

from tests.robotkit import encode_env_key, make_robot_config, new_keypair, write_memory  # noqa: E402
from tests.sshd import SshServer, start_sshd  # noqa: E402

from robot_runtime.backup import backup  # noqa: E402
from robot_runtime.bootstrap import bootstrap  # noqa: E402
from robot_runtime.settings import Settings  # noqa: E402

ENCRYPTION_KEY = "benchmark-encryption-key-0123456789abcdef"
PASSPHRASE = "benchmark manage passphrase"
CONFIG_FILES = 500
BRAIN_FILES = 5000
CONFIG_FILE_BYTES = 4000
MEMORY_JSON_BYTES = 2500  # ~3.5 KB once encrypted and base64-wrapped
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class Fixture:
    """The generated robot: its bare repository and what it takes to reach it."""

    bare: Path
    runtime_key: bytes
    deploy_private: bytes
    manage_private: bytes


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env=env,
    )


def generate_robot(directory: Path) -> Fixture:
    """The configuration on branch main, the brain on the orphan branch robot-state, pushed with the git CLI."""
    seed = directory / "seed"
    config = make_robot_config(seed, ENCRYPTION_KEY, PASSPHRASE)
    filler = os.urandom(CONFIG_FILE_BYTES // 2).hex()
    for number in range(CONFIG_FILES):
        path = seed / "conf" / f"plugins-{number % 20}" / f"plugin{number}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# plugin {number}\nHelp: []\nData: {filler}\n")
    bare = directory / "robot.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "configuration", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    state = directory / "state-seed"
    git("init", "-q", "-b", "robot-state", str(state))
    for number in range(BRAIN_FILES):
        payload = os.urandom(MEMORY_JSON_BYTES // 2).hex()
        write_memory(state / "brain", config.runtime_key, f"ns{number % 50}:memory{number}", f'"{payload}"')
    (state / ".gitignore").write_text("bot:histories*\n*:repostats*\n*:_*\n")
    (state / "brain" / "README.txt").write_text("brain\n")
    git("add", "-A", cwd=state)
    git("commit", "-q", "-m", "state", cwd=state)
    git("push", "-q", str(bare), "robot-state", cwd=state)
    return Fixture(bare, config.runtime_key, new_keypair().private_openssh, config.manage_private_key)


def side_by_side(
    runtime: Callable[[int], None], cli: Callable[[int], None], setup: Callable[[int], None], rounds: int
) -> tuple[float, float]:
    """Median seconds of each, run alternately (order swapped every round) so both see the same machine load.

    Round 0 is an untimed warm-up of both sides (page cache, first-call costs); `rounds` timed rounds follow.
    """
    runtime_times: list[float] = []
    cli_times: list[float] = []
    for round_number in range(rounds + 1):
        setup(round_number)
        pair = [(runtime, runtime_times), (cli, cli_times)]
        for action, times in pair if round_number % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            action(round_number)
            if round_number > 0:
                times.append(time.perf_counter() - start)
    return statistics.median(runtime_times), statistics.median(cli_times)


@dataclass
class Transport:
    """A way to reach the bare repository: its URL, the git CLI's environment, and the runtime's settings."""

    name: str
    url: str
    env: dict[str, str]
    settings: Callable[[Path], Settings]


def file_transport(fixture: Fixture) -> Transport:
    def settings(home: Path) -> Settings:
        return Settings(home=home, repository=f"file://{fixture.bare}", encryption_key=ENCRYPTION_KEY)

    return Transport("file://", f"file://{fixture.bare}", dict(os.environ), settings)


def ssh_transport(fixture: Fixture, server: SshServer, keys_dir: Path) -> Transport:
    server.authorize(fixture.deploy_private, read_only=True)
    server.authorize(fixture.manage_private, read_only=False)
    known_hosts = keys_dir / "known_hosts"
    known_hosts.write_text(server.known_hosts_line() + "\n")
    manage = keys_dir / "manage"
    manage.write_bytes(fixture.manage_private)
    manage.chmod(0o600)
    command = f"ssh -F /dev/null -i {manage} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known_hosts}"
    url = server.url(fixture.bare)

    def settings(home: Path) -> Settings:
        return Settings(
            home=home,
            repository=url,
            encryption_key=ENCRYPTION_KEY,
            deploy_key=encode_env_key(fixture.deploy_private),
            host_keys=encode_env_key(server.known_hosts_line()),
        )

    return Transport("ssh", url, dict(os.environ, GIT_SSH_COMMAND=command), settings)


def bench_transport(
    fixture: Fixture, transport: Transport, work: Path, rounds: int, quick_rounds: int
) -> list[tuple[str, float, float]]:
    rows = []

    def fresh(round_number: int) -> None:
        for name in (f"runtime{round_number}", f"cli{round_number}"):
            shutil.rmtree(work / name, ignore_errors=True)

    def runtime_bootstrap(round_number: int) -> None:
        bootstrap(transport.settings(work / f"runtime{round_number}"))

    def cli_clone(round_number: int) -> None:
        home = work / f"cli{round_number}"
        for branch, target in (("main", "custom"), ("robot-state", "state")):
            git("clone", "-q", "--single-branch", "-b", branch, transport.url, str(home / target), env=transport.env)

    rows.append(("bootstrap+restore vs git clone x2", *side_by_side(runtime_bootstrap, cli_clone, fresh, rounds)))
    runtime_home = work / "runtime0"
    cli_home = work / "cli0"
    fresh(0)
    runtime_bootstrap(0)
    cli_clone(0)
    settings = transport.settings(runtime_home)
    wait_until_not_racy([settings.state_dir / ".git" / "index", cli_home / "state" / ".git" / "index"])

    def nothing(_: int) -> None:
        return None

    def runtime_check(_: int) -> None:
        result = backup(settings)
        assert result.result == "NoChanges", result.message

    def cli_status(_: int) -> None:
        subprocess.run(["git", "status", "--porcelain"], cwd=cli_home / "state", check=True, capture_output=True)

    rows.append(("no-change backup vs git status", *side_by_side(runtime_check, cli_status, nothing, quick_rounds)))

    def touch_runtime(round_number: int) -> None:
        write_memory(settings.brain_dir, fixture.runtime_key, "ns0:memory0", f'"runtime round {round_number}"')

    def touch_cli(round_number: int) -> None:
        write_memory(cli_home / "state" / "brain", fixture.runtime_key, "ns1:memory1", f'"cli round {round_number}"')

    def runtime_backup(_: int) -> None:
        result = backup(settings)
        assert result.result == "Pushed", result.message

    def cli_backup(_: int) -> None:
        state = cli_home / "state"
        git("add", "-A", cwd=state)
        git("commit", "-q", "-m", "Automated backup of robot state", cwd=state)
        git("push", "-q", "origin", "robot-state", cwd=state, env=transport.env)

    # Interleave the two so that both push onto a branch the other has moved: each must first catch up.
    # Round 0 is an untimed warm-up of both, as in side_by_side.
    runtime_times, cli_times = [], []
    for round_number in range(quick_rounds + 1):
        sync_runtime(settings, transport)
        touch_runtime(round_number)
        runtime_time = timed(runtime_backup, round_number)
        git("pull", "-q", "--rebase", "origin", "robot-state", cwd=cli_home / "state", env=transport.env)
        touch_cli(round_number)
        cli_time = timed(cli_backup, round_number)
        if round_number > 0:
            runtime_times.append(runtime_time)
            cli_times.append(cli_time)
    rows.append(
        ("one-file backup vs git add/commit/push", statistics.median(runtime_times), statistics.median(cli_times))
    )
    return rows


def sync_runtime(settings: Settings, transport: Transport) -> None:
    """Bring the runtime's state/ up to the remote (the CLI copy pushed meanwhile), outside the timed part."""
    git("pull", "-q", "--ff-only", "origin", "robot-state", cwd=settings.state_dir, env=transport.env)


def wait_until_not_racy(index_files: list[Path]) -> None:
    """Sleep until a whole second has passed since the newest of these index files was written (bounded: 3 s).

    git trusts an entry's cached stat only when the file is older than the index at git's own time resolution; a
    clone's index written in the same second as its files makes `git status` re-hash every file until the index is
    rewritten later. Waiting, then the untimed warm-up round, puts both sides in their steady state.
    """
    newest = max(path.stat().st_mtime for path in index_files)
    time.sleep(min(3.0, max(0.0, newest + 1.1 - time.time())))


def timed(action: Callable[[int], None], round_number: int) -> float:
    start = time.perf_counter()
    action(round_number)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of bootstrap+restore (median)")
    parser.add_argument(
        "--quick-rounds", type=int, default=15, help="timed rounds of the no-change and one-file backups (median)"
    )
    parser.add_argument("--transport", choices=("file", "ssh", "both"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as temp:
        work = Path(temp)
        start = time.perf_counter()
        fixture = generate_robot(work / "remote")
        seeds = [work / "remote" / "seed", work / "remote" / "state-seed"]
        size = sum(p.stat().st_size for d in seeds for p in d.rglob("*") if p.is_file() and ".git" not in p.parts)
        print(f"generated robot: {CONFIG_FILES} config files, {BRAIN_FILES} brain files, {size / 1e6:.1f} MB of files,")
        print(
            f"  in {time.perf_counter() - start:.1f}s; median of {args.rounds} (bootstrap) / {args.quick_rounds}"
            " (backups) alternated rounds after one untimed warm-up round each"
        )
        print("  runtime: in-process calls (no interpreter start/imports, as in the supervisor);")
        print("  git CLI: each measure includes starting its git processes")
        transports = []
        server = None
        if args.transport in ("file", "both"):
            transports.append(file_transport(fixture))
        if args.transport in ("ssh", "both"):
            if shutil.which("sshd") or Path("/usr/sbin/sshd").exists():
                server = start_sshd(work / "sshd")
                transports.append(ssh_transport(fixture, server, work / "sshd"))
            else:
                print("sshd not installed: ssh transport skipped (run hack/setup.sh)")
        worst = 0.0
        try:
            for transport in transports:
                print(f"\n[{transport.name}]  {'measure':<42} {'runtime':>9} {'git CLI':>9} {'ratio':>7}")
                area = work / transport.name.strip(":/")
                area.mkdir()
                for label, runtime, cli in bench_transport(fixture, transport, area, args.rounds, args.quick_rounds):
                    ratio = runtime / cli
                    worst = max(worst, ratio)
                    flag = "" if ratio <= TARGET_RATIO else f"  (above target {TARGET_RATIO})"
                    print(
                        f"  {' ' * len(transport.name)}{label:<42} {runtime:>8.3f}s {cli:>8.3f}s {ratio:>6.2f}x{flag}"
                    )
        finally:
            if server is not None:
                server.stop()
        print(f"\nworst ratio {worst:.2f} (target <= {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
