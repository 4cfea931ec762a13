#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it.
# System packages (irssi, WeeChat and tmux, for the end-to-end tests with real clients) are
# installed with apt-get when it is available and we are root (or sudo works without a password).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in irssi tmux; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v weechat >/dev/null 2>&1 || missing+=(weechat-curses)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the end-to-end tests with real clients will be skipped" >&2
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
