#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of lvlm-probe and its tests (docs/hardening.md),
# in its own build directory, then ctest with options that turn any finding into a failure:
# ASan/LSan/UBSan abort the process (SIGABRT), so the test that ran it fails, and a CLI test whose
# child lvlm-probe hits a finding sees a signal instead of the exit code it expects.
#
#   scripts/ci/sanitize.sh                  # core, cli and torch tests (CI)
#   LVLM_SANITIZE_TORCH=0 scripts/ci/sanitize.sh   # without torch_tests (model, lens, probe)
#
# Environment (all optional):
#   LVLM_SANITIZE_BUILD_DIR  build directory           (default <repo>/build-asan)
#   LVLM_SANITIZE_TORCH      0: leave out torch_tests (default 1; they add a few files to a
#                            build that compiles the torch library for lvlm-probe anyway)
#   LVLM_JOBS                parallel build / test jobs (default 2)
#   LVLM_CTEST_ARGS          extra ctest arguments, e.g. "-R Hostile"
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LVLM_SANITIZE_BUILD_DIR:-$REPO/build-asan}
JOBS=${LVLM_JOBS:-2}
TORCH=${LVLM_SANITIZE_TORCH:-1}
log() { printf '\n\033[1m[sanitize %s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
start=$SECONDS

# -Og keeps the tests fast and the reports readable at 60 % of -O1's compile time (gcc 12, ASan:
# src/batch/run_dir.cc 50 -> 30 s); -g1 gives the line tables the sanitizer stack traces need,
# without full debug info for the libtorch headers.
mkdir -p "$BUILD"
log "configure $BUILD (-DLVLM_SANITIZE=ON, -Og -g1)"
cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-Og -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1" \
  -DLVLM_SANITIZE=ON -DLVLM_BUILD_TESTS=ON -DLVLM_FUZZ=OFF >"$BUILD/lvlm-configure.log" 2>&1 ||
  { cat "$BUILD/lvlm-configure.log" >&2; exit 1; }

targets=(core_tests cli_tests lvlm-probe)
labels='core|cli'
if [[ $TORCH == 1 ]]; then targets+=(torch_tests); labels='core|cli|torch'; fi
log "build ${targets[*]} (-j$JOBS)"
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
log "built in $((SECONDS - start)) s"

# Any finding aborts. Leak detection stays on (ASan's default on Linux); detect_odr_violation=0
# because libtorch's own shared libraries define some globals twice (not our code).
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:detect_odr_violation=0:print_summary=1"
export UBSAN_OPTIONS="abort_on_error=1:halt_on_error=1:print_stacktrace=1:report_error_type=1"
export LSAN_OPTIONS="print_suppressions=0"
log "ctest -L '$labels'"
# shellcheck disable=SC2086
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" -L "$labels" -LE opt-in ${LVLM_CTEST_ARGS:-}
log "sanitizer build and tests clean in $((SECONDS - start)) s"
