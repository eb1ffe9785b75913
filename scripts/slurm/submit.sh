#!/bin/bash
# Submits scripts/slurm/probe-array.sbatch with the resources taken from the environment, so the
# same script serves GPU and CPU-only partitions:
#   ARRAY (default 0-7: 8 shards), GRES (default gpu:1; "none" for a CPU-only partition),
#   MEM (default 48G), CPUS (default 8), TIME (default 12:00:00), PARTITION (default: Slurm's).
# Everything else (MODEL, DATA, IMAGES, RUN_DIR, LVLM_PROBE, EXTRA) is read by the job script;
# further arguments are passed to sbatch.
#   GRES=none MEM=16G PARTITION=cpu MODEL=... DATA=... IMAGES=... RUN_DIR=... scripts/slurm/submit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flags=(--array="${ARRAY:-0-7}" --mem="${MEM:-48G}" --cpus-per-task="${CPUS:-8}" --time="${TIME:-12:00:00}")
gres=${GRES:-gpu:1}
[ "$gres" = none ] || flags+=(--gres="$gres")
[ -z "${PARTITION:-}" ] || flags+=(--partition="$PARTITION")
exec sbatch "${flags[@]}" "$@" "$here/probe-array.sbatch"
