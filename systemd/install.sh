#!/usr/bin/env bash
# Install the kiosk as a systemd service on Raspberry Pi OS Lite (Debian 12, bookworm) or any
# Debian-like system. Run as root from a checkout:  sudo bash systemd/install.sh
# Idempotent: re-running upgrades the package and keeps /etc/kiosk as it is.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/kiosk
ETC=/etc/kiosk
USER_NAME=kiosk

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo bash systemd/install.sh)" >&2
  exit 1
fi

echo "== packages"
apt-get install -y --no-install-recommends python3-venv python3-dev libgpiod2 >/dev/null || {
  echo "install.sh: apt-get install failed (run 'apt-get update' first?)" >&2; exit 1; }

echo "== user $USER_NAME"
if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/kiosk --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
for g in video render input gpio audio; do
  if getent group "$g" >/dev/null; then usermod -a -G "$g" "$USER_NAME"; fi
done

echo "== virtualenv $PREFIX/venv"
install -d -m 0755 "$PREFIX"
python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --disable-pip-version-check -q --upgrade "$SRC"
# On a Pi 5 only the lgpio pin factory works; it is harmless elsewhere.
"$PREFIX/venv/bin/pip" install --disable-pip-version-check -q lgpio || \
  echo "install.sh: note: lgpio not installed (buttons fall back to other pin factories)"

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
  echo "   or use server.application_url and delete the LoadCredential= line"
fi
"$PREFIX/venv/bin/kiosk" check-config "$ETC/config.yaml" || \
  echo "   fix the problems above, then: systemctl restart kiosk"

echo "== systemd unit"
install -m 0644 "$SRC/systemd/kiosk.service" /etc/systemd/system/kiosk.service
systemctl daemon-reload
systemctl enable kiosk.service
echo "done: 'systemctl start kiosk' (or reboot); logs: 'journalctl -u kiosk -f';"
echo "      status: curl http://127.0.0.1:8787/status"
