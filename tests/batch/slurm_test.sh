#!/bin/bash
# A real single-node Slurm (Debian's slurm-wlm and munge) started here, as root: munged,
# `slurmctld -c -i` and `slurmd -c` with a generated slurm.conf, state and spool in a temp dir.
# Runs a 3-task job array of `lvlm-probe batch --shard auto` over a small AMBER-format set on the
# tiny model, aggregates, and checks that every item is present exactly once. The daemons this
# script started are always stopped (trap). Exit 77 (ctest: skipped) only when Slurm cannot start.
# Usage: slurm_test.sh LVLM_PROBE_BINARY TESTS_DATA_DIR
set -u
CLI=$(readlink -f "$1")
DATA=$(readlink -f "$2")
ITEMS=6

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }

[ "$(id -u)" = 0 ] || skip "Slurm's daemons are started as root here (SlurmUser=root); not root"
for b in munged slurmctld slurmd sbatch sinfo squeue scancel; do
  command -v "$b" >/dev/null || skip "$b is missing (apt-get install slurm-wlm munge)"
done

T=$(mktemp -d /tmp/lvlm-slurm-XXXXXX)
chmod 755 "$T"
PIDFILES=("$T/slurmd.pid" "$T/slurmctld.pid" "$T/munged.pid")
cleanup() {
  for f in "${PIDFILES[@]}"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 0.5
  for f in "${PIDFILES[@]}"; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

# Ports unlikely to clash with another cluster on this machine.
BASE=$(( 20000 + ($$ % 20000) ))
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p "$T/state" "$T/spool" "$T/munge" "$T/images"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --socket="$T/munge/munge.socket" --key-file="$T/munge/munge.key" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munge/seed" || skip "munged does not start: $(tail -n 3 "$T/munged.log" 2>/dev/null)"

cat > "$T/slurm.conf" <<CONF
ClusterName=lvlmtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$BASE
SlurmdPort=$(( BASE + 1 ))
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"

start=$(date +%s.%N)
slurmctld -c -i -f "$SLURM_CONF" || skip "slurmctld does not start: $(tail -n 3 "$T/slurmctld.log" 2>/dev/null)"
slurmd -c -f "$SLURM_CONF" -N localhost || skip "slurmd does not start: $(tail -n 3 "$T/slurmd.log" 2>/dev/null)"
up=""
for _ in $(seq 1 600); do  # up to 2 min: a loaded machine is slow to start daemons, not broken
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
  sleep 0.2
done
[ -n "$up" ] || skip "the Slurm node did not come up: $(sinfo -N 2>&1 | tail -n 2) $(tail -n 3 "$T/slurmd.log" 2>/dev/null)"
echo "Slurm up in $(echo "$(date +%s.%N) - $start" | bc) s"

# A small AMBER-format set: AMBER's query file (first items) with photos as AMBER_<id>.jpg.
i=1
for f in $(ls "$DATA"/images/photos/*.jpg | LC_ALL=C sort | head -n $ITEMS); do
  cp "$f" "$T/images/AMBER_$i.jpg"; i=$((i + 1))
done

# The shipped array script, with this machine's resources instead of a GPU node's.
SCRIPT=$(readlink -f "$DATA/../../scripts/slurm/probe-array.sbatch")
[ -f "$SCRIPT" ] || fail "missing $SCRIPT"
start=$(date +%s.%N)
MODEL="$DATA/tiny-llava" DATASET=amber DATA="$DATA/batch/amber_query_generative.json" IMAGES="$T/images" \
  RUN_DIR="$T/run" LVLM_PROBE="$CLI" EXTRA="--limit $ITEMS --max-new-tokens 4 --threads 1" \
  sbatch --wait --array=0-2 --gres=none --cpus-per-task=1 --mem=1G --time=10 --output="$T/job-%A_%a.log" \
  "$SCRIPT" > "$T/sbatch.out" 2>&1
rc=$?
echo "3-task array done in $(echo "$(date +%s.%N) - $start" | bc) s (sbatch exit $rc)"
cat "$T/sbatch.out"
if [ $rc != 0 ]; then for f in "$T"/job-*.log; do echo "--- $f"; cat "$f"; done; fail "the array job failed"; fi

for s in 0 1 2; do
  [ -s "$T/run/index.$s-of-3.jsonl" ] || fail "shard $s wrote no index"
done
ids=$(cat "$T"/run/index.*.jsonl | grep -o '"id":"[^"]*"' | sort)
[ "$(echo "$ids" | wc -l)" = $ITEMS ] || fail "expected $ITEMS index lines, found: $ids"
[ -z "$(echo "$ids" | uniq -d)" ] || fail "an item was probed twice: $(echo "$ids" | uniq -d)"
for n in $(seq 1 $ITEMS); do
  echo "$ids" | grep -qx "\"id\":\"$n\"" || fail "item $n is missing"
done
grep -q '"status":"failed"' "$T"/run/index.*.jsonl && fail "an item failed"

"$CLI" aggregate "$T/run" --embedding pca --out "$T/summary.json" || fail "aggregate failed"
grep -q "\"ok\":$ITEMS" <(tr -d ' \n' < "$T/summary.json") || fail "summary does not count $ITEMS items"
"$CLI" render "$T/summary.json" --out "$T/summary.html" || fail "render failed"
echo "PASS: $ITEMS items over a 3-task Slurm array, each once; aggregated and rendered"
