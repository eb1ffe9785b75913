#!/usr/bin/env bash
# Times lvlm-probe's JSON readers on a model directory with N members where real ones have a few
# hundred: config.json with N extra sibling objects, a safetensors header with N extra (empty)
# tensors, and a shard index mapping all of them. Parsing is linear: a million of each takes about
# a second on one core (docs/hardening.md). A benchmark to run by hand, not a test.
#   scripts/bench-json.sh [N] [path/to/lvlm-probe]      (defaults: 1000000, build/tools/lvlm-probe)
set -euo pipefail
n=${1:-1000000}
bin=${2:-build/tools/lvlm-probe}
here=$(cd "$(dirname "$0")/.." && pwd)
fixture="$here/tests/data/tiny-llava"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/model"
cp "$fixture"/{preprocessor_config.json,generation_config.json} "$tmp/model/"

# config.json: the fixture's members plus "x0".."x{n-1}": {"value": i}
{ sed 's/}[[:space:]]*$//' "$fixture/config.json" | tr -d '\n'
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf ",\"x%d\":{\"value\":%d}", i, i; print "}" }'
} > "$tmp/model/config.json"

# model.safetensors: the fixture's header plus n empty tensors, then the fixture's data.
le64() { for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $(( ($1 >> (8 * i)) & 255 )))"; done; }
src="$fixture/model.safetensors"
hlen=$(od -An -t u8 -N 8 "$src" | tr -d ' ')
dd if="$src" bs=1 skip=8 count="$hlen" status=none | sed 's/}[[:space:]]*$//' > "$tmp/header"
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf ",\"pad.%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", i; printf "}" }' >> "$tmp/header"
{ le64 "$(stat -c %s "$tmp/header")"; cat "$tmp/header"; tail -c +$((hlen + 9)) "$src"; } > "$tmp/model/model.safetensors"

# model.safetensors.index.json: every tensor name -> model.safetensors
{ printf '{"metadata":{},"weight_map":{'
  grep -o '"[^"]*":{"dtype"' "$tmp/header" | sed 's/:{"dtype"$//' | awk '{ printf "%s%s:\"model.safetensors\"", (NR > 1 ? "," : ""), $0 }'
  printf '}}'
} > "$tmp/model/model.safetensors.index.json"

ls -l "$tmp/model" | awk 'NR > 1 { printf "  %-32s %12d bytes\n", $9, $5 }'
echo "lvlm-probe inspect on $n extra config members, tensors and index entries:"
time "$bin" inspect --model "$tmp/model" > /dev/null
