#!/usr/bin/env bash
# The main job. Runs every shipped example flow in the simulator with its
# scenario and prints the story of each call: what the caller heard and
# pressed, where they stood in line, the callback registered and how it was
# dialled (agent first, then the customer with the queue's caller ID).
set -euo pipefail
bin=${1:-bin/callflow}
cd "$(dirname "$0")/.."

run() {
  local title=$1 flow=$2 scenario=$3
  printf '\n=== %s\n    flow %s, scenario %s\n\n' "$title" "$flow" "$scenario"
  "$bin" simulate --config examples/config/sim.yaml \
    --flow "examples/flows/$flow.yaml" --scenario "examples/scenarios/$scenario.yaml"
}

run "(a) callback as the only option" callback-only callback-only
run "(b) callback offered in the IVR before the queue" ivr-offer ivr-offer
run "(c) Czech and Slovak numbers only, premium rate refused" number-policy number-policy
run "(d) voicemail played to the agent before the callback" voicemail voicemail
run "(e) decline: back to the same place in line" decline decline
run "(e) hang-up while the callback is reserved: an abandon" decline decline-hangup
