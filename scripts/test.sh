#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: `bash scripts/test.sh [pytest flags]`.
# System packages (irssi, WeeChat and tmux for the end-to-end tests with real clients, Chromium
# for the web messenger's browser tests) are
# installed with apt-get when it is available and we are root (or sudo works without a password).
# The package and its test extras go into .venv in the checkout (see venv.sh), never into the
# system Python; pytest runs from there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

missing=()
for tool in irssi tmux; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v weechat >/dev/null 2>&1 || missing+=(weechat-curses)
# the web messenger's real-browser tests (tests/web/test_browser.py) drive the system Chromium
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the end-to-end tests with real clients or the browser will be skipped" >&2
fi

ensure_venv test
exec "$VENV_PY" -m pytest -q "$@"
