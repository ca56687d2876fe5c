"""Public functions of the engine's modules say what they raise (issue 12): "Raises …", "Never raises",
the exception class by name, or, for a location client's method, the interface method whose contract it
follows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "backend" / "jobmatcher"
MODULES = [
    "engine.py",
    "backups.py",
    "restore.py",
    "verify.py",
    "manifest.py",
    "retention.py",
    *sorted(f"locations/{p.name}" for p in (PACKAGE / "locations").glob("*.py") if p.name != "__init__.py"),
]


def _public_functions(tree: ast.Module | ast.ClassDef, prefix: str = ""):
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from _public_functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node


def _undocumented(source: str) -> list[str]:
    missing = []
    for name, fn in _public_functions(ast.parse(source)):
        doc = ast.get_docstring(fn) or ""
        names_an_error = re.search(r"\b[A-Z]\w*Error\b", doc)  # "Refuse (ValidationError ...)" says it too
        if "raise" not in doc.lower() and not names_an_error and not doc.startswith("As LocationClient."):
            missing.append(name)
    return missing


@pytest.mark.parametrize("module", MODULES)
def test_every_public_function_says_what_it_raises(module):
    assert _undocumented((PACKAGE / module).read_text()) == []


def test_the_check_notices_a_function_that_does_not_say():
    source = 'def ok():\n    """Never raises."""\n\ndef silent(x):\n    """Does a thing."""\n    return x\n'
    assert _undocumented(source) == ["silent"]
