"""Shared by the benchmarks: noticing when other processes are using the machine."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / hz, sum(fields) / hz


QUIET = {"threshold": 0.25, "max_wait": 15.0, "waited": 0.0}


def wait_for_quiet() -> float:
    """Wait (up to QUIET['max_wait'] s) until other processes use under 25% of the machine; return that share.

    Other people's test runs and builds on a shared 2-core machine would otherwise land in the timings.
    """
    deadline = time.monotonic() + QUIET["max_wait"]
    while True:
        b0, t0 = cpu_busy()
        time.sleep(0.5)
        b1, t1 = cpu_busy()
        share = (b1 - b0) / max(t1 - t0, 1e-9)
        if share < QUIET["threshold"] or time.monotonic() > deadline:
            return share
        QUIET["waited"] += 0.5


ROOT = Path(__file__).resolve().parent.parent
BYTECODE_NOTE = (
    "The package is compiled to bytecode first (compileall) and the measured processes run without "
    "PYTHONDONTWRITEBYTECODE, as an installed app runs (pip and the bundle install its bytecode): no "
    "module is compiled from source on the clock."
)


def installed_bytecode(env: dict, *trees: Path) -> dict:
    """Compile the package (and each of `trees`, other checkouts' packages) to bytecode, as pip and the bundle
    install it, and return `env` without PYTHONDONTWRITEBYTECODE: a checkout run with that variable compiles
    every module without a .pyc from source in every process, which an installed app never does (issue 13:
    10-20 ms of a first call). Returns a new dict; `env` is left as it is."""
    import compileall

    for tree in (ROOT / "backend" / "jobmatcher", *trees):
        compileall.compile_dir(str(tree), quiet=1)
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
