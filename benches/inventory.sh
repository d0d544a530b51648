#!/usr/bin/env bash
# dqc inventory of a generated warehouse of 200 tables and 100,000 daily partitions (one small
# Parquet file each), on local disk and on an S3-compatible server (moto, scripts/s3-server.sh).
#
#   benches/inventory.sh [--tables 200] [--days 500] [--deep-tables 10] [--s3-tables 20] [--debug | --opt-dev]
#
# The candidate is the baseline hard-linked (`cp -al`) with 3 partitions of one row fewer, one
# partition missing and one extra. Prints, for each run, partitions per second and whether the
# report found exactly those 5 partitions:
# - local, level 2 (footers), every table; with the bytes dqc read (rchar of /proc/PID/io, last
#   sample before it exits) per partition, against the bytes of the partitions' files;
# - local, level 3 (`--deep --key id`), on the first `--deep-tables` tables;
# - S3, level 2 and level 3, on the first `--s3-tables` tables (uploading 200,000 objects to moto
#   takes long), with the server's GET and LIST requests per partition. moto serves one request
#   at a time: the S3 rates measure it as much as dqc (the deep S3 run takes over 5 minutes).
# --opt-dev: as benches/cluster.sh (dqc's crates optimized in the dev profile, its own target
# directory); --debug: the debug build (dqc's own crates unoptimized; the dependencies, which
# read the footers, are optimized in the dev profile); default: a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

tables=200 days=500 deep_tables=10 s3_tables=20 profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --tables) tables="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --deep-tables) deep_tables="$2"; shift 2 ;;
    --s3-tables) s3_tables="$2"; shift 2 ;;
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
peers_dir="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}"
venv="$peers_dir/venv"
data="$peers_dir/data/warehouse-$tables-$days"
if ! "$venv/bin/python" -c 'import pyarrow' 2>/dev/null; then
  mkdir -p "$peers_dir"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pyarrow numpy
fi
if [ ! -f "$data/.complete" ]; then
  echo "generating $data" >&2
  rm -rf "$data"
  "$venv/bin/python" - "$data" "$tables" "$days" <<'PY'
import datetime, os, sys
import pyarrow as pa, pyarrow.parquet as pq
data, tables, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = datetime.date(2023, 1, 1)
def write(path, day, skip=None):
    ids = [i for i in range(20) if i != skip]
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "amount": pa.array([day * 100 + i * 1.5 for i in ids], pa.float64()),
        "note": pa.array([f"n{day}-{i}" for i in ids]),
    })
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path)
for t in range(tables):
    for d in range(days):
        dt = start + datetime.timedelta(days=d)
        write(f"{data}/baseline/t{t:03}/dt={dt}/part-0.parquet", d)
PY
  cp -al "$data/baseline" "$data/candidate"
  "$venv/bin/python" - "$data" "$tables" "$days" <<'PY'
import datetime, os, shutil, sys
import pyarrow as pa, pyarrow.parquet as pq
data, tables, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = datetime.date(2023, 1, 1)
dt = lambda d: start + datetime.timedelta(days=d)
def rewrite(path, d, skip):
    os.remove(path)  # a new file, not the baseline's hard link
    ids = [i for i in range(20) if i != skip]
    pq.write_table(pa.table({
        "id": pa.array(ids, pa.int64()),
        "amount": pa.array([d * 100 + i * 1.5 for i in ids], pa.float64()),
        "note": pa.array([f"n{d}-{i}" for i in ids]),
    }), path)
# One row fewer in 3 partitions (the last in a table beyond the S3 runs' first 20).
for t, d in [(0, 3), (7, min(100, days - 1)), (tables - 1, days // 2)]:
    rewrite(f"{data}/candidate/t{t:03}/dt={dt(d)}/part-0.parquet", d, 5)
shutil.rmtree(f"{data}/candidate/t001/dt={dt(10)}")
os.makedirs(f"{data}/candidate/t002/dt={dt(days)}")
shutil.copy(f"{data}/baseline/t002/dt={dt(0)}/part-0.parquet", f"{data}/candidate/t002/dt={dt(days)}/part-0.parquet")
PY
  touch "$data/.complete"
fi

release=()
[ "$profile" = release ] && release=(--release)
cargo build --quiet "${release[@]}" --bin dqc -p api
dqc="$CARGO_TARGET_DIR/$profile/dqc"
out="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$out"' EXIT

# Runs dqc inventory with the given arguments; prints "partitions seconds rchar found".
inventory() {
  local started ended pid rchar=0 line
  started=$(date +%s.%N)
  "$dqc" inventory --format json --output "$out/report.json" "$@" >/dev/null 2>"$out/stderr" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    line=$(grep '^rchar' "/proc/$pid/io" 2>/dev/null || true)
    [ -n "$line" ] && rchar=${line#rchar: }
    sleep 0.05
  done
  wait "$pid" || true
  ended=$(date +%s.%N)
  python3 - "$out/report.json" "$started" "$ended" "$rchar" <<'PY'
import json, sys
wall = float(sys.argv[3]) - float(sys.argv[2])
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    print(f"0 {wall:.2f} {sys.argv[4]} FAILED")
    sys.exit()
counts = report["summary"]
found = f"{counts['different']} different, {counts['missing_in_candidate']} missing, {counts['missing_in_baseline']} extra, {counts['unreadable']} unreadable"
print(f"{counts['partitions']} {wall:.2f} {sys.argv[4]} {found.replace(' ', '_')}")
PY
}

report() {
  local name="$1" partitions wall rchar found
  read -r partitions wall rchar found
  python3 - "$name" "$partitions" "$wall" "$rchar" "$found" "$2" <<'PY'
import sys
name, partitions, wall, rchar, found, bytes_per = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5].replace("_", " "), sys.argv[6]
rate = partitions / wall if wall else 0
extra = f", read {rchar / max(partitions, 1) / 1024:.1f} KiB a partition (files: {bytes_per} KiB a partition)" if bytes_per else ""
print(f"{name}: {partitions} partitions in {wall:.1f} s = {rate:.0f} partitions/s ({found}){extra}")
PY
}

file_kib=$(du -sk --apparent-size "$data/baseline" | cut -f1)
per_partition=$(python3 -c "print(f'{$file_kib / ($tables * $days):.1f}')")
sync
inventory --baseline "$data/baseline" --candidate "$data/candidate" | report "local, footers" "$per_partition"
deep=$(printf 't%03d,' $(seq 0 $((deep_tables - 1))))
inventory --baseline "$data/baseline" --candidate "$data/candidate" --tables "${deep%,}" --deep --key id \
  | report "local, deep ($deep_tables tables)" ""

# S3: the first --s3-tables tables of each side in a bucket.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DQC_S3_LOG="$out/server.log" scripts/s3-server.sh "$port" &
server=$!
for _ in $(seq 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.5
done
"${DQC_MOTO_VENV:-$HOME/.cache/dqc-moto}/bin/python" - "$port" "$data" "$s3_tables" <<'PY'
import os, sys
from concurrent.futures import ThreadPoolExecutor
import boto3
port, data, tables = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="k",
                  aws_secret_access_key="s", region_name="us-east-1")
s3.create_bucket(Bucket="bench")
paths = []
for side in ("baseline", "candidate"):
    for t in range(tables):
        for root, _, files in os.walk(os.path.join(data, side, f"t{t:03}")):
            paths += [os.path.join(root, name) for name in files]
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda p: s3.upload_file(p, "bench", os.path.relpath(p, data)), paths))
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
requests() {
  python3 - "$out/server.log" "$1" "$2" <<'PY'
import re, sys
lines = [re.sub(r"\x1b\[[0-9;]*m", "", l) for l in open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]]
found = [m.groups() for m in (re.search(r'"(GET|HEAD|PUT|POST) (\S+)', l) for l in lines) if m]
lists = sum(1 for method, path in found if "list-type" in path)
gets = sum(1 for method, path in found if method == "GET" and "list-type" not in path)
partitions = int(sys.argv[3])
print(f"  requests: {gets} GETs ({gets / max(partitions, 1):.1f} a partition), {lists} LISTs")
PY
}
s3_list=$(printf 't%03d,' $(seq 0 $((s3_tables - 1))))
before=$(wc -l <"$out/server.log")
inventory --baseline s3://bench/baseline --candidate s3://bench/candidate --tables "${s3_list%,}" >"$out/s3.line"
# (rchar counts no socket reads: the requests below say what was read.)
report "S3, footers ($s3_tables tables)" "" <"$out/s3.line"
requests "$before" "$(cut -d' ' -f1 "$out/s3.line")"
inventory --baseline s3://bench/baseline --candidate s3://bench/candidate --tables "${deep%,}" --deep --key id \
  | report "S3, deep ($deep_tables tables)" ""
