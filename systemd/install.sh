#!/usr/bin/env bash
# Install the kiosk as a systemd service on Raspberry Pi OS Lite (bookworm or trixie) or any
# Debian-like system. Run as root from a copy of the source:  sudo bash systemd/install.sh
# Idempotent: re-running upgrades the package and keeps /etc/kiosk as it is.
# The service is enabled only when `kiosk check-config` says it can start; otherwise the script
# says what to fix and how to enable it afterwards.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/kiosk
ETC=/etc/kiosk
USER_NAME=kiosk

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo bash systemd/install.sh)" >&2
  exit 1
fi

die() { echo "install.sh: $*" >&2; exit 1; }

# Python 3.13 (trixie): lgpio has no wheel on the package index for it (only an empty
# placeholder); Raspberry Pi OS's python3-lgpio is used through a venv with system site packages.
PY_MINOR="$(python3 -c 'import sys; print(sys.version_info[1])')"
VENV_OPTS=()
GPIO_PACKAGES=()
if [ "$PY_MINOR" -ge 13 ]; then
  VENV_OPTS=(--system-site-packages)
  GPIO_PACKAGES=(python3-lgpio)
fi

echo "== packages"
if [ "${#GPIO_PACKAGES[@]}" -gt 0 ] && ! apt-cache show python3-lgpio >/dev/null 2>&1; then
  die "Python 3.$PY_MINOR needs Raspberry Pi OS's python3-lgpio (the package index has no lgpio for it),
  and this system's apt sources do not have it: Raspberry Pi OS ships it in its own archive
  (run 'sudo apt-get update' first if this is Raspberry Pi OS)"
fi
# libdrm2 libgbm1 libegl1 libgles2: loaded at run time by SDL's KMSDRM console backend.
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
  --no-install-recommends python3-venv libdrm2 libgbm1 libegl1 libgles2 "${GPIO_PACKAGES[@]}" \
  >/dev/null || die "apt-get install failed (run 'sudo apt-get update' first?)"

echo "== user $USER_NAME"
if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/kiosk --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
for g in video render input gpio audio; do
  if getent group "$g" >/dev/null; then usermod -a -G "$g" "$USER_NAME"; fi
done

echo "== virtualenv $PREFIX/venv"
install -d -m 0755 "$PREFIX"
python3 -m venv "${VENV_OPTS[@]}" "$PREFIX/venv"
# lgpio (the pin factory a Pi 5 needs) comes with the kiosk on Python <= 3.12 (pyproject.toml).
# Dependencies only as pinned in requirements.lock, each file checked against its hash; then
# the kiosk itself from this source, built with the locked setuptools (nothing unpinned).
"$PREFIX/venv/bin/pip" install --disable-pip-version-check -q --require-hashes \
  -r "$SRC/requirements.lock" \
  || die "pip install of the locked dependencies into $PREFIX/venv failed (see above)"
"$PREFIX/venv/bin/pip" install --disable-pip-version-check -q --no-deps --no-build-isolation \
  --upgrade "$SRC" \
  || die "pip install of the kiosk into $PREFIX/venv failed (see above)"
# Fail here, not on the wall: lgpio must be the real library and importable by the venv.
# Importing it creates notify pipes in LG_WD, so give it a scratch directory.
LG_TMP="$(mktemp -d)"
if ! LG_WD="$LG_TMP" "$PREFIX/venv/bin/python" -m kiosk.controls.gpiocheck; then
  rm -rf "$LG_TMP"
  die "the GPIO backend is unusable (buttons and LEDs could never work); fix the line above"
fi
rm -rf "$LG_TMP"

install -m 0644 "$SRC/docs/install.md" "$PREFIX/install.md"

echo "== configuration $ETC"
install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
if [ ! -f "$ETC/config.yaml" ]; then
  install -m 0640 -o root -g "$USER_NAME" "$SRC/config.example.yaml" "$ETC/config.yaml"
  echo "   wrote $ETC/config.yaml — edit server.url and session.id"
fi
if [ ! -f "$ETC/openvidu-secret" ]; then
  install -m 0600 -o root -g root /dev/null "$ETC/openvidu-secret"
  echo "   created empty $ETC/openvidu-secret (root-only) — put the OpenVidu secret in it,"
  echo "   or set server.application_url in $ETC/config.yaml (the file then stays empty)"
fi

echo "== systemd unit"
install -m 0644 "$SRC/systemd/kiosk.service" /etc/systemd/system/kiosk.service
systemctl daemon-reload || echo "   (systemd is not running here: daemon-reload skipped)"

# Enable the service only when it can start: check-config resolves what `kiosk run` resolves
# (the secret from the unit's credential file, the application server, files).
echo "== checking $ETC/config.yaml"
if "$PREFIX/venv/bin/kiosk" check-config "$ETC/config.yaml"; then
  systemctl enable kiosk.service
  echo "done: the kiosk starts at boot. Start it now: sudo systemctl start kiosk"
  echo "      logs: journalctl -u kiosk -f    status: curl -s http://127.0.0.1:8787/status"
else
  if systemctl is-enabled --quiet kiosk.service 2>/dev/null; then
    echo "   note: kiosk.service is still enabled from an earlier install but cannot start as it is"
  fi
  cat <<EOF
installed, but the kiosk service is NOT enabled: the configuration above is not complete.
Next:
  1. sudo nano $ETC/config.yaml        (server.url, session.id, session.name)
  2. either write the OpenVidu secret:
       sudo bash -c 'read -rsp "OpenVidu secret: " s && echo && printf %s "\$s" > $ETC/openvidu-secret'
     or set server.application_url in $ETC/config.yaml
  3. sudo $PREFIX/venv/bin/kiosk check-config $ETC/config.yaml     (until it prints OK)
  4. sudo systemctl enable --now kiosk
EOF
fi
