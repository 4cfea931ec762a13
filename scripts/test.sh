#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: `bash scripts/test.sh [pytest flags]`.
# System packages (irssi, WeeChat and tmux, for the end-to-end tests with real clients, and
# redis-server, for the tests of the "redis" storage backend in tests/scale) are
# installed with apt-get when it is available and we are root (or sudo works without a password).
# The package and its test extras go into .venv in the checkout (see venv.sh), never into the
# system Python; pytest runs from there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

missing=()
for tool in irssi tmux redis-server; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v weechat >/dev/null 2>&1 || missing+=(weechat-curses)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the tests that need them will be skipped" >&2
fi

ensure_venv test
exec "$VENV_PY" -m pytest -q "$@"
