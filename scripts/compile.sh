#!/usr/bin/env bash
# Optional: compile the typed hot modules (scripts/compiled-modules.txt) with mypyc, in place.
#   bash scripts/compile.sh            build (needs a C compiler and the Python headers)
#   bash scripts/compile.sh --clean    remove the .so files again: pure Python
#   bash scripts/compile.sh --status   what is compiled; exit 1 if stale or partial
# Runs in an existing venv: $PYTHON if set, else the checkout's .venv (scripts/test.sh makes it),
# else the active venv's python. Installs mypy (it brings mypyc) and setuptools there first.
# Nothing else needs this: the package, scripts/test.sh, scripts/serve.sh and CI stay pure Python.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  echo "error: no venv: run scripts/test.sh (it makes .venv), activate one, or set PYTHON=" >&2
  exit 2
fi
"$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' \
  || { echo "error: $PY is not in a venv (this installs mypy into it)" >&2; exit 2; }
case "${1:-}" in
  --clean | --status) ;;
  *)
    "$PY" -m pip install -q "mypy>=1.10" "setuptools>=64"
    ;;
esac
exec "$PY" scripts/mypyc_build.py "$@"
