#!/usr/bin/env bash
# dqc against its floor and against the tools teams use today, on the same files, in one run.
#
#   benches/peers.sh [--rows N] [--equal] [--memory-limit SIZE] [--only-dqc]
#
# 1. Installs pyarrow, numpy, duckdb, polars, pandas and datacompy (and pyspark, if it installs)
#    into a virtual environment under $DQC_PEERS_DIR (default ~/.cache/dqc-peers).
# 2. Generates the reference data set (benches/peers/generate.py: table `orders`, 2,000,000 rows
#    per side by default, see its docstring) unless it is already there, with its truth.
# 3. Builds dqc (release) and times, as whole processes: `dqc scan` of both sides (the floor)
#    and `dqc diff` (best of three each), DuckDB, Polars, datacompy and Spark local. Prints each tool's wall time, its
#    ratio to the floor, its peak RSS and whether its counts match the truth.
# --equal generates a candidate with the same rows in another layout (the equal-tables case).
# --only-dqc skips the other tools (for the large runs).
set -euo pipefail
cd "$(dirname "$0")/.."

rows=2000000 equal="" memory_limit="" only_dqc=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --equal) equal="--equal"; shift ;;
    --memory-limit) memory_limit="$2"; shift 2 ;;
    --only-dqc) only_dqc=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

peers_dir="${DQC_PEERS_DIR:-$HOME/.cache/dqc-peers}"
data="$peers_dir/data/orders-$rows${equal:+-equal}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}"
venv="$peers_dir/venv"
python="$venv/bin/python"

mkdir -p "$peers_dir"
if [ ! -x "$python" ]; then
  python3 -m venv "$venv"
fi
if ! "$python" -c 'import pyarrow, numpy, duckdb, polars, pandas, datacompy' 2>/dev/null; then
  echo "installing pyarrow numpy duckdb polars pandas datacompy into $venv" >&2
  "$venv/bin/pip" install --quiet pyarrow numpy duckdb polars pandas datacompy
fi
if [ -z "$only_dqc" ] && ! "$python" -c 'import pyspark' 2>/dev/null; then
  echo "installing pyspark into $venv (optional)" >&2
  "$venv/bin/pip" install --quiet pyspark || echo "pyspark did not install; Spark is skipped" >&2
fi

if [ ! -f "$data/truth.json" ]; then
  echo "generating $data" >&2
  rm -rf "$data"
  "$python" benches/peers/generate.py "$data" --rows "$rows" $equal >/dev/null
fi

cargo build --quiet --release --workspace --bins
dqc="$CARGO_TARGET_DIR/release/dqc"
baseline="$data/baseline" candidate="$data/candidate"
limit_args=()
[ -n "$memory_limit" ] && limit_args=(--memory-limit "$memory_limit")

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Runs a command as a timed process; leaves "wall_seconds peak_rss_kib" in $out/$name.time and
# its standard output in $out/$name.out.
timed() {
  local name="$1"; shift
  /usr/bin/time -f '%e %M' -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err" || true
}

# dqc's runs are short and this machine is noisy: the floor and the diff run three times each,
# interleaved, and the fastest of each counts (the other tools run once: they take much longer).
for run in 1 2 3; do
  timed "scan.$run" "$dqc" scan "$baseline" "$candidate" --format json
  timed "dqc.$run" "$dqc" diff --baseline "$baseline" --candidate "$candidate" --key order_id --format json "${limit_args[@]}"
done
for name in scan dqc; do
  best=$(for run in 1 2 3; do echo "$(tail -1 "$out/$name.$run.time") $run"; done | sort -n | head -1 | awk '{print $3}')
  for ext in time out err; do cp "$out/$name.$best.$ext" "$out/$name.$ext"; done
done
if [ -z "$only_dqc" ]; then
  for tool in duckdb polars datacompy; do
    timed "$tool" "$python" benches/peers/peers.py "$tool" "$baseline" "$candidate"
  done
  if "$python" -c 'import pyspark' 2>/dev/null && command -v java >/dev/null; then
    timed spark "$python" benches/peers/peers.py spark "$baseline" "$candidate"
  fi
fi

"$python" - "$out" "$data/truth.json" "$rows" <<'EOF'
import json, os, sys

out, truth_path, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
truth = json.load(open(truth_path))
counted = ("changed", "only_in_baseline", "only_in_candidate")

def timing(name):
    wall, rss = open(os.path.join(out, name + ".time")).read().split()[-2:]
    return float(wall), int(rss) / 1024

def counts(name):
    text = open(os.path.join(out, name + ".out")).read().strip()
    if name == "dqc":
        try:
            summary = json.loads(text)["summary"]
        except Exception:
            return None, open(os.path.join(out, name + ".err")).read().strip()[-200:]
        return {k: summary[k] for k in counted}, None
    lines = text.splitlines()
    if not lines:
        return None, open(os.path.join(out, name + ".err")).read().strip()[-200:]
    result = json.loads(lines[-1])
    return (None, result["error"]) if "error" in result else ({k: result[k] for k in counted}, None)

scan_wall, scan_rss = timing("scan")
print(f"reference data: {truth['rows_baseline']:,} + {truth['rows_candidate']:,} rows; truth: " +
      ", ".join(f"{k} {truth[k]:,}" for k in counted))
print(f"{'tool':<12}{'wall s':>9}{'x scan':>9}{'peak RSS MiB':>14}  counts")
print(f"{'dqc scan':<12}{scan_wall:>9.2f}{1:>9.2f}{scan_rss:>14.0f}  (floor: both sides decoded)")
names = ["dqc", "duckdb", "polars", "datacompy", "spark"]
fastest_peer = None
for name in names:
    if not os.path.exists(os.path.join(out, name + ".time")):
        continue
    wall, rss = timing(name)
    found, error = counts(name)
    if error is not None:
        verdict = f"failed: {error}"
    elif all(found[k] == truth[k] for k in counted):
        verdict = "right"
    else:
        verdict = "WRONG: " + ", ".join(f"{k} {found[k]:,}" for k in counted)
    label = "dqc diff" if name == "dqc" else name
    print(f"{label:<12}{wall:>9.2f}{wall / scan_wall:>9.2f}{rss:>14.0f}  {verdict}")
    if name != "dqc" and error is None:  # a tool that failed did not do the diff
        fastest_peer = wall if fastest_peer is None else min(fastest_peer, wall)
if fastest_peer is not None:
    print(f"fastest other tool that finished / dqc diff: {fastest_peer / timing('dqc')[0]:.1f}x")
EOF
