#!/usr/bin/env bash
# Follow docs/install.md top to bottom in a clean Debian root (debootstrap + chroot), as far as
# that is possible without a Raspberry Pi, and say for every command what happened.
#
#   sudo bash tools/install-walkthrough.sh        # cache: $KIOSK_CI_CACHE or /var/cache/kiosk-ci
#
# The root is bookworm for this machine's architecture with what Raspberry Pi OS Lite has
# (sudo, systemd, python3, curl, nano) and a sudo user "pi". Every ```sh line of install.md runs
# in order as that user, with these stand-ins: the "on your computer" lines run here and the
# copy lands in /home/pi; `nano` becomes a scripted edit pointing the kiosk at a dev server on
# 127.0.0.1; the secret prompt is answered on standard input. Afterwards the installed unit's
# ExecStart runs as the kiosk user with the unit's environment (dummy display, the secret as a
# credential directory) against that dev server, and /status must show the call.
# Needs root, debootstrap, network access to the Debian mirror and the package index.
set -uo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KIOSK_CI_CACHE:-/var/cache/kiosk-ci}"
SUITE="${KIOSK_WALK_SUITE:-bookworm}"
BASE="$CACHE/walk-$SUITE-base"
ROOT="$CACHE/walk-$SUITE-run"
SECRET="walkthrough-secret"
MIRROR="$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
    | grep -v -- '-security' | grep '/debian/\?$' | head -n1)"
[[ -n "$MIRROR" ]] || MIRROR="$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null \
    | awk '{print $2}' | grep -v -- '-security' | head -n1)"

log() { printf 'walkthrough: %s\n' "$*"; }
[[ "$(id -u)" -eq 0 ]] || { log "run as root"; exit 1; }

if [[ ! -f "$BASE/.ready" ]]; then
    rm -rf "$BASE"
    log "debootstrap $SUITE (once, cached in $BASE)"
    debootstrap --variant=minbase --include=sudo,systemd,systemd-sysv,python3,ca-certificates,curl,nano,procps,dbus \
        "$SUITE" "$BASE" "$MIRROR" >"$CACHE/walk-debootstrap.log" 2>&1 \
        || { tail -n 20 "$CACHE/walk-debootstrap.log"; exit 1; }
    touch "$BASE/.ready"
fi

cleanup() {
    for m in dev/pts dev proc sys; do umount -l "$ROOT/$m" 2>/dev/null; done
}
trap cleanup EXIT
cleanup
rm -rf "$ROOT"
cp -a "$BASE" "$ROOT"
mount --bind /dev "$ROOT/dev"; mount --bind /dev/pts "$ROOT/dev/pts"
mount -t proc proc "$ROOT/proc"; mount -t sysfs sys "$ROOT/sys"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
echo "127.0.1.1 $(hostname)" >>"$ROOT/etc/hosts"
# This machine's network: its CA bundle (a TLS-inspecting proxy may sit in the way), for pip too.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOT/etc/pip.conf"
chroot "$ROOT" useradd -m -s /bin/bash -G sudo pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$ROOT/etc/sudoers.d/pi"

# The ```sh lines of install.md, in order (continuation lines joined).
mapfile -t LINES < <(python3 - "$SRC/docs/install.md" <<'EOF'
import sys
lines, block, buf = [], False, ""
for raw in open(sys.argv[1], encoding="utf-8"):
    text = raw.strip()
    if text.startswith("```"):
        block = text == "```sh"
        continue
    if block and text and not text.startswith("#"):
        buf += text[:-1] + " " if text.endswith("\\") else text
        if not text.endswith("\\"):
            lines.append(buf)
            buf = ""
print("\n".join(lines))
EOF
)

as_pi() { chroot "$ROOT" runuser -l pi -c "$1"; }
RESULTS=()
record() { RESULTS+=("$1  $2"); log "$1: $2"; }

for line in "${LINES[@]}"; do
    case "$line" in
    "git archive"*)
        (cd "$SRC" && git archive --format=tar.gz --prefix=kiosk/ -o "$ROOT/home/pi/kiosk.tar.gz" HEAD) \
            && record ok "$line   (on the computer; from this checkout's HEAD)" \
            || record FAILED "$line"
        chroot "$ROOT" chown pi:pi /home/pi/kiosk.tar.gz
        continue ;;
    "scp "*)
        record "stand-in" "$line   (the tarball was written to /home/pi directly)"
        continue ;;
    "sudo nano "*)
        # what a person types: the server, the room, a name
        as_pi "sudo sed -i -e 's|url: https://openvidu.example.org:4443|url: http://127.0.0.1:4443|' \
            -e 's|id: MeetingRoom1|id: WalkRoom|' -e 's|name: Meeting room|name: Walkthrough kiosk|' \
            /etc/kiosk/config.yaml" && record "stand-in" "$line   (scripted edit: server.url, session.id/name)" \
            || record FAILED "$line"
        continue ;;
    "sudo bash -c 'read -rsp"*)
        printf '%s\n' "$SECRET" | as_pi "$line" >/dev/null && record ok "$line   (secret typed on stdin)" \
            || record FAILED "$line"
        continue ;;
    "sudo systemctl enable --now kiosk")
        as_pi "sudo systemctl enable kiosk" >/dev/null 2>&1 \
            && record "stand-in" "$line   (enable only: starting needs a booted systemd; see the run below)" \
            || record FAILED "$line"
        continue ;;
    "sudo systemctl edit "*)
        record "not checkable" "$line   (an interactive editor on a running systemd)"
        continue ;;
    "journalctl "*|"curl -s http://127.0.0.1:8787/status"|"sudo systemctl restart kiosk")
        record "not checkable" "$line   (no booted systemd in a chroot; see the run below)"
        continue ;;
    "sudo rm -rf /opt/kiosk/src"*)
        # the upgrade section: done once more with the same tarball
        ;;
    esac
    out="$(as_pi "$line" 2>&1)"; rc=$?
    echo "$out" | tail -n 25 | sed 's/^/    | /'
    if [[ $rc -eq 0 ]]; then record ok "$line"; else record "FAILED (exit $rc)" "$line"; fi
done

log "--- after install.md: what the unit would run"
enabled="$(chroot "$ROOT" systemctl is-enabled kiosk.service 2>&1)"
record "$([[ "$enabled" == enabled ]] && echo ok || echo FAILED)" "kiosk.service is $enabled"
if chroot "$ROOT" systemd-analyze verify /etc/systemd/system/kiosk.service >"$CACHE/walk-verify.log" 2>&1 \
    && ! grep -q kiosk.service "$CACHE/walk-verify.log"; then
    record ok "systemd-analyze verify of the installed unit"
else
    record FAILED "systemd-analyze verify: $(head -c 400 "$CACHE/walk-verify.log")"
fi

# ExecStart as User=kiosk with the unit's Environment=, WorkingDirectory= and the credential
# systemd would pass; a dummy display instead of the Pi's console.
chroot "$ROOT" bash -c '
    set -e
    install -d -o kiosk -g kiosk -m 0700 /run/kiosk /run/credentials-kiosk
    install -o kiosk -g kiosk -m 0400 /etc/kiosk/openvidu-secret /run/credentials-kiosk/openvidu-secret
    install -o kiosk -g kiosk -m 0440 /etc/kiosk/config.yaml /run/kiosk/config.yaml
'
ENV_ARGS=()
while IFS= read -r e; do ENV_ARGS+=("$e"); done < <(grep -E '^Environment=' "$ROOT/etc/systemd/system/kiosk.service" | cut -d= -f2-)
EXEC="$(grep -E '^ExecStart=' "$ROOT/etc/systemd/system/kiosk.service" | cut -d= -f2- | sed 's|/etc/kiosk/config.yaml|/run/kiosk/config.yaml|')"
chroot "$ROOT" runuser -u kiosk -- env -i PATH=/usr/bin:/bin \
    /opt/kiosk/venv/bin/kiosk devserver --no-tls --loopback --port 4443 --secret-file /run/credentials-kiosk/openvidu-secret \
    >"$CACHE/walk-devserver.log" 2>&1 &
DEV=$!
sleep 5
chroot "$ROOT" bash -c "cd /run/kiosk && exec runuser -u kiosk -- env -i PATH=/usr/bin:/bin ${ENV_ARGS[*]} \
    SDL_VIDEODRIVER=dummy CREDENTIALS_DIRECTORY=/run/credentials-kiosk $EXEC --duration 120" \
    >"$CACHE/walk-run.log" 2>&1 &
RUN=$!
state=""
for _ in $(seq 1 110); do
    body="$(curl -s --max-time 5 http://127.0.0.1:8787/status)"
    state="$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null)"
    [[ "$state" == in_call ]] && break
    sleep 1
done
kill -TERM "$RUN" 2>/dev/null; wait "$RUN"
kill -TERM "$DEV" 2>/dev/null; wait "$DEV"
record "$([[ "$state" == in_call ]] && echo ok || echo FAILED)" \
    "ExecStart as user kiosk with the unit's environment: /status state '$state'"
[[ "$state" == in_call ]] || printf '    | last /status answer: %s\n' "${body:0:300}"
grep -E 'WARNING|ERROR|unavailable' "$CACHE/walk-run.log" | head -n 8 | sed 's/^/    | /'

log "=== summary"
printf '  %s\n' "${RESULTS[@]}"
printf '%s\n' "${RESULTS[@]}" | grep -q '^FAILED' && exit 1
exit 0
