#!/usr/bin/env bash
# stop.sh DIR RUNDIR — stop the Asterisk that start.sh started (pid in
# RUNDIR/asterisk.pid) with TERM, then KILL after ASTERISK_STOP_TIMEOUT seconds
# (10); also stops a stale Asterisk still running inside the chroot DIR (left by
# a killed test run), then unmounts DIR/proc. Safe to run when nothing runs.
set -euo pipefail

log() { printf 'stop.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 ]] || die "usage: stop.sh DIR RUNDIR"
DIR="$(realpath -m "$1")"
RUNDIR="$(realpath -m "$2")"
: "${ASTERISK_STOP_TIMEOUT:=10}"

# in_chroot PID: true when PID is an asterisk process whose root is DIR, so a
# recycled pid is never signalled.
in_chroot() {
	[[ -n "$1" && "$(cat "/proc/$1/comm" 2>/dev/null)" == asterisk &&
		"$(readlink "/proc/$1/root" 2>/dev/null)" == "$DIR" ]]
}

stop_pid() {
	local pid="$1" what="$2"
	in_chroot "$pid" || return 0
	log "stopping $what Asterisk (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$(($(date +%s) + ASTERISK_STOP_TIMEOUT))
	while in_chroot "$pid"; do
		if (($(date +%s) >= deadline)); then
			log "pid $pid ignored TERM for ${ASTERISK_STOP_TIMEOUT}s: KILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
}

stop_pid "$(cat "$RUNDIR/asterisk.pid" 2>/dev/null || true)" "our"
stop_pid "$(cat "$DIR/var/run/asterisk/asterisk.pid" 2>/dev/null || true)" "stale"
# The chroot's var/run is an absolute symlink to /run: read from the host,
# the path above names the host's /run; the chroot's own is DIR/run.
stop_pid "$(cat "$DIR/run/asterisk/asterisk.pid" 2>/dev/null || true)" "stale"
rm -f "$RUNDIR/asterisk.pid"

if mountpoint -q "$DIR/proc"; then
	umount "$DIR/proc" 2>/dev/null || umount -l "$DIR/proc" || die "cannot unmount $DIR/proc"
fi
log "stopped"
