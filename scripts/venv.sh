# Sourced by scripts/serve.sh and scripts/test.sh (not run on its own).
#
# ensure_venv [EXTRAS]: makes sure $REPO/.venv exists and has this package installed (editable,
# with the optional dependencies EXTRAS, e.g. "test"), then sets VENV_PY to its python.
# It never installs into the system Python: Debian 12 refuses that (externally-managed-environment).
# The venv is made with $PYTHON (default: python3). When python3 cannot make a venv (Debian without
# python3-venv), python3-venv is installed with apt-get if we are root (or sudo works without a
# password); otherwise it stops with a one-line error. The install is redone only when
# pyproject.toml, the extras or the checkout's path change, so later runs start at once (offline too).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
VENV_PY="$VENV/bin/python"

_venv_die() {
  echo "error: $*" >&2
  exit 1
}

# Prints the command prefix that runs apt-get as root ("" or "sudo -n"); fails if there is none.
_venv_apt_prefix() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = "0" ]; then
    echo ""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    echo "sudo -n"
  else
    return 1
  fi
}

_venv_can_create() {
  "$1" -c 'import ensurepip, venv' >/dev/null 2>&1
}

_venv_create() {
  local py="${PYTHON:-python3}" prefix log
  command -v "$py" >/dev/null 2>&1 || _venv_die "$py not found: install Python 3.10 or newer"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || _venv_die "$py is Python $("$py" -c 'import platform; print(platform.python_version())'), this needs 3.10 or newer (set PYTHON=python3.x)"
  if ! _venv_can_create "$py"; then
    if prefix="$(_venv_apt_prefix)"; then
      echo "$py cannot create a venv: installing python3-venv with apt-get..." >&2
      export DEBIAN_FRONTEND=noninteractive
      $prefix apt-get update -qq && $prefix apt-get install -y -qq python3-venv >/dev/null \
        || _venv_die "apt-get could not install python3-venv"
    fi
    _venv_can_create "$py" \
      || _venv_die "$py cannot create a venv (no ensurepip): install python3-venv (sudo apt-get install python3-venv), then run this again"
  fi
  log="$(mktemp)"
  if ! "$py" -m venv --clear "$VENV" >"$log" 2>&1; then
    _venv_die "$py -m venv $VENV failed: $(tail -n 1 "$log")"
  fi
  rm -f "$log"
}

ensure_venv() {
  local extras="${1:-}" spec="." stamp key
  if [ -n "$extras" ]; then spec=".[$extras]"; fi
  stamp="$VENV/.messenger-installed"
  key="$(cd "$REPO" && cksum pyproject.toml | cut -d' ' -f1) $REPO"
  # Done already: this spec, or (for ".") any spec, since extras come on top of the package.
  if [ -x "$VENV_PY" ] && [ -f "$stamp" ]; then
    if grep -qxF -- "$key $spec" "$stamp" || { [ "$spec" = "." ] && grep -qF -- "$key " "$stamp"; }; then
      return 0
    fi
  fi
  # Missing, or left half-made by an earlier failure (e.g. created without ensurepip: no pip).
  if ! { [ -x "$VENV_PY" ] && "$VENV_PY" -m pip --version >/dev/null 2>&1; }; then
    echo "Creating $VENV ..." >&2
    _venv_create
  fi
  echo "Installing $spec into $VENV ..." >&2
  (cd "$REPO" && "$VENV_PY" -m pip install -q --disable-pip-version-check -e "$spec") \
    || _venv_die "could not install $spec into $VENV (see pip's messages above)"
  # One line per installed spec; lines for another pyproject.toml or path are dropped.
  { grep -F -- "$key " "$stamp" 2>/dev/null || true; echo "$key $spec"; } >"$stamp.new"
  mv "$stamp.new" "$stamp"
}
