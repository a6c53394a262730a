#!/usr/bin/env bash
# start.sh DIR RUNDIR — start Asterisk in the chroot DIR (see install.sh).
#
# Renders deploy/asterisk/*.conf into DIR/etc/asterisk (ports and the ARI
# password come from ASTERISK_* variables, see render.sh), mounts /proc in the
# chroot, starts `asterisk -f` in the background (output in RUNDIR/asterisk.log,
# pid in RUNDIR/asterisk.pid) and waits until ARI answers
# GET /ari/asterisk/info and Asterisk is fully booted. On failure it prints the
# log tails and stops what it started.
#
# Variables: ASTERISK_HTTP_PORT (8088), ASTERISK_SIP_PORT (5070),
# ASTERISK_AGENT1..4_PORT (5081..5084), ASTERISK_CUSTOMER_PORT (5090),
# ASTERISK_RTP_START/END (10000/20000), ASTERISK_ARI_PASSWORD (callflow),
# ASTERISK_START_TIMEOUT seconds (60).
set -euo pipefail

log() { printf 'start.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 ]] || die "usage: start.sh DIR RUNDIR"
DIR="$(realpath -m "$1")"
RUNDIR="$(realpath -m "$2")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[[ "$(id -u)" == 0 ]] || die "must run as root (chroot and mount need it)"
[[ -x "$DIR/usr/sbin/asterisk" ]] || die "$DIR/usr/sbin/asterisk missing: run scripts/asterisk/install.sh $DIR first"
command -v curl >/dev/null 2>&1 || die "curl is required to wait for ARI"

: "${ASTERISK_HTTP_PORT:=8088}"
: "${ASTERISK_ARI_PASSWORD:=callflow}"
: "${ASTERISK_START_TIMEOUT:=60}"
export ASTERISK_HTTP_PORT ASTERISK_ARI_PASSWORD

mkdir -p "$RUNDIR"
PIDFILE="$RUNDIR/asterisk.pid"
LOG="$RUNDIR/asterisk.log"
ALOG="$DIR/var/log/asterisk/callflow.log"
ARI_INFO="http://127.0.0.1:$ASTERISK_HTTP_PORT/ari/asterisk/info"

is_asterisk() { [[ -n "$1" && "$(cat "/proc/$1/comm" 2>/dev/null)" == asterisk ]]; }

if [[ -f "$PIDFILE" ]] && is_asterisk "$(cat "$PIDFILE")"; then
	if curl -fsS -o /dev/null -u "callflow:$ASTERISK_ARI_PASSWORD" "$ARI_INFO" 2>/dev/null; then
		log "already running (pid $(cat "$PIDFILE")), ARI answers on $ARI_INFO"
		exit 0
	fi
	die "Asterisk pid $(cat "$PIDFILE") from $PIDFILE runs but ARI does not answer on $ARI_INFO: run stop.sh $DIR $RUNDIR"
fi
stale="$(cat "$DIR/var/run/asterisk/asterisk.pid" 2>/dev/null || true)"
if is_asterisk "$stale" && [[ "$(readlink "/proc/$stale/root")" == "$DIR" ]]; then
	die "a stale Asterisk (pid $stale) runs in $DIR: run stop.sh $DIR $RUNDIR"
fi

"$HERE/render.sh" "$DIR/etc/asterisk"

mountpoint -q "$DIR/proc" || mount -t proc proc "$DIR/proc" || die "cannot mount /proc in $DIR"
mkdir -p "$DIR/var/spool/asterisk/recording" "$DIR/var/run/asterisk" "$DIR/var/log/asterisk"
: >"$ALOG"

start=$(date +%s%N)
# setsid: Asterisk must not share the caller's session or process group, so a
# Ctrl-C or a test binary's exit does not reach it; stop.sh ends it by pid.
# setsid and chroot exec, so $! is Asterisk's own pid.
setsid chroot "$DIR" /usr/sbin/asterisk -f -n </dev/null >"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

fail() {
	log "error: $*"
	log "--- tail of $LOG"
	tail -n 30 "$LOG" >&2 || true
	log "--- tail of $ALOG"
	tail -n 30 "$ALOG" >&2 || true
	"$HERE/stop.sh" "$DIR" "$RUNDIR" || true
	exit 1
}

deadline=$(($(date +%s) + ASTERISK_START_TIMEOUT))
until curl -fsS -o /dev/null -m 2 -u "callflow:$ASTERISK_ARI_PASSWORD" "$ARI_INFO" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || fail "Asterisk (pid $pid) exited during start-up"
	(($(date +%s) < deadline)) || fail "ARI did not answer on $ARI_INFO within ${ASTERISK_START_TIMEOUT}s"
	sleep 0.1
done
timeout "$ASTERISK_START_TIMEOUT" chroot "$DIR" /usr/sbin/asterisk -rx 'core waitfullybooted' >/dev/null ||
	fail "Asterisk did not finish booting within ${ASTERISK_START_TIMEOUT}s"
log "Asterisk pid $pid ready in $((($(date +%s%N) - start) / 1000000)) ms; ARI on http://127.0.0.1:$ASTERISK_HTTP_PORT/ari"
