#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (controller + compute node) for the SLURM test.
#
# Installs Debian's slurm-wlm and munge with apt when they are missing, writes
# /etc/slurm/slurm.conf from slurm.conf.in (node = `hostname -s`, CPUs = nproc, memory from
# `free`, partition `debug`, no accounting database, no cgroups), then starts munged, slurmctld
# and slurmd by hand (no systemd) and waits until `sinfo` shows the node idle.
#
# Idempotent: a SLURM that already answers is reused and nothing is started. Every daemon this
# script starts is recorded in $SIGN2GPT_SLURM_DIR/started/<name>.pid, which teardown_slurm.sh
# reads to stop exactly those. The last line of output is `started: <names>` (or `started:`
# with nothing after it when everything was already running).
#
# Exit status: 0 ready; 77 SLURM cannot be provided here (not root, no apt-get): the test skips
# with the printed reason; anything else is a real failure.
#
# Environment: SIGN2GPT_SLURM_DIR (state, spool, logs, pid files; default /tmp/sign2gpt-slurm),
# SIGN2GPT_SLURM_FAKE_GPUS (GPUs the node advertises without device files; default 2, 0 for none).
set -euo pipefail

readonly EXIT_UNAVAILABLE=77
readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly STATE_DIR="${SIGN2GPT_SLURM_DIR:-/tmp/sign2gpt-slurm}"
readonly FAKE_GPUS="${SIGN2GPT_SLURM_FAKE_GPUS:-2}"
readonly CONF_DIR=/etc/slurm
readonly MARKER="# sign2gpt one-node test cluster"
readonly MUNGE_KEY=/etc/munge/munge.key
readonly MUNGE_PID=/run/munge/munged.pid

started=()

log() { echo "setup_slurm: $*" >&2; }
unavailable() { echo "SLURM unavailable: $*" >&2; exit "$EXIT_UNAVAILABLE"; }
die() { log "ERROR: $*"; exit 1; }

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# Wait up to $1 seconds for the command in "${@:2}" to succeed.
wait_for() {
    local timeout=$1; shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

munge_works() { { munge -n | unmunge; } >/dev/null 2>&1; }
controller_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
node_ready() { sinfo -h -N -o %T 2>/dev/null | grep -Eqx "idle|mixed|allocated|completing"; }

# Record a daemon this script started, by the pid its own pid file names.
record_started() {
    local name=$1 pidfile=$2 pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    alive "$pid" || return 1
    echo "$pid" >"$STATE_DIR/started/$name.pid"
    started+=("$name")
}

show_log() {
    local file=$1
    if [[ -f "$file" ]]; then
        log "last lines of $file:"
        tail -n 30 "$file" >&2
    fi
}

finish() {
    echo "started: ${started[*]:-}"
}

# --- already running? -------------------------------------------------------------------
if command -v scontrol >/dev/null && controller_up && node_ready; then
    log "SLURM is already running; reusing it"
    sinfo >&2
    finish
    exit 0
fi

# --- can we provide it? -----------------------------------------------------------------
[[ $EUID -eq 0 ]] || unavailable "starting a one-node SLURM needs root (installs packages, writes /etc/slurm); run tests/slurm/setup_slurm.sh as root"

missing=()
for tool in slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$tool" >/dev/null || missing+=(slurm-wlm)
done
for tool in munged munge unmunge; do
    command -v "$tool" >/dev/null || missing+=(munge)
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || unavailable "slurm-wlm/munge are not installed and apt-get is not available (not a Debian-like system)"
    log "installing slurm-wlm and munge with apt"
    # No init system here: keep the packages' maintainer scripts from starting services.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        own_policy=1
    fi
    rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >&2 || rc=$?
    if ((own_policy)); then rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get could not install slurm-wlm and munge (exit $rc)"
fi

mkdir -p "$STATE_DIR"/{ctld,spool,run,log,started}

# --- munge ------------------------------------------------------------------------------
if ! munge_works; then
    if [[ ! -s $MUNGE_KEY ]]; then
        log "creating $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    if id munge >/dev/null 2>&1; then
        chown munge:munge "$MUNGE_KEY"
        install -d -o munge -g munge -m 0755 /run/munge
        install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
        chown munge:munge /etc/munge
    else
        mkdir -p /run/munge /var/lib/munge /var/log/munge
    fi
    chmod 0400 "$MUNGE_KEY"
    log "starting munged"
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged
    else
        munged --force
    fi
    wait_for 15 munge_works || { show_log /var/log/munge/munged.log; die "munged did not come up"; }
    record_started munged "$MUNGE_PID" || die "munged is answering but its pid file $MUNGE_PID names no live process"
fi

# --- slurm.conf -------------------------------------------------------------------------
node=$(hostname -s)
cpus=$(nproc)
total_mb=$(free -m | awk '/^Mem:/ {print $2}')
memory_mb=$((total_mb * 9 / 10)) # leave the OS some headroom; slurmd drains a node that claims more than it has
# Fake GPUs: slurmd only accepts a GPU that has a character device, so each one is a node with
# /dev/null's numbers; where mknod is not allowed, /dev/null itself stands in for one GPU.
gpus=$FAKE_GPUS
gpu_files=""
if ((gpus > 0)); then
    mkdir -p "$STATE_DIR/dev"
    for ((i = 0; i < gpus; i++)); do
        dev="$STATE_DIR/dev/gpu$i"
        [[ -c $dev ]] || mknod -m 0666 "$dev" c 1 3 2>/dev/null || { gpu_files=""; break; }
        gpu_files+="${gpu_files:+,}$dev"
    done
    if [[ -z $gpu_files ]]; then
        log "mknod not permitted; advertising one fake GPU backed by /dev/null"
        gpus=1
        gpu_files=/dev/null
    fi
fi
gres=""
if ((gpus > 0)); then gres="Gres=gpu:$gpus"; fi

conf="$CONF_DIR/slurm.conf"
if [[ -e $conf ]] && ! head -n 1 "$conf" | grep -qF "$MARKER"; then
    die "$conf exists and was not written by this script; refusing to overwrite a real SLURM configuration (start that SLURM instead, or move the file away)"
fi
mkdir -p "$CONF_DIR"
sed -e "s|@NODE@|$node|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY_MB@|$memory_mb|g" \
    -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@GRES@|$gres|g" -e "s|@GPUS@|$gpus|g" \
    "$HERE/slurm.conf.in" >"$STATE_DIR/slurm.conf"
{
    echo "$MARKER (gres.conf)"
    if ((gpus > 0)); then echo "NodeName=$node Name=gpu File=$gpu_files"; fi
} >"$STATE_DIR/gres.conf"
install -m 0644 "$STATE_DIR/slurm.conf" "$conf"
install -m 0644 "$STATE_DIR/gres.conf" "$CONF_DIR/gres.conf"
log "wrote $conf: node $node, $cpus CPUs, ${memory_mb} MB, $gpus fake GPUs, partitions debug (default) and gpu"

# --- slurmctld --------------------------------------------------------------------------
if ! controller_up; then
    log "starting slurmctld"
    slurmctld || { show_log "$STATE_DIR/log/slurmctld.log"; die "slurmctld failed to start"; }
    wait_for 30 controller_up || { show_log "$STATE_DIR/log/slurmctld.log"; die "slurmctld did not answer scontrol ping"; }
    record_started slurmctld "$STATE_DIR/run/slurmctld.pid" || die "slurmctld pid file missing"
fi

# --- slurmd -----------------------------------------------------------------------------
if ! alive "$(cat "$STATE_DIR/run/slurmd.pid" 2>/dev/null || true)"; then
    log "starting slurmd"
    slurmd || { show_log "$STATE_DIR/log/slurmd.log"; die "slurmd failed to start"; }
    wait_for 10 test -s "$STATE_DIR/run/slurmd.pid" || true
    record_started slurmd "$STATE_DIR/run/slurmd.pid" || { show_log "$STATE_DIR/log/slurmd.log"; die "slurmd exited"; }
fi

if ! wait_for 60 node_ready; then
    sinfo -R >&2 || true
    show_log "$STATE_DIR/log/slurmd.log"
    die "node $node did not become idle"
fi
sinfo >&2
finish
