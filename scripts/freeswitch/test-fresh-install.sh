#!/usr/bin/env bash
# First-run path of scripts/freeswitch/install.sh, run by .ci/run every time
# so a warm machine cannot hide it: the FreeSWITCH prefix is moved aside,
# install.sh must lay it down again from nothing, and the new tree must
# report version 1.10.12. The new tree is kept; on a failure the old one is
# put back. Run as root.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=/usr/local/freeswitch
aside=""
if [ -e "$prefix" ]; then
  aside="$prefix.aside.$$"
  mv "$prefix" "$aside"
fi
restore() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$aside" ] && [ -e "$aside" ]; then
    rm -rf "$prefix"
    mv "$aside" "$prefix"
    echo "test-fresh-install: failed; the previous $prefix is back" >&2
  fi
  exit "$rc"
}
trap restore EXIT

s=$(date +%s)
"$root/scripts/freeswitch/install.sh"
version=$("$prefix/bin/freeswitch" -version)
case $version in
*"version: 1.10.12"*) ;;
*)
  echo "test-fresh-install: $prefix/bin/freeswitch reports: $version" >&2
  exit 1
  ;;
esac
if [ -n "$aside" ]; then
  rm -rf "$aside"
fi
echo "PASS: FreeSWITCH installed into an empty $prefix in $(($(date +%s) - s)) s ($version)"
