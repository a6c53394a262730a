#!/usr/bin/env bash
# The main job: one real call through a real Asterisk 22, told as a story.
#
#   scripts/demo.sh [CALLFLOW_BINARY] [--switch=asterisk|freeswitch] [--sim] [--keep] [-v]
#
# --switch=freeswitch (make demo SWITCH=freeswitch) tells the same story
# through a real FreeSWITCH 1.10 started with deploy/freeswitch instead of
# Asterisk (installed by scripts/deps.sh through scripts/freeswitch/install.sh).
#
# Installs what it needs (scripts/deps.sh: sipp, mmdebstrap; the Asterisk
# chroot is built by scripts/asterisk/install.sh on first use), then runs
# cmd/demo: Asterisk in its chroot, a busy agent phone and a customer phone
# (sipp UAS), `callflow serve` with the voicemail experience, and a sipp
# caller who waits in the queue, presses 1, records a message and presses #.
# The agent is then made available; callflow calls the agent, plays the
# whisper and the message, and calls the customer back with the queue's
# caller ID. Everything is stopped again, also on failure or Ctrl-C.
#
# --sim also runs the five example experiences in the simulator afterwards.
# Needs root (chroot, mount) and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bin/callflow
if [[ $# -gt 0 && $1 != -* ]]; then
  bin=$1
  shift
fi
sim=0
switch=asterisk
demo_args=()
for a in "$@"; do
  case $a in
    --sim) sim=1 ;;
    --switch=asterisk | --switch=freeswitch) switch=${a#--switch=} ;;
    --keep | -v) demo_args+=("$a") ;;
    *) echo "demo.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

if [[ "$(id -u)" != 0 ]]; then
  echo "demo.sh: the real call needs root (Asterisk runs in a chroot, FreeSWITCH is installed system-wide); try: sudo make demo" >&2
  exit 1
fi
# Every step logs into $logs; on failure the EXIT trap names the step, shows
# the tail of its log and keeps the folder (CALLFLOW_DEMO_LOGS chooses it).
logs=${CALLFLOW_DEMO_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/callflow-demo-logs.XXXXXX")}
mkdir -p "$logs"
keep=0
for a in "${demo_args[@]}"; do
  if [[ $a == --keep ]]; then keep=1; fi
done
demo=""
step="starting"
steplog=""
finish() {
  local rc=$?
  if [[ -n $demo ]]; then rm -rf "$demo"; fi
  if ((rc != 0)); then
    echo >&2
    echo "demo.sh: FAILED $step (exit $rc)" >&2
    if [[ -n $steplog && -s $steplog ]]; then
      echo "--- last lines of $steplog" >&2
      tail -n 20 "$steplog" >&2
    fi
    echo "demo.sh: logs kept in $logs" >&2
  elif ((keep == 0)); then
    rm -rf "$logs"
  fi
  exit "$rc"
}
trap finish EXIT

step="installing packages (scripts/deps.sh)"
steplog="$logs/deps.log"
./scripts/deps.sh >"$steplog" 2>&1

if [[ $switch == asterisk ]]; then
  step="building the Asterisk chroot (scripts/asterisk/install.sh)"
  steplog="$logs/install.log"
  ./scripts/asterisk/install.sh >"$steplog" 2>&1
fi

step="building cmd/demo"
steplog="$logs/build.log"
demo=$(mktemp -d "${TMPDIR:-/tmp}/callflow-demo-bin.XXXXXX")
go build -o "$demo/demo" ./cmd/demo >"$steplog" 2>&1

echo "=== A real call: voicemail played to the agent, then the callback"
echo
step="running the call (cmd/demo; $switch and callflow logs in $logs/run)"
steplog=""
"$demo/demo" --callflow "$bin" --switch "$switch" --logs "$logs/run" "${demo_args[@]}"

if [[ $sim == 1 ]]; then
  run() {
    local title=$1 flow=$2 scenario=$3
    printf '\n=== simulator: %s\n    flow %s, scenario %s\n\n' "$title" "$flow" "$scenario"
    step="simulating $flow with scenario $scenario"
    "$bin" simulate --config examples/config/sim.yaml \
      --flow "examples/flows/$flow.yaml" --scenario "examples/scenarios/$scenario.yaml"
  }
  run "(a) callback as the only option" callback-only callback-only
  run "(b) callback offered in the IVR before the queue" ivr-offer ivr-offer
  run "(c) Czech and Slovak numbers only, premium rate refused" number-policy number-policy
  run "(d) voicemail played to the agent before the callback" voicemail voicemail
  run "(e) decline: back to the same place in line" decline decline
  run "(e) hang-up while the callback is reserved: an abandon" decline decline-hangup
fi
