#!/usr/bin/env bash
# Run GoQueue's standard workloads (`goqueue bench`) against a single broker
# and against a 3-node cluster with replication factor 3 (the default on 3
# nodes) on this machine, alternated, and print the medians side by side.
#
# Each run starts the broker or the three nodes afresh on empty data
# directories, all on 127.0.0.1, and runs, against node 1 of the cluster (the
# client follows leaders and coordinators from there):
#   throughput : N x 100 B into 6 partitions with 1, then 4 producers, each
#                consumed by a 2-member group that acks every message
#   latency    : RATE msg/s for DUR through a 2-member group
# The memory figure is the broker's (node 1's) resident peak.
#
# Usage: bench/cluster.sh
#   env: RUNS=3 N=1000000 RATE=20000 DUR=8s OUT=/tmp/goqueue-cluster-bench
#        BASE_PORT=18100 (HTTP on BASE_PORT+1..3, inter-broker on +11..13)
#        GQ_REF=HEAD (the commit to build, from a clean export; tree: the tree as it is)
#        LABELS="single rf3": what to run, in turn, each run; rf3-wal is rf3
#        with --cluster-entries-in-wal (the partitions' data written twice)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/goqueue-cluster-bench}
RUNS=${RUNS:-3} N=${N:-1000000} RATE=${RATE:-20000} DUR=${DUR:-8s}
BASE=${BASE_PORT:-18100}
GQ_REF=${GQ_REF:-HEAD}
command -v go > /dev/null || { echo "bench/cluster.sh: needs the Go toolchain (go)" >&2; exit 1; }
command -v python3 > /dev/null || { echo "bench/cluster.sh: needs python3: apt-get install -y python3" >&2; exit 1; }
for port in $((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 11)) $((BASE + 12)) $((BASE + 13)); do
  if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    echo "bench/cluster.sh: something already listens on 127.0.0.1:$port; stop it or set BASE_PORT" >&2
    exit 1
  fi
done

source "$ROOT/bench/build.sh"
build_goqueue "$ROOT" "$OUT" "$GQ_REF"
RES=$OUT/results/$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$RES"
{ echo "date: $(date -u)"; echo "cores: $(nproc)"; go version; echo "goqueue: $GQ_DESC"
  echo "RUNS=$RUNS N=$N RATE=$RATE DUR=$DUR"; } > "$RES/env.txt"

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  PIDS=()
}
trap stop_all EXIT

# ready PORT: wait until the broker on PORT answers /readyz.
ready() {
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$1/readyz" > /dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "bench/cluster.sh: the broker on port $1 never became ready" >&2
  return 1
}

# start LABEL: a single broker, or the three nodes; sets PIDS (node 1 first).
start() {
  local d=$OUT/data/$1
  rm -rf "$d"; mkdir -p "$d"
  if [[ $1 == single ]]; then
    "$OUT/bin/goqueue" --addr "127.0.0.1:$((BASE + 1))" --kafka-addr "" --data-dir "$d/n1" > "$d/n1.log" 2>&1 &
    PIDS=($!)
    ready $((BASE + 1))
    return
  fi
  local peers="1=127.0.0.1:$((BASE + 11)),2=127.0.0.1:$((BASE + 12)),3=127.0.0.1:$((BASE + 13))"
  local extra=()
  [[ $1 == rf3-wal ]] && extra=(--cluster-entries-in-wal)
  for i in 1 2 3; do
    "$OUT/bin/goqueue" --node-id "$i" --peers "$peers" --addr "127.0.0.1:$((BASE + i))" --kafka-addr "" \
      --data-dir "$d/n$i" "${extra[@]}" > "$d/n$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in 1 2 3; do ready $((BASE + i)); done
}

for run in $(seq 1 "$RUNS"); do
  for label in ${LABELS:-single rf3}; do
    echo "== run $run: $label" >&2
    start "$label"
    echo "$label run=$run $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/load.txt"
    brokers=127.0.0.1:$((BASE + 1))
    [[ $label == rf3* ]] && brokers=$brokers,127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
    timeout 900 "$OUT/bin/goqueue" bench --broker "$brokers" --broker-pid "${PIDS[0]}" \
      --workloads throughput,latency --producers 1,4 --messages "$N" --rate "$RATE" --duration "$DUR" \
      --output json --label "$label" --run "$run" >> "$RES/results.jsonl" \
      || echo "goqueue bench failed: run $run $label" >&2
    stop_all
  done
done

python3 - "$RES/results.jsonl" << 'EOF' | tee "$RES/summary.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def cell(label, phase, key, producers=None, scale=1.0, fmt="{:.2f}"):
    # A throughput workload's topic is bench-p<producers>-...: its consume
    # result names no producer count.
    vals = [r[key] / scale for r in rows if r.get("label") == label and r.get("phase") == phase
            and r.get(key) is not None and (producers is None or "-p%d-" % producers in r.get("topic", ""))]
    if not vals:
        return "-"
    return fmt.format(statistics.median(vals)) + " (" + ", ".join(fmt.format(v) for v in vals) + ")"
print("| | produce 1P (M msg/s) | produce 4P | consume with acks after 1P | after 4P | e2e p50 (ms) | e2e p99 (ms) | node 1 peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|---|")
for label in dict.fromkeys(r["label"] for r in rows):
    print("| " + " | ".join([label,
        cell(label, "produce", "msgs_per_s", 1, 1e6), cell(label, "produce", "msgs_per_s", 4, 1e6),
        cell(label, "consume", "msgs_per_s", 1, 1e6), cell(label, "consume", "msgs_per_s", 4, 1e6),
        cell(label, "latency", "p50_us", None, 1e3), cell(label, "latency", "p99_us", None, 1e3),
        cell(label, "latency", "server_hwm_kb", None, 1024, "{:.0f}")]) + " |")
print("\nmedian (runs in order); consume follows the produce of the same producer count")
EOF
echo "results in $RES" >&2
