#!/usr/bin/env bash
# install.sh [DIR] — build (or reuse) a Debian sid chroot with Asterisk 22 for
# callflow's tests and demo, and make sure sipp is installed on the host.
#
# Asterisk is never installed on the host itself: it lives in DIR (default
# /var/lib/callflow/asterisk-root). The chroot is built into a temporary sibling
# folder and renamed on success, so a failed run never leaves a half tree.
# Running the script again when DIR/usr/sbin/asterisk exists only checks the
# host packages.
set -euo pipefail

DIR="${1:-/var/lib/callflow/asterisk-root}"
SUITE="${CALLFLOW_ASTERISK_SUITE:-sid}"
SOURCES="/etc/apt/sources.list.d/debian.sources"
PACKAGES="asterisk,asterisk-modules,asterisk-core-sounds-en-gsm,asterisk-moh-opsound-gsm"

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Serialise installers aimed at the same DIR: two packages' tests may call this
# script at once on a machine without the chroot. The second waits here, then
# finds the finished tree below and reuses it, so one tree is built.
mkdir -p "$(dirname "$DIR")"
exec 8>"$(dirname "$DIR")/.$(basename "$DIR").lock"
if ! flock -n 8; then
	log "another install into $DIR is running; waiting for it"
	flock -w "${CALLFLOW_INSTALL_LOCK_WAIT:-1800}" 8 || die "timed out waiting for the install lock of $DIR"
fi

[[ "$(id -u)" == 0 ]] || die "must run as root (mmdebstrap and chroot need it)"

# Host packages: mmdebstrap builds the chroot, sip-tester provides sipp.
need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
if ((${#need[@]} > 0)); then
	log "installing host packages: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		die "apt-get install ${need[*]} failed"
fi

if [[ -x "$DIR/usr/sbin/asterisk" ]]; then
	log "reusing chroot $DIR ($(chroot "$DIR" /usr/sbin/asterisk -V 2>/dev/null || echo 'version unknown'))"
	exit 0
fi

if [[ -e "$DIR" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
	die "$DIR exists, is not empty and has no usr/sbin/asterisk: move it away first"
fi

MIRROR="${CALLFLOW_DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
	[[ -r "$SOURCES" ]] || die "cannot read $SOURCES to find the Debian mirror (set CALLFLOW_DEBIAN_MIRROR)"
	MIRROR="$(awk '/^URIs:/ { print $2; exit }' "$SOURCES")"
	[[ -n "$MIRROR" ]] || die "no URIs: line in $SOURCES (set CALLFLOW_DEBIAN_MIRROR)"
fi

parent="$(dirname "$DIR")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.$(basename "$DIR").tmp.XXXXXX")"
# An EXIT trap's last status becomes the script's status: end with `|| true`
# so a successful run (tmp already renamed, test false) still exits 0.
cleanup() { if [[ -n "${tmp:-}" && -d "$tmp" ]]; then rm -rf --one-file-system "$tmp" || true; fi; }
trap cleanup EXIT

log "building $SUITE chroot from $MIRROR into $tmp (this takes ~20 s plus downloads)"
start=$(date +%s)
mmdebstrap --quiet --variant=apt \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--include="$PACKAGES" \
	"$SUITE" "$tmp" "$MIRROR" || die "mmdebstrap failed"
[[ -x "$tmp/usr/sbin/asterisk" ]] || die "mmdebstrap finished but $tmp/usr/sbin/asterisk is missing"

# mmdebstrap creates the target with mode 0700 when it makes it itself; ours
# came from mktemp, so open it like a normal root file system.
chmod 0755 "$tmp"
rmdir "$DIR" 2>/dev/null || true
mv "$tmp" "$DIR"
tmp=""
log "chroot ready in $DIR after $(($(date +%s) - start)) s: $(chroot "$DIR" /usr/sbin/asterisk -V)"
