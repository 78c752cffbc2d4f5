#!/usr/bin/env bash
# signd kiosk: the page service and Chromium in kiosk mode on the Pi's screen. Run after
# deploy/install.sh; idempotent. Usage:
#   sudo deploy/kiosk/install.sh [--user NAME] [--port N]   NAME: the desktop user (default: who ran sudo)
#   sudo deploy/kiosk/install.sh --uninstall [--user NAME]
# Installs signd-kiosk.service (system), /usr/local/bin/signd-kiosk-browser, and an autostart
# entry in NAME's ~/.config/autostart, which Raspberry Pi OS's desktop runs at login.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${SIGND_ROOT:-}                     # for tests: install under this directory
DRY=${SIGND_DRY_RUN:-0}
UNITS=$ROOT/etc/systemd/system
BIN=$ROOT/usr/local/bin
SIGND=$ROOT/opt/signd/venv/bin/signd

mode=install user=${SUDO_USER:-} port=8765
while [ $# -gt 0 ]; do
  case $1 in
    --uninstall) mode=uninstall ;;
    --user) user=${2:?--user needs a name}; shift ;;
    --port) port=${2:?--port needs a number}; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }
systemd_here() { [ -z "$ROOT" ] && command -v systemctl >/dev/null; }

case $port in ''|*[!0-9]*) die "--port: expected a number 1..65535, got '$port'" ;; esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port: expected a number 1..65535, got '$port'"
[ -n "$user" ] || die "name the desktop user whose screen shows the kiosk: --user NAME"
if [ -n "$ROOT" ]; then home=$ROOT/home/$user
else home=$(getent passwd "$user" | cut -d: -f6) || die "no such user: $user"; fi
autostart=$home/.config/autostart

if [ "$mode" = uninstall ]; then
  systemd_here && run systemctl disable --now signd-kiosk.service 2>/dev/null || true
  run rm -f "$UNITS/signd-kiosk.service" "$BIN/signd-kiosk-browser" "$autostart/signd-kiosk-browser.desktop"
  systemd_here && run systemctl daemon-reload || true
  say "kiosk removed (log out and in, or reboot, to close the browser)"
  exit 0
fi

# -- checks first: nothing changes unless they all pass ---------------------------------------
[ -x "$SIGND" ] || [ "$DRY" = 1 ] || die "signd is not installed ($SIGND missing): run sudo deploy/install.sh first"
if [ -z "$ROOT" ] && [ "$DRY" != 1 ] && [ "$(id -u)" != 0 ]; then die "run as root: sudo $0"; fi
if [ -z "$ROOT" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  die "Chromium is not installed: sudo apt install chromium (chromium-browser on Bookworm), then run this again"
fi

write() {  # write FILE MODE: stdin to FILE through a temporary file, so nothing is half-written
  if [ "$DRY" = 1 ]; then echo "+ write $1"; cat >/dev/null; return; fi
  mkdir -p "$(dirname "$1")"
  cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv "$1.tmp" "$1"
}
sed "s|--port 8765|--port $port|; s|127.0.0.1:8765|127.0.0.1:$port|" "$SRC/signd-kiosk.service" | write "$UNITS/signd-kiosk.service" 0644
sed "s|127.0.0.1:8765|127.0.0.1:$port|" "$SRC/signd-kiosk-browser" | write "$BIN/signd-kiosk-browser" 0755
sed "s|127.0.0.1:8765|127.0.0.1:$port|" "$SRC/signd-kiosk-browser.desktop" | write "$autostart/signd-kiosk-browser.desktop" 0644
if [ -z "$ROOT" ] && [ "$DRY" != 1 ]; then
  chown "$user:" "$home/.config" "$autostart" "$autostart/signd-kiosk-browser.desktop"
fi

if systemd_here; then
  run systemctl daemon-reload
  run systemctl enable signd-kiosk.service
  run systemctl restart signd-kiosk.service
fi
say "kiosk page on http://127.0.0.1:$port/ (systemctl status signd-kiosk); Chromium opens it full screen when $user logs in"
