#!/usr/bin/env bash
# Which oneDNN kernels a run's products take (docs/performance.md, "bfloat16 and AMX"): runs
# `lvlm-probe ARGS` with oneDNN's verbose log on and counts the primitives it executed by kind and
# implementation. On a CPU with AMX, bfloat16 products show "matmul brg...avx512_core_amx..." (AMX
# tiles); "avx512_core_bf16" is AVX-512 BF16 without AMX; no matmul line at all means libtorch did
# not call oneDNN for them.
#
#   scripts/onednn-kernels.sh run --model DIR --image F --input-ids IDS --dtype bf16 --max-new-tokens 2 --out r.json
#
# The binary: $LVLM_PROBE, else lvlm-probe on PATH, else this clone's build/tools/lvlm-probe.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${LVLM_PROBE:-$(command -v lvlm-probe || echo "$REPO/build/tools/lvlm-probe")}
[[ -x $BIN ]] || { echo "onednn-kernels: no lvlm-probe binary (set LVLM_PROBE)" >&2; exit 2; }
[[ $# -gt 0 ]] || { echo "usage: $0 run|bench ARGS..." >&2; exit 2; }
# oneDNN 2.x reads DNNL_VERBOSE, 3.x ONEDNN_VERBOSE; both write to stdout, the answer too.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ONEDNN_VERBOSE=1 DNNL_VERBOSE=1 "$BIN" "$@" >"$log"
grep -m1 -E '^(onednn|dnnl)_verbose,.*oneDNN v' "$log" | sed 's/.*\(oneDNN v[^ ]*\).*/\1/' || true
grep -m1 -E '^(onednn|dnnl)_verbose,.*cpu,isa:' "$log" | sed 's/.*isa:/isa: /' || true
# v2: ...,exec,cpu,KIND,IMPL,...   v3: ...,primitive,exec,cpu,KIND,IMPL,...
grep -E '^(onednn|dnnl)_verbose,.*exec,cpu,' "$log" | sed 's/.*exec,cpu,\([^,]*\),\([^,]*\),.*/\1 \2/' | sort | uniq -c | sort -rn
