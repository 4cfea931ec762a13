#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: `bash scripts/test.sh [pytest flags]`.
# System packages (irssi, WeeChat and tmux for the end-to-end tests with real clients, Chromium
# for the web messenger's browser tests, redis-server and HAProxy for the "redis" storage
# backend's tests in tests/scale) are
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
# the web messenger's real-browser tests (tests/web/test_browser.py) drive the system Chromium
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# npm fetches Kiwi IRC's irc-framework, a third-party web client run in that Chromium
command -v npm >/dev/null 2>&1 || missing+=(npm)
# HAProxy runs docs/scale-out.md's balancer config in tests/scale/test_docs.py
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the tests that need them (real clients, the browser, Redis) will be skipped" >&2
fi

ensure_venv test

# Kiwi IRC's client library, as its browser bundle, for tests/web/test_browser.py (kept in
# .cache/, fetched once with npm from the npm registry)
IRC_FRAMEWORK_VERSION=4.14.0
export IRC_FRAMEWORK_JS="$PWD/.cache/irc-framework-$IRC_FRAMEWORK_VERSION/browser.js"
if [ ! -f "$IRC_FRAMEWORK_JS" ] && command -v npm >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  if (cd "$tmp" && npm pack --silent "irc-framework@$IRC_FRAMEWORK_VERSION" >/dev/null \
      && tar xzf "irc-framework-$IRC_FRAMEWORK_VERSION.tgz" package/dist/browser/static/browser.js); then
    mkdir -p "$(dirname "$IRC_FRAMEWORK_JS")"
    mv "$tmp/package/dist/browser/static/browser.js" "$IRC_FRAMEWORK_JS"
  else
    echo "warning: npm could not fetch irc-framework $IRC_FRAMEWORK_VERSION; its browser test will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

exec "$VENV_PY" -m pytest -q "$@"
