#!/usr/bin/env bash
# Stop exactly the daemons setup_slurm.sh started (its $SIGN2GPT_SLURM_DIR/started/*.pid),
# compute node first, munge last. A daemon someone else started is never touched; a pid
# that now belongs to another program is left alone. Safe to run twice.
set -euo pipefail

readonly STATE_DIR="${SIGN2GPT_SLURM_DIR:-/tmp/sign2gpt-slurm}"

log() { echo "teardown_slurm: $*" >&2; }

stop() {
    local name=$1
    local pidfile="$STATE_DIR/started/$name.pid"
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid"
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop on SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        log "$name (pid ${pid:-?}) is no longer running"
    fi
    rm -f "$pidfile"
}

for name in slurmd slurmctld munged; do
    stop "$name"
done
