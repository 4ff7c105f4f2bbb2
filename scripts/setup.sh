#!/usr/bin/env bash
# One-command set-up for roadsight on Debian 12 (run by `make setup`).
#
# Idempotent and fast when nothing changed:
#   1. system packages: installs only the missing ones; `apt-get update` only
#      when something is missing and the package lists are absent or stale;
#   2. the virtualenv .venv with Python 3.11;
#   3. Python packages from the lock file, skipped entirely while the lock
#      file's hash matches the stamp in .venv (written after a good install).
#
# Environment:
#   ROADSIGHT_TRAIN=0       use requirements.lock (no torch/ultralytics) instead of requirements-train.lock
#   ROADSIGHT_SKIP_APT=1    do not touch system packages (e.g. no root)
#   VENV=path               virtualenv location (default .venv)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
if [[ "${ROADSIGHT_TRAIN:-1}" == "0" ]]; then LOCK=requirements.lock; else LOCK=requirements-train.lock; fi
STAMP="$VENV/.roadsight-installed"

APT_PACKAGES=(
  # GStreamer: decode/encode (x264enc is in -ugly, avdec in -libav) and the RTSP server of `sim serve`
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  # PyGObject and pycairo build from source against these
  libgirepository1.0-dev libcairo2-dev pkg-config gcc make
  # headless browser for dashboard tests
  chromium chromium-driver fonts-liberation
  # Haar cascades (faces) for blurring images shown to other roles: OpenCV 5 wheels ship none
  opencv-data
  # PostgreSQL + PostGIS: the production event store (the tests start a throw-away cluster)
  postgresql-15 postgresql-15-postgis-3
)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() {
  if [[ "$(id -u)" == "0" ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "[setup] need root for: $* (or set ROADSIGHT_SKIP_APT=1)" >&2; return 1
  fi
}

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

apt_lists_fresh() {
  # Fresh = some Packages list exists and is younger than a day.
  [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null)" ]]
}

install_system_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do is_installed "$pkg" || missing+=("$pkg"); done
  # Kafka needs Java 17+ and Maven fetches it; install only when absent.
  command -v java >/dev/null || missing+=(default-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  if ((${#missing[@]} == 0)); then log "system packages: all present"; return; fi
  log "system packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other jobs may hold the dpkg lock; wait for it instead of failing.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
  apt_lists_fresh || as_root "${apt[@]}" update
  as_root "${apt[@]}" install --no-install-recommends "${missing[@]}"
}

pick_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3 python3.11 /usr/bin/python3.11; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  echo "[setup] no Python 3.11 with venv found (tried \$PYTHON, python3, python3.11)" >&2
  return 1
}

make_venv() {
  if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    return
  fi
  local python; python="$(pick_python)"
  log "creating $VENV with $python"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
}

wanted_stamp() {
  # The lock file's hash plus that of pyproject's [project] table (dependencies,
  # scripts): editing tool settings such as [tool.pytest] must not trigger pip.
  local project
  project="$("$VENV/bin/python" -c 'import json, tomllib
print(json.dumps(tomllib.load(open("pyproject.toml", "rb"))["project"], sort_keys=True))' | sha256sum)"
  echo "$LOCK $(sha256sum <"$LOCK" | cut -d' ' -f1) ${project%% *}"
}

install_python_packages() {
  local want; want="$(wanted_stamp)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    log "python packages: $LOCK unchanged, skipping pip"
    return
  fi
  log "python packages: installing $LOCK (first run downloads a few GB with the train extra)"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LOCK"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  # Catches a lock file that lags behind pyproject.toml (run `make lock`).
  "$VENV/bin/python" -m pip check --disable-pip-version-check
  echo "$want" >"$STAMP"
}

# `setup.sh --check`: change nothing; exit 1 naming what `make setup` would still do.
check_only() {
  local problems=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do is_installed "$pkg" || problems+=("apt package $pkg missing"); done
  command -v java >/dev/null || problems+=("java missing")
  command -v mvn >/dev/null || problems+=("mvn missing")
  if [[ ! -x "$VENV/bin/python" ]]; then
    problems+=("$VENV missing")
  elif [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$(wanted_stamp)" ]]; then
    problems+=("$VENV not installed from the current $LOCK")
  fi
  if ((${#problems[@]})); then printf '[setup --check] %s\n' "${problems[@]}"; return 1; fi
  log "check: everything in place"
}

if [[ "${1:-}" == "--check" ]]; then check_only; exit; fi
started=$SECONDS
if [[ "${ROADSIGHT_SKIP_APT:-0}" != "1" ]]; then install_system_packages; fi
make_venv
install_python_packages
log "done in $((SECONDS - started)) s"
