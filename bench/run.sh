#!/usr/bin/env bash
# Run GoQueue's standard workloads (`goqueue bench`) and the same workloads
# against peer brokers (the load generator in PEERS_DIR) back to back on this
# machine, then print GoQueue's figures next to the peers' with ratios.
#
# Each phase gets a freshly started server with an empty data directory:
#   p1  : produce N x 100 B into 6 partitions with 1 producer, then consume
#         them with a 2-member group that acks each message
#   p4  : the same with 4 producers
#   lat : 2-member group polling while one producer sends RATE msg/s for DUR
# Runs interleave (GoQueue run 1, peers run 1, GoQueue run 2, ...) and every
# phase first waits for an idle machine (PEERS_DIR/scripts/lib.sh wait_quiet,
# at most QUIET_MAX_WAIT seconds). Everything listens on 127.0.0.1 only.
#
# Usage: bench/run.sh [peer-config ...]       (default: redis-everysec nats)
#   peer configs: redis-everysec redis-always redis-nopersist nats kfake-disk kfake-sync kfake-mem
#   env: RUNS=3 N=1000000 RATE=20000 DUR=10s PHASES="p1 p4 lat" QUIET_MAX_WAIT=120
#        PEERS_DIR=../shared/bench/peers (beside the repository) OUT=/tmp/goqueue-bench GQ_PORT=18080
#        GQ_FLAGS="--fsync interval" (extra flags of the GoQueue server)
#        GQ_REF=HEAD (the commit of GoQueue to build, from a clean export of it, so
#        uncommitted work in the tree is not measured; GQ_REF=tree builds the tree as it is)
# It installs nothing: it checks for what it needs and says what to install.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
OUT=${OUT:-/tmp/goqueue-bench}
export PEERS_OUT=$OUT DATA_ROOT=$OUT/data
export RUNS=${RUNS:-3} N=${N:-1000000} RATE=${RATE:-20000} DUR=${DUR:-10s}
export QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-120}
PHASES=${PHASES:-p1 p4 lat}
GQ_PORT=${GQ_PORT:-18080}
GQ_REF=${GQ_REF:-HEAD}
CFGS=("$@"); [[ ${#CFGS[@]} -gt 0 ]] || CFGS=(redis-everysec nats)

# What is needed, and what to do if it is missing.
missing=()
command -v go > /dev/null || missing+=("Go toolchain (go): see https://go.dev/doc/install")
command -v python3 > /dev/null || missing+=("python3: apt-get install -y python3")
[[ -x $PEERS_DIR/scripts/peers.sh ]] || missing+=("the peers' load generator: set PEERS_DIR to the folder holding scripts/peers.sh")
for cfg in "${CFGS[@]}"; do
  case $cfg in
  redis-*) [[ -x /usr/bin/redis-server ]] || missing+=("$cfg needs redis-server: apt-get install -y redis-server redis-tools (then keep its system service stopped)") ;;
  nats) [[ -x /usr/sbin/nats-server ]] || missing+=("nats needs nats-server: apt-get install -y nats-server (then keep its system service stopped)") ;;
  kfake-*) ;;
  *) missing+=("unknown peer config $cfg") ;;
  esac
done
if [[ ${#missing[@]} -gt 0 ]]; then
  printf 'bench/run.sh: cannot run yet:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
for port in "$GQ_PORT" 6379 4222 9092; do
  if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    echo "bench/run.sh: something already listens on 127.0.0.1:$port; stop it first (a system service of a peer?)" >&2
    exit 1
  fi
done

source "$PEERS_DIR/scripts/lib.sh"   # wait_port, wait_quiet, start_server, stop_server
mkdir -p "$OUT/bin" "$DATA_ROOT"
echo "building goqueue and the peers' load generator into $OUT/bin" >&2
source "$ROOT/bench/build.sh"
build_goqueue "$ROOT" "$OUT" "$GQ_REF"
(cd "$PEERS_DIR/loadgen" && GOFLAGS=-modcacherw go build -o "$OUT/bin/" ./cmd/loadgen ./cmd/kfakesrv)

RES=$OUT/results/$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$RES"
{
  echo "date: $(date -u)"; uname -a; echo "cores: $(nproc)"; go version
  echo "goqueue: $GQ_DESC"
  redis-server --version 2> /dev/null || true; nats-server --version 2> /dev/null || true
  echo "RUNS=$RUNS N=$N RATE=$RATE DUR=$DUR PHASES=$PHASES peers: ${CFGS[*]} GQ_FLAGS=${GQ_FLAGS:-}"
} > "$RES/env.txt" 2>&1

GQ_PID=""
stop_goqueue() {
  [[ -n $GQ_PID ]] || return 0
  kill "$GQ_PID" 2> /dev/null || true
  wait "$GQ_PID" 2> /dev/null || true
  GQ_PID=""
}
trap 'stop_goqueue; stop_server' EXIT

# loadavg PHASE LABEL RUN: note the machine's load when a phase starts.
loadavg() { echo "$1 $2 run=$3 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/load.txt"; }

run_goqueue() { # run
  local run=$1 phase args d=$DATA_ROOT/goqueue
  for phase in $PHASES; do
    wait_quiet || true
    rm -rf "$d"; mkdir -p "$d"
    # shellcheck disable=SC2086 # GQ_FLAGS is a list of flags
    "$OUT/bin/goqueue" --addr "127.0.0.1:$GQ_PORT" --data-dir "$d/data" ${GQ_FLAGS:-} > "$d/server.log" 2>&1 &
    GQ_PID=$!
    wait_port "$GQ_PORT"
    case $phase in
    p1) args=(--workloads throughput --producers 1 --messages "$N") ;;
    p4) args=(--workloads throughput --producers 4 --messages "$N") ;;
    lat) args=(--workloads latency --rate "$RATE" --duration "$DUR") ;;
    esac
    echo "== goqueue run $run $phase" >&2
    loadavg "$phase" goqueue "$run"
    timeout 900 "$OUT/bin/goqueue" bench --broker "127.0.0.1:$GQ_PORT" --broker-pid "$GQ_PID" \
      --output json --label goqueue --run "$run" "${args[@]}" >> "$RES/goqueue.jsonl" \
      || echo "goqueue bench failed: run $run $phase" >&2
    du -sk "$d/data" | awk -v r="$run" -v p="$phase" '{printf "{\"phase\":\"disk\",\"label\":\"goqueue\",\"run\":%s,\"of\":\"%s\",\"data_kb\":%s}\n", r, p, $1}' >> "$RES/goqueue.jsonl"
    stop_goqueue
  done
}

for run in $(seq 1 "$RUNS"); do
  run_goqueue "$run"
  for cfg in "${CFGS[@]}"; do
    loadavg peers "$cfg" "$run"
    # One run of each peer per loop, so the runs of GoQueue and the peers interleave.
    PHASES=$PHASES RUNS=1 "$PEERS_DIR/scripts/peers.sh" "$RES/peers.jsonl" "$cfg"
  done
done

python3 "$ROOT/bench/compare.py" "$RES" | tee "$RES/compare.md"
echo "results in $RES" >&2
