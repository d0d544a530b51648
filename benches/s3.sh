#!/usr/bin/env bash
# dqc diff of the reference data set (2M + 2M rows, benches/peers/generate.py) read from an
# S3-compatible server on loopback (moto, scripts/s3-server.sh) against the same diff of the
# same files read locally, in one run; with the server's request count per diff.
#
#   benches/s3.sh [--rows N]
#
# Prints the best of three of each (local, S3), their ratio, and the requests the S3 diff made
# (from moto's request log: LIST, HEAD, GET), and how many GETs each file got.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=2000000
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

peers_dir="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}"
data="$peers_dir/data/orders-$rows"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}"
venv="$peers_dir/venv"   # benches/peers.sh's, when it is there
if [ ! -f "$data/truth.json" ]; then
  if ! "$venv/bin/python" -c 'import pyarrow, numpy' 2>/dev/null; then
    mkdir -p "$peers_dir"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pyarrow numpy
  fi
  echo "generating $data" >&2
  rm -rf "$data"
  "$venv/bin/python" benches/peers/generate.py "$data" --rows "$rows" >/dev/null
fi

cargo build --quiet --release --bin dqc
dqc="$CARGO_TARGET_DIR/release/dqc"

out="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DQC_S3_LOG="$out/server.log" scripts/s3-server.sh "$port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.5
done
moto_python="${DQC_MOTO_VENV:-$HOME/.cache/dqc-moto}/bin/python"
"$moto_python" - "$port" "$data" <<'PY'
import os, sys
import boto3
port, data = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="k",
                  aws_secret_access_key="s", region_name="us-east-1")
s3.create_bucket(Bucket="bench")
for side in ("baseline", "candidate"):
    for root, _, files in os.walk(os.path.join(data, side)):
        for name in files:
            path = os.path.join(root, name)
            s3.upload_file(path, "bench", os.path.relpath(path, data))
PY

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
timed() {
  local name="$1"; shift
  /usr/bin/time -f '%e %M' -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err" || true
}
for run in 1 2 3; do
  timed "local.$run" "$dqc" diff --baseline "$data/baseline" --candidate "$data/candidate" --key order_id --format json
  before=$(wc -l <"$out/server.log")
  timed "s3.$run" "$dqc" diff --baseline s3://bench/baseline --candidate s3://bench/candidate --key order_id --format json
  tail -n +"$((before + 1))" "$out/server.log" >"$out/requests.$run.log"
done

python3 - "$out" "$data" <<'PY'
import collections, json, os, re, sys
out, data = sys.argv[1], sys.argv[2]
def best(name):
    runs = []
    for run in (1, 2, 3):
        wall, rss = open(os.path.join(out, f"{name}.{run}.time")).read().split()[-2:]
        runs.append((float(wall), int(rss) // 1024, run))
    return min(runs)
def summary(name, run):
    try:
        return json.load(open(os.path.join(out, f"{name}.{run}.out")))["summary"]
    except Exception:
        return open(os.path.join(out, f"{name}.{run}.err")).read()[-300:]
local, s3 = best("local"), best("s3")
same = summary("local", local[2]) == summary("s3", s3[2])
print(f"local diff {local[0]:.2f} s ({local[1]} MiB), S3 diff {s3[0]:.2f} s ({s3[1]} MiB): {s3[0] / local[0]:.2f}x; same summary: {same}")
# The server's log colours its lines.
lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in open(os.path.join(out, f"requests.{s3[2]}.log")).read().splitlines()]
requests = [m.groups() for m in (re.search(r'"(GET|HEAD|PUT|POST) (\S+)', line) for line in lines) if m]
kinds = collections.Counter("LIST" if "list-type" in path else method for method, path in requests)
print("requests of that S3 diff:", dict(kinds))
per_file = collections.Counter(path.split("?")[0] for method, path in requests if method == "GET" and "list-type" not in path)
files = sum(len(f) for _, _, f in os.walk(os.path.join(data, "baseline"))) + sum(len(f) for _, _, f in os.walk(os.path.join(data, "candidate")))
print(f"files: {files}; GETs per file: min {min(per_file.values(), default=0)}, max {max(per_file.values(), default=0)}, total {sum(per_file.values())}")
PY
