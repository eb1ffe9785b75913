#!/usr/bin/env bash
# The torch tests again under oneDNN instruction-set caps, so that CI sees more than the one CPU
# kind it runs on: ONEDNN_MAX_CPU_ISA=AVX512_CORE makes oneDNN use the kernels of an AVX-512 CPU
# without AVX512-BF16 and AMX (as an older Intel or an AMD Zen 4 without them), AVX512_CORE_BF16
# those of a CPU without AMX; the plain ctest run covers ALL. The bf16 model test must pass under
# each (docs/hardening.md, "The test suite on any CPU and under any load"). A cap above what the CPU
# has changes nothing. (An AVX2 cap is no stand-in for an AVX2 CPU: libtorch still sends bfloat16
# products to oneDNN, which then refuses them.)
#
#   scripts/ci/isa-caps.sh [BUILD_DIR]        # default <repo>/build
#
# Environment (all optional):
#   LVLM_ISA_CAPS   caps to run under     (default "AVX512_CORE AVX512_CORE_BF16")
#   LVLM_JOBS       parallel test jobs    (default 2)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-$REPO/build}
JOBS=${LVLM_JOBS:-2}
# A cap runs only where the CPU has instructions above it (else it is the plain run again): these
# are the /proc/cpuinfo flags of the oneDNN levels above each known cap.
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
above() {
  case $1 in
    AVX512_CORE) echo "avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16" ;;
    AVX512_CORE_BF16) echo "avx512_fp16 amx_tile amx_bf16" ;;
    *) echo "*" ;;  # a cap not listed here always runs
  esac
}
for cap in ${LVLM_ISA_CAPS:-AVX512_CORE AVX512_CORE_BF16}; do
  higher=$(above "$cap")
  if [[ $higher != "*" ]]; then
    has=0
    for f in $higher; do [[ $flags == *" $f "* ]] && has=1; done
    if (( ! has )); then
      printf '\n[isa-caps] skipping %s: this CPU has none of %s, so the plain test run already used no more\n' \
        "$cap" "$higher" >&2
      continue
    fi
  fi
  printf '\n\033[1m[isa-caps %s] ONEDNN_MAX_CPU_ISA=%s ctest -L torch in %s\033[0m\n' "$(date +%H:%M:%S)" "$cap" "$BUILD" >&2
  ONEDNN_MAX_CPU_ISA=$cap ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" -L torch -LE opt-in
done
