#!/usr/bin/env bash
# render.sh OUTDIR — render deploy/asterisk/*.conf into OUTDIR.
#
# Every @@NAME@@ placeholder is replaced by the value of the environment
# variable ASTERISK_NAME, or by the default below. A placeholder with no value
# is an error (nothing half-rendered is left behind in OUTDIR). The Go kit
# internal/asterisktest renders the same way (asterisktest.Render).
set -euo pipefail

log() { printf 'render.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: render.sh OUTDIR"
OUT="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATES="${ASTERISK_TEMPLATES:-$HERE/../../deploy/asterisk}"
[[ -d "$TEMPLATES" ]] || die "template folder $TEMPLATES not found"

: "${ASTERISK_HTTP_PORT:=8088}"
: "${ASTERISK_SIP_PORT:=5070}"
: "${ASTERISK_AGENT1_PORT:=5081}"
: "${ASTERISK_AGENT2_PORT:=5082}"
: "${ASTERISK_AGENT3_PORT:=5083}"
: "${ASTERISK_AGENT4_PORT:=5084}"
: "${ASTERISK_CUSTOMER_PORT:=5090}"
: "${ASTERISK_RTP_START:=10000}"
: "${ASTERISK_RTP_END:=20000}"
: "${ASTERISK_ARI_PASSWORD:=callflow}"
: "${ASTERISK_AGI_PORT:=4573}"
# The softphone account's password (deploy/asterisk/pjsip.conf, not for
# production) is read from a file; a missing file gets a random password.
if [[ -z "${ASTERISK_SOFTPHONE_PASSWORD:-}" ]]; then
	pwfile="${ASTERISK_SOFTPHONE_PASSWORD_FILE:-$OUT/softphone-password}"
	if [[ ! -s "$pwfile" ]]; then
		mkdir -p "$(dirname "$pwfile")"
		(umask 077 && head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile")
		log "softphone password written to $pwfile"
	fi
	ASTERISK_SOFTPHONE_PASSWORD="$(tr -d '\n' <"$pwfile")"
fi

mkdir -p "$OUT"
staging="$(mktemp -d "$OUT/.render.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

shopt -s nullglob
templates=("$TEMPLATES"/*.conf)
((${#templates[@]} > 0)) || die "no *.conf templates in $TEMPLATES"
for tmpl in "${templates[@]}"; do
	name="$(basename "$tmpl")"
	content="$(<"$tmpl")"
	# shellcheck disable=SC2013 # placeholders are single words by construction
	for ph in $(grep -o '@@[A-Z0-9_]*@@' "$tmpl" | sort -u); do
		var="ASTERISK_${ph//@/}"
		[[ -n "${!var+set}" ]] || die "$name: no value for $ph (set $var)"
		content="${content//"$ph"/"${!var}"}"
	done
	printf '%s\n' "$content" >"$staging/$name"
done
for f in "$staging"/*.conf; do
	mv -f "$f" "$OUT/$(basename "$f")"
done
log "rendered ${#templates[@]} files into $OUT"
