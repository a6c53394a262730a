#!/usr/bin/env bash
# takeover.sh — how long a standby node takes to take a killed node's
# switch over, over many runs (docs/nodes.md).
#
#   bench/takeover.sh [RUNS]        (default 10)
#
# Runs e2e/nodes TestTakeoverAfterKill RUNS times in one test binary (a
# private PostgreSQL per run, the shared Asterisk, two callflow processes,
# lease time 6 s): node a serves four waiting callers and a callback, is
# killed with SIGKILL, and node b takes the lease over and re-adopts them.
# Prints each run's figures (seconds from the kill to b's lease_takeover
# event, callers re-adopted and dropped, callbacks lost and doubled, order
# violations) and the takeover time's min, median and max. Needs what make
# test needs (root, the Asterisk chroot, PostgreSQL, sipp); the output of
# go test stays in BENCH_RUN_DIR (default a new /tmp/callflow-takeover.*).
set -euo pipefail

runs="${1:-10}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "takeover.sh: RUNS must be a positive number, not $runs" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${BENCH_RUN_DIR:-$(mktemp -d /tmp/callflow-takeover.XXXXXX)}"
mkdir -p "$out"
echo "takeover.sh: $runs runs of TestTakeoverAfterKill, log in $out/go-test.log" >&2
cd "$HERE/.."
status=0
go test -count="$runs" -timeout "$((runs * 4 + 5))m" -run '^TestTakeoverAfterKill$' -v ./e2e/nodes >"$out/go-test.log" 2>&1 || status=$?
grep -o 'TAKEOVER kill -9.*' "$out/go-test.log" >"$out/takeover.txt" || true
n=$(wc -l <"$out/takeover.txt")
if ((n == 0)); then
	echo "takeover.sh: no run reported its figures (go test status $status); see $out/go-test.log" >&2
	exit 1
fi
awk '
	{
		for (i = 1; i <= NF; i++) {
			if ($i == "after") { t = $(i + 1); sub(/s,?$/, "", t) }
			split($i, kv, "=")
			if (kv[1] == "re-adopted") adopted = kv[2]
			if (kv[1] == "dropped") dropped = kv[2]
			if (kv[1] == "lost") lost = kv[2]
			if (kv[1] == "doubled") doubled = kv[2]
			if (kv[1] == "violations") viol = kv[2]
		}
		n++; ts[n] = t
		printf "run %2d: takeover %6.3f s  re-adopted %s  dropped %s  callbacks lost %s doubled %s  order violations %s\n", n, t, adopted, dropped, lost, doubled, viol
		sd += dropped; sl += lost; sb += doubled; sv += viol
	}
	END {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ts[j] < ts[i]) { x = ts[i]; ts[i] = ts[j]; ts[j] = x }
		med = (n % 2) ? ts[(n + 1) / 2] : (ts[n / 2] + ts[n / 2 + 1]) / 2
		printf "%d runs: takeover min %.3f s, median %.3f s, max %.3f s; dropped %d, callbacks lost %d, doubled %d, order violations %d\n", n, ts[1], med, ts[n], sd, sl, sb, sv
	}' "$out/takeover.txt"
if ((status != 0)); then
	echo "takeover.sh: go test failed (status $status, $n of $runs runs reported); see $out/go-test.log" >&2
	exit "$status"
fi
