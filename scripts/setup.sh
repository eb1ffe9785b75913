#!/usr/bin/env bash
# Installs lvlm-probe's dependencies from Debian 12's packages (only the missing ones, through
# sudo when not root), builds with CMake, and optionally runs the demo or the test suite.
#
#   scripts/setup.sh --demo     install, build, run `lvlm-probe demo`
#   scripts/setup.sh --test     install, build, run the test suite (ctest)
#   scripts/setup.sh            install and build only
#
# --torch picks the libtorch (README, "Set-up"; docs/performance.md has the figures):
#   --torch debian (default)  Debian's libtorch-dev 1.13: CPU only, ~0.5 GB, installs in a minute.
#   --torch pypi              the CUDA libtorch 2.x inside PyPI's `torch` wheel, in a virtualenv
#                             (~3 GB download; needs a CUDA toolkit >= 12.6 even for CPU use):
#                             GPUs, and faster CPU kernels. Built by scripts/ci/build-pypi-torch.sh
#                             --build-only, whose variables (LVLM_PYPI_TORCH, LVLM_PYPI_VENV, CUDACXX,
#                             ...) apply; the default build directory is then build-pypi-torch.
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default nproc),
# CMAKE_ARGS (extra configure arguments), LVLM_SKIP_APT=1 to skip the package step.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { echo "usage: $0 [--torch debian|pypi] [--demo|--test]" >&2; exit 2; }
mode=build
torch=debian
while [ $# -gt 0 ]; do
  case "$1" in
    --demo|demo|--test|test|build|--build) mode=$1 ;;
    --torch) [ $# -ge 2 ] || usage; torch=$2; shift ;;
    --torch=*) torch=${1#--torch=} ;;
    *) usage ;;
  esac
  shift
done
case "$torch" in
  debian) default_build=$here/build ;;
  pypi) default_build=$here/build-pypi-torch ;;
  *) usage ;;
esac
build_dir=${BUILD_DIR:-$default_build}
build_type=${BUILD_TYPE:-Release}
jobs=${JOBS:-$(nproc)}

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libcli11-dev nlohmann-json3-dev libstb-dev libspdlog-dev
  libgtest-dev libsentencepiece-dev libjpeg62-turbo-dev libpcre2-dev libutf8proc-dev
  chromium
  slurm-wlm munge
  wordnet-base
)
if [ "$torch" = debian ]; then
  packages+=(libtorch-dev libopenblas0-pthread)
else
  packages+=(python3 python3-venv)
fi

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
  if [ "$torch" = pypi ]; then
    LVLM_PYPI_BUILD_DIR=$build_dir LVLM_BUILD_TYPE=$build_type LVLM_CMAKE_ARGS=${CMAKE_ARGS:-} LVLM_JOBS=$jobs \
      LVLM_SKIP_APT=${LVLM_SKIP_APT:-0} "$here/scripts/ci/build-pypi-torch.sh" --build-only
    return
  fi
  log "configuring $build_dir ($build_type)"
  # shellcheck disable=SC2086
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" ${CMAKE_ARGS:-}
  log "building with $jobs jobs"
  cmake --build "$build_dir" -j "$jobs"
}

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
