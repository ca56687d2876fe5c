"""The test suite's own plumbing: a test whose report carries a name that is not UTF-8 (a folder named with the
byte 0xE9, as test_findings11_misc's x27 tests make) must not stop a `-n 2` run.

pytest-xdist sends every report from its worker over execnet, which refuses a str that is not UTF-8 encodable
(a lone surrogate such as '\\udce9', os.fsdecode's stand-in for that byte). A captured log line, print or assertion
message naming such a path made the worker fail while sending the report; the controller then saw the worker
finish with tests still pending and stopped the whole stage with INTERNALERROR
(`assert not crashitem`), after about 300 tests. conftest.pytest_runtest_makereport escapes such text."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

NAME = os.fsdecode(b"d\xe9")  # '\udce9' in it: not encodable as UTF-8
INNER = "JOBMATCHER_SUITE_INNER"


@pytest.mark.skipif(os.environ.get(INNER) != "1", reason="run by test_a_name_not_in_utf8_in_a_report_..._stop_xdist")
@pytest.mark.parametrize("fails", [False, True])
def test_inner_a_report_naming_a_path_not_in_utf8(fails):
    logging.getLogger("jobmatcher").warning("opened %s", NAME)  # "Captured log call", also when it passes
    print("stdout", NAME)
    print("stderr", NAME, file=sys.stderr)
    assert not fails, f"the folder {NAME}"  # a message that is not UTF-8 either


def test_a_name_not_in_utf8_in_a_report_does_not_stop_xdist():
    """Two reports (a pass and a failure) naming a non-UTF-8 path, through a real xdist worker: both reported
    (1 passed, 1 failed, the name shown escaped), no INTERNALERROR."""
    here = Path(__file__)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "1", "-p", "no:cacheprovider", "-q", "-rA",
         f"{here}::test_inner_a_report_naming_a_path_not_in_utf8"],
        cwd=here.parent.parent,
        env={**os.environ, INNER: "1"},
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=240,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert "INTERNALERROR" not in out, out[-3000:]
    assert r.returncode == 1 and "1 failed, 1 passed" in out, out[-3000:]
    assert "the folder d\\udce9" in out, out[-3000:]  # the failure's own message, escaped


# -- forked copies of the worker ------------------------------------------------------------------------------


def _fork_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in ("fork", "forkpty")
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id in ("os", "pty")
    ]


def _ends_in_exit(block: list[ast.stmt]) -> bool:
    """A child's branch whose last statement is a try whose finally calls os._exit."""
    last = block[-1] if block else None
    return isinstance(last, ast.Try) and any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "_exit"
        for stmt in last.finalbody
        for n in ast.walk(stmt)
    )


def test_every_fork_in_the_code_and_the_tests_ends_its_child_in_os_exit():
    """A forked copy of a pytest-xdist worker (or of the app) that returned into the caller's code (an exec that
    failed, an exception before it) would go on running the caller: tests twice, reports on the worker's channel.
    Every os.fork / pty.fork has its child's branch (`if pid == 0:`) end in a try whose finally is os._exit."""
    root = Path(__file__).resolve().parents[1]
    bad = []
    for path in sorted([*(root / "backend").rglob("*.py"), *(root / "tests").glob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        calls = _fork_calls(tree)
        if not calls:
            continue
        children = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.If)
            and isinstance(n.test, ast.Compare)
            and isinstance(n.test.ops[0], ast.Eq)
            and isinstance(n.test.comparators[0], ast.Constant)
            and n.test.comparators[0].value == 0
            and "pid" in ast.unparse(n.test.left)
        ]
        for call in calls:
            branch = min((c for c in children if c.lineno > call.lineno), key=lambda c: c.lineno, default=None)
            if branch is None or not _ends_in_exit(branch.body):
                bad.append(f"{path.relative_to(root)}:{call.lineno}")
    assert not bad, bad


def test_a_pty_child_whose_exec_fails_ends_with_127():
    from conftest import exec_on_pty

    pid, fd = exec_on_pty(["/nonexistent/program"])
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 127  # the copy ended there: it did not run on in pytest
