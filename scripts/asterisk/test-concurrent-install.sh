#!/usr/bin/env bash
# test-concurrent-install.sh — prove that two installer runs started at the
# same moment into a fresh folder both exit 0 and leave one working tree.
# Needs root and network (builds a real chroot, ~30 s). Usage: as root, no args.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d /tmp/callflow-install-test.XXXXXX)"
cleanup() { rm -rf --one-file-system "$work" || true; }
trap cleanup EXIT

"$here/install.sh" "$work/root" >"$work/a.log" 2>&1 &
a=$!
"$here/install.sh" "$work/root" >"$work/b.log" 2>&1 &
b=$!
rca=0; wait "$a" || rca=$?
rcb=0; wait "$b" || rcb=$?

fail=0
if ((rca != 0 || rcb != 0)); then
	echo "FAIL: installer exit codes $rca and $rcb (want 0 and 0)"; fail=1
fi
if ! chroot "$work/root" /usr/sbin/asterisk -V; then
	echo "FAIL: no working asterisk in $work/root"; fail=1
fi
leftovers=$(find "$work" -maxdepth 1 -name '.root.tmp.*' | wc -l)
if ((leftovers != 0)); then
	echo "FAIL: $leftovers temporary build trees left behind"; fail=1
fi
if ((fail)); then
	tail -n 5 "$work/a.log" "$work/b.log"
	exit 1
fi
echo "PASS: two concurrent installs both exited 0 and left one tree"
