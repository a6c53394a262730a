#!/usr/bin/env bash
# Installs FreeSWITCH 1.10.12 for callflow's tests and demo (run as root).
# Uses the prebuilt FreeSWITCH distribution CI machines keep beside the clone
# (or the directory in CALLFLOW_FREESWITCH_DIST) when it is there; otherwise
# explains how to install FreeSWITCH and exits non-zero. Also installs the
# Debian prompt and hold-music packages the configuration in deploy/freeswitch
# uses. Safe to run again.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dist=${CALLFLOW_FREESWITCH_DIST:-$root/../shared/freeswitch}

sounds=()
dpkg-query -W -f='${Status}' asterisk-core-sounds-en-wav 2>/dev/null | grep -q 'ok installed' ||
  sounds+=(asterisk-core-sounds-en-wav)
dpkg-query -W -f='${Status}' asterisk-moh-opsound-wav 2>/dev/null | grep -q 'ok installed' ||
  sounds+=(asterisk-moh-opsound-wav)

if [ ${#sounds[@]} -gt 0 ] || [ -x "$dist/install" ] || ! [ -x /usr/local/freeswitch/bin/freeswitch ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "freeswitch: run as root to install FreeSWITCH and ${sounds[*]:-its sounds}" >&2
    exit 1
  fi
fi

if [ -x "$dist/install" ]; then
  "$dist/install"
elif ! [ -x /usr/local/freeswitch/bin/freeswitch ] && ! command -v freeswitch >/dev/null 2>&1; then
  cat >&2 <<'MSG'
freeswitch: FreeSWITCH is not installed and no prebuilt distribution was found
(set CALLFLOW_FREESWITCH_DIST to a directory holding an `install` script).
Install FreeSWITCH 1.10 one of these ways:
  - SignalWire packages: create a SignalWire personal access token, then follow
    FreeSWITCH's documentation, Installation > Linux > Debian (apt source
    freeswitch.signalwire.com, package freeswitch-meta-all).
  - Source build: git clone -b v1.10.12 https://github.com/signalwire/freeswitch,
    build sofia-sip and spandsp first, then ./bootstrap.sh -j && ./configure && make && make install
    with mod_sofia, mod_event_socket, mod_dptools, mod_loopback, mod_local_stream,
    mod_tone_stream, mod_sndfile, mod_commands and mod_dialplan_xml enabled.
MSG
  exit 1
fi

if [ ${#sounds[@]} -gt 0 ]; then
  echo "freeswitch: installing ${sounds[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${sounds[@]}"
fi
