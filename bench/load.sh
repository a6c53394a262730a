#!/usr/bin/env bash
# load.sh — measure callflow against the Node.js ari-client peer (bench/peer)
# under the same sipp caller load on a real Asterisk 22, after a control run
# against the plain dialplan proves the load rig clean.
#
#   bench/load.sh [--switch asterisk|freeswitch]
#                 [--levels 20,50,100,150,200] [--rounds 3] [--agents 4]
#                 [--runs control,callflow,peer] [--app-level N] [--pprof]
#                 [-- BENCHRUN FLAGS]
#
# --switch freeswitch runs the same comparison on a real FreeSWITCH against
# the Node.js modesl peer (bench/peer-freeswitch): bench/freeswitch/load.sh
# with the other arguments (see its --help). The rest describes Asterisk.
#
# Installs what is missing (sip-tester, nodejs, npm, the Asterisk chroot via
# scripts/asterisk/install.sh; npm ci in bench/peer), takes the machine-wide
# Asterisk lock, starts Asterisk on loopback with its own ports, runs
# bench/cmd/benchrun, prints its table, and stops everything it started on
# exit or Ctrl-C. Must run as root (chroot). Results stay in the run folder
# (BENCH_RUN_DIR, default a new /tmp/callflow-bench.*): report.txt and the
# sipp stats, logs and scenarios of every run. --pprof profiles callflow:
# CPU profiles of the whole load and a heap profile at the peak number of
# calls in callflow-N/pprof (cpu-top.txt, heap-top.txt); profiling slows
# callflow alone (docs/performance.md), so compare without it.
#
# Variables: CALLFLOW_ASTERISK_ROOT (/var/lib/callflow/asterisk-root),
# BENCH_RUN_DIR, BENCH_LOCK_WAIT seconds to wait for the Asterisk lock (900),
# BENCH_CALLFLOW (callflow binary; default: built from this tree into the run
# folder, so the figures are always those of the code checked out).
set -euo pipefail

log() { printf 'load.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --switch: the FreeSWITCH run is its own script; Asterisk continues here.
switch=asterisk
rest=()
while (($# > 0)); do
	case "$1" in
	--switch) [[ $# -ge 2 ]] || die "--switch needs asterisk or freeswitch"; switch="$2"; shift 2 ;;
	--) rest+=("$@"); break ;;
	*) rest+=("$1"); shift ;;
	esac
done
set -- "${rest[@]+"${rest[@]}"}"
case "$switch" in
asterisk) ;;
freeswitch) exec "$HERE/freeswitch/load.sh" "$@" ;;
*) die "--switch $switch: want asterisk or freeswitch" ;;
esac
REPO="$(cd "$HERE/.." && pwd)"
ROOT="${CALLFLOW_ASTERISK_ROOT:-/var/lib/callflow/asterisk-root}"
LOCK=/run/callflow-asterisk.lock

levels="20,50,100,150,200"
rounds=3
agents=4
runs="control,callflow,peer"
app_level=0
pprof=0
extra=()
while (($# > 0)); do
	case "$1" in
	--levels) levels="$2"; shift 2 ;;
	--rounds) rounds="$2"; shift 2 ;;
	--agents) agents="$2"; shift 2 ;;
	--runs) runs="$2"; shift 2 ;;
	--app-level) app_level="$2"; shift 2 ;;
	--pprof) pprof=1; shift ;;
	--no-pprof) pprof=0; shift ;; # the default; kept for older scripts
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,29p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
if ! [[ "$agents" =~ ^[0-9]+$ ]] || ((agents < 1 || agents > 50)); then die "--agents must be 1..50"; fi
[[ "$(id -u)" == 0 ]] || die "must run as root (the Asterisk chroot needs it)"

# --- install what is missing
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
if ((${#need[@]} > 0)); then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
"$REPO/scripts/asterisk/install.sh" "$ROOT"
(cd "$HERE/peer" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in bench/peer failed"

RUN="${BENCH_RUN_DIR:-$(mktemp -d /tmp/callflow-bench.XXXXXX)}"
mkdir -p "$RUN"
RUN="$(realpath "$RUN")"
log "run folder $RUN"
(cd "$REPO" && go build -o "$RUN/benchrun" ./bench/cmd/benchrun) || die "building benchrun failed"

# --- callflow: run only when its binary has `serve`
callflow_cmd=""
callflow_skip=""
CF="${BENCH_CALLFLOW:-}"
if [[ -z "$CF" ]]; then
	CF="$RUN/callflow"
	(cd "$REPO" && go build -o "$CF" ./cmd/callflow) || { callflow_skip="building cmd/callflow failed"; CF=""; }
fi
if [[ -n "$CF" ]] && "$CF" serve -h 2>&1 | grep -q 'unknown command'; then
	callflow_skip="$CF has no 'serve' command yet"
	CF=""
fi

# --- ports (loopback) and the ARI password
port_free() { ! ss -Hlnu "sport = :$1" | grep -q . && ! ss -Hlnt "sport = :$1" | grep -q .; }
pick() { # pick BASE: first free port from BASE on
	local p="$1"
	while ! port_free "$p" || [[ " ${taken[*]:-} " == *" $p "* ]]; do p=$((p + 1)); done
	taken+=("$p")
	echo "$p"
}
taken=()
export ASTERISK_HTTP_PORT ASTERISK_SIP_PORT ASTERISK_CUSTOMER_PORT ASTERISK_ARI_PASSWORD
ASTERISK_HTTP_PORT="$(pick 18088)"
ASTERISK_SIP_PORT="$(pick 15070)"
ASTERISK_CUSTOMER_PORT="$(pick 15090)"
ASTERISK_ARI_PASSWORD="$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
API_PORT="$(pick 18080)"
PPROF_PORT="$(pick 16060)"

# --- Asterisk templates: deploy/asterisk plus agents 5..N in our own copy
TEMPLATES="$RUN/templates"
mkdir -p "$TEMPLATES"
cp "$REPO"/deploy/asterisk/*.conf "$TEMPLATES/"
agent_ports=()
agent_eps=()
for ((i = 1; i <= agents; i++)); do
	p="$(pick $((15100 + i)))"
	export "ASTERISK_AGENT${i}_PORT=$p"
	agent_ports+=("$p")
	agent_eps+=("PJSIP/agent$i")
	if ((i > 4)); then
		cat >>"$TEMPLATES/pjsip.conf" <<-EOF

			[agent$i](endpoint-common)
			context = callflow-in
			aors = agent$i

			[agent$i]
			type = aor
			contact = sip:agent$i@127.0.0.1:@@AGENT${i}_PORT@@
		EOF
	fi
done
for ((i = agents + 1; i <= 4; i++)); do export "ASTERISK_AGENT${i}_PORT=$(pick $((15100 + i)))"; done
export ASTERISK_TEMPLATES="$TEMPLATES"

# --- the machine-wide Asterisk lock (internal/asterisktest takes the same)
exec 9>"$LOCK"
log "waiting for $LOCK"
flock -w "${BENCH_LOCK_WAIT:-900}" 9 || die "could not take $LOCK"

bench_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	"$REPO/scripts/asterisk/stop.sh" "$ROOT" "$RUN/asterisk" || true
	flock -u 9 || true
	log "results in $RUN"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REPO/scripts/asterisk/start.sh" "$ROOT" "$RUN/asterisk"
APID="$(cat "$RUN/asterisk/asterisk.pid")"

agents_csv="$(IFS=,; echo "${agent_eps[*]}")"
agents_yaml="$(printf '%s, ' "${agent_eps[@]}")"
agents_yaml="${agents_yaml%, }"
if [[ -n "$CF" ]]; then
	sed -e "s#@@HTTP_PORT@@#$ASTERISK_HTTP_PORT#" -e "s#@@ARI_PASSWORD@@#$ASTERISK_ARI_PASSWORD#" \
		-e "s#@@FLOWS_DIR@@#$HERE/callflow/flows#" -e "s#@@RUN_DIR@@#$RUN#g" \
		-e "s#@@API_PORT@@#$API_PORT#" -e "s#@@AGENTS@@#$agents_yaml#" \
		-e "s#@@RECORDINGS_DIR@@#$ROOT/var/spool/asterisk/recording#" \
		"$HERE/callflow/callflow.yaml.tmpl" >"$RUN/callflow.yaml"
	callflow_cmd="$CF serve --config $RUN/callflow.yaml"
fi
callflow_pprof=""
serve_help=""
[[ -z "$CF" ]] || serve_help="$("$CF" serve -h 2>&1 || true)" # -h exits 2
if ((pprof)) && [[ "$serve_help" == *"-pprof"* ]]; then
	callflow_pprof="127.0.0.1:$PPROF_PORT"
	callflow_cmd="$callflow_cmd --pprof $callflow_pprof"
fi
peer_cmd="node $HERE/peer/peer.js --url http://127.0.0.1:$ASTERISK_HTTP_PORT --user callflow --pass $ASTERISK_ARI_PASSWORD --agents $agents_csv"

"$RUN/benchrun" \
	-ari-url "http://127.0.0.1:$ASTERISK_HTTP_PORT/ari" -ari-pass "$ASTERISK_ARI_PASSWORD" \
	-sip-port "$ASTERISK_SIP_PORT" -agent-ports "$(IFS=,; echo "${agent_ports[*]}")" \
	-asterisk-pid "$APID" -run-dir "$RUN" -levels "$levels" -rounds "$rounds" \
	-app-level "$app_level" -runs "$runs" \
	-peer "$peer_cmd" -callflow "$callflow_cmd" -callflow-skip "$callflow_skip" \
	-callflow-pprof "$callflow_pprof" \
	"${extra[@]}" &
bench_pid=$!
wait "$bench_pid"
