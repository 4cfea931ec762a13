"""The optional compiled hot path (scripts/compile.sh, README "Optional: compiled hot path").

Nothing here builds: the suite itself is the equivalence check (run it once with the compiled
modules present and once without). These tests keep the module list honest and catch a
checkout whose compiled modules are older than their source (the stale .so would be imported
instead of the edited .py)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import mypyc_build  # noqa: E402


def test_module_list_names_typed_modules_of_the_package() -> None:
    mods = mypyc_build.modules()
    assert mods, "scripts/compiled-modules.txt lists no module"
    assert len(set(mods)) == len(mods), "a module is listed twice"
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert checked["strict"] is True
    for rel in mods:
        path = ROOT / rel
        assert path.is_file(), f"{rel} does not exist"
        assert rel.endswith(".py") and path.name != "__init__.py", rel
        top = rel.split("/", 1)[0]
        assert top in checked["packages"], f"{rel} is outside what mypy --strict checks"
        dotted = rel[: -len(".py")].replace("/", ".")
        assert importlib.util.find_spec(dotted) is not None, dotted


def test_compiled_modules_are_ignored_by_git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tag = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so
    paths = [rel[: -len(".py")] + tag for rel in mypyc_build.modules()]
    paths.append("ircd/_hot__mypyc" + tag)
    out = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert sorted(out) == sorted(paths)


def test_compiled_modules_are_current_or_absent() -> None:
    """Either pure Python or every listed module compiled from its current source."""
    present = {rel: mypyc_build._extensions(ROOT / rel) for rel in mypyc_build.modules()}
    built = [rel for rel, exts in present.items() if exts]
    if built:
        assert len(built) == len(present), (
            f"partly compiled ({len(built)} of {len(present)}): run scripts/compile.sh or --clean"
        )
    stale = [
        rel
        for rel, exts in present.items()
        if any(e.stat().st_mtime < (ROOT / rel).stat().st_mtime for e in exts)
    ]
    assert not stale, f"compiled before the last edit of {stale}: run scripts/compile.sh"
