"""A tiny stand-in for Gopherbot: writes memories into state/brain/ when asked, and stops cleanly on SIGTERM.

It runs in the robot home (the supervisor's working directory for its child). Triggers:
- a file `inbox/<name>` -> its content becomes the memory `state/brain/<name>` (written atomically);
- `inbox/EXIT` holding a number -> the bot exits with that status (a crash, as far as the supervisor knows);
- `inbox/ORPHAN` -> it leaves behind an orphan process that exits soon after (for zombie reaping as PID 1);
- SIGUSR1 -> the memory `memory_bot:counter` counts up.
On SIGTERM it writes `memory_bot:last-words` (proving the final backup runs after it stopped) and exits 0, unless
MEMORY_BOT_IGNORE_TERM=1. It writes `bot-started.json` (its pid and whether it can see the control token) on start,
and gives up by itself after MEMORY_BOT_LIFETIME seconds (default 300), so a leaked bot never runs for long.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

BRAIN = Path("state") / "brain"
INBOX = Path("inbox")
POLL_SECONDS = 0.05


def write_memory(name: str, text: str) -> None:
    BRAIN.mkdir(parents=True, exist_ok=True)
    temporary = BRAIN / f".{name}.tmp"
    temporary.write_text(text)
    temporary.rename(BRAIN / name)


class MemoryBot:
    """The bot's state: a counter and whether it has been asked to stop."""

    def __init__(self) -> None:
        self.counter = 0
        self.stopping = False

    def on_term(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def on_usr1(self, signum: int, frame: FrameType | None) -> None:
        self.counter += 1
        write_memory("memory_bot:counter", str(self.counter))

    def handle_inbox(self) -> int | None:
        """Turn inbox files into memories; a number in inbox/EXIT is returned as the exit status."""
        if not INBOX.is_dir():
            return None
        for entry in sorted(INBOX.iterdir()):
            if entry.name.startswith("."):
                continue
            text = entry.read_text()
            entry.unlink()
            if entry.name == "EXIT":
                return int(text.strip() or "1")
            if entry.name == "ORPHAN":
                subprocess.Popen(["sh", "-c", "sleep 0.3 &"]).wait()
                continue
            write_memory(entry.name, text)
        return None


def main() -> int:
    bot = MemoryBot()
    signal.signal(signal.SIGUSR1, bot.on_usr1)
    if os.environ.get("MEMORY_BOT_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, bot.on_term)
    started = {"pid": os.getpid(), "sees_control_token": "ROBOT_CONTROL_TOKEN" in os.environ, "cwd": os.getcwd()}
    Path("bot-started.json").write_text(json.dumps(started))
    deadline = time.monotonic() + float(os.environ.get("MEMORY_BOT_LIFETIME", "300"))
    while time.monotonic() < deadline:
        status = bot.handle_inbox()
        if status is not None:
            print(f"memory_bot: exiting with status {status} as asked", file=sys.stderr)
            return status
        if bot.stopping:
            write_memory("memory_bot:last-words", f"stopped after {bot.counter} signals")
            print("memory_bot: stopped by SIGTERM", file=sys.stderr)
            return 0
        time.sleep(POLL_SECONDS)
    print("memory_bot: lifetime over", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
