"""Compile the typed hot modules with mypyc, in place, or remove them again.

    scripts/compile.sh            # build: one .so per module next to its .py
    scripts/compile.sh --clean    # remove them: the checkout is pure Python again
    scripts/compile.sh --status   # which modules are compiled, and which .so is stale

An opt-in accelerator for a checkout or an editable install (``pip install -e .``): the modules
listed in ``scripts/compiled-modules.txt`` become C extension modules (``*.so`` beside the
``.py``; Python imports the extension first), all in one group whose shared library is
``ircd/_hot__mypyc*.so``. Nothing else changes: the package's build backend stays pure Python,
and without the ``.so`` files (``--clean``, a fresh clone, ``pip install .``) the same source
runs interpreted. Run by ``scripts/compile.sh``, which installs mypy (it brings mypyc) first.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "compiled-modules.txt"
GROUP = "ircd._hot"  # the shared library: ircd/_hot__mypyc.<abi>.so
BUILD_DIR = ROOT / "build" / "mypyc"


def modules() -> list[str]:
    """The paths in compiled-modules.txt, relative to the checkout."""
    out = []
    for line in LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _extensions(py: Path) -> list[Path]:
    """The compiled forms of one module (any ABI tag) beside its .py."""
    stem = py.name[: -len(".py")]
    return sorted(
        p
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        for p in py.parent.glob(stem + ".*")
        if p.name.endswith(suffix) and p.name[: -len(suffix)] == stem
    )


def _shared_libs() -> list[Path]:
    return sorted((ROOT / "ircd").glob("_hot__mypyc.*"))


def clean() -> int:
    removed = [p for rel in modules() for p in _extensions(ROOT / rel)] + _shared_libs()
    # a module dropped from the list since the last build: any mypyc shim under ircd/ whose .py
    # exists goes too (the package ships no other extension modules)
    for so in (ROOT / "ircd").rglob("*.so"):
        if so not in removed:
            removed.append(so)
    for p in removed:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    if not removed:
        print("nothing compiled: the checkout is pure Python")
    return 0


def status() -> int:
    """Exit 0 when the compiled modules are all present and current (or none are)."""
    stale = missing = present = 0
    for rel in modules():
        py = ROOT / rel
        exts = _extensions(py)
        if not exts:
            missing += 1
            print(f"pure      {rel}")
            continue
        present += 1
        if any(e.stat().st_mtime < py.stat().st_mtime for e in exts):
            stale += 1
            print(f"STALE     {rel} (the .py changed after the build: run scripts/compile.sh)")
        else:
            print(f"compiled  {rel}")
    if present and missing:
        print("partly compiled: run scripts/compile.sh (or --clean)")
        return 1
    return 1 if stale else 0


def build(opt_level: str) -> int:
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as e:
        print(f"error: {e.name} is not installed (scripts/compile.sh installs it)", file=sys.stderr)
        return 2
    clean()
    paths = modules()
    for rel in paths:
        if not (ROOT / rel).is_file():
            print(f"error: {LIST.name} names {rel}, which does not exist", file=sys.stderr)
            return 2
    os.chdir(ROOT)  # mypy reads pyproject.toml ([tool.mypy]) and resolves `ircd` from here
    ext = mypycify(
        paths,
        opt_level=opt_level,
        group_name=GROUP,
        target_dir=str(BUILD_DIR),
    )
    setup(
        name="ircd-compiled",
        ext_modules=ext,
        script_args=[
            "--quiet",
            "build_ext",
            "--inplace",
            "--build-temp",
            str(BUILD_DIR / "temp"),
            "--build-lib",
            str(BUILD_DIR / "lib"),
            "--parallel",
            str(os.cpu_count() or 1),
        ],
    )
    return status()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--clean", action="store_true", help="remove the compiled modules")
    g.add_argument("--status", action="store_true", help="list what is compiled (1: stale/partial)")
    ap.add_argument("--opt-level", default="3", choices=["0", "1", "2", "3"])
    a = ap.parse_args(argv)
    if a.clean:
        return clean()
    if a.status:
        return status()
    return build(a.opt_level)


if __name__ == "__main__":
    sys.exit(main())
