#!/usr/bin/env bash
# Installs lvlm-probe's dependencies from Debian 12's packages (only the missing ones, through
# sudo when not root), builds with CMake, and optionally runs the demo or the test suite.
#
#   scripts/setup.sh --demo     install, build, run `lvlm-probe demo`
#   scripts/setup.sh --test     install, build, run the test suite (ctest)
#   scripts/setup.sh            install and build only
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default nproc),
# CMAKE_ARGS (extra configure arguments), LVLM_SKIP_APT=1 to skip the package step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}
build_type=${BUILD_TYPE:-Release}
jobs=${JOBS:-$(nproc)}
mode=${1:-build}

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread libcli11-dev nlohmann-json3-dev libstb-dev libspdlog-dev
  libgtest-dev libsentencepiece-dev libjpeg62-turbo-dev
  chromium
  slurm-wlm munge
)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "all ${#packages[@]} Debian packages present"
    return
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  log "configuring $build_dir ($build_type)"
  # shellcheck disable=SC2086
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" ${CMAKE_ARGS:-}
  log "building with $jobs jobs"
  cmake --build "$build_dir" -j "$jobs"
}

case "$mode" in
  --demo|demo|--test|test|build|--build) ;;
  *) echo "usage: $0 [--demo|--test]" >&2; exit 2 ;;
esac
[ "${LVLM_SKIP_APT:-0}" = 1 ] || install_packages
build
case "$mode" in
  --demo|demo)
    log "running lvlm-probe demo"
    (cd "$here" && "$build_dir/tools/lvlm-probe" demo --html demo-report.html)
    ;;
  --test|test)
    log "running the tests"
    ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -LE "${CTEST_EXCLUDE_LABELS:-opt-in}"
    ;;
esac
