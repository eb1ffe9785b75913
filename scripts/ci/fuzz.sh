#!/usr/bin/env bash
# libFuzzer targets over the torch-free parsers (docs/hardening.md): builds them with clang (ASan + UBSan +
# libFuzzer, see tests/fuzz/CMakeLists.txt) and runs each for a bounded time on a scratch copy
# of its seed corpus (tests/fuzz/corpus/<name>/, never modified). Any crash, leak, timeout,
# out-of-memory or sanitizer finding fails the script; the input that caused it is kept in
# <build>/fuzz-artifacts/ and printed as a reproduction command.
#
#   scripts/ci/fuzz.sh                         # every target, LVLM_FUZZ_SECONDS each
#   scripts/ci/fuzz.sh config report           # only these targets
#
# Environment (all optional):
#   LVLM_FUZZ_SECONDS    seconds per target               (default 45)
#   LVLM_FUZZ_BUILD_DIR  build directory                  (default <repo>/build-fuzz)
#   LVLM_FUZZ_CC/CXX     compilers                        (default clang-14 / clang++-14, else clang / clang++)
#   LVLM_JOBS            parallel build jobs              (default 2)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LVLM_FUZZ_BUILD_DIR:-$REPO/build-fuzz}
SECONDS_EACH=${LVLM_FUZZ_SECONDS:-45}
JOBS=${LVLM_JOBS:-2}
log() { printf '\n\033[1m[fuzz %s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\n\033[1;31m[fuzz] FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
start=$SECONDS

pick() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 && { echo "$c"; return; }; done; }
CC_=${LVLM_FUZZ_CC:-$(pick clang-14 clang)}
CXX_=${LVLM_FUZZ_CXX:-$(pick clang++-14 clang++)}
[[ -n $CC_ && -n $CXX_ ]] || die "clang not found (apt-get install clang-14)"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(safetensors_header config report image sentencepiece bpe_tokenizer)

mkdir -p "$BUILD"
log "configure $BUILD with $CXX_ (-DLVLM_FUZZ=ON)"
# -O0 -g1: half the compile time of -O1 (clang 14 with ASan and coverage: src/batch/run_dir.cc 40 ->
# 21 s; the whole fuzz build 400 -> 267 s on a slow 2-core machine), line numbers kept for a
# crash's stack. The price is about a sixth of -O1's executions per second in the bounded runs.
CC=$CC_ CXX=$CXX_ cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1" \
  -DLVLM_FUZZ=ON -DLVLM_BUILD_TESTS=OFF -DLVLM_SANITIZE=OFF >"$BUILD/lvlm-configure.log" 2>&1 ||
  { cat "$BUILD/lvlm-configure.log" >&2; die "configure"; }
# A build dir configured earlier with another compiler keeps it: say so instead of mixing.
grep -q "CMAKE_CXX_COMPILER:FILEPATH=.*clang" "$BUILD/CMakeCache.txt" ||
  die "$BUILD was configured with a non-clang compiler; remove it or set LVLM_FUZZ_BUILD_DIR"
log "build fuzzers (-j$JOBS)"
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
artifacts=$BUILD/fuzz-artifacts
mkdir -p "$artifacts"
summary=()
for t in "${targets[@]}"; do
  seeds=$REPO/tests/fuzz/corpus/$t
  [[ -d $seeds ]] || die "no seed corpus $seeds"
  work=$BUILD/fuzz-corpus/$t
  rm -rf "$work" && mkdir -p "$work" && cp "$seeds"/* "$work"/
  args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$artifacts/$t-")
  case $t in config|report|safetensors_header) args+=(-dict="$REPO/tests/fuzz/json.dict") ;; esac
  log "fuzz_$t for ${SECONDS_EACH}s on $(ls "$work" | wc -l) seeds"
  out=$BUILD/fuzz-$t.log
  if ! "$BUILD/tests/fuzz/fuzz_$t" "${args[@]}" "$work" >"$out" 2>&1; then
    tail -n 60 "$out" >&2
    crash=$(grep -o "Test unit written to .*" "$out" | tail -n 1 | sed 's/Test unit written to //')
    die "fuzz_$t found a problem (log $out)${crash:+; reproduce: $BUILD/tests/fuzz/fuzz_$t $crash}"
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -n 1 | grep -o '[0-9]*' || echo '?')
  corpus=$(ls "$work" | wc -l)
  summary+=("$(printf '%-20s %10s execs  cov %5s  corpus %4s' "fuzz_$t" "$execs" "$cov" "$corpus")")
done
log "all targets clean in $((SECONDS - start)) s"
printf '%s\n' "${summary[@]}"
