#!/usr/bin/env bash
# Install what the openvidu-browser interop tests need (idempotent; fast when already done).
#
#   * Debian's Chromium at /usr/bin/chromium (Playwright drives it; no browser download ever).
#   * openvidu-browser 2.22.0 and 2.32.2 from the npm registry into tests/interop/node_modules,
#     pinned by package-lock.json.
#
# Run as root on a fresh Debian machine (CI does: bash tests/interop/setup.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'interop setup: %s\n' "$*" >&2; }

# --- Chromium ---------------------------------------------------------------------------------
if [[ -x /usr/bin/chromium ]]; then
    log "chromium present: /usr/bin/chromium"
else
    log "installing chromium (apt-get)"
    if [[ "$(id -u)" -ne 0 ]]; then
        log "not root: cannot apt-get install chromium"
        exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=300 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y chromium
fi

# --- openvidu-browser builds ------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
    log "npm missing: installing nodejs and npm (apt-get)"
    apt-get -o DPkg::Lock::Timeout=300 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends nodejs npm
fi

bundles=(
    "$here/node_modules/ovb222/static/js/openvidu-browser-2.22.0.min.js"
    "$here/node_modules/ovb232/static/js/openvidu-browser-2.32.2.min.js"
)
have_all=1
for f in "${bundles[@]}"; do
    [[ -s "$f" ]] || have_all=0
done
# node_modules is reused only when it was installed from the current lock file.
stamp="$here/node_modules/.kiosk-lock.sha256"
lock_sum=""
if [[ -f "$here/package-lock.json" ]]; then
    lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
fi
if [[ $have_all -eq 1 && -n "$lock_sum" && -f "$stamp" && "$(cat "$stamp")" == "$lock_sum" ]]; then
    log "openvidu-browser builds present"
else
    cd "$here"
    # --ignore-scripts: only prebuilt bundles are needed; nothing is compiled or downloaded.
    if [[ -f package-lock.json ]]; then
        log "npm ci (from package-lock.json)"
        npm ci --no-audit --no-fund --ignore-scripts
    else
        log "npm install (no package-lock.json yet)"
        npm install --no-audit --no-fund --ignore-scripts
        lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
    fi
    for f in "${bundles[@]}"; do
        if [[ ! -s "$f" ]]; then
            log "missing after install: $f"
            exit 1
        fi
    done
    printf '%s\n' "$lock_sum" >"$stamp"
fi
log "ready"
