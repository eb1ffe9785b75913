#!/usr/bin/env bash
# The stage gate's failure paths: every probe or comparison that cannot be made fails the gate
# (never exit 0, never 1 "regression"), --update that writes no baseline fails, a binary that
# cannot be found is named; a moved boundary is exit 1 and an intact one exit 0.
#   check_stages_test.sh LVLM_PROBE_BINARY SOURCE_DIR
set -uo pipefail
binary=$1 src=$2
gate="$src/scripts/ci/check-stages.sh"
model="$src/tests/data/tiny-llava"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

printf 'test-png\t%s\tWhat is shown in this image?\n' "$model/test.png" > "$work/inputs.tsv"
: > "$work/empty.tsv"
printf '#!/bin/sh\nkill -ABRT $$\n' > "$work/abort.sh" && chmod +x "$work/abort.sh"

# expect NAME CODE MESSAGE_FRAGMENT -- command...: the exit code and a fragment of stderr.
expect() {
  local name=$1 code=$2 fragment=$3
  shift 4
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" != "$code" ] || ! grep -qF -- "$fragment" "$work/err"; then
    echo "FAIL $name: exit $rc (expected $code), stderr:" >&2
    sed 's/^/    /' "$work/err" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
gate_with() { "$gate" --inputs "$work/inputs.tsv" "$@" -- --max-new-tokens 2; }

expect "missing model" 3 "probing 'test-png' failed (exit 3)" -- \
  gate_with --binary "$binary" --model "$work/no-model" --baselines "$work/b0"
expect "update with a missing model" 3 "probing 'test-png' failed" -- \
  gate_with --binary "$binary" --model "$work/no-model" --baselines "$work/b0" --update
expect "binary that writes no report" 4 "wrote no report" -- \
  gate_with --binary /bin/true --model "$model" --baselines "$work/b0" --update
expect "binary that crashes" 4 "probing 'test-png' failed (exit 134)" -- \
  gate_with --binary "$work/abort.sh" --model "$model" --baselines "$work/b0"
expect "LVLM_PROBE not executable" 2 "LVLM_PROBE=$work/nothing: not an executable file" -- \
  env LVLM_PROBE="$work/nothing" "$gate" --model "$model" --inputs "$work/inputs.tsv" --baselines "$work/b0"
expect "option without its value" 2 "--model needs a value" -- "$gate" --inputs "$work/inputs.tsv" --model
expect "no inputs" 3 "lists no inputs" -- \
  "$gate" --binary "$binary" --model "$model" --inputs "$work/empty.tsv" --baselines "$work/b0" --update
expect "baselines directory cannot be made" 4 "cannot create the baselines directory" -- \
  gate_with --binary "$binary" --model "$model" --baselines "$work/inputs.tsv/b" --update
printf 'same\t%s\tA?\nother\t%s\tB?\nsame\t%s\tC?\n' "$model/test.png" "$model/test.png" "$model/test.png" > "$work/twice.tsv"
expect "a name given twice" 3 "twice.tsv:3: name 'same' repeats line 1" -- \
  "$gate" --binary "$binary" --model "$model" --inputs "$work/twice.tsv" --baselines "$work/b2" --update
[ ! -e "$work/b2/same.json" ] || { echo "FAIL a refused input list still wrote baselines" >&2; failures=$((failures + 1)); }
printf '../up\t%s\tA?\n' "$model/test.png" > "$work/path.tsv"
expect "a name that is a path" 3 "name '../up' is not a plain file name" -- \
  "$gate" --binary "$binary" --model "$model" --inputs "$work/path.tsv" --baselines "$work/b2" --update
expect "missing baseline" 3 "no baseline for 'test-png'" -- \
  gate_with --binary "$binary" --model "$model" --baselines "$work/b0"

# Typed as in the README with lvlm-probe nowhere to be found: a copy of the gate outside the
# repository (no build/tools/lvlm-probe beside it), a PATH without it, no LVLM_PROBE.
mkdir -p "$work/copy/scripts/ci" && cp "$gate" "$work/copy/scripts/ci/"
expect "binary not found" 2 "cannot find lvlm-probe" -- \
  env -u LVLM_PROBE PATH=/usr/bin:/bin "$work/copy/scripts/ci/check-stages.sh" \
  --model "$model" --inputs "$work/inputs.tsv" --baselines "$work/b0"

# The working paths: baselines written, compared intact (0), and with a boundary moved (1).
expect "update writes the baselines" 0 "" -- gate_with --binary "$binary" --model "$model" --baselines "$work/b1" --update
[ -s "$work/b1/test-png.json" ] || { echo "FAIL update left no baseline" >&2; failures=$((failures + 1)); }
expect "unchanged model passes" 0 "" -- gate_with --binary "$binary" --model "$model" --baselines "$work/b1"
# The top-level "stages" object's critical layer moved by 2 layers (tolerance 1); where the probe
# found none (the tiny random model has no knee), the baseline claims layer 2 with full confidence,
# which the candidate's undetermined layer contradicts.
awk '/^  "stages": \{/ { inside = 1 }
     inside && /^  \}/ { inside = 0 }
     inside && match($0, /"critical_layer": [0-9]+/) {
       c = substr($0, RSTART + 18, RLENGTH - 18) + 0
       sub(/"critical_layer": [0-9]+/, "\"critical_layer\": " (c <= 2 ? c + 2 : c - 2))
     }
     inside { sub(/"critical_layer": null/, "\"critical_layer\": 2")
              sub(/"critical_confidence": [0-9.e+-]+/, "\"critical_confidence\": 1.0") }
     { print }' "$work/b1/test-png.json" > "$work/moved.json" && mv "$work/moved.json" "$work/b1/test-png.json"
grep -q '"critical_layer": [0-9]' "$work/b1/test-png.json" || { echo "FAIL the baseline was not moved" >&2; failures=$((failures + 1)); }
expect "moved boundary is a regression" 1 "1 of 1 probes regressed" -- \
  gate_with --binary "$binary" --model "$model" --baselines "$work/b1"

[ "$failures" = 0 ] || { echo "$failures check-stages case(s) failed" >&2; exit 1; }
echo "all check-stages cases passed"
