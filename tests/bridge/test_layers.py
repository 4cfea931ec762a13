"""The bridge's layering, checked on the source: pydle only in client.py, the terminal only in
console.py, and pure modules free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
PURE = ("commands.py", "protocol.py", "render.py", "events.py")
IO_MODULES = {"asyncio", "socket", "ssl", "pydle", "prompt_toolkit", "threading", "os", "sys"}
TERMINAL_NAMES = {"print", "input"}
TERMINAL_ATTRS = {("sys", "stdin"), ("sys", "stdout"), ("sys", "stderr")}


def imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules() -> list[Path]:
    return sorted(BRIDGE.glob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_pydle_and_prompt_toolkit_stay_in_their_module(path: Path) -> None:
    used = imports(ast.parse(path.read_text()))
    if path.name != "client.py":
        assert "pydle" not in used
    if path.name != "console.py":
        assert "prompt_toolkit" not in used
        assert "getpass" not in used


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_no_io(name: str) -> None:
    used = imports(ast.parse((BRIDGE / name).read_text()))
    assert not used & IO_MODULES, used & IO_MODULES


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_only_the_console_touches_the_terminal(path: Path) -> None:
    if path.name == "console.py":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in TERMINAL_NAMES, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in TERMINAL_ATTRS, f"{path.name}:{node.lineno}"
