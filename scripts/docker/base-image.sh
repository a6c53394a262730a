#!/usr/bin/env bash
# Builds a local Debian 12 (bookworm) base image for the Dockerfile when no
# image registry is reachable: mmdebstrap's minbase variant, with the manual
# pages, documentation (copyrights kept) and translations left out as in
# Docker's bookworm-slim, imported into the local Docker daemon.
#
#   scripts/docker/base-image.sh [TAG]    (default callflow-base:bookworm-slim)
#
# Safe to run again: an existing TAG is kept (delete it to rebuild). Needs
# root (mmdebstrap), a running dockerd and a Debian mirror: the first URIs:
# line of /etc/apt/sources.list.d/debian.sources, or CALLFLOW_DEBIAN_MIRROR.
set -euo pipefail

TAG="${1:-callflow-base:bookworm-slim}"
SOURCES=/etc/apt/sources.list.d/debian.sources
log() { echo "base-image.sh: $*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed (Debian package docker.io)"
if docker image inspect "$TAG" >/dev/null 2>&1; then
	log "reusing $TAG"
	exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed"
[[ "$(id -u)" == 0 ]] || die "must run as root (mmdebstrap)"

MIRROR="${CALLFLOW_DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
	[[ -r "$SOURCES" ]] || die "cannot read $SOURCES to find the Debian mirror (set CALLFLOW_DEBIAN_MIRROR)"
	MIRROR="$(awk '/^URIs:/ { print $2; exit }' "$SOURCES")"
	[[ -n "$MIRROR" ]] || die "no URIs: line in $SOURCES (set CALLFLOW_DEBIAN_MIRROR)"
fi

log "building $TAG from $MIRROR (minutes on a busy machine)"
start=$(date +%s)
mmdebstrap --quiet --variant=minbase \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	bookworm - "$MIRROR" |
	docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' - "$TAG" >/dev/null
log "built $TAG in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"
