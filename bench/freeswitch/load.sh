#!/usr/bin/env bash
# bench/freeswitch/load.sh — the FreeSWITCH side of bench/load.sh
# (bench/load.sh --switch freeswitch runs it): callflow against the Node.js
# modesl peer (bench/peer-freeswitch) under the same sipp caller load on a
# real FreeSWITCH 1.10, after a control run against a plain dialplan
# (bench/freeswitch/control.xml) proves the load rig clean.
#
#   bench/load.sh --switch freeswitch [--levels 20,50,100,150,200] [--rounds 3]
#                 [--agents 4] [--runs control,callflow,peer] [--app-level N]
#                 [--pprof] [-- BENCHRUN FLAGS]
#
# Installs what is missing (sip-tester, nodejs, npm; FreeSWITCH and its
# prompt and music packages via scripts/freeswitch/install.sh; npm ci in
# bench/peer-freeswitch), takes the machine-wide switch lock (the one
# internal/fstest and internal/asterisktest take), renders deploy/freeswitch
# with free loopback ports plus the control dialplan into the run folder,
# starts FreeSWITCH with per-run folders (-nonat -np), runs
# bench/cmd/benchrun -switch freeswitch, prints its table, and stops
# everything it started on exit or Ctrl-C. Must run as root (installs).
# Results stay in the run folder (BENCH_RUN_DIR, default a new
# /tmp/callflow-bench-fs.*): report.txt, freeswitch/log, and the sipp stats,
# logs and scenarios of every run; --pprof profiles callflow as there.
#
# Variables: CALLFLOW_FREESWITCH (freeswitch binary,
# /usr/local/freeswitch/bin/freeswitch), BENCH_RUN_DIR, BENCH_LOCK_WAIT
# seconds to wait for the switch lock (900), BENCH_CALLFLOW (callflow binary;
# default: built from this tree into the run folder).
set -euo pipefail

log() { printf 'load.sh (freeswitch): %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
FS_BIN="${CALLFLOW_FREESWITCH:-/usr/local/freeswitch/bin/freeswitch}"
SOUNDS=/usr/share/asterisk/sounds/en_US_f_Allison
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
	-h | --help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
if ! [[ "$agents" =~ ^[0-9]+$ ]] || ((agents < 1 || agents > 50)); then die "--agents must be 1..50"; fi
[[ "$(id -u)" == 0 ]] || die "must run as root (installs FreeSWITCH and packages)"

# --- install what is missing
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
if ((${#need[@]} > 0)); then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
if [[ -z "${CALLFLOW_FREESWITCH:-}" ]]; then
	"$REPO/scripts/freeswitch/install.sh" >/dev/null || die "scripts/freeswitch/install.sh failed"
fi
[[ -x "$FS_BIN" ]] || die "$FS_BIN is not executable"
[[ -d "$SOUNDS" ]] || die "$SOUNDS is missing (asterisk-core-sounds-en-wav)"
(cd "$BENCH/peer-freeswitch" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in bench/peer-freeswitch failed"

RUN="${BENCH_RUN_DIR:-$(mktemp -d /tmp/callflow-bench-fs.XXXXXX)}"
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

# --- ports (loopback) and the event socket password
port_free() { ! ss -Hlnu "sport = :$1" | grep -q . && ! ss -Hlnt "sport = :$1" | grep -q .; }
pick() { # pick BASE: first free port from BASE on
	local p="$1"
	while ! port_free "$p" || [[ " ${taken[*]:-} " == *" $p "* ]]; do p=$((p + 1)); done
	taken+=("$p")
	echo "$p"
}
taken=()
ESL_PORT="$(pick 18021)"
SIP_PORT="$(pick 15080)"
SOCKET_PORT="$(pick 18084)"
ESL_PASSWORD="$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
API_PORT="$(pick 18080)"
PPROF_PORT="$(pick 16060)"
CUSTOMER_PORT="$(pick 15090)" # the callback trunk: the bench flow dials no customer
agent_ports=()
agent_eps=()
for ((i = 1; i <= agents; i++)); do
	p="$(pick $((15100 + i)))"
	agent_ports+=("$p")
	agent_eps+=("sofia/callflow/agent$i@127.0.0.1:$p")
done

# --- configuration: deploy/freeswitch rendered, plus the control dialplan.
# RTP 40000-48999: clear of the sipp callers' media ports (30000 and 34000 up).
FS="$RUN/freeswitch"
mkdir -p "$FS"/{conf,log,db,run,temp,storage,recordings,cache}
(cd "$REPO/deploy/freeswitch" && find . -name '*.xml' -print0) | while IFS= read -r -d '' f; do
	mkdir -p "$FS/conf/$(dirname "$f")"
	sed -e "s#@@ESL_PORT@@#$ESL_PORT#g" -e "s#@@ESL_PASSWORD@@#$ESL_PASSWORD#g" \
		-e "s#@@SIP_PORT@@#$SIP_PORT#g" -e "s#@@SOCKET_ADDRESS@@#127.0.0.1:$SOCKET_PORT#g" \
		-e "s#@@RTP_START@@#40000#g" -e "s#@@RTP_END@@#48999#g" \
		"$REPO/deploy/freeswitch/$f" >"$FS/conf/$f"
done
! grep -rl '@@[A-Z0-9_]*@@' "$FS/conf" || die "unrendered placeholders in $FS/conf"
cp "$HERE/control.xml" "$FS/conf/dialplan/bench-control.xml"

# --- the machine-wide switch lock (internal/fstest and asterisktest take it)
exec 9>"$LOCK"
log "waiting for $LOCK"
flock -w "${BENCH_LOCK_WAIT:-900}" 9 || die "could not take $LOCK"

bench_pid=""
fs_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	if [[ -n "$fs_pid" ]] && kill -0 "$fs_pid" 2>/dev/null; then
		kill -TERM "$fs_pid" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$fs_pid" 2>/dev/null || true
		wait "$fs_pid" 2>/dev/null || true
	fi
	flock -u 9 || true
	log "results in $RUN"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fs_args=(-nf -nc -nonat -np -sounds "$SOUNDS")
for d in conf log db run temp storage recordings cache; do fs_args+=("-$d" "$FS/$d"); done
"$FS_BIN" "${fs_args[@]}" >"$FS/log/console.log" 2>&1 &
fs_pid=$!
for _ in $(seq 300); do
	ss -Hlnt "sport = :$ESL_PORT" | grep -q . && break
	kill -0 "$fs_pid" 2>/dev/null || die "FreeSWITCH exited during start-up (see $FS/log)"
	sleep 0.1
done
ss -Hlnt "sport = :$ESL_PORT" | grep -q . || die "FreeSWITCH's event socket not up after 30 s (see $FS/log)"
log "FreeSWITCH pid $fs_pid: esl 127.0.0.1:$ESL_PORT, sip $SIP_PORT, socket 127.0.0.1:$SOCKET_PORT"

agents_csv="$(IFS=,; echo "${agent_eps[*]}")"
agents_yaml="$(printf '"%s", ' "${agent_eps[@]}")"
agents_yaml="${agents_yaml%, }"
if [[ -n "$CF" ]]; then
	sed -e "s#@@ESL_ADDRESS@@#127.0.0.1:$ESL_PORT#" -e "s#@@ESL_PASSWORD@@#$ESL_PASSWORD#" \
		-e "s#@@SOCKET_ADDRESS@@#127.0.0.1:$SOCKET_PORT#" \
		-e "s#@@FLOWS_DIR@@#$BENCH/callflow/flows#" -e "s#@@RUN_DIR@@#$RUN#g" \
		-e "s#@@API_PORT@@#$API_PORT#" -e "s#@@AGENTS@@#$agents_yaml#" \
		-e "s#@@CUSTOMER_PORT@@#$CUSTOMER_PORT#" "$HERE/callflow.yaml.tmpl" >"$RUN/callflow.yaml"
	callflow_cmd="$CF serve --config $RUN/callflow.yaml"
fi
callflow_pprof=""
serve_help=""
[[ -z "$CF" ]] || serve_help="$("$CF" serve -h 2>&1 || true)" # -h exits 2
if ((pprof)) && [[ "$serve_help" == *"-pprof"* ]]; then
	callflow_pprof="127.0.0.1:$PPROF_PORT"
	callflow_cmd="$callflow_cmd --pprof $callflow_pprof"
fi
peer_cmd="node $BENCH/peer-freeswitch/peer.js --esl 127.0.0.1:$ESL_PORT --pass $ESL_PASSWORD --listen 127.0.0.1:$SOCKET_PORT --record-dir $RUN/peer-recordings --agents $agents_csv"
mkdir -p "$RUN/peer-recordings" "$RUN/media"

# Callers are 42001, 42002, …: callflow's FreeSWITCH driver refuses a
# caller ID number that is not digits when it dials the agent.
"$RUN/benchrun" -switch freeswitch -caller 4200 \
	-esl-addr "127.0.0.1:$ESL_PORT" -esl-pass "$ESL_PASSWORD" -socket-addr "127.0.0.1:$SOCKET_PORT" \
	-switch-pid "$fs_pid" \
	-sip-port "$SIP_PORT" -agent-ports "$(IFS=,; echo "${agent_ports[*]}")" \
	-run-dir "$RUN" -levels "$levels" -rounds "$rounds" \
	-app-level "$app_level" -runs "$runs" \
	-peer "$peer_cmd" -callflow "$callflow_cmd" -callflow-skip "$callflow_skip" \
	-callflow-pprof "$callflow_pprof" \
	"${extra[@]}" &
bench_pid=$!
wait "$bench_pid"
