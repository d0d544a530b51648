#!/usr/bin/env bash
# A local diff against the same diff on a local cluster of dqc's processes (one dqc-scheduler,
# two dqc-executor processes: scripts/cluster-local.sh), in one run, on the reference data set
# (2M + 2M rows) and, with --large, the 2 x 50M set too (both from `benches/peers.sh`); with
# --equal, also 2 x 2M equal rows in another file layout (`benches/peers.sh --equal`: the common
# case, in which only pass 1's first job and the duplicate keys' job run).
#
#   benches/cluster.sh [--large] [--equal] [--runs N] [--slots N] [--debug | --opt-dev]
#
# --debug uses the debug binaries (no release build; the times then mean nothing, the bytes do).
# --opt-dev builds the dev profile with dqc's own crates optimized too (CARGO_PROFILE_DEV_OPT_LEVEL=2;
# the dependencies are optimized in the dev profile already), in its own target directory
# (default ~/.cache/dqc-bench-target; seed it with a copy of the build cache, `cp -a`, and only
# dqc's crates are compiled again): times close to a release build's (debug assertions stay on in
# dqc's crates) without the release build of every dependency.
# For each data set: the best wall time of N runs (default 2) of each, their ratio (the cluster's
# overhead: on a 2-core machine no speed-up is expected), whether each report's counts match the
# data set's truth, and the bytes the executor processes wrote (shuffle and result data, to files
# and over Flight) per input row, for the cluster diff alone; then, per job of the last cluster
# diff and per stage, the rows its tasks wrote to the shuffle and the bytes they spilled.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=2 slots=1 sets=(2000000) profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --large) sets+=(50000000); shift ;;
    --equal) sets+=(2000000-equal); shift ;;
    --runs) runs="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --debug) profile=debug; shift ;;
    --opt-dev)
      profile=debug
      export CARGO_PROFILE_DEV_OPT_LEVEL=2
      export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-bench-target}"
      shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}"
peers="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}/data"
for set in "${sets[@]}"; do
  [ -f "$peers/orders-$set/truth.json" ] || { echo "no data set at $peers/orders-$set: run benches/peers.sh --rows ${set%%-*}${set#"${set%%-*}"} --only-dqc first (-equal: --equal)" >&2; exit 2; }
done
release=()
[ "$profile" = release ] && release=(--release)
cargo build --quiet "${release[@]}" --bin dqc -p api
cargo build --quiet "${release[@]}" -p cluster --bins
dqc="$CARGO_TARGET_DIR/$profile/dqc"
out="$(mktemp -d)"
cluster_dir="$out/cluster"
# The executors log each task's shuffle-writer metrics (rows in and out, spills) for `stages`.
exec 3< <(RUST_LOG="info,ballista_executor::metrics=debug" DQC_CLUSTER_BIN="$CARGO_TARGET_DIR/$profile" scripts/cluster-local.sh --executors 2 --slots "$slots" --dir "$cluster_dir")
script=$!
trap 'kill $script 2>/dev/null; rm -rf "$out"' EXIT
read -r url <&3
echo "cluster: $url (2 executors x $slots task slots)"

# Prints "wall right|WRONG" of one diff of data set $1 (more arguments go to dqc diff).
diff_once() {
  local data="$1"; shift
  local started ended
  started=$(date +%s.%N)
  "$dqc" diff --baseline "$data/baseline" --candidate "$data/candidate" --key order_id --format json "$@" \
    >"$out/report.json" 2>"$out/stderr" || true
  ended=$(date +%s.%N)
  python3 - "$out/report.json" "$data/truth.json" "$started" "$ended" <<'PY'
import json, sys
truth = json.load(open(sys.argv[2]))
wall = float(sys.argv[4]) - float(sys.argv[3])
try:
    summary = json.load(open(sys.argv[1]))["summary"]
    keys = ["matched", "changed", "only_in_baseline", "only_in_candidate"]
    right = all(summary[k] == truth[k] for k in keys)
except (ValueError, KeyError):
    right = False
print(f"{wall:.2f} {'right' if right else 'WRONG'}")
PY
}

# Bytes the executor processes wrote (write calls: shuffle files, and shuffle and result data sent
# over Flight; Ballista deletes a job's shuffle files when the job ends, so the work directories'
# sizes after a diff say nothing).
work_bytes() {
  local total=0 pid
  for pidfile in "$cluster_dir"/executor-*.pid; do
    pid=$(cat "$pidfile")
    total=$(( total + $(awk '/^wchar:/ {print $2}' "/proc/$pid/io" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}

# Per job of the last cluster diff (named as the client named it): per stage, its tasks and the
# rows they wrote to the shuffle (the shuffle writers' metrics, which the executors log at debug
# level; counts as DataFusion prints them, to 3 digits), and the bytes they spilled.
stages() {
  python3 - "$out/stderr" "$cluster_dir"/executor-*.log <<'PY'
import collections, re, sys
plain = lambda text: re.sub(r"\x1b\[[0-9;]*m", "", text)
jobs = {}
for line in open(sys.argv[1], errors="replace"):
    found = re.search(r'what="([^"]*)" job=(\S+) cluster job submitted|cluster job submitted what="([^"]*)" job=(\S+)', plain(line))
    if found:
        what, job = (found.group(1), found.group(2)) if found.group(1) else (found.group(3), found.group(4))
        jobs[job] = what
def count(text):
    value, _, unit = text.strip().partition(" ")
    return float(value) * {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(unit, 1)
totals = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
pattern = re.compile(r"=== \[(\w+)/(\d+)/(\d+)\] Physical plan with metrics ===\s*\n\s*DefaultQueryStageExec\(\w+\): \((.*)\)\n")
for log in sys.argv[2:]:
    for job, stage, _task, metrics in pattern.findall(plain(open(log, errors="replace").read())):
        if job not in jobs:
            continue
        # `name{partition=N}=value, ...`: the repartitioning's and the writer's, summed.
        values = collections.Counter()
        for name, value in re.findall(r"(\w+)(?:\{[^}]*\})?=([^,]+)", metrics):
            try:
                values[name] += count(value)
            except ValueError:  # times, NOT RECORDED
                pass
        entry = totals[(job, int(stage))]
        entry[0] += 1
        entry[1] += values["input_rows"]
        entry[2] += values["output_rows"]
        entry[3] += values["spill_count"]
        entry[4] += values["spill_bytes"]
for job, what in jobs.items():
    for (j, stage), (tasks, rows_in, rows_out, spills, spilled) in sorted(totals.items()):
        if j == job:
            print(f"    {what}: stage {stage}, {tasks} tasks, {rows_out:,.0f} rows written of {rows_in:,.0f} in, "
                  f"{spills:,.0f} spills of {spilled:,.0f} bytes (as Ballista counts them)")
PY
}

for set in "${sets[@]}"; do
  data="$peers/orders-$set"
  best_local="" best_cluster="" verdicts=""
  for _ in $(seq "$runs"); do
    read -r wall verdict < <(diff_once "$data")
    verdicts+=" local:$verdict"
    best_local=$(python3 -c "print(min(x for x in [$wall, ${best_local:-1e9}]))")
    before=$(work_bytes)
    read -r wall verdict < <(RUST_LOG=cluster=debug diff_once "$data" --cluster "$url" --cluster-partitions $((2 * slots)))
    written=$(( $(work_bytes) - before ))
    verdicts+=" cluster:$verdict"
    best_cluster=$(python3 -c "print(min(x for x in [$wall, ${best_cluster:-1e9}]))")
  done
  python3 - "$set" "$best_local" "$best_cluster" "$written" "$verdicts" <<'PY'
import sys
name, local, cluster, written, verdicts = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = int(name.split("-")[0])
print(f"2 x {rows:,} rows{' (equal)' if name.endswith('-equal') else ''}: local {local:.2f} s, cluster {cluster:.2f} s, ratio {cluster / local:.2f}; "
      f"executors wrote {written:,} bytes ({written / (2 * rows):.2f} per input row);{verdicts}")
PY
  stages
done
