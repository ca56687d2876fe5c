"""The launcher role: wait for the old JobMatcher to exit, then start the app again (see relaunch.py).

`run_app` calls `act_as_launcher_if_asked()` first thing; when the environment
names a pid to wait for, this process is only the launcher: it waits, starts
the app with its own arguments (minus the launcher variable), and returns.

`python -m jobmatcher.launcher --wait-pid PID -- COMMAND...` does the same
for any command, by hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from .fsutil import process_gone
from .relaunch import RELAUNCHED_ENV, WAIT_PID_ENV, child_environment, program, spawn_detached

log = logging.getLogger(__name__)

WAIT_SECONDS = 60


def wait_for_exit(pid: int, timeout: float = WAIT_SECONDS) -> bool:
    """Wait until `pid` is gone; False if it was still there after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def relaunch(wait_pid: int, cmd: list[str], env: dict[str, str]) -> int:
    """Wait for `wait_pid` to exit, then start `cmd` detached. 0 on success."""
    if not wait_for_exit(wait_pid):
        # Start anyway: the new app then shows "JobMatcher is already running" with
        # what to do, which is better than silently not coming back.
        log.warning("process %s did not exit within %ss; starting the app anyway", wait_pid, WAIT_SECONDS)
    try:
        spawn_detached(cmd, env, cwd=os.getcwd())
    except OSError as e:
        log.error("could not start %s: %s", cmd, e)
        return 1
    return 0


def act_as_launcher_if_asked() -> int | None:
    """If this process was started as the launcher, do that job and return its exit code; else None."""
    raw = os.environ.get(WAIT_PID_ENV)
    if raw is None:
        return None
    try:
        pid = int(raw)
    except ValueError:
        pid = 0
    env = child_environment({RELAUNCHED_ENV: "1"})
    env.pop(WAIT_PID_ENV, None)
    cmd = program() + sys.argv[1:]
    log.info("launcher: waiting for %s, then starting %s", pid, cmd)
    return relaunch(pid, cmd, env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m jobmatcher.launcher", description="Wait for a process to exit, then start a command."
    )
    p.add_argument("--wait-pid", type=int, required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("give the command to start after --")
    return relaunch(a.wait_pid, cmd, child_environment())


if __name__ == "__main__":
    sys.exit(main())
