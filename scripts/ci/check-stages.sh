#!/usr/bin/env bash
# Stage-boundary regression gate for a model team's CI: probe a fixed set of inputs with the
# candidate model and compare each report with a stored baseline (`lvlm-probe check`). Fails
# when a critical or mutation layer moved by more than the tolerance or an output changed.
#
#   check-stages.sh --model DIR --inputs inputs.tsv --baselines DIR [--tolerance 1] [--update]
#                   [--binary lvlm-probe] [-- extra flags for `lvlm-probe run`]
#
# inputs.tsv: one probe per line, `name<TAB>image<TAB>prompt`; image paths are relative to the
# file's folder; lines starting with # are ignored. Baselines are <baselines>/<name>.json.
# --update (re)writes the baselines from this model instead of checking: run it once on the
# model you trust and commit the files.
# Exit: 0 all within tolerance, 1 regression, 2 usage, 3 bad input, 4 runtime failure.
set -uo pipefail

binary=lvlm-probe model="" inputs="" baselines="" tolerance=1 update=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --inputs) inputs=$2; shift 2 ;;
    --baselines) baselines=$2; shift 2 ;;
    --tolerance) tolerance=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --update) update=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "check-stages: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$model" ] || [ -z "$inputs" ] || [ -z "$baselines" ]; then
  echo "usage: $0 --model DIR --inputs FILE --baselines DIR [--tolerance N] [--update] [-- run flags]" >&2
  exit 2
fi
[ -f "$inputs" ] || { echo "check-stages: $inputs: no such file" >&2; exit 3; }
mkdir -p "$baselines"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base_dir=$(cd "$(dirname "$inputs")" && pwd)

status=0 count=0 regressions=0
while IFS=$'\t' read -r name image prompt || [ -n "$name" ]; do
  case "$name" in ''|'#'*) continue ;; esac
  count=$((count + 1))
  case "$image" in /*) ;; *) image="$base_dir/$image" ;; esac
  candidate="$work/$name.json"
  if ! "$binary" run --model "$model" --image "$image" --prompt "$prompt" --out "$candidate" "${extra[@]}" >/dev/null; then
    rc=$?
    echo "check-stages: probing '$name' failed (exit $rc)" >&2
    exit "$rc"
  fi
  if [ "$update" = 1 ]; then
    cp "$candidate" "$baselines/$name.json"
    echo "updated $baselines/$name.json"
    continue
  fi
  "$binary" check --baseline "$baselines/$name.json" --candidate "$candidate" --tolerance "$tolerance"
  rc=$?
  if [ "$rc" = 1 ]; then
    regressions=$((regressions + 1))
    echo "^ $name" >&2
  elif [ "$rc" != 0 ]; then
    exit "$rc"
  fi
done < "$inputs"

[ "$count" -gt 0 ] || { echo "check-stages: $inputs lists no inputs" >&2; exit 3; }
if [ "$regressions" -gt 0 ]; then
  echo "check-stages: $regressions of $count probes regressed" >&2
  status=1
else
  echo "check-stages: $count probes within tolerance $tolerance"
fi
exit "$status"
