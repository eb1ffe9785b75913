#!/usr/bin/env bash
# Stage-boundary regression gate for a model team's CI: probe a fixed set of inputs with the
# candidate model and compare each report with a stored baseline (`lvlm-probe check`). Fails
# when a critical or mutation layer moved by more than the tolerance or an output changed, and
# whenever a probe or a comparison could not be made: the gate passes only on a real comparison.
#
#   check-stages.sh --model DIR --inputs inputs.tsv --baselines DIR [--tolerance 1] [--update]
#                   [--binary lvlm-probe] [-- extra flags for `lvlm-probe run`]
#
# inputs.tsv: one probe per line, `name<TAB>image<TAB>prompt`; image paths are relative to the
# file's folder; lines starting with # are ignored. Baselines are <baselines>/<name>.json, so a
# name is a plain file name (letters, digits, ., _, -) given once.
# --update (re)writes the baselines from this model instead of checking: run it once on the
# model you trust and commit the files.
# The binary: --binary, else $LVLM_PROBE, else lvlm-probe on PATH, else this repository's
# build/tools/lvlm-probe.
# Exit: 0 all within tolerance, 1 regression, 2 usage (or no binary), 3 bad input, 4 runtime failure.
set -uo pipefail

fail() {  # fail CODE MESSAGE
  echo "check-stages: $2" >&2
  exit "$1"
}
# A failed probe or comparison keeps lvlm-probe's code when it is one of 2, 3, 4; anything else
# (a signal, a crash, 1 from a probe) becomes 4, never 0 and never a "regression".
failure_code() { case "$1" in 2|3|4) echo "$1" ;; *) echo 4 ;; esac; }

binary="" model="" inputs="" baselines="" tolerance=1 update=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model|--inputs|--baselines|--tolerance|--binary)
      [ $# -ge 2 ] || fail 2 "$1 needs a value"
      case "$1" in
        --model) model=$2 ;; --inputs) inputs=$2 ;; --baselines) baselines=$2 ;;
        --tolerance) tolerance=$2 ;; --binary) binary=$2 ;;
      esac
      shift 2 ;;
    --update) update=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) fail 2 "unknown argument '$1'" ;;
  esac
done
if [ -z "$model" ] || [ -z "$inputs" ] || [ -z "$baselines" ]; then
  echo "usage: $0 --model DIR --inputs FILE --baselines DIR [--tolerance N] [--update] [--binary FILE] [-- run flags]" >&2
  exit 2
fi

find_binary() {
  local built
  built="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/tools/lvlm-probe"
  if [ -n "$binary" ]; then
    [ -x "$binary" ] || command -v "$binary" >/dev/null || fail 2 "--binary $binary: not an executable file"
  elif [ -n "${LVLM_PROBE:-}" ]; then
    [ -x "$LVLM_PROBE" ] || fail 2 "LVLM_PROBE=$LVLM_PROBE: not an executable file"
    binary=$LVLM_PROBE
  elif command -v lvlm-probe >/dev/null; then
    binary=lvlm-probe
  elif [ -x "$built" ]; then
    binary=$built
  else
    fail 2 "cannot find lvlm-probe: not on PATH, not built at $built (build it, install it with 'cmake --install build --prefix ~/.local', or give --binary FILE or LVLM_PROBE=FILE)"
  fi
}
find_binary

[ -f "$inputs" ] || fail 3 "$inputs: no such file"
mkdir -p "$baselines" || fail 4 "$baselines: cannot create the baselines directory"
work=$(mktemp -d) || fail 4 "cannot create a temp directory"
trap 'rm -rf "$work"' EXIT
base_dir=$(cd "$(dirname "$inputs")" && pwd) || fail 3 "$inputs: cannot enter its directory"

# Names first, before any probe runs: a name is a baseline's file name, so two probes of one name
# would share (and overwrite) one baseline.
line=0
declare -A seen=()
while IFS=$'\t' read -r name _ || [ -n "$name" ]; do
  line=$((line + 1))
  case "$name" in ''|'#'*) continue ;; esac
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ && "$name" != . && "$name" != .. ]] ||
    fail 3 "$inputs:$line: name '$name' is not a plain file name (letters, digits, '.', '_', '-')"
  [ -z "${seen[$name]:-}" ] || fail 3 "$inputs:$line: name '$name' repeats line ${seen[$name]}"
  seen[$name]=$line
done < "$inputs"

count=0 regressions=0
while IFS=$'\t' read -r name image prompt || [ -n "$name" ]; do
  case "$name" in ''|'#'*) continue ;; esac
  count=$((count + 1))
  case "$image" in /*) ;; *) image="$base_dir/$image" ;; esac
  candidate="$work/$name.json" baseline="$baselines/$name.json"
  "$binary" run --model "$model" --image "$image" --prompt "$prompt" --out "$candidate" "${extra[@]}" >/dev/null
  rc=$?
  [ "$rc" = 0 ] || fail "$(failure_code "$rc")" "probing '$name' failed (exit $rc)"
  [ -s "$candidate" ] || fail 4 "probing '$name' wrote no report ($binary run exited 0)"
  if [ "$update" = 1 ]; then
    # Through a temp name in the same directory, so an interrupted update never leaves half a baseline.
    cp "$candidate" "$baseline.tmp.$$" && mv -f "$baseline.tmp.$$" "$baseline" ||
      { rm -f "$baseline.tmp.$$"; fail 4 "$baseline: cannot write the baseline"; }
    echo "updated $baseline"
    continue
  fi
  [ -f "$baseline" ] || fail 3 "$baseline: no baseline for '$name' (make it with --update on the model you trust)"
  "$binary" check --baseline "$baseline" --candidate "$candidate" --tolerance "$tolerance"
  rc=$?
  if [ "$rc" = 1 ]; then
    regressions=$((regressions + 1))
    echo "^ $name" >&2
  elif [ "$rc" != 0 ]; then
    fail "$(failure_code "$rc")" "comparing '$name' with $baseline failed (exit $rc)"
  fi
done < "$inputs"

[ "$count" -gt 0 ] || fail 3 "$inputs lists no inputs"
if [ "$update" = 1 ]; then
  echo "check-stages: $count baselines written to $baselines"
elif [ "$regressions" -gt 0 ]; then
  fail 1 "$regressions of $count probes regressed"
else
  echo "check-stages: $count probes within tolerance $tolerance"
fi
