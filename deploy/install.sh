#!/usr/bin/env bash
# signd: one-command install on Raspberry Pi OS Bookworm 64-bit (and other Debian-based
# aarch64/x86_64 systems). Idempotent: run it again to upgrade. Usage:
#   sudo deploy/install.sh                 install or upgrade, enable and start the service
#   sudo deploy/install.sh --pose-models   also fetch MediaPipe's lite/heavy pose models
#   sudo deploy/install.sh --uninstall     stop and remove signd (keeps /etc/signd and the user)
#   sudo deploy/install.sh --uninstall --purge   ... and the configuration, state and user too
# Every check runs before anything is changed; the new venv is built beside the old one and
# switched to only when complete, so a failure leaves the previous install as it was.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${SIGND_ROOT:-}                     # for tests: install under this directory
PREFIX=$ROOT/opt/signd
VENV=$PREFIX/venv
ETC=$ROOT/etc/signd
UNITS=$ROOT/etc/systemd/system
SYSUSERS=$ROOT/usr/lib/sysusers.d
ARCH=${SIGND_ARCH:-$(uname -m)}
PYTHON=${SIGND_PYTHON:-python3}
DRY=${SIGND_DRY_RUN:-0}

mode=install purge=0 pose_models=0
for arg in "$@"; do
  case $arg in
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --pose-models) pose_models=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }
# A Raspberry Pi: Raspberry Pi OS leaves /etc/rpi-issue; any OS on a Pi has the board's name in
# the device tree. Both under SIGND_ROOT, so that tests can make a Pi.
on_pi() { [ -e "$ROOT/etc/rpi-issue" ] || grep -qs "Raspberry Pi" "$ROOT/proc/device-tree/model"; }

uninstall() {
  if [ -z "$ROOT" ] && command -v systemctl >/dev/null; then
    run systemctl disable --now signd.service signd.socket 2>/dev/null || true
  fi
  run rm -f "$UNITS/signd.service" "$UNITS/signd.socket"
  run rm -rf "$PREFIX"
  if [ "$purge" = 1 ]; then
    run rm -rf "$ETC" "$ROOT/var/lib/signd" "$SYSUSERS/signd.conf"
    if [ -z "$ROOT" ] && id signd >/dev/null 2>&1; then run userdel signd || true; fi
  fi
  [ -z "$ROOT" ] && command -v systemctl >/dev/null && run systemctl daemon-reload || true
  say "signd removed"
}

# -- checks: nothing is touched until they all pass ------------------------------------------
check() {
  case $ARCH in
    aarch64|arm64|x86_64) ;;
    armv7l|armv6l|armhf)
      die "this is a 32-bit system ($ARCH): mediapipe and ai-edge-litert publish no wheels for it; install Raspberry Pi OS (64-bit) and run this again" ;;
    *) die "unsupported machine $ARCH: signd needs aarch64 (64-bit Raspberry Pi OS) or x86_64" ;;
  esac
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: sudo apt install python3"
  local v bits
  read -r v bits < <("$PYTHON" -c 'import struct, sys; print("%d.%d" % sys.version_info[:2], 8 * struct.calcsize("P"))') \
    || die "$PYTHON does not run"
  case $v in
    3.9|3.10|3.11|3.12) ;;
    *) die "Python $v is outside mediapipe 0.10.18's range (3.9 to 3.12): use Raspberry Pi OS Bookworm (Python 3.11)" ;;
  esac
  # 32-bit Raspberry Pi OS on a Pi 4 or 5 boots a 64-bit kernel: uname says aarch64 while every
  # program, Python included, is 32-bit armhf, and pip finds no wheels. Ask the Python itself.
  if [ "$bits" = 32 ]; then
    die "this is a 32-bit system ($ARCH kernel, 32-bit $PYTHON): mediapipe and ai-edge-litert publish no wheels for it; install Raspberry Pi OS (64-bit) and run this again"
  fi
  [ -f "$SRC/pyproject.toml" ] || die "run me from a signd checkout ($SRC has no pyproject.toml)"
  if [ -z "$ROOT" ] && [ "$DRY" != 1 ] && [ "$(id -u)" != 0 ]; then die "run as root: sudo $0 $*"; fi
}

install_apt() {
  local pkgs=(python3-venv python3-pip libgl1 libglib2.0-0)
  on_pi && pkgs+=(python3-picamera2)   # picamera2 and libcamera come from Raspberry Pi OS's apt
  if [ -z "$ROOT" ] || [ "$DRY" = 1 ]; then
    run apt-get update -qq
    DEBIAN_FRONTEND=noninteractive run apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
  fi
}

check_picamera2() {
  # picamera2 needs Raspberry Pi's libcamera and its Python bindings, which only Raspberry Pi
  # OS's apt has (not PyPI, not Debian): the venv sees them through --system-site-packages, so
  # the Python the venv is made from must import them. Checked before anything is written.
  on_pi || return 0
  local err
  if [ "$DRY" = 1 ]; then echo "+ $PYTHON -c 'import picamera2'"; return 0; fi
  if ! err=$("$PYTHON" -c "import picamera2" 2>&1); then
    die "picamera2 does not import in $PYTHON ($(printf '%s' "$err" | tail -n 1)): sudo apt install python3-picamera2, and use Raspberry Pi OS's own python3"
  fi
}

install_venv() {
  # Each install gets its own venv; /opt/signd/venv is a symlink flipped atomically to the
  # new one only once it is complete (venvs are not relocatable, so no renaming of them).
  local new
  new=$PREFIX/venv-$(date +%Y%m%d%H%M%S)
  run mkdir -p "$PREFIX"
  # --system-site-packages: picamera2 and libcamera's Python bindings live in apt's Python.
  run "$PYTHON" -m venv --system-site-packages "$new"
  if ! { run "$new/bin/pip" install -q --upgrade pip && run "$new/bin/pip" install -q "$SRC" && run "$new/bin/signd" --version; }; then
    run rm -rf "$new"; die "installing signd into $new failed; the previous install is untouched"
  fi
  if on_pi && ! run "$new/bin/python" -c "import picamera2"; then
    run rm -rf "$new"; die "picamera2 does not import in the venv: sudo apt install python3-picamera2"
  fi
  if [ "$pose_models" = 1 ]; then
    local dir
    dir=$("$new/bin/python" -c 'import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_landmark"))')
    for m in pose_landmark_lite.tflite pose_landmark_heavy.tflite; do
      run curl -fsSL -o "$dir/$m.part" "https://storage.googleapis.com/mediapipe-assets/$m"
      run mv "$dir/$m.part" "$dir/$m"
    done
  fi
  run ln -sfn "$(basename "$new")" "$PREFIX/venv.tmp"
  run mv -T "$PREFIX/venv.tmp" "$VENV"
  for old in "$PREFIX"/venv-*; do
    [ "$old" = "$new" ] || run rm -rf "$old"
  done
}

install_files() {
  run mkdir -p "$ETC" "$UNITS" "$SYSUSERS" "$PREFIX/share/docs"
  run install -m 0644 "$SRC/deploy/sysusers.d/signd.conf" "$SYSUSERS/signd.conf"
  [ -z "$ROOT" ] && command -v systemd-sysusers >/dev/null && run systemd-sysusers "$SYSUSERS/signd.conf"
  # The example is refreshed on every run; the live config is never overwritten.
  run install -m 0644 "$SRC/deploy/signd.toml" "$ETC/signd.toml.example"
  if [ ! -e "$ETC/signd.toml" ]; then
    local uri="camera:0"
    on_pi && uri="picamera2"
    if [ "$DRY" = 1 ]; then echo "+ write $ETC/signd.toml (source $uri)"; else
      sed "s|^uri = \"camera:0\"|uri = \"$uri\"|" "$SRC/deploy/signd.toml" > "$ETC/signd.toml.tmp"
      chmod 0644 "$ETC/signd.toml.tmp" && mv "$ETC/signd.toml.tmp" "$ETC/signd.toml"
    fi
  fi
  run install -m 0644 "$SRC/deploy/signd.service" "$SRC/deploy/signd.socket" "$UNITS/"
  run cp "$SRC"/docs/*.md "$PREFIX/share/docs/" 2>/dev/null || true
}

enable_units() {
  run "$VENV/bin/signd" check-config "$ETC/signd.toml"
  if [ -z "$ROOT" ] && command -v systemctl >/dev/null; then
    run systemctl daemon-reload
    run systemctl enable signd.socket signd.service
    run systemctl restart signd.socket signd.service
    say "signd is running: systemctl status signd; journalctl -u signd -f; signd listen"
  fi
}

if [ "$mode" = uninstall ]; then uninstall; exit 0; fi
check "$@"
install_apt
check_picamera2
install_venv
install_files
enable_units
say "installed into $PREFIX (config $ETC/signd.toml)"
