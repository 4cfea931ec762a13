#!/usr/bin/env bash
# Install what the benchmark suite needs: the anchor servers (ngIRCd, InspIRCd from Debian;
# miniircd from PyPI; Ergo is a static build kept in ../shared/anchors/ergo: see
# `run.py --anchors`), a C compiler for the fan-out's reader (bench/rxcount.c), uvloop for the
# generator, matplotlib for the chart, and the profilers.
# The Debian packages' own services are not used (run.py starts each server itself from a
# generated temp config on 127.0.0.1); if the package started one, it is stopped again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ngircd >/dev/null || ! [ -x /usr/sbin/inspircd ] || ! command -v cc >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # policy-rc.d 101: packages must not start their system services during install
    had_policy=0
    [ -e /usr/sbin/policy-rc.d ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt-get install -y --no-install-recommends ngircd inspircd util-linux gcc libc6-dev
    [ "$had_policy" = 0 ] && rm -f /usr/sbin/policy-rc.d
fi

# into the checkout's .venv, never the system Python (Debian 12 refuses that); run the
# benchmarks with .venv/bin/python bench/run.py
source scripts/venv.sh
ensure_venv bench
"$VENV_PY" -m pip install --quiet "uvloop>=0.19" "py-spy>=0.3" "pyinstrument>=4.6"
# the fan-out's C reader (bench/loadgen.py also compiles it on first use, into the temp dir)
if command -v cc >/dev/null; then
    "$VENV_PY" -c 'import sys; sys.path.insert(0, "bench"); import loadgen; print("rxcount:", loadgen.build_rxcount())'
else
    echo "no C compiler: the fan-out counts in Python (slower generator; figures marked)" >&2
fi
# Ergo: a static build in an anchors folder (../shared/anchors/ergo beside this checkout, its
# main worktree or the local repository it was cloned from; or --anchors / $IRCBENCH_ANCHORS)
if where="$("$VENV_PY" bench/run.py --check-anchors)"; then
    echo "$where: $("${where#Ergo anchor: }/ergo" --version 2>&1 | head -1)"
else
    echo "$where" >&2
fi
echo "bench setup done: $(ngircd --version 2>&1 | head -1); inspircd $(dpkg-query -W -f='${Version}' inspircd)"
