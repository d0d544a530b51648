#!/usr/bin/env bash
# Starts a local Ballista cluster of dqc's own processes on 127.0.0.1: one `dqc-scheduler` and
# N `dqc-executor` processes (built first), until the process that started this script exits,
# or until it is interrupted.
#
#   scripts/cluster-local.sh [--executors N] [--slots N] [--port PORT] [--dir DIR] [--config FILE]
#                            [--release]
#
# Prints the scheduler's URL (df://127.0.0.1:PORT) once executors have registered; then
#   dqc diff --baseline ... --candidate ... --key id --cluster df://127.0.0.1:PORT
# DIR (default: a temporary directory) holds each process's log, its pid (scheduler.pid,
# executor-1.pid, ...) and the executors' work directories (their shuffle files).
# With --config (the service's dqc.toml), the processes read object stores with its clusters'
# [clusters.storage] options, as the service does; without it, as the CLI does, from the
# environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... for s3://). DQC_SCHEDULER_FLAGS and DQC_EXECUTOR_FLAGS
# add Ballista's own flags (`--executor-timeout-seconds 10`, ...); DQC_CLUSTER_BIN names a
# directory holding both binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."

executors=2 slots=2 port=0 dir="" config="" profile=debug
while [ $# -gt 0 ]; do
  case "$1" in
    --executors) executors="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --release) profile=release; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}"
bin="${DQC_CLUSTER_BIN:-}"
if [ -z "$bin" ]; then
  flags=(--quiet -p cluster --bins)
  [ "$profile" = release ] && flags+=(--release)
  cargo build "${flags[@]}"
  bin="$CARGO_TARGET_DIR/$profile"
fi
read -r -a scheduler_flags <<<"${DQC_SCHEDULER_FLAGS:-}"
read -r -a executor_flags <<<"${DQC_EXECUTOR_FLAGS:-}"
if [ -n "$config" ]; then
  scheduler_flags+=(--dqc-config "$config")
  executor_flags+=(--dqc-config "$config")
fi
[ -n "$dir" ] || dir="$(mktemp -d -t dqc-cluster-XXXXXX)"
mkdir -p "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
[ "$port" != 0 ] || port=$(free_port)

parent=$PPID
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

"$bin/dqc-scheduler" --bind-host 127.0.0.1 --bind-port "$port" "${scheduler_flags[@]}" >"$dir/scheduler.log" 2>&1 &
pids+=($!); echo $! >"$dir/scheduler.pid"
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
for n in $(seq "$executors"); do
  mkdir -p "$dir/executor-$n"
  "$bin/dqc-executor" --scheduler-host 127.0.0.1 --scheduler-port "$port" --bind-host 127.0.0.1 \
    --external-host 127.0.0.1 --bind-port "$(free_port)" --bind-grpc-port "$(free_port)" \
    --concurrent-tasks "$slots" --work-dir "$dir/executor-$n" "${executor_flags[@]}" >"$dir/executor-$n.log" 2>&1 &
  pids+=($!); echo $! >"$dir/executor-$n.pid"
done
# The executors register with their first poll of the scheduler.
for _ in $(seq 100); do
  registered=$(grep -l -i "registered\|poll" "$dir"/executor-*.log 2>/dev/null | wc -l || true)
  [ "$registered" -ge "$executors" ] && break
  sleep 0.1
done
echo "df://127.0.0.1:$port"
while kill -0 "$parent" 2>/dev/null; do
  sleep 1
done
