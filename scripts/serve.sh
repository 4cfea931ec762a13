#!/usr/bin/env bash
# Starts the server: `bash scripts/serve.sh [python -m ircd flags]`, e.g. `--port 8001`.
# The first run creates .venv in the checkout and installs the package into it (see venv.sh);
# later runs start at once. The flags go to `python -m ircd` as they are (`--help` lists them);
# without flags the server listens on 127.0.0.1:8000 with ./messenger.toml and ./state.json.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
ensure_venv
exec "$VENV_PY" -m ircd "$@"
