#!/usr/bin/env bash
# Build lvlm-probe against the CUDA libtorch 2.x inside PyPI's `torch` wheel and run the test
# suite with it on the CPU (a CUDA libtorch runs CPU tensors without a GPU or a driver).
# CI (.ci/run) calls this after the main Debian build; users with a GPU can run it as it is.
#
#   scripts/ci/build-pypi-torch.sh               # venv (reused when up to date), configure, build, ctest
#   scripts/ci/build-pypi-torch.sh --build-only  # the same without ctest (scripts/setup.sh --torch pypi)
#   scripts/ci/build-pypi-torch.sh --venv-only   # only the venv: CI downloads it during another build
#
# Environment (all optional):
#   LVLM_PYPI_TORCH      pip requirement for torch        (default torch==2.14.1, see below)
#   LVLM_PYPI_VENV       virtualenv holding the wheel     (default ~/.cache/lvlm-probe/pypi-torch)
#   LVLM_PYPI_BUILD_DIR  CMake build directory            (default <repo>/build-pypi-torch)
#   LVLM_PYTHON          interpreter for the venv         (default python3, >= 3.10)
#   CUDACXX              nvcc of the CUDA toolkit         (default: nvcc on PATH, else /usr/local/cuda)
#   TORCH_CUDA_ARCH_LIST passed to Torch's CMake config   (default "8.0;9.0"; only .cu files use it)
#   LVLM_JOBS            parallel build / test jobs       (default nproc)
#   LVLM_CTEST_ARGS      extra ctest arguments, e.g. "-L torch"
#   LVLM_PYPI_TARGETS    build only these targets, e.g. "torch_tests" (default: all)
#   LVLM_SKIP_CTEST=1    build and check the libraries, run no tests (the caller runs them)
#   LVLM_BUILD_TYPE      CMAKE_BUILD_TYPE                 (default Release)
#   LVLM_CMAKE_ARGS      extra configure arguments, split on spaces
#   LVLM_SKIP_APT=1      never apt-get python3-venv (installed only when python3 lacks venv)
#
# Why torch==2.14.1: the newest release whose CUDA (13.0, cu130) is the CUDA toolkit installed on
# the CI machine (13.0), so CMake's CUDAToolkit, nvcc and the nvidia-* runtime wheels agree.
# torch 2.15.0 (cu132) was also built and tested here with the 13.0 toolkit: LVLM_PYPI_TORCH=torch==2.15.0.
# torch >= 2.14 needs C++20 (cmake/Dependencies.cmake switches the standard).
#
# Why the full `pip install torch` (with its nvidia-* wheels, ~3.0 GB download, ~5.4 GB on disk)
# and not `--no-deps` plus the system toolkit: libtorch_cuda.so needs libcusparseLt, libcufile,
# libnvshmem (not in the CUDA toolkit) and a newer libnccl than the toolkit's; linking fails
# without them. It is also exactly what a user with a GPU installs.
set -euo pipefail

VENV_ONLY=0
case "${1:-}" in
  --build-only) RUN_TESTS=0 ;;
  --venv-only) VENV_ONLY=1 ;;
  "") RUN_TESTS=1 ;;
  *) echo "usage: $0 [--build-only | --venv-only]" >&2; exit 2 ;;
esac

log()  { printf '\n\033[1m[pypi-torch %s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '\n\033[1;31m[pypi-torch] FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
STEP="start"
# shellcheck disable=SC2154  # rc is assigned inside the trap string
trap 'rc=$?; printf "\n\033[1;31m[pypi-torch] FAILED (exit %s) during: %s\033[0m\n" "$rc" "$STEP" >&2; exit $rc' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TORCH_REQ=${LVLM_PYPI_TORCH:-torch==2.14.1}
VENV=${LVLM_PYPI_VENV:-$HOME/.cache/lvlm-probe/pypi-torch}
BUILD=${LVLM_PYPI_BUILD_DIR:-$REPO/build-pypi-torch}
PY=${LVLM_PYTHON:-python3}
JOBS=${LVLM_JOBS:-$(nproc)}
ARCH=${TORCH_CUDA_ARCH_LIST:-8.0;9.0}
T0=$SECONDS

# ---- 1. tools -------------------------------------------------------------------------------
STEP="checking tools"
log "checking tools"
if [[ $VENV_ONLY == 0 ]]; then
  command -v cmake >/dev/null || die "cmake not found (run scripts/setup.sh first)"
  NVCC=${CUDACXX:-$(command -v nvcc || true)}
  [[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
  [[ -n $NVCC && -x $NVCC ]] || die "nvcc not found: install the CUDA toolkit (>= 12.6) or set CUDACXX.
  Torch's CMake config calls enable_language(CUDA) and find_package(CUDAToolkit), even for CPU use."
  NVCC=$(readlink -f "$NVCC")
  CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
  CUDA_VER=$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  echo "nvcc $CUDA_VER at $NVCC (toolkit $CUDA_ROOT)" >&2
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
fi

if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  # A fresh Debian 12 may lack python3 or its venv module (python3-venv); nothing else is needed.
  [[ -z ${LVLM_PYTHON:-} ]] || die "$PY is missing or has no working venv module"
  [[ ${LVLM_SKIP_APT:-0} == 1 ]] && die "$PY has no working venv module: apt-get install python3-venv"
  STEP="installing python3-venv"
  log "installing python3 and python3-venv from Debian"
  SUDO=(); [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv
  "$PY" -c 'import venv, ensurepip' || die "$PY still has no working venv module"
fi

# ---- 2. venv with torch (skipped when the stamp says it is already there) -------------------
STEP="installing $TORCH_REQ into $VENV"
STAMP=$VENV/.lvlm-torch-req
if [[ -x $VENV/bin/python && -f $STAMP && $(cat "$STAMP") == "$TORCH_REQ" ]] \
   && "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("torch")' >/dev/null 2>&1; then
  log "reusing $VENV ($TORCH_REQ already installed)"
else
  log "creating $VENV and installing $TORCH_REQ from PyPI (~3 GB download, ~5.5 GB on disk)"
  mkdir -p "$(dirname "$VENV")"
  avail_kb=$(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print $4}')
  (( avail_kb > 7 * 1024 * 1024 )) || die "less than 7 GiB free under $(dirname "$VENV") ($((avail_kb / 1024)) MiB)"
  if [[ -e $VENV ]]; then   # only ever delete a virtualenv (or an empty directory)
    [[ -f $VENV/pyvenv.cfg || -z $(ls -A "$VENV") ]] || die "$VENV exists and is not a virtualenv; refusing to delete it"
    rm -rf "$VENV"
  fi
  "$PY" -m venv "$VENV"
  t=$SECONDS
  # --no-cache-dir: the venv is the cache; pip's wheel cache would double the disk use.
  "$VENV/bin/python" -m pip install --no-cache-dir --progress-bar off --only-binary=:all: "$TORCH_REQ"
  echo "pip install took $((SECONDS - t)) s" >&2
  printf '%s' "$TORCH_REQ" > "$STAMP"
fi

[[ $VENV_ONLY == 1 ]] && { log "venv ready in $((SECONDS - T0)) s"; exit 0; }

STEP="locating libtorch"
read -r TORCH_VER TORCH_CUDA TORCH_CMAKE < <("$VENV/bin/python" -W ignore -c \
  'import torch; print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path)' 2>/dev/null) \
  || die "cannot import torch from $VENV (delete it and rerun)"
TORCH_DIR=$(dirname "$(dirname "$TORCH_CMAKE")")   # site-packages/torch
[[ -f $TORCH_CMAKE/Torch/TorchConfig.cmake ]] || die "no TorchConfig.cmake under $TORCH_CMAKE"
echo "torch $TORCH_VER (CUDA $TORCH_CUDA) at $TORCH_DIR" >&2
[[ ${TORCH_CUDA%%.*} == "${CUDA_VER%%.*}" ]] \
  || echo "WARNING: torch was built with CUDA $TORCH_CUDA but the toolkit is $CUDA_VER" >&2

# ---- 3. configure ---------------------------------------------------------------------------
STEP="configuring $BUILD"
log "configuring $BUILD"
if [[ -f $BUILD/CMakeCache.txt ]] && ! grep -qxF "Torch_DIR:PATH=$TORCH_CMAKE/Torch" "$BUILD/CMakeCache.txt"; then
  echo "the cache in $BUILD was made with another libtorch: starting it afresh" >&2
  rm -f "$BUILD/CMakeCache.txt"
fi
t=$SECONDS
# CMAKE_PREFIX_PATH holds torch.utils.cmake_prefix_path (to find TorchConfig.cmake) and the torch
# directory itself (so find_library(c10) in TorchConfig.cmake looks in torch/lib first).
# TORCH_CUDA_ARCH_LIST skips Torch's GPU probe; CMAKE_CUDA_COMPILER/CUDAToolkit_ROOT/
# CUDA_TOOLKIT_ROOT_DIR pin the toolkit. cuDNN/cuSPARSELt are not looked up by 2.14's config.
# shellcheck disable=SC2086  # LVLM_CMAKE_ARGS is split on purpose
cmake -S "$REPO" -B "$BUILD" "${GEN[@]}" \
  -DCMAKE_BUILD_TYPE="${LVLM_BUILD_TYPE:-Release}" ${LVLM_CMAKE_ARGS:-} \
  "-DCMAKE_PREFIX_PATH=$TORCH_CMAKE;$TORCH_DIR" \
  -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCUDAToolkit_ROOT="$CUDA_ROOT" \
  -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" \
  "-DTORCH_CUDA_ARCH_LIST=$ARCH" \
  -DLVLM_BUILD_TESTS=ON
grep -qxF "Torch_DIR:PATH=$TORCH_CMAKE/Torch" "$BUILD/CMakeCache.txt" \
  || die "CMake did not pick the wheel's libtorch (see Torch_DIR in $BUILD/CMakeCache.txt)"
echo "configure took $((SECONDS - t)) s" >&2

# ---- 4. build -------------------------------------------------------------------------------
STEP="building $BUILD"
log "building with $JOBS jobs"
t=$SECONDS
# shellcheck disable=SC2086  # LVLM_PYPI_TARGETS is split on purpose
cmake --build "$BUILD" --parallel "$JOBS" ${LVLM_PYPI_TARGETS:+--target $LVLM_PYPI_TARGETS}
echo "build took $((SECONDS - t)) s" >&2

# Every torch library a test binary or lvlm-probe-torch loads must come from the wheel, never
# from libtorch-dev.
STEP="checking the libraries the tests load"
log "checking which libtorch the test binaries load"
TORCH_LIB_REAL=$(realpath "$TORCH_DIR/lib")
found=0
while IFS= read -r -d '' exe; do
  found=1
  deps=$(ldd "$exe") || die "ldd $exe failed"
  missing=$(grep 'not found' <<<"$deps" || true)
  [[ -z $missing ]] || die "$exe has unresolved libraries:
$missing"
  n=0
  while read -r lib _ path _; do
    [[ $(dirname "$(realpath "$path")") == "$TORCH_LIB_REAL" ]] || die "$exe loads $lib from $path, not from the wheel"
    n=$((n + 1))
  done < <(grep -E '^\s*lib(torch[a-z_]*|c10[a-z_]*)\.so' <<<"$deps" || true)
  echo "ok: $(realpath --relative-to="$BUILD" "$exe"): $n libtorch/c10 libraries, all from $TORCH_LIB_REAL" >&2
done < <(find "$BUILD" -path "$BUILD/CMakeFiles" -prune -o -type f -perm -u+x \( -name '*_tests' -o -name lvlm-probe-torch \) -print0)
(( found )) || echo "WARNING: no *_tests executables found in $BUILD" >&2

# ---- 5. test --------------------------------------------------------------------------------
if (( ! RUN_TESTS )) || [[ ${LVLM_SKIP_CTEST:-0} == 1 ]]; then
  log "OK: built against torch $TORCH_VER (CUDA $TORCH_CUDA) in $((SECONDS - T0)) s: $BUILD/tools/lvlm-probe; tests left to the caller"
  exit 0
fi
STEP="running ctest in $BUILD"
log "running ctest"
t=$SECONDS
# shellcheck disable=SC2086  # LVLM_CTEST_ARGS is split on purpose
ctest --test-dir "$BUILD" --output-on-failure --parallel "$JOBS" ${LVLM_CTEST_ARGS:-}
echo "ctest took $((SECONDS - t)) s" >&2

log "OK: lvlm-probe built and tested against torch $TORCH_VER (CUDA $TORCH_CUDA) in $((SECONDS - T0)) s"
