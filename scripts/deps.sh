#!/usr/bin/env bash
# Installs the Debian packages callflow's tests and demo need on a fresh
# Debian 12 machine (run as root). Safe to run again: installed packages are
# left alone and apt is only updated when something is missing.
set -euo pipefail

# FreeSWITCH (prebuilt distribution beside the clone, or instructions) and its sounds.
"$(dirname "$0")/freeswitch/install.sh"

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v baresip >/dev/null 2>&1 || need+=(baresip)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${need[*]}; run as root (or install them) first" >&2
  exit 1
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
