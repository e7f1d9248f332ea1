#!/usr/bin/env bash
# Install the Debian packages the tests need (idempotent; fast when already done).
#
# Each feature lists its packages in tools/debian-packages.d/<feature>.txt, one name a line
# ('#' starts a comment). Only missing packages are installed; apt-get update runs once, and only
# when something is missing. Run as root on a fresh Debian machine (make test does).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'system setup: %s\n' "$*" >&2; }

wanted=()
shopt -s nullglob
for list in "$here"/debian-packages.d/*.txt; do
    while IFS= read -r line || [[ -n "$line" ]]; do
        name="${line%%#*}"
        name="$(echo "$name" | tr -d '[:space:]')"
        [[ -n "$name" ]] && wanted+=("$name")
    done <"$list"
done

missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#wanted[@]} packages present"
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
    log "not root: cannot install ${missing[*]}"
    exit 1
fi
# Another apt (unattended upgrades, a second make) may hold the lock: wait for it, bounded.
log "installing: ${missing[*]}"
apt-get -o DPkg::Lock::Timeout=300 update -q
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${missing[@]}"
log "ready"
